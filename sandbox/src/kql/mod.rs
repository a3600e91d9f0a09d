//! A KQL subset, enough for the connector's enrichment queries (docs/reference/azure-apis.md §3.5) and for the
//! response-time (MTTA/MTTR) queries an operator runs over `SIGNL4_CL` and `SecurityIncident`.
//! Supported, in any order after the source:
//!
//! - sources: a table, or `union A, B, (subquery)` (also as `| union ...`);
//! - `where` with `and`-joined predicates: `Col == "x"`, `Col != "x"`, `Col =~ "x"`,
//!   `Col in ("a", "b")`, `Col in~ (...)`, `Col between (datetime(a) .. datetime(b))`,
//!   `>`/`>=`/`<`/`<=` against `datetime(...)`, `ago(7d|12h|30m|10s)` or numbers, the string
//!   operators `contains`, `has`, `startswith`, `endswith` (with `!` and `_cs` forms) and
//!   `isnull`/`isnotnull`/`isempty`/`isnotempty` (`text.rs`);
//! - `summarize arg_max(Col, *) by Key`;
//! - `summarize [Name =] agg, ... [by Key, ...]` with `count()`, `avg(Col)`, `sum(Col)`,
//!   `min(Col)`, `max(Col)`, `dcount(Col)` (nulls ignored; groups in first-seen order; default
//!   names `count_`, `avg_Col`, ...);
//! - `extend X = parse_json(Col)`, `extend X = 1` (constants), `extend X = tostring(Col)` and
//!   the other conversions of `project`;
//! - `project a, b, Name = tostring(X["key"]), N = toint(X["key"]), Alias = Col`;
//!   `project-away a, b`; `distinct a, b`; `count`;
//! - `order by`/`sort by Col [asc|desc]`; `take N`/`limit N`.
//!
//! `//` comments are ignored. A malformed query is a `SyntaxError` or `SemanticError`, as the
//! API says; anything well-formed that the sandbox does not implement (an operator, a function,
//! an aggregate, a table) is a `NotEmulated` error whose message says "not emulated by the
//! sandbox", so nobody mistakes the emulator's gap for their own mistake. Tables:
//! `SecurityAlert`, `SecurityIncident`, `SIGNL4_CL`.
//!
//! Invariant: evaluation is linear in rows × operators (subqueries nest at most
//! [`MAX_DEPTH`] deep); no operator panics on odd data.

mod ops;
mod text;

use std::cmp::Ordering;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};

use super::util::parse_ts;

/// A result table: typed columns and rows of cells.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// (name, LA type).
    pub columns: Vec<(String, String)>,
    /// Rows, one cell per column.
    pub rows: Vec<Vec<Value>>,
}

/// Why a query failed: (inner code, message).
#[derive(Debug, Clone, PartialEq)]
pub struct KqlError(pub &'static str, pub String);

fn syntax(msg: impl Into<String>) -> KqlError {
    KqlError("SyntaxError", msg.into())
}

/// Something well-formed the sandbox does not implement.
fn not_emulated(what: impl Into<String>) -> KqlError {
    KqlError(
        "NotEmulated",
        format!("{} is not emulated by the sandbox", what.into()),
    )
}

/// Deepest nesting of `union` subqueries.
pub const MAX_DEPTH: usize = 4;

/// The tables the Log Analytics emulator serves.
pub const TABLES: &str = "SecurityAlert, SecurityIncident, SIGNL4_CL";

/// Splits on top-level `|` (outside quotes and parentheses).
fn split_pipes(q: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut depth, mut quote) = (0i32, None::<char>);
    for ch in q.chars() {
        match (quote, ch) {
            (Some(c), x) if x == c => {
                quote = None;
                cur.push(x)
            }
            (Some(_), x) => cur.push(x),
            (None, '"' | '\'') => {
                quote = Some(ch);
                cur.push(ch)
            }
            (None, '(' | '[') => {
                depth += 1;
                cur.push(ch)
            }
            (None, ')' | ']') => {
                depth -= 1;
                cur.push(ch)
            }
            (None, '|') if depth == 0 => out.push(std::mem::take(&mut cur)),
            (None, x) => cur.push(x),
        }
    }
    out.push(cur);
    out.into_iter().map(|s| s.trim().to_string()).collect()
}

/// Splits on a top-level separator word/char (e.g. `,` or ` and `).
fn split_top(s: &str, sep: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut quote, mut start) = (0i32, None::<char>, 0usize);
    let b: Vec<char> = s.chars().collect();
    let sepc: Vec<char> = sep.chars().collect();
    let mut i = 0;
    while i < b.len() {
        let ch = b[i];
        match quote {
            Some(q) if ch == q => quote = None,
            Some(_) => {}
            None => match ch {
                '"' | '\'' => quote = Some(ch),
                '(' | '[' => depth += 1,
                ')' | ']' => depth -= 1,
                _ if depth == 0 && b[i..].starts_with(&sepc) => {
                    out.push(b[start..i].iter().collect::<String>());
                    i += sepc.len();
                    start = i;
                    continue;
                }
                _ => {}
            },
        }
        i += 1;
    }
    out.push(b[start..].iter().collect::<String>());
    out.into_iter().map(|s| s.trim().to_string()).collect()
}

fn unquote(s: &str) -> Option<String> {
    let s = s.trim();
    let s = s.strip_prefix('@').unwrap_or(s);
    if s.len() >= 2
        && ((s.starts_with('"') && s.ends_with('"')) || (s.starts_with('\'') && s.ends_with('\'')))
    {
        Some(
            s[1..s.len() - 1]
                .replace("\\\"", "\"")
                .replace("\\\\", "\\"),
        )
    } else {
        None
    }
}

/// A scalar operand.
#[derive(Debug, Clone)]
enum Scalar {
    Str(String),
    Time(DateTime<Utc>),
    Num(f64),
}

fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic())?);
    let n: f64 = num.trim().parse().ok()?;
    let ms = match unit {
        "d" => n * 86_400_000.0,
        "h" => n * 3_600_000.0,
        "m" => n * 60_000.0,
        "s" => n * 1000.0,
        "ms" => n,
        _ => return None,
    };
    Duration::try_milliseconds(ms as i64)
}

fn scalar(s: &str, now: DateTime<Utc>) -> Result<Scalar, KqlError> {
    let s = s.trim();
    if let Some(v) = unquote(s) {
        return Ok(Scalar::Str(v));
    }
    if let Some(inner) = s
        .strip_prefix("datetime(")
        .and_then(|x| x.strip_suffix(')'))
    {
        let inner = inner.trim().trim_matches('"').replace(' ', "T");
        let with_z = if inner.ends_with('Z') || inner.contains('+') {
            inner.clone()
        } else {
            format!("{inner}Z")
        };
        return parse_ts(&with_z)
            .map(Scalar::Time)
            .ok_or_else(|| syntax(format!("bad datetime '{inner}'")));
    }
    if let Some(inner) = s.strip_prefix("ago(").and_then(|x| x.strip_suffix(')')) {
        return parse_duration(inner)
            .and_then(|d| now.checked_sub_signed(d))
            .map(Scalar::Time)
            .ok_or_else(|| syntax("bad timespan in ago()"));
    }
    if s == "now()" {
        return Ok(Scalar::Time(now));
    }
    s.parse::<f64>()
        .map(Scalar::Num)
        .map_err(|_| syntax(format!("unsupported operand '{s}'")))
}

fn cmp_cell(cell: &Value, v: &Scalar) -> Option<Ordering> {
    match (cell, v) {
        (Value::String(c), Scalar::Str(s)) => Some(c.as_str().cmp(s.as_str())),
        (Value::String(c), Scalar::Time(t)) => parse_ts(c).map(|x| x.cmp(t)),
        (Value::Number(n), Scalar::Num(x)) => n.as_f64().and_then(|y| y.partial_cmp(x)),
        _ => None,
    }
}

/// A row during evaluation: column → cell (insertion-ordered columns kept separately).
type Row = Map<String, Value>;

/// A compiled `where` predicate.
type Pred = Box<dyn Fn(&Row) -> bool>;

/// Columns (name, type) and rows of a source table.
pub type Source = (Vec<(String, String)>, Vec<Map<String, Value>>);

fn col_index(cols: &[(String, String)], name: &str) -> Result<usize, KqlError> {
    cols.iter().position(|(c, _)| c == name).ok_or_else(|| {
        KqlError(
            "SemanticError",
            format!("Failed to resolve scalar expression named '{name}'"),
        )
    })
}

fn pred(p: &str, cols: &[(String, String)], now: DateTime<Utc>) -> Result<Pred, KqlError> {
    let p = p.trim();
    if let Some(text_predicate) = text::predicate(p, cols) {
        return text_predicate;
    }
    if let Some((col, rest)) = p.split_once(" between ") {
        let col = col.trim().to_string();
        col_index(cols, &col)?;
        let inner = rest
            .trim()
            .strip_prefix('(')
            .and_then(|x| x.strip_suffix(')'))
            .ok_or_else(|| syntax("between needs (a .. b)"))?;
        let (a, b) = inner
            .split_once("..")
            .ok_or_else(|| syntax("between needs (a .. b)"))?;
        let (a, b) = (scalar(a, now)?, scalar(b, now)?);
        return Ok(Box::new(move |r: &Row| {
            let c = r.get(&col).unwrap_or(&Value::Null);
            cmp_cell(c, &a).is_some_and(|o| o != Ordering::Less)
                && cmp_cell(c, &b).is_some_and(|o| o != Ordering::Greater)
        }));
    }
    if let Some((col, rest)) = p.split_once(" in ") {
        let col = col.trim().to_string();
        col_index(cols, &col)?;
        let inner = rest
            .trim()
            .strip_prefix('(')
            .and_then(|x| x.strip_suffix(')'))
            .ok_or_else(|| syntax("in needs (...)"))?;
        let set: Vec<String> = split_top(inner, ",")
            .iter()
            .map(|x| unquote(x).ok_or_else(|| syntax("in () takes string literals")))
            .collect::<Result<_, _>>()?;
        return Ok(Box::new(move |r: &Row| {
            r.get(&col)
                .and_then(Value::as_str)
                .is_some_and(|v| set.iter().any(|s| s == v))
        }));
    }
    for op in ["==", "!=", "=~", ">=", "<=", ">", "<"] {
        if let Some((col, rhs)) = p.split_once(op) {
            let col = col.trim().to_string();
            col_index(cols, &col)?;
            let v = scalar(rhs, now)?;
            let op = op.to_string();
            return Ok(Box::new(move |r: &Row| {
                let c = r.get(&col).unwrap_or(&Value::Null);
                if op == "=~" {
                    return matches!((c, &v), (Value::String(a), Scalar::Str(b)) if a.eq_ignore_ascii_case(b));
                }
                match cmp_cell(c, &v) {
                    None => op == "!=",
                    Some(o) => match op.as_str() {
                        "==" => o == Ordering::Equal,
                        "!=" => o != Ordering::Equal,
                        ">=" => o != Ordering::Less,
                        "<=" => o != Ordering::Greater,
                        ">" => o == Ordering::Greater,
                        _ => o == Ordering::Less,
                    },
                }
            }));
        }
    }
    Err(not_emulated(format!("the predicate '{p}'")))
}

/// Computes one cell of a row.
type Cell = Box<dyn Fn(&Row) -> Value>;

/// `name = expr` or `expr`; returns (output name, evaluator, type).
type Proj = (String, Cell, String);

fn projection(item: &str, cols: &[(String, String)]) -> Result<Proj, KqlError> {
    let (name, expr) = match item.split_once('=') {
        Some((n, e)) if !n.contains('(') && !e.starts_with('=') => {
            (Some(n.trim().to_string()), e.trim().to_string())
        }
        _ => (None, item.trim().to_string()),
    };
    for (f, ty) in [
        ("tostring(", "string"),
        ("toint(", "int"),
        ("tolong(", "long"),
        ("todatetime(", "datetime"),
    ] {
        if let Some(inner) = expr.strip_prefix(f).and_then(|x| x.strip_suffix(')')) {
            let (base, key) = match inner.split_once('[') {
                Some((b, k)) => (
                    b.trim().to_string(),
                    Some(unquote(k.trim_end_matches(']')).ok_or_else(|| syntax("bad [\"key\"]"))?),
                ),
                None => (inner.trim().to_string(), None),
            };
            col_index(cols, &base)?;
            let name = name.ok_or_else(|| syntax("computed columns need a name"))?;
            let ty = ty.to_string();
            let ty2 = ty.clone();
            return Ok((
                name,
                Box::new(move |r: &Row| {
                    let mut v = r.get(&base).cloned().unwrap_or(Value::Null);
                    if let Some(k) = &key {
                        v = v.get(k).cloned().unwrap_or(Value::Null);
                    }
                    match (ty2.as_str(), v) {
                        ("string", Value::String(s)) => Value::String(s),
                        ("string", Value::Null) => Value::String(String::new()),
                        ("string", other) => Value::String(other.to_string()),
                        ("int" | "long", Value::String(s)) => s
                            .trim()
                            .parse::<i64>()
                            .map(Value::from)
                            .unwrap_or(Value::Null),
                        ("int" | "long", n @ Value::Number(_)) => n,
                        ("datetime", Value::String(s)) => parse_ts(&s.replace(' ', "T"))
                            .map(|t| Value::String(super::util::ts7(t)))
                            .unwrap_or(Value::Null),
                        _ => Value::Null,
                    }
                }),
                ty,
            ));
        }
    }
    if !expr.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(not_emulated(format!("the expression '{expr}'")));
    }
    let i = col_index(cols, &expr)?;
    let ty = cols[i].1.clone();
    let src = expr.clone();
    Ok((
        name.unwrap_or(expr),
        Box::new(move |r: &Row| r.get(&src).cloned().unwrap_or(Value::Null)),
        ty,
    ))
}

/// Runs `query` over the tables `tables` serves (rows as column → cell maps with typed
/// columns). `window` limits `TimeGenerated` (the request's `timespan`).
pub fn run(
    query: &str,
    tables: &dyn Fn(&str) -> Option<Source>,
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
) -> Result<Table, KqlError> {
    let text: String = query
        .lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join(" ");
    if text.len() > 100_000 {
        return Err(syntax("query too long"));
    }
    let context = Context {
        tables,
        window,
        now: Utc::now(),
    };
    let (cols, rows) = context.eval(&text, 0)?;
    let rows = rows
        .into_iter()
        .map(|r| cols.iter().map(|(c, t)| cell(r.get(c), t)).collect())
        .collect();
    Ok(Table {
        columns: cols,
        rows,
    })
}

/// What every (sub)query of one request evaluates against.
struct Context<'a> {
    tables: &'a dyn Fn(&str) -> Option<Source>,
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    now: DateTime<Utc>,
}

impl Context<'_> {
    /// A table's rows within the request's window.
    fn source(&self, name: &str) -> Result<Tabular, KqlError> {
        let name = name.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(not_emulated(format!(
                "the tabular expression '{name}' (a table name or union is expected)"
            )));
        }
        let (cols, mut rows) = (self.tables)(name)
            .ok_or_else(|| not_emulated(format!("the table '{name}' (tables: {TABLES})")))?;
        if let Some((a, b)) = self.window {
            if cols.iter().any(|(c, _)| c == "TimeGenerated") {
                rows.retain(|r| {
                    r.get("TimeGenerated")
                        .and_then(Value::as_str)
                        .and_then(parse_ts)
                        .is_some_and(|t| t >= a && t <= b)
                });
            }
        }
        Ok((cols, rows))
    }

    /// The union of `legs` (table names or subqueries).
    fn union(&self, rest: &str, depth: usize) -> Result<Tabular, KqlError> {
        let mut acc: Tabular = (Vec::new(), Vec::new());
        for leg in ops::union_legs(rest)? {
            let part = if leg.contains('|') || leg.starts_with("union ") {
                self.eval(&leg, depth + 1)?
            } else {
                self.source(&leg)?
            };
            ops::union_into(&mut acc, part);
        }
        Ok(acc)
    }

    /// Evaluates one (sub)query to typed columns and rows.
    fn eval(&self, text: &str, depth: usize) -> Result<Tabular, KqlError> {
        if depth > MAX_DEPTH {
            return Err(not_emulated(format!(
                "nesting subqueries deeper than {MAX_DEPTH}"
            )));
        }
        let now = self.now;
        let parts = split_pipes(text);
        let first = parts.first().map(|s| s.trim()).unwrap_or_default();
        let (mut cols, mut rows) = match first.strip_prefix("union ") {
            Some(rest) => self.union(rest, depth)?,
            None => self.source(first)?,
        };
        for op in parts.iter().skip(1).take(50) {
            let (kw, rest) = op
                .split_once(char::is_whitespace)
                .unwrap_or((op.as_str(), ""));
            let rest = rest.trim();
            match kw {
                "where" | "filter" => {
                    if split_top(rest, " or ").len() > 1 {
                        return Err(not_emulated("'or' in where"));
                    }
                    let preds = split_top(rest, " and ")
                        .iter()
                        .map(|p| pred(p, &cols, now))
                        .collect::<Result<Vec<_>, _>>()?;
                    rows.retain(|r| preds.iter().all(|p| p(r)));
                }
                "take" | "limit" => {
                    let n: usize = rest.parse().map_err(|_| syntax("take needs a number"))?;
                    rows.truncate(n);
                }
                "count" if rest.is_empty() => (cols, rows) = ops::count(&rows),
                "distinct" => (cols, rows) = ops::distinct(rest, &cols, rows)?,
                "project-away" => (cols, rows) = ops::project_away(rest, &cols, rows)?,
                "union" => {
                    let mut acc = (cols, rows);
                    ops::union_into(&mut acc, self.union(rest, depth)?);
                    (cols, rows) = acc;
                }
                "summarize" if !rest.starts_with("arg_max(") => {
                    (cols, rows) = summarize(rest, &cols, rows)?;
                }
                "summarize" => (cols, rows) = arg_max(rest, cols, rows)?,
                "extend" => {
                    for item in split_top(rest, ",") {
                        extend(&item, &mut cols, &mut rows)?;
                    }
                }
                "project" => {
                    let projs = split_top(rest, ",")
                        .iter()
                        .map(|i| projection(i, &cols))
                        .collect::<Result<Vec<_>, _>>()?;
                    rows = rows
                        .iter()
                        .map(|r| projs.iter().map(|(n, f, _)| (n.clone(), f(r))).collect())
                        .collect();
                    cols = projs
                        .iter()
                        .map(|(n, _, t)| (n.clone(), t.clone()))
                        .collect();
                }
                "order" | "sort" => {
                    let spec = rest
                        .strip_prefix("by ")
                        .ok_or_else(|| syntax("order by Col"))?;
                    let mut it = spec.split_whitespace();
                    let col = it
                        .next()
                        .unwrap_or_default()
                        .trim_end_matches(',')
                        .to_string();
                    col_index(&cols, &col)?;
                    let asc = matches!(it.next(), Some("asc"));
                    rows.sort_by(|a, b| {
                        let o = order(a.get(&col), b.get(&col));
                        if asc {
                            o
                        } else {
                            o.reverse()
                        }
                    });
                }
                "" => return Err(syntax("empty pipe segment")),
                other => return Err(not_emulated(format!("the operator '{other}'"))),
            }
        }
        Ok((cols, rows))
    }
}

/// `summarize arg_max(Col, *) by Key`: the latest row of each key, key column first.
fn arg_max(
    rest: &str,
    mut cols: Vec<(String, String)>,
    rows: Vec<Row>,
) -> Result<Tabular, KqlError> {
    let inner = rest
        .strip_prefix("arg_max(")
        .ok_or_else(|| syntax("only summarize arg_max(Col, *) by Key is supported"))?;
    let (args, by) = inner.split_once(')').ok_or_else(|| syntax("bad arg_max"))?;
    let (mcol, star) = args.split_once(',').ok_or_else(|| syntax("bad arg_max"))?;
    let key = by
        .trim()
        .strip_prefix("by ")
        .ok_or_else(|| syntax("arg_max needs 'by Key'"))?
        .trim()
        .to_string();
    let mcol = mcol.trim().to_string();
    if star.trim() != "*" {
        return Err(not_emulated(
            "arg_max with named columns (use arg_max(Col, *))",
        ));
    }
    col_index(&cols, &mcol)?;
    col_index(&cols, &key)?;
    let mut best: Vec<Row> = Vec::new();
    for r in rows {
        let k = r.get(&key).cloned();
        match best.iter_mut().find(|b| b.get(&key).cloned() == k) {
            Some(b) => {
                if order(r.get(&mcol), b.get(&mcol)) == Ordering::Greater {
                    *b = r;
                }
            }
            None => best.push(r),
        }
    }
    // arg_max puts the key column first.
    if let Some(i) = cols.iter().position(|(c, _)| *c == key) {
        let c = cols.remove(i);
        cols.insert(0, c);
    }
    Ok((cols, best))
}

/// One `extend Name = expr` item: `parse_json(Col)`, a constant, or a `project` expression.
fn extend(item: &str, cols: &mut Vec<(String, String)>, rows: &mut [Row]) -> Result<(), KqlError> {
    let (name, expr) = item
        .split_once('=')
        .ok_or_else(|| syntax("extend needs Name = expr"))?;
    let name = name.trim().to_string();
    let expr = expr.trim();
    if let Some(inner) = expr
        .strip_prefix("parse_json(")
        .and_then(|x| x.strip_suffix(')'))
    {
        let src = inner.trim().to_string();
        col_index(cols, &src)?;
        for r in rows.iter_mut() {
            let v = match r.get(&src) {
                Some(Value::String(s)) => {
                    serde_json::from_str(s).unwrap_or(Value::String(s.clone()))
                }
                Some(v) => v.clone(),
                None => Value::Null,
            };
            r.insert(name.clone(), v);
        }
        cols.retain(|(c, _)| *c != name);
        cols.push((name, "dynamic".into()));
        return Ok(());
    }
    let (eval, ty): (Cell, String) = match ops::literal(expr) {
        Some((v, ty)) => (Box::new(move |_: &Row| v.clone()), ty.to_string()),
        None => {
            let (_, f, ty) = projection(&format!("{name} = {expr}"), cols)?;
            (f, ty)
        }
    };
    for r in rows.iter_mut() {
        let v = eval(r);
        r.insert(name.clone(), v);
    }
    cols.retain(|(c, _)| *c != name);
    cols.push((name, ty));
    Ok(())
}

/// Typed columns and rows of an intermediate result.
type Tabular = (Vec<(String, String)>, Vec<Row>);

/// One aggregate of a `summarize`: output name, function, input column.
struct Agg {
    name: String,
    func: String,
    col: Option<String>,
}

/// `summarize [Name =] agg(...), ... [by Key, ...]`: one row per group, keys first.
fn summarize(rest: &str, cols: &[(String, String)], rows: Vec<Row>) -> Result<Tabular, KqlError> {
    if rest.trim().is_empty() {
        return Err(syntax("summarize needs at least one aggregate"));
    }
    let parts = split_top(rest, " by ");
    let (aggs_text, keys_text) = match parts.as_slice() {
        [aggs] => (aggs.as_str(), ""),
        [aggs, keys] => (aggs.as_str(), keys.as_str()),
        _ => return Err(syntax("summarize takes one 'by' clause")),
    };
    let keys: Vec<String> = split_top(keys_text, ",")
        .into_iter()
        .filter(|k| !k.is_empty())
        .collect();
    for k in &keys {
        col_index(cols, k)?;
    }
    let mut aggs = Vec::new();
    for item in split_top(aggs_text, ",") {
        let (name, expr) = match item.split_once('=') {
            Some((n, e)) if !n.contains('(') => (Some(n.trim().to_string()), e.trim().to_string()),
            _ => (None, item.trim().to_string()),
        };
        let (func, arg) = expr
            .strip_suffix(')')
            .and_then(|x| x.split_once('('))
            .ok_or_else(|| not_emulated(format!("the aggregate '{expr}'")))?;
        let (func, arg) = (func.trim().to_string(), arg.trim().to_string());
        let col = match (func.as_str(), arg.is_empty()) {
            ("count", true) => None,
            ("avg" | "sum" | "min" | "max" | "dcount", false) => {
                col_index(cols, &arg)?;
                Some(arg)
            }
            _ => {
                return Err(not_emulated(format!(
                    "the aggregate '{expr}' (emulated: count(), avg, sum, min, max, dcount)"
                )))
            }
        };
        let name = name.unwrap_or_else(|| match &col {
            Some(c) => format!("{func}_{c}"),
            None => format!("{func}_"),
        });
        aggs.push(Agg { name, func, col });
    }
    if aggs.is_empty() {
        return Err(syntax("summarize needs at least one aggregate"));
    }
    let mut groups: Vec<(Vec<Value>, Vec<Row>)> = Vec::new();
    for r in rows {
        let key: Vec<Value> = keys
            .iter()
            .map(|k| r.get(k).cloned().unwrap_or(Value::Null))
            .collect();
        match groups.iter_mut().find(|(g, _)| *g == key) {
            Some((_, members)) => members.push(r),
            None => groups.push((key, vec![r])),
        }
    }
    let mut out_cols: Vec<(String, String)> = keys
        .iter()
        .map(|k| cols[col_index(cols, k).unwrap_or(0)].clone())
        .collect();
    for a in &aggs {
        let ty = match (a.func.as_str(), &a.col) {
            ("count" | "dcount", _) => "long".to_string(),
            ("avg", _) => "real".to_string(),
            (_, Some(c)) => cols[col_index(cols, c)?].1.clone(),
            _ => "real".to_string(),
        };
        out_cols.push((a.name.clone(), ty));
    }
    let out_rows = groups
        .into_iter()
        .map(|(key, members)| {
            let mut row: Row = keys.iter().cloned().zip(key).collect();
            for a in &aggs {
                row.insert(a.name.clone(), aggregate(a, &members));
            }
            row
        })
        .collect();
    Ok((out_cols, out_rows))
}

/// The value of one aggregate over a group's rows.
fn aggregate(a: &Agg, rows: &[Row]) -> Value {
    let Some(col) = &a.col else {
        return Value::from(rows.len() as i64);
    };
    let cells: Vec<&Value> = rows
        .iter()
        .filter_map(|r| r.get(col))
        .filter(|v| !v.is_null())
        .collect();
    let numbers: Vec<f64> = cells.iter().filter_map(|v| v.as_f64()).collect();
    match a.func.as_str() {
        "dcount" => {
            let mut seen: Vec<&Value> = Vec::new();
            for c in &cells {
                if !seen.contains(c) {
                    seen.push(c);
                }
            }
            Value::from(seen.len() as i64)
        }
        "avg" if numbers.is_empty() => Value::Null,
        "avg" => Value::from(numbers.iter().sum::<f64>() / numbers.len() as f64),
        "sum" => Value::from(numbers.iter().sum::<f64>()),
        "min" => cells
            .iter()
            .min_by(|x, y| order(Some(x), Some(y)))
            .map_or(Value::Null, |v| (*v).clone()),
        _ => cells
            .iter()
            .max_by(|x, y| order(Some(x), Some(y)))
            .map_or(Value::Null, |v| (*v).clone()),
    }
}

fn order(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::String(x)), Some(Value::String(y))) => match (parse_ts(x), parse_ts(y)) {
            (Some(p), Some(q)) => p.cmp(&q),
            _ => x.cmp(y),
        },
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (None | Some(Value::Null), Some(_)) => Ordering::Less,
        (Some(_), None | Some(Value::Null)) => Ordering::Greater,
        _ => Ordering::Equal,
    }
}

/// Encodes a cell the way the real API does: `dynamic` as JSON text, the rest as is.
fn cell(v: Option<&Value>, ty: &str) -> Value {
    match (v, ty) {
        (None, _) => Value::Null,
        (Some(Value::Null), _) => Value::Null,
        (Some(Value::String(s)), _) => Value::String(s.clone()),
        (Some(v), "dynamic") => Value::String(v.to_string()),
        (Some(v), _) => v.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn source() -> Source {
        let rows = [
            json!({"EventId": "a", "Severity": "High", "User": "x", "S": 60.0, "TimeGenerated": "2026-01-01T00:00:00Z"}),
            json!({"EventId": "b", "Severity": "High", "User": "y", "S": 120.0, "TimeGenerated": "2026-01-01T00:00:01Z"}),
            json!({"EventId": "b", "Severity": "High", "User": "y", "S": 120.0, "TimeGenerated": "2026-01-01T00:00:02Z"}),
            json!({"EventId": "c", "Severity": "Medium", "User": "x", "S": null, "TimeGenerated": "2026-01-01T00:00:03Z"}),
        ];
        let rows: Vec<Map<String, Value>> = rows
            .into_iter()
            .map(|r| r.as_object().unwrap().clone())
            .collect();
        (super::super::ingestion::columns(&rows), rows)
    }

    fn query(q: &str) -> Result<Table, KqlError> {
        run(q, &|name| (name == "T").then(source), None)
    }

    #[test]
    fn summarize_aggregates_by_keys_after_deduplication() {
        let t = query(
            "T | summarize arg_max(TimeGenerated, *) by EventId \
             | summarize Mean = avg(S), n = count(), dcount(User), max(S) by Severity \
             | order by Severity asc",
        )
        .unwrap();
        let names: Vec<&str> = t.columns.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(names, ["Severity", "Mean", "n", "dcount_User", "max_S"]);
        assert_eq!(t.columns[1].1, "real");
        assert_eq!(
            t.rows[0],
            vec![json!("High"), json!(90.0), json!(2), json!(2), json!(120.0)]
        );
        // avg over nulls only is null; count() still counts the row.
        assert_eq!(t.rows[1][1], Value::Null);
        assert_eq!(t.rows[1][2], json!(1));
        let raw = query("T | summarize avg(S)").unwrap();
        assert_eq!(
            raw.rows,
            vec![vec![json!(100.0)]],
            "without dedup, b counts twice"
        );
    }

    #[test]
    fn unsupported_aggregates_are_not_emulated_and_malformed_ones_are_errors() {
        let e = query("T | summarize percentile(S, 50)").unwrap_err();
        assert_eq!(e.0, "NotEmulated");
        assert!(e.1.contains("not emulated by the sandbox"), "{e:?}");
        assert_eq!(
            query("T | summarize avg(Nope)").unwrap_err().0,
            "SemanticError"
        );
        assert_eq!(query("T | summarize").unwrap_err().0, "SyntaxError");
    }

    #[test]
    fn count_distinct_project_away_extend_and_union() {
        let t = query("T | distinct Severity, User | count").unwrap();
        assert_eq!(t.columns, vec![("Count".to_string(), "long".to_string())]);
        assert_eq!(t.rows, vec![vec![json!(3)]]);
        let t = query("T | project-away S, User | extend One = 1, Pi = 3.5, Yes = true | take 1")
            .unwrap();
        let names: Vec<&str> = t.columns.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(
            names,
            ["TimeGenerated", "EventId", "Severity", "One", "Pi", "Yes"]
        );
        assert_eq!(t.columns[3].1, "long");
        assert_eq!(t.rows[0][3..], [json!(1), json!(3.5), json!(true)]);
        let t = query("union T, (T | where Severity == \"Medium\") | count").unwrap();
        assert_eq!(t.rows, vec![vec![json!(5)]]);
        let nested = "union (union (union (union (union (union T))))) | count";
        assert_eq!(query(nested).unwrap_err().0, "NotEmulated");
        assert_eq!(
            query("T | where EventId contains \"B\" | count")
                .unwrap()
                .rows,
            vec![vec![json!(2)]]
        );
    }
}
