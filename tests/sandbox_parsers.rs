//! Property tests: the OData `$filter`/`$orderby` parser and the KQL subset never panic on
//! arbitrary input, and filters built from the supported grammar always parse and evaluate
//! consistently with a direct computation.

use proptest::prelude::*;
use sandbox::kql;
use sandbox::odata::{self, FieldType};
use sandbox::sentinel::model::incident_fields;
use serde_json::{json, Map, Value};

fn tables(_: &str) -> Option<kql::Source> {
    let mut row = Map::new();
    row.insert("SystemAlertId".into(), json!("a"));
    row.insert("TimeGenerated".into(), json!("2024-01-01T00:00:00Z"));
    Some((
        vec![
            ("SystemAlertId".into(), "string".into()),
            ("TimeGenerated".into(), "datetime".into()),
        ],
        vec![row],
    ))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn odata_never_panics(s in "[ -~]{0,120}") {
        let _ = odata::parse_filter(&s, &incident_fields);
        let _ = odata::parse_orderby(&s, &incident_fields);
    }

    #[test]
    fn odata_never_panics_on_filter_like_text(s in "(properties/(status|severity|incidentNumber|labels/any\\(l: l/labelName)|and|or|not|eq|ne|gt|'x'|[0-9]{1,4}|2024-05-22T10:09:26Z|\\(|\\)| ){0,30}") {
        let _ = odata::parse_filter(&s, &incident_fields);
    }

    #[test]
    fn kql_never_panics(s in "(SecurityAlert|SIGNL4_CL|\\| where |\\| take |\\| summarize arg_max\\(|\\| project |\\| extend |=|==|\\(|\\)|\"|,|\\[|\\]|datetime\\(|ago\\(|[a-zA-Z0-9 ]{1,6}){0,20}") {
        let _ = kql::run(&s, &tables, None);
    }

    #[test]
    fn number_filters_match_direct_comparison(n in 0i64..100, k in 0i64..100, op in 0usize..6) {
        let ops = ["eq", "ne", "gt", "ge", "lt", "le"];
        let f = format!("properties/incidentNumber {} {k}", ops[op]);
        let e = odata::parse_filter(&f, &incident_fields).unwrap();
        let v: Value = json!({"properties": {"incidentNumber": n}});
        let want = match op { 0 => n == k, 1 => n != k, 2 => n > k, 3 => n >= k, 4 => n < k, _ => n <= k };
        prop_assert_eq!(odata::eval(&e, &v), want);
    }
}

#[test]
fn field_table_types() {
    let p = |s: &str| s.split('/').map(String::from).collect::<Vec<_>>();
    assert_eq!(
        incident_fields(&p("properties/createdTimeUtc")),
        Some(FieldType::DateTime)
    );
    assert_eq!(
        incident_fields(&p("properties/labels")),
        Some(FieldType::Collection)
    );
    assert_eq!(incident_fields(&p("properties/description")), None);
}
