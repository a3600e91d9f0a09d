//! Secrets: inline values, `*_env` variables and `*_file` files, exactly one source per secret.
//!
//! Invariants: this module is the only place a secret is read; a secret's value never enters
//! a message (only its key, variable name or file path); a secret file is read only when it is
//! small (a larger file is the wrong file).

use super::*;

/// Largest secret file read (a larger file is the wrong file).
const MAX_SECRET_FILE: u64 = 64 * 1024;

/// A secret that must be present.
pub(super) fn required_secret(
    ctx: &mut Ctx,
    t: &mut TableReader,
    keys: [&'static str; 3],
    what: &str,
) -> Option<Secret> {
    match optional_secret(ctx, t, keys)? {
        Some((secret, item)) => non_empty(ctx, &item, &secret, what),
        None => {
            ctx.missing(
                t,
                keys[0],
                &format!("{what} in {}, {} or {}", keys[0], keys[1], keys[2]),
            );
            None
        }
    }
}

/// Refuses an empty secret (never quoting it, there is nothing to quote anyway).
pub(super) fn non_empty(ctx: &mut Ctx, item: &Item, secret: &Secret, what: &str) -> Option<Secret> {
    if secret.expose().is_empty() {
        ctx.error(
            Some(&item.span),
            &item.path,
            ErrorKind::Secret,
            format!("{what} is empty"),
        );
        return None;
    }
    Some(secret.clone())
}

/// A secret given inline (`keys[0]`), by environment variable (`keys[1]`) or by file
/// (`keys[2]`), at most one of them. `None` = error recorded; `Some(None)` = none given.
pub(super) fn optional_secret<'t, 'i>(
    ctx: &mut Ctx,
    t: &mut TableReader<'t, 'i>,
    keys: [&'static str; 3],
) -> Option<Option<(Secret, Item<'t, 'i>)>> {
    let [inline, env, file] = keys.map(|k| t.get(k));
    let given: Vec<&Item> = [&inline, &env, &file].into_iter().flatten().collect();
    if given.len() > 1 {
        let span = given[1].span.clone();
        let path = given[1].path.clone();
        ctx.error(
            Some(&span),
            &path,
            ErrorKind::Conflict,
            format!(
                "more than one of {}, {} and {} is set; expected exactly one",
                keys[0], keys[1], keys[2]
            ),
        );
        return None;
    }
    if let Some(item) = inline {
        // Wrong-type messages never quote the value, so this is safe for secrets.
        let value = ctx.as_str(&item)?.trim().to_string();
        return Some(Some((Secret::new(value, SecretSource::Inline), item)));
    }
    if let Some(item) = env {
        let var = ctx.as_str(&item)?.trim().to_string();
        if !is_env_name(&var) {
            // Not quoted: a common slip is pasting the secret itself here.
            ctx.error(
                Some(&item.span),
                &item.path,
                ErrorKind::Invalid,
                format!(
                    "not an environment variable name; expected letters, digits and '_' (no \
                     '$'), e.g. \"CONTOSO_SECRET\" (to write the secret itself, use {})",
                    keys[0]
                ),
            );
            return None;
        }
        return match ctx.env.get(&var) {
            None => {
                ctx.error(
                    Some(&item.span),
                    &item.path,
                    ErrorKind::Secret,
                    format!("environment variable {var} is not set"),
                );
                None
            }
            Some(v) if v.trim().is_empty() => {
                ctx.error(
                    Some(&item.span),
                    &item.path,
                    ErrorKind::Secret,
                    format!("environment variable {var} is empty"),
                );
                None
            }
            Some(v) => Some(Some((
                Secret::new(v.trim().to_string(), SecretSource::Env(var)),
                item,
            ))),
        };
    }
    if let Some(item) = file {
        let name = ctx.as_str(&item)?.trim().to_string();
        if name.is_empty() {
            ctx.error(
                Some(&item.span),
                &item.path,
                ErrorKind::Invalid,
                "empty; expected the path of a file holding the secret",
            );
            return None;
        }
        let path = ctx.base_dir.join(&name);
        return match read_secret_file(&path) {
            Ok(v) => Some(Some((Secret::new(v, SecretSource::File(path)), item))),
            Err(m) => {
                ctx.error(Some(&item.span), &item.path, ErrorKind::Secret, m);
                None
            }
        };
    }
    Some(None)
}

/// `[A-Za-z_][A-Za-z0-9_]*`: what shells accept as a variable name.
fn is_env_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The trimmed content of a secret file; errors name the file, never its content.
fn read_secret_file(path: &Path) -> Result<String, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("secret file {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("secret file {shown} is not a regular file"));
    }
    if meta.len() > MAX_SECRET_FILE {
        return Err(format!(
            "secret file {shown} is {} bytes; a secret file holds one secret (at most {MAX_SECRET_FILE} bytes)",
            meta.len()
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("secret file {shown} cannot be read: {}", e.kind()))?;
    let value = text.trim();
    if value.is_empty() {
        return Err(format!("secret file {shown} is empty"));
    }
    Ok(value.to_string())
}
