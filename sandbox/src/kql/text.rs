//! The string predicates of `where` (`contains`, `has`, `startswith`, `endswith`, their negations
//! and `_cs` forms) and the null tests (`isnull`, `isnotnull`, `isempty`, `isnotempty`), as KQL
//! defines them: case-insensitive unless `_cs`; `has` matches whole terms (runs of letters and
//! digits), so `"Acknowledged by Ann" has "ann"` holds and `has "ack"` does not.
//!
//! Invariant: a predicate over a missing or null cell is false (its negation true), a dynamic or
//! numeric cell is searched as its JSON text; never an error at evaluation time, every error is
//! found while parsing.

use serde_json::Value;

use super::{col_index, unquote, KqlError, Pred, Row};

/// The operators, longest first so that `!contains` is not read as `contains`.
const OPERATORS: [&str; 14] = [
    "!contains_cs",
    "contains_cs",
    "!startswith",
    "startswith",
    "!endswith",
    "endswith",
    "!contains",
    "contains",
    "!has_cs",
    "has_cs",
    "!has",
    "has",
    "!in~",
    "in~",
];

/// `Col op "literal"` for a string operator, or a null test; `None` when `p` is neither.
pub fn predicate(p: &str, cols: &[(String, String)]) -> Option<Result<Pred, KqlError>> {
    if let Some(r) = null_test(p, cols) {
        return Some(r);
    }
    let mut parts = p.trim().splitn(3, char::is_whitespace);
    let (col, op, rhs) = (parts.next()?, parts.next()?, parts.next().unwrap_or(""));
    if !OPERATORS.contains(&op) {
        return None;
    }
    Some(build(col.trim(), op, rhs.trim(), cols))
}

fn build(col: &str, op: &str, rhs: &str, cols: &[(String, String)]) -> Result<Pred, KqlError> {
    col_index(cols, col)?;
    let col = col.to_string();
    let negated = op.starts_with('!');
    let op = op.trim_start_matches('!').to_string();
    if op == "in~" {
        let inner = rhs
            .strip_prefix('(')
            .and_then(|x| x.strip_suffix(')'))
            .ok_or_else(|| KqlError("SyntaxError", "in~ needs (\"a\", \"b\")".into()))?;
        let set: Vec<String> = super::split_top(inner, ",")
            .iter()
            .map(|x| {
                unquote(x)
                    .map(|s| s.to_lowercase())
                    .ok_or_else(|| KqlError("SyntaxError", "in~ () takes string literals".into()))
            })
            .collect::<Result<_, _>>()?;
        return Ok(Box::new(move |r: &Row| {
            let hit = r
                .get(&col)
                .and_then(Value::as_str)
                .is_some_and(|v| set.contains(&v.to_lowercase()));
            hit != negated
        }));
    }
    let needle = unquote(rhs).ok_or_else(|| {
        KqlError(
            "SyntaxError",
            format!("'{op}' needs a string literal on its right, found '{rhs}'"),
        )
    })?;
    let case_sensitive = op.ends_with("_cs");
    let base = op.trim_end_matches("_cs").to_string();
    let fold = move |s: &str| {
        if case_sensitive {
            s.to_string()
        } else {
            s.to_lowercase()
        }
    };
    let needle = fold(&needle);
    Ok(Box::new(move |r: &Row| {
        // A dynamic or numeric cell is searched as its JSON text, as KQL converts it.
        let hay = match r.get(&col) {
            None | Some(Value::Null) => return negated,
            Some(Value::String(s)) => fold(s),
            Some(other) => fold(&other.to_string()),
        };
        let hit = match base.as_str() {
            "contains" => hay.contains(&needle),
            "startswith" => hay.starts_with(&needle),
            "endswith" => hay.ends_with(&needle),
            _ => has_term(&hay, &needle),
        };
        hit != negated
    }))
}

/// KQL's `has`: `needle` is one whole term of `hay` (terms are runs of letters and digits).
fn has_term(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    hay.split(|c: char| !c.is_alphanumeric())
        .any(|term| term == needle)
        || (!needle.chars().all(char::is_alphanumeric) && hay.contains(needle))
}

/// `isnull(Col)`, `isnotnull(Col)`, `isempty(Col)`, `isnotempty(Col)`.
fn null_test(p: &str, cols: &[(String, String)]) -> Option<Result<Pred, KqlError>> {
    let p = p.trim();
    let (func, inner) = p.strip_suffix(')')?.split_once('(')?;
    let func = func.trim();
    if !matches!(func, "isnull" | "isnotnull" | "isempty" | "isnotempty") {
        return None;
    }
    let col = inner.trim().to_string();
    if let Err(e) = col_index(cols, &col) {
        return Some(Err(e));
    }
    let func = func.to_string();
    Some(Ok(Box::new(move |r: &Row| {
        let v = r.get(&col).unwrap_or(&Value::Null);
        let empty = v.is_null() || v.as_str().is_some_and(str::is_empty);
        match func.as_str() {
            "isnull" => v.is_null(),
            "isnotnull" => !v.is_null(),
            "isempty" => empty,
            _ => !empty,
        }
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(note: Value) -> Row {
        json!({"Note": note}).as_object().unwrap().clone()
    }

    fn holds(p: &str, note: Value) -> bool {
        let cols = vec![("Note".to_string(), "string".to_string())];
        predicate(p, &cols).expect("a text predicate").unwrap()(&row(note))
    }

    #[test]
    fn string_operators_follow_kql() {
        let note = json!("Acknowledged by Ann (ann@contoso.com)");
        assert!(holds(r#"Note contains "ACK""#, note.clone()));
        assert!(!holds(r#"Note contains_cs "ACK""#, note.clone()));
        assert!(holds(r#"Note !contains "zebra""#, note.clone()));
        assert!(holds(r#"Note startswith "acknowledged""#, note.clone()));
        assert!(holds(r#"Note endswith "COM)""#, note.clone()));
        assert!(holds(r#"Note has "ann""#, note.clone()));
        assert!(!holds(r#"Note has "ack""#, note.clone()));
        assert!(holds(r#"Note has "ann@contoso.com""#, note.clone()));
        assert!(holds(r#"Note !has "bob""#, note.clone()));
        assert!(holds(
            r#"Note in~ ("x", "ACKNOWLEDGED BY ANN (ANN@CONTOSO.COM)")"#,
            note
        ));
        // A missing value matches no positive operator and every negated one.
        assert!(!holds(r#"Note contains "a""#, Value::Null));
        assert!(holds(r#"Note !contains "a""#, Value::Null));
        assert!(holds(
            r#"Note has "signl4""#,
            json!([{"labelName": "SIGNL4"}])
        ));
        assert!(holds("isnull(Note)", Value::Null));
        assert!(holds("isempty(Note)", json!("")));
        assert!(holds("isnotempty(Note)", json!("x")));
        assert!(!holds("isnotnull(Note)", Value::Null));
    }

    #[test]
    fn bad_operands_are_errors_and_other_predicates_are_not_ours() {
        let cols = vec![("Note".to_string(), "string".to_string())];
        assert!(predicate("Note contains Other", &cols).unwrap().is_err());
        assert!(predicate(r#"Nope has "x""#, &cols).unwrap().is_err());
        assert!(predicate(r#"Note == "x""#, &cols).is_none());
    }
}
