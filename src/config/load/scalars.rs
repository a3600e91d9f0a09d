//! Reading one value: GUIDs, enum words and word lists, durations, each turned into an error
//! that names its key and position when it does not read.
//!
//! Invariant: a value that does not read yields `None` and exactly one error; callers never
//! invent a default for it.

use super::*;

/// Records the message of a failed check at `item`.
pub(super) fn checked<T>(ctx: &mut Ctx, item: &Item, result: Result<T, String>) -> Option<T> {
    result
        .map_err(|m| ctx.error(Some(&item.span), &item.path, ErrorKind::Invalid, m))
        .ok()
}

pub(super) fn req_guid(
    ctx: &mut Ctx,
    t: &mut TableReader,
    key: &'static str,
    what: &str,
) -> Option<Uuid> {
    let (s, item) = ctx.req_str(t, key, what)?;
    checked(ctx, &item, validate::guid(&s))
}

/// An optional enum key: `None` = error recorded, `Some(None)` = absent.
pub(super) fn word<T>(
    ctx: &mut Ctx,
    t: &mut TableReader,
    key: &'static str,
    parse: fn(&str) -> Option<T>,
    expected: fn() -> String,
) -> Option<Option<T>> {
    let Some((s, item)) = ctx.opt_str(t, key) else {
        return if t.contains(key) { None } else { Some(None) };
    };
    if s.trim().is_empty() {
        return Some(None);
    }
    match parse(&s) {
        Some(v) => Some(Some(v)),
        None => {
            ctx.error(
                Some(&item.span),
                &item.path,
                ErrorKind::Invalid,
                format!("unknown value {s:?}; expected {}", expected()),
            );
            None
        }
    }
}

/// An optional list of enum words, de-duplicated, never empty.
pub(super) fn word_list<T: Copy + PartialEq>(
    ctx: &mut Ctx,
    t: &mut TableReader,
    key: &'static str,
    parse: fn(&str) -> Option<T>,
    expected: fn() -> String,
    default: &[T],
) -> Option<Vec<T>> {
    let Some((words, list)) = ctx.opt_str_list(t, key) else {
        return (!t.contains(key)).then(|| default.to_vec());
    };
    let mut out = Vec::new();
    let mut ok = true;
    for (s, item) in words {
        match parse(&s) {
            Some(v) if !out.contains(&v) => out.push(v),
            Some(_) => {}
            None => {
                ctx.error(
                    Some(&item.span),
                    &item.path,
                    ErrorKind::Invalid,
                    format!("unknown value {s:?}; expected {}", expected()),
                );
                ok = false;
            }
        }
    }
    if ok && out.is_empty() {
        ctx.error(
            Some(&list.span),
            &list.path,
            ErrorKind::Invalid,
            format!("empty list; expected one or more of {}", expected()),
        );
        ok = false;
    }
    (ok && !has_non_string(&list)).then_some(out)
}

/// True when an element is not a string (`opt_str_list` recorded the error and skipped it).
fn has_non_string(list: &Item) -> bool {
    match list.value {
        DeValue::Array(a) => a.iter().any(|v| !matches!(v.get_ref(), DeValue::String(_))),
        _ => true,
    }
}

pub(super) fn duration_key(
    ctx: &mut Ctx,
    t: &mut TableReader,
    key: &'static str,
    default: Duration,
    non_zero: bool,
) -> Option<Duration> {
    let Some(item) = t.get(key) else {
        return Some(default);
    };
    let DeValue::String(s) = item.value else {
        ctx.wrong_type(&item, "a duration string like \"60s\", \"5m\" or \"24h\"");
        return None;
    };
    let d = checked(ctx, &item, duration::parse(s))?;
    if non_zero && d.is_zero() {
        ctx.error(
            Some(&item.span),
            &item.path,
            ErrorKind::Invalid,
            "must not be zero; expected e.g. \"60s\"",
        );
        return None;
    }
    Some(d)
}
