//! One Graph collection listing for every `security/*` collection the sandbox serves (alerts_v2
//! and Defender incidents): `$filter` over the collection's fields, `$top` within the
//! collection's documented bounds, `$skip` paging with an absolute `@odata.nextLink` that keeps
//! every other query option, `$count`, and the `@odata.context` of the collection.
//!
//! Invariants: a request the real service would refuse (a filter outside the grammar or the
//! fields, a `$top` out of bounds, a `$skip` that is not a number) is answered 400 in Graph's
//! error shape before anything is listed; the nextLink points at this server, so a client that
//! follows it verbatim stays on loopback; items keep the collection's stored order.

use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::errors;
use super::odata::{self, FieldType};
use super::util::{json as json_resp, pct_encode, q};

/// How one collection pages (the services document different bounds).
pub struct Paging {
    /// `$top` when none is given.
    pub default_top: usize,
    /// The largest `$top` accepted.
    pub max_top: usize,
    /// The query options that carry the offset (`$skip`, and `$skiptoken` where the service
    /// issues one); the first present wins.
    pub skip_keys: &'static [&'static str],
}

/// The `@odata.context` of `security/{collection}` on this server.
pub fn context(req: &HttpRequest, collection: &str) -> String {
    format!(
        "http://{}/v1.0/$metadata#security/{collection}",
        req.connection_info().host()
    )
}

/// The page of `items` the query in `pairs` asks for, each shown by `present`.
pub fn list(
    req: &HttpRequest,
    pairs: &[(String, String)],
    mut items: Vec<&Value>,
    fields: impl Fn(&[String]) -> Option<FieldType>,
    paging: &Paging,
    collection: &str,
    present: impl Fn(&Value) -> Value,
) -> HttpResponse {
    if let Some(f) = q(pairs, "$filter").filter(|f| !f.trim().is_empty()) {
        match odata::parse_filter(f, &fields) {
            Ok(e) => items.retain(|a| odata::eval(&e, a)),
            Err(odata::SyntaxError(m)) => {
                return errors::graph(400, "BadRequest", &format!("Invalid filter clause: {m}"))
            }
        }
    }
    let top = match q(pairs, "$top") {
        None => paging.default_top,
        Some(t) => match t.parse::<usize>() {
            Ok(n) if (1..=paging.max_top).contains(&n) => n,
            _ => {
                return errors::graph(
                    400,
                    "BadRequest",
                    &format!(
                        "Invalid $top value. It must be an integer between 1 and {}.",
                        paging.max_top
                    ),
                )
            }
        },
    };
    let skip = match paging.skip_keys.iter().find_map(|k| q(pairs, k)) {
        None => 0,
        Some(s) => match s.parse::<usize>() {
            Ok(n) => n,
            Err(_) => return errors::graph(400, "BadRequest", "Invalid $skip value."),
        },
    };
    let total = items.len();
    let value: Vec<Value> = items
        .into_iter()
        .skip(skip)
        .take(top)
        .map(present)
        .collect();
    let mut body = json!({"@odata.context": context(req, collection), "value": value});
    if q(pairs, "$count").is_some_and(|c| c == "true") {
        body["@odata.count"] = json!(total);
    }
    if skip + top < total {
        let mut qs: Vec<String> = pairs
            .iter()
            .filter(|(k, _)| !paging.skip_keys.iter().any(|s| k.eq_ignore_ascii_case(s)))
            .map(|(k, v)| format!("{}={}", pct_encode(k, false), pct_encode(v, false)))
            .collect();
        qs.push(format!("$skip={}", skip + top));
        body["@odata.nextLink"] = json!(format!(
            "http://{}{}?{}",
            req.connection_info().host(),
            req.path(),
            qs.join("&")
        ));
    }
    json_resp(200, &body)
}
