//! The OData `$filter`/`$orderby` subset Sentinel (ARM) and Graph accept, parsed into a small AST
//! and evaluated against the JSON a resource renders to.
//!
//! Grammar: `expr := and ('or' and)*`, `and := unary ('and' unary)*`, `unary := 'not' unary |
//! '(' expr ')' | path op literal | path '/any(' var ':' expr ')'`, with `op` in
//! eq/ne/gt/ge/lt/le and literals `'string'` (`''` escapes a quote), numbers, `true`/`false`/`null`
//! and **unquoted** DateTimeOffset values. The caller supplies the allowed fields and their types;
//! anything else is a [`SyntaxError`] (Sentinel answers "OData query syntax error").
//!
//! Invariant: parsing is bounded by the input length (no backtracking); evaluation never panics.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::util::parse_ts;

/// Any parse or validation failure; the services map it to their own 400.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError(pub String);

/// The type a filterable field has; literals must match it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldType {
    /// Compared case-insensitively.
    Str,
    /// Compared as instants; literals must be unquoted DateTimeOffsets.
    DateTime,
    /// Compared numerically.
    Number,
    /// A collection that only `any()` may traverse; its elements' fields are given by the callback
    /// with the lambda variable stripped.
    Collection,
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    /// `eq`
    Eq,
    /// `ne`
    Ne,
    /// `gt`
    Gt,
    /// `ge`
    Ge,
    /// `lt`
    Lt,
    /// `le`
    Le,
}

/// A literal on the right-hand side.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    /// `'text'`
    Str(String),
    /// `42`, `1.5`
    Num(f64),
    /// `2024-05-22T10:09:26Z`
    Time(DateTime<Utc>),
    /// `true`/`false`
    Bool(bool),
    /// `null`
    Null,
}

/// The filter AST.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `a and b`
    And(Box<Expr>, Box<Expr>),
    /// `a or b`
    Or(Box<Expr>, Box<Expr>),
    /// `not a`
    Not(Box<Expr>),
    /// `path op literal`
    Cmp(Vec<String>, Op, Lit),
    /// `path/any(var: expr)`; paths inside are relative to the element.
    Any(Vec<String>, Box<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Colon,
    Comma,
    Str(String),
    Word(String),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, SyntaxError> {
    let c: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        match ch {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1
            }
            ':' => {
                out.push(Tok::Colon);
                i += 1
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1
            }
            '\'' => {
                let mut v = String::new();
                i += 1;
                loop {
                    if i >= c.len() {
                        return Err(SyntaxError("unterminated string literal".into()));
                    }
                    if c[i] == '\'' {
                        if i + 1 < c.len() && c[i + 1] == '\'' {
                            v.push('\'');
                            i += 2;
                            continue;
                        }
                        i += 1;
                        break;
                    }
                    v.push(c[i]);
                    i += 1;
                }
                out.push(Tok::Str(v));
            }
            _ if ch.is_ascii_digit() || ch == '-' => {
                let st = i;
                while i < c.len() && (c[i].is_ascii_alphanumeric() || ":.-+".contains(c[i])) {
                    i += 1;
                }
                out.push(Tok::Word(c[st..i].iter().collect()));
            }
            _ if ch.is_ascii_alphabetic() || ch == '_' || ch == '$' => {
                let st = i;
                while i < c.len() && (c[i].is_ascii_alphanumeric() || "_/.$".contains(c[i])) {
                    i += 1;
                }
                out.push(Tok::Word(c[st..i].iter().collect()));
            }
            _ => return Err(SyntaxError(format!("unexpected character '{ch}'"))),
        }
    }
    Ok(out)
}

/// Field lookup callback: the type of a path (segments), or `None` when it is not filterable.
pub type Fields<'a> = &'a dyn Fn(&[String]) -> Option<FieldType>;

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    fields: Fields<'a>,
    /// Lambda variable in scope and the collection path it ranges over.
    var: Option<(String, Vec<String>)>,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn kw(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(k))
    }
    fn or(&mut self) -> Result<Expr, SyntaxError> {
        self.depth += 1;
        if self.depth > 64 {
            return Err(SyntaxError("expression too deep".into()));
        }
        let mut e = self.and()?;
        while self.kw("or") {
            self.pos += 1;
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        self.depth -= 1;
        Ok(e)
    }
    fn and(&mut self) -> Result<Expr, SyntaxError> {
        let mut e = self.unary()?;
        while self.kw("and") {
            self.pos += 1;
            e = Expr::And(Box::new(e), Box::new(self.unary()?));
        }
        Ok(e)
    }
    fn unary(&mut self) -> Result<Expr, SyntaxError> {
        if self.kw("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        match self.next() {
            Some(Tok::LParen) => {
                let e = self.or()?;
                match self.next() {
                    Some(Tok::RParen) => Ok(e),
                    _ => Err(SyntaxError("expected ')'".into())),
                }
            }
            Some(Tok::Word(w)) => self.after_path(w),
            t => Err(SyntaxError(format!("unexpected token {t:?}"))),
        }
    }
    fn resolve(&self, w: &str) -> Result<(Vec<String>, FieldType), SyntaxError> {
        let segs: Vec<String> = w.split('/').map(str::to_string).collect();
        if let Some((var, coll)) = &self.var {
            if segs[0] == *var {
                let mut full = coll.clone();
                full.push("*".into());
                full.extend(segs[1..].iter().cloned());
                let ty = (self.fields)(&full)
                    .ok_or_else(|| SyntaxError(format!("field '{w}' is not filterable")))?;
                return Ok((segs[1..].to_vec(), ty));
            }
        }
        let ty = (self.fields)(&segs)
            .ok_or_else(|| SyntaxError(format!("field '{w}' is not filterable")))?;
        Ok((segs, ty))
    }
    fn after_path(&mut self, w: String) -> Result<Expr, SyntaxError> {
        // `coll/any(` or `coll/all(`
        if let Some((coll, func)) = w.rsplit_once('/') {
            if (func.eq_ignore_ascii_case("any") || func.eq_ignore_ascii_case("all"))
                && self.peek() == Some(&Tok::LParen)
            {
                if func.eq_ignore_ascii_case("all") {
                    return Err(SyntaxError("all() is not supported".into()));
                }
                if self.var.is_some() {
                    return Err(SyntaxError("nested any() is not supported".into()));
                }
                let (cpath, ty) = self.resolve(coll)?;
                if ty != FieldType::Collection {
                    return Err(SyntaxError(format!("'{coll}' is not a collection")));
                }
                self.pos += 1;
                let var = match (self.next(), self.next()) {
                    (Some(Tok::Word(v)), Some(Tok::Colon)) => v,
                    _ => return Err(SyntaxError("expected 'var:' in any()".into())),
                };
                self.var = Some((var, cpath.clone()));
                let body = self.or()?;
                self.var = None;
                if self.next() != Some(Tok::RParen) {
                    return Err(SyntaxError("expected ')' after any()".into()));
                }
                return Ok(Expr::Any(cpath, Box::new(body)));
            }
        }
        let (path, ty) = self.resolve(&w)?;
        if ty == FieldType::Collection {
            return Err(SyntaxError(format!("'{w}' needs any()")));
        }
        let op = match self.next() {
            Some(Tok::Word(o)) => match o.to_ascii_lowercase().as_str() {
                "eq" => Op::Eq,
                "ne" => Op::Ne,
                "gt" => Op::Gt,
                "ge" => Op::Ge,
                "lt" => Op::Lt,
                "le" => Op::Le,
                _ => return Err(SyntaxError(format!("unknown operator '{o}'"))),
            },
            _ => return Err(SyntaxError("expected an operator".into())),
        };
        let lit = match self.next() {
            Some(Tok::Str(s)) => Lit::Str(s),
            Some(Tok::Word(x)) => {
                if x == "null" {
                    Lit::Null
                } else if x == "true" || x == "false" {
                    Lit::Bool(x == "true")
                } else if let Some(t) = parse_ts(&x) {
                    Lit::Time(t)
                } else if let Ok(n) = x.parse::<f64>() {
                    Lit::Num(n)
                } else {
                    return Err(SyntaxError(format!("bad literal '{x}'")));
                }
            }
            _ => return Err(SyntaxError("expected a literal".into())),
        };
        let ok = matches!(
            (ty, &lit),
            (_, Lit::Null)
                | (FieldType::Str, Lit::Str(_))
                | (FieldType::DateTime, Lit::Time(_))
                | (FieldType::Number, Lit::Num(_))
        );
        if !ok {
            return Err(SyntaxError(format!(
                "literal does not match the type of '{w}'"
            )));
        }
        Ok(Expr::Cmp(path, op, lit))
    }
}

/// Parses `$filter` text against the allowed `fields`.
pub fn parse_filter(s: &str, fields: Fields<'_>) -> Result<Expr, SyntaxError> {
    if s.len() > 4096 {
        return Err(SyntaxError("filter too long".into()));
    }
    let toks = tokenize(s)?;
    if toks.is_empty() {
        return Err(SyntaxError("empty filter".into()));
    }
    let mut p = Parser {
        toks,
        pos: 0,
        fields,
        var: None,
        depth: 0,
    };
    let e = p.or()?;
    if p.pos != p.toks.len() {
        return Err(SyntaxError("trailing tokens".into()));
    }
    Ok(e)
}

/// Follows `path` into `v` (`*` segments are not used here).
pub fn lookup<'v>(v: &'v Value, path: &[String]) -> &'v Value {
    let mut cur = v;
    for seg in path {
        cur = match cur {
            Value::Object(m) => m
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(seg))
                .map(|(_, v)| v)
                .unwrap_or(&Value::Null),
            _ => &Value::Null,
        };
    }
    cur
}

/// Orders a JSON cell against a literal; `None` when incomparable (null, type mismatch).
fn compare(v: &Value, lit: &Lit) -> Option<Ordering> {
    match (v, lit) {
        (Value::String(s), Lit::Str(l)) => Some(s.to_lowercase().cmp(&l.to_lowercase())),
        (Value::String(s), Lit::Time(t)) => parse_ts(s).map(|x| x.cmp(t)),
        (Value::Number(n), Lit::Num(l)) => n.as_f64().and_then(|x| x.partial_cmp(l)),
        (Value::Bool(b), Lit::Bool(l)) => Some(b.cmp(l)),
        _ => None,
    }
}

/// Evaluates the filter on a rendered resource.
pub fn eval(e: &Expr, v: &Value) -> bool {
    match e {
        Expr::And(a, b) => eval(a, v) && eval(b, v),
        Expr::Or(a, b) => eval(a, v) || eval(b, v),
        Expr::Not(a) => !eval(a, v),
        Expr::Any(path, body) => match lookup(v, path) {
            Value::Array(items) => items.iter().any(|i| eval(body, i)),
            _ => false,
        },
        Expr::Cmp(path, op, lit) => {
            let cell = lookup(v, path);
            if let Lit::Null = lit {
                return match op {
                    Op::Eq => cell.is_null(),
                    Op::Ne => !cell.is_null(),
                    _ => false,
                };
            }
            match compare(cell, lit) {
                None => *op == Op::Ne,
                Some(o) => match op {
                    Op::Eq => o == Ordering::Equal,
                    Op::Ne => o != Ordering::Equal,
                    Op::Gt => o == Ordering::Greater,
                    Op::Ge => o != Ordering::Less,
                    Op::Lt => o == Ordering::Less,
                    Op::Le => o != Ordering::Greater,
                },
            }
        }
    }
}

/// Flattens the top-level `and` chain (left to right).
pub fn and_chain(e: &Expr) -> Vec<&Expr> {
    match e {
        Expr::And(a, b) => {
            let mut v = and_chain(a);
            v.extend(and_chain(b));
            v
        }
        other => vec![other],
    }
}

/// Counts `any()` clauses anywhere in the expression.
pub fn count_any(e: &Expr) -> usize {
    match e {
        Expr::And(a, b) | Expr::Or(a, b) => count_any(a) + count_any(b),
        Expr::Not(a) => count_any(a),
        Expr::Any(_, b) => 1 + count_any(b),
        Expr::Cmp(..) => 0,
    }
}

/// One `$orderby` key.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderKey {
    /// Field path.
    pub path: Vec<String>,
    /// Descending?
    pub desc: bool,
}

/// Parses `$orderby` (`path [asc|desc], ...`) against the allowed fields.
pub fn parse_orderby(s: &str, fields: Fields<'_>) -> Result<Vec<OrderKey>, SyntaxError> {
    let mut keys = Vec::new();
    for part in s.split(',') {
        let mut it = part.split_whitespace();
        let path = it
            .next()
            .ok_or_else(|| SyntaxError("empty $orderby key".into()))?;
        let desc = match it.next().map(str::to_ascii_lowercase).as_deref() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(o) => return Err(SyntaxError(format!("bad direction '{o}'"))),
        };
        if it.next().is_some() {
            return Err(SyntaxError("trailing tokens in $orderby".into()));
        }
        let segs: Vec<String> = path.split('/').map(str::to_string).collect();
        match fields(&segs) {
            Some(FieldType::Collection) | None => {
                return Err(SyntaxError(format!("cannot order by '{path}'")))
            }
            _ => keys.push(OrderKey { path: segs, desc }),
        }
    }
    Ok(keys)
}

/// Compares two resources by the order keys (timestamps as instants, numbers numerically).
pub fn order_cmp(keys: &[OrderKey], a: &Value, b: &Value) -> Ordering {
    for k in keys {
        let (x, y) = (lookup(a, &k.path), lookup(b, &k.path));
        let o = match (x, y) {
            (Value::Number(m), Value::Number(n)) => m
                .as_f64()
                .partial_cmp(&n.as_f64())
                .unwrap_or(Ordering::Equal),
            (Value::String(m), Value::String(n)) => match (parse_ts(m), parse_ts(n)) {
                (Some(p), Some(q)) => p.cmp(&q),
                _ => m.to_lowercase().cmp(&n.to_lowercase()),
            },
            (Value::Null, Value::Null) => Ordering::Equal,
            (Value::Null, _) => Ordering::Less,
            (_, Value::Null) => Ordering::Greater,
            _ => Ordering::Equal,
        };
        let o = if k.desc { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// A pre-extracted sort key cell (timestamps parsed once, not per comparison).
#[derive(PartialEq, PartialOrd)]
enum KeyCell {
    Null,
    Num(f64),
    Time(DateTime<Utc>),
    Str(String),
}

fn key_cell(v: &Value) -> KeyCell {
    match v {
        Value::Number(n) => KeyCell::Num(n.as_f64().unwrap_or_default()),
        Value::String(s) => match parse_ts(s) {
            Some(t) => KeyCell::Time(t),
            None => KeyCell::Str(s.to_lowercase()),
        },
        _ => KeyCell::Null,
    }
}

/// Sorts by the order keys, extracting each item's keys once (same order as [`order_cmp`]).
/// `view` gives the JSON an item renders to.
pub fn sort_by_keys<'v, T>(keys: &[OrderKey], items: &mut Vec<T>, view: impl Fn(&T) -> &'v Value) {
    let mut decorated: Vec<(Vec<KeyCell>, T)> = items
        .drain(..)
        .map(|t| {
            let v = view(&t);
            (
                keys.iter().map(|k| key_cell(lookup(v, &k.path))).collect(),
                t,
            )
        })
        .collect();
    decorated.sort_by(|(a, _), (b, _)| {
        for (n, k) in keys.iter().enumerate() {
            let o = a[n].partial_cmp(&b[n]).unwrap_or(Ordering::Equal);
            let o = if k.desc { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
    items.extend(decorated.into_iter().map(|(_, v)| v));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(p: &[String]) -> Option<FieldType> {
        let p: Vec<&str> = p.iter().map(String::as_str).collect();
        match p.as_slice() {
            ["properties", "status"] => Some(FieldType::Str),
            ["properties", "createdTimeUtc"] => Some(FieldType::DateTime),
            ["properties", "incidentNumber"] => Some(FieldType::Number),
            ["properties", "labels"] => Some(FieldType::Collection),
            ["properties", "labels", "*", "labelName"] => Some(FieldType::Str),
            _ => None,
        }
    }

    #[test]
    fn parses_and_evaluates() {
        let v = json!({"properties": {"status": "New", "createdTimeUtc": "2024-05-22T10:09:27.123Z",
            "incidentNumber": 5, "labels": [{"labelName": "SIGNL4"}]}});
        for (f, want) in [
            ("properties/status eq 'New'", true),
            ("properties/status eq 'new'", true),
            ("properties/status ne 'New'", false),
            ("properties/createdTimeUtc ge 2024-05-22T10:09:26Z", true),
            ("properties/createdTimeUtc lt 2024-05-22T10:09:26Z", false),
            ("properties/incidentNumber gt 4 and (properties/status eq 'Active' or properties/status eq 'New')", true),
            ("properties/labels/any(l: l/labelName eq 'SIGNL4') and properties/incidentNumber le 5", true),
            ("not (properties/status eq 'New')", false),
        ] {
            let e = parse_filter(f, &fields).unwrap_or_else(|e| panic!("{f}: {e:?}"));
            assert_eq!(eval(&e, &v), want, "{f}");
        }
    }

    #[test]
    fn rejects_unsupported() {
        for f in [
            "properties/title eq 'x'",
            "properties/status eq",
            "properties/createdTimeUtc ge '2024-05-22T10:09:26Z'",
            "properties/labels/all(l: l/labelName eq 'x')",
            "properties/status eq 'New' and",
            "(properties/status eq 'New'",
            "properties/status like 'New'",
        ] {
            assert!(parse_filter(f, &fields).is_err(), "{f}");
        }
    }
}
