//! Tabular operators beyond filtering and aggregation: `count`, `distinct`, `project-away`,
//! `union` (of tables and parenthesised subqueries) and `extend` with constants.
//!
//! Invariants: each is a pure function of its input table; column order follows KQL (`distinct`
//! keeps the listed order, `union` the first-seen order with each column's first type, a column
//! missing from one leg is null there); rows keep their input order.

use serde_json::Value;

use super::{col_index, split_top, syntax, unquote, KqlError, Row, Tabular};

/// `| count`: one row, one `long` column `Count`.
pub fn count(rows: &[Row]) -> Tabular {
    let mut row = Row::new();
    row.insert("Count".into(), Value::from(rows.len() as i64));
    (vec![("Count".into(), "long".into())], vec![row])
}

/// `| distinct A, B`: the distinct combinations, first occurrence order.
pub fn distinct(
    rest: &str,
    cols: &[(String, String)],
    rows: Vec<Row>,
) -> Result<Tabular, KqlError> {
    let names: Vec<String> = split_top(rest, ",")
        .into_iter()
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() {
        return Err(syntax("distinct needs at least one column"));
    }
    if names.iter().any(|n| n == "*") {
        return Err(KqlError(
            "NotEmulated",
            "'distinct *' is not emulated by the sandbox; name the columns".into(),
        ));
    }
    let mut out_cols = Vec::new();
    for n in &names {
        out_cols.push(cols[col_index(cols, n)?].clone());
    }
    let mut seen: Vec<Vec<Value>> = Vec::new();
    let mut out = Vec::new();
    for r in rows {
        let key: Vec<Value> = names
            .iter()
            .map(|n| r.get(n).cloned().unwrap_or(Value::Null))
            .collect();
        if !seen.contains(&key) {
            out.push(names.iter().cloned().zip(key.iter().cloned()).collect());
            seen.push(key);
        }
    }
    Ok((out_cols, out))
}

/// `| project-away A, B`: every column but those.
pub fn project_away(
    rest: &str,
    cols: &[(String, String)],
    mut rows: Vec<Row>,
) -> Result<Tabular, KqlError> {
    let names: Vec<String> = split_top(rest, ",")
        .into_iter()
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() {
        return Err(syntax("project-away needs at least one column"));
    }
    for n in &names {
        if n.contains('*') {
            return Err(KqlError(
                "NotEmulated",
                format!("wildcards in project-away ('{n}') are not emulated by the sandbox"),
            ));
        }
        col_index(cols, n)?;
    }
    for r in rows.iter_mut() {
        for n in &names {
            r.remove(n);
        }
    }
    let kept = cols
        .iter()
        .filter(|(c, _)| !names.contains(c))
        .cloned()
        .collect();
    Ok((kept, rows))
}

/// Appends `leg` to `acc` (`union`): columns merged by name.
pub fn union_into(acc: &mut Tabular, leg: Tabular) {
    let (cols, rows) = acc;
    for c in leg.0 {
        if !cols.iter().any(|(n, _)| *n == c.0) {
            cols.push(c);
        }
    }
    rows.extend(leg.1);
}

/// The legs of a `union`: table names or parenthesised subqueries (without the parentheses).
pub fn union_legs(rest: &str) -> Result<Vec<String>, KqlError> {
    let mut legs = Vec::new();
    for leg in split_top(rest, ",") {
        let leg = leg.trim();
        if leg.is_empty() {
            return Err(syntax("union has an empty leg"));
        }
        if leg.contains('=') && !leg.starts_with('(') {
            return Err(KqlError(
                "NotEmulated",
                format!("union parameters ('{leg}') are not emulated by the sandbox"),
            ));
        }
        match leg.strip_prefix('(').and_then(|l| l.strip_suffix(')')) {
            Some(inner) => legs.push(inner.trim().to_string()),
            None if leg.contains('*') => {
                return Err(KqlError(
                    "NotEmulated",
                    format!("table wildcards in union ('{leg}') are not emulated by the sandbox"),
                ))
            }
            None => legs.push(leg.to_string()),
        }
    }
    Ok(legs)
}

/// A constant of `extend X = <literal>`: its value and LA type; `None` when `expr` is not one.
pub fn literal(expr: &str) -> Option<(Value, &'static str)> {
    let e = expr.trim();
    if let Some(s) = unquote(e) {
        return Some((Value::String(s), "string"));
    }
    match e {
        "true" => return Some((Value::Bool(true), "bool")),
        "false" => return Some((Value::Bool(false), "bool")),
        _ => {}
    }
    if let Ok(n) = e.parse::<i64>() {
        return Some((Value::from(n), "long"));
    }
    if let Ok(x) = e.parse::<f64>() {
        return Some((Value::from(x), "real"));
    }
    None
}
