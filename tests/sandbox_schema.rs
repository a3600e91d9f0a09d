//! Validates the sandbox's Sentinel and Log Analytics responses (and the example request bodies
//! the tests send) against the official Swagger schemas vendored in `tests/specs`, with the
//! `jsonschema` crate (draft 4, formats checked).
//!
//! The spec files reference each other with relative `$ref`s. The loader reads every file
//! reachable from `Incidents.json` and `OperationalInsights.json`, copies all their definitions
//! into one document under `<file-key>__<Definition>` and rewrites each `$ref` to that local
//! name, so no retriever or network is involved.
//!
//! One documented relaxation: `OperationalInsights.json` declares every row cell as
//! `{"type": "object"}`, which rejects the documented wire format (strings, numbers) and even the
//! spec's own example; the cell schema is replaced by `{}` (any JSON value). A test shows the
//! unrelaxed schema rejecting the official example, and negative tests show the validator
//! catching broken responses.

mod sandbox_util;

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use sandbox_util::*;
use serde_json::{json, Map, Value};

/// The official specs, vendored verbatim in `tests/specs` (provenance in its README), so a clean
/// clone validates without anything beside it.
fn specs() -> String {
    let vendored = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/specs/azure/specification");
    assert!(
        vendored.is_dir(),
        "the vendored Azure specs are missing: {}",
        vendored.display()
    );
    vendored.to_string_lossy().into_owned()
}
const INCIDENTS: &str =
    "securityinsights/resource-manager/Microsoft.SecurityInsights/stable/2025-12-01/Incidents.json";
const LA_SPEC: &str = "operationalinsights/data-plane/Microsoft.OperationalInsights/stable/2022-10-27/OperationalInsights.json";

fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn key_of(p: &Path) -> String {
    p.to_string_lossy().replace(['/', '.', '-'], "_")
}

/// Rewrites `$ref`s in `v` (found in file `file`) to local definition names; queues new files.
fn rewrite(v: &mut Value, file: &Path, queue: &mut Vec<PathBuf>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get_mut("$ref") {
                let (fpart, frag) = r.split_once('#').unwrap_or((r.as_str(), ""));
                let target = if fpart.is_empty() {
                    file.to_path_buf()
                } else {
                    normalize(&file.parent().unwrap().join(fpart))
                };
                let def = frag
                    .strip_prefix("/definitions/")
                    .unwrap_or_else(|| panic!("unsupported $ref {r} in {file:?}"));
                let new = format!("#/definitions/{}__{}", key_of(&target), def);
                if !queue.contains(&target) {
                    queue.push(target);
                }
                *r = new;
            }
            for (_, x) in m.iter_mut() {
                rewrite(x, file, queue);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| rewrite(x, file, queue)),
        _ => {}
    }
}

/// All definitions reachable from the two root files, merged.
fn definitions() -> Map<String, Value> {
    let root = PathBuf::from(specs());
    let mut queue = vec![
        normalize(&root.join(INCIDENTS)),
        normalize(&root.join(LA_SPEC)),
    ];
    let mut done = BTreeMap::new();
    let mut i = 0;
    while i < queue.len() {
        let file = queue[i].clone();
        i += 1;
        if done.contains_key(&file) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file:?}: {e}"));
        let doc: Value = serde_json::from_str(&text).expect("spec parses");
        let mut defs = doc.get("definitions").cloned().unwrap_or(json!({}));
        rewrite(&mut defs, &file, &mut queue);
        done.insert(file, defs);
    }
    let mut all = Map::new();
    for (file, defs) in done {
        for (name, schema) in defs.as_object().unwrap() {
            all.insert(format!("{}__{}", key_of(&file), name), schema.clone());
        }
    }
    all
}

struct Specs {
    defs: Map<String, Value>,
    inc_key: String,
    la_key: String,
}

impl Specs {
    fn load(relax_la_cells: bool) -> Specs {
        let mut defs = definitions();
        let root = PathBuf::from(specs());
        let inc_key = key_of(&normalize(&root.join(INCIDENTS)));
        let la_key = key_of(&normalize(&root.join(LA_SPEC)));
        if relax_la_cells {
            let t = defs
                .get_mut(&format!("{la_key}__table"))
                .expect("table definition");
            t["properties"]["rows"]["items"]["items"] = json!({});
        }
        Specs {
            defs,
            inc_key,
            la_key,
        }
    }

    fn validate(&self, key: &str, def: &str, v: &Value) -> Vec<String> {
        let schema = json!({
            "allOf": [{"$ref": format!("#/definitions/{key}__{def}")}],
            "definitions": self.defs,
        });
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft4)
            .should_validate_formats(true)
            .build(&schema)
            .expect("schema compiles");
        validator
            .iter_errors(v)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect()
    }

    fn assert_sentinel(&self, def: &str, v: &Value) {
        let errs = self.validate(&self.inc_key, def, v);
        assert!(errs.is_empty(), "{def} invalid: {errs:?}\n{v:#}");
    }

    fn assert_common(&self, def: &str, v: &Value) {
        let key = key_of(&normalize(
            &PathBuf::from(specs()).join("securityinsights/resource-manager/common/2.0/types.json"),
        ));
        let errs = self.validate(&key, def, v);
        assert!(errs.is_empty(), "{def} invalid: {errs:?}\n{v:#}");
    }

    fn assert_la(&self, def: &str, v: &Value) {
        let errs = self.validate(&self.la_key, def, v);
        assert!(errs.is_empty(), "{def} invalid: {errs:?}\n{v:#}");
    }
}

fn example(rel: &str) -> Value {
    let p = format!("{}/securityinsights/resource-manager/Microsoft.SecurityInsights/stable/2025-12-01/examples/incidents/{rel}", specs());
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn official_examples_validate_and_broken_ones_do_not() {
    let s = Specs::load(true);
    s.assert_sentinel(
        "Incident",
        &example("GetIncidentById.json")["responses"]["200"]["body"],
    );
    s.assert_sentinel(
        "IncidentList",
        &example("GetIncidents.json")["responses"]["200"]["body"],
    );
    s.assert_sentinel(
        "IncidentAlertList",
        &example("GetAllIncidentAlerts.json")["responses"]["200"]["body"],
    );
    s.assert_sentinel(
        "IncidentCommentList",
        &example("comments/GetAllIncidentComments.json")["responses"]["200"]["body"],
    );
    s.assert_sentinel(
        "Incident",
        &example("CreateIncident.json")["parameters"]["incident"],
    );
    // The validator is not a no-op.
    let mut bad = example("GetIncidentById.json")["responses"]["200"]["body"].clone();
    bad["properties"]["severity"] = json!("Critical");
    bad["properties"]["incidentNumber"] = json!("3177");
    assert_eq!(s.validate(&s.inc_key, "Incident", &bad).len(), 2);
    let mut bad_alert = example("GetAllIncidentAlerts.json")["responses"]["200"]["body"].clone();
    bad_alert["value"][0]["properties"]["tactics"] = json!(["NotATactic"]);
    assert!(!s
        .validate(&s.inc_key, "IncidentAlertList", &bad_alert)
        .is_empty());
}

#[test]
fn la_spec_cell_type_contradicts_its_own_example() {
    let p = format!("{}/operationalinsights/data-plane/Microsoft.OperationalInsights/stable/2022-10-27/examples/la-post-resource-centric-example.json", specs());
    let ex: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    let body = &ex["responses"]["200"]["body"];
    let strict = Specs::load(false);
    assert!(
        !strict
            .validate(&strict.la_key, "queryResults", body)
            .is_empty(),
        "unrelaxed schema rejects string cells"
    );
    let relaxed = Specs::load(true);
    relaxed.assert_la("queryResults", body);
    let mut bad = body.clone();
    bad["tables"][0]["columns"][0]["type"] = json!("varchar");
    assert!(!relaxed
        .validate(&relaxed.la_key, "queryResults", &bad)
        .is_empty());
}

#[tokio::test]
async fn sandbox_responses_match_the_official_schemas() {
    let s = Specs::load(true);
    let env = Env::new();
    let c = env.sb.control();
    let seeded = c.create_incident(&env.t.name, Default::default()).unwrap();
    let id = seeded["name"].as_str().unwrap().to_string();
    c.analyst(&env.t.name, &id, sentinel_signl4::sandbox::control::AnalystAction {
        owner: Some(json!({"objectId": "2046feea-040d-4a46-9e2b-91c2941bfa70", "email": "jane@contoso.com", "assignedTo": "Jane", "userPrincipalName": "jane@contoso.com", "ownerType": "User"})),
        add_labels: vec!["SIGNL4".into()], comment: Some("analyst note".into()), ..Default::default()
    }).unwrap();
    let tok = env.token(ARM).await;

    // Request bodies the connector sends.
    let put_body = json!({"etag": seeded["etag"], "properties": {"title": "t", "severity": "High", "status": "Closed",
        "classification": "BenignPositive", "classificationReason": "SuspiciousButExpected", "classificationComment": "ok",
        "labels": [{"labelName": "SIGNL4"}], "owner": {"email": "jane@contoso.com"}}});
    s.assert_sentinel("Incident", &put_body);
    let comment_body = json!({"properties": {"message": "Acknowledged in SIGNL4 by Jane"}});
    s.assert_sentinel("IncidentComment", &comment_body);

    let (_, list) = send(
        env.http
            .get(format!("{}/incidents?{API}", env.si()))
            .bearer_auth(&tok),
    )
    .await;
    s.assert_sentinel("IncidentList", &list);
    let (_, got) = send(env.http.get(env.incident_url(&id)).bearer_auth(&tok)).await;
    s.assert_sentinel("Incident", &got);
    let (st, put) = send(
        env.http
            .put(env.incident_url(&id))
            .bearer_auth(&tok)
            .json(&json!({"etag": got["etag"], "properties": put_body["properties"]})),
    )
    .await;
    assert_eq!(st, 200);
    s.assert_sentinel("Incident", &put);
    let (st, created) = send(
        env.http
            .put(env.incident_url("new-one"))
            .bearer_auth(&tok)
            .json(&json!({"properties": {"title": "n", "severity": "Low", "status": "New"}})),
    )
    .await;
    assert_eq!(st, 201);
    s.assert_sentinel("Incident", &created);
    let (_, com) = send(
        env.http
            .put(format!("{}/incidents/{id}/comments/c1?{API}", env.si()))
            .bearer_auth(&tok)
            .json(&comment_body),
    )
    .await;
    s.assert_sentinel("IncidentComment", &com);
    let (_, coms) = send(
        env.http
            .get(format!("{}/incidents/{id}/comments?{API}&$top=1", env.si()))
            .bearer_auth(&tok),
    )
    .await;
    assert!(coms["nextLink"].is_string());
    s.assert_sentinel("IncidentCommentList", &coms);
    let (_, alerts) = send(
        env.http
            .post(format!("{}/incidents/{id}/alerts?{API}", env.si()))
            .bearer_auth(&tok),
    )
    .await;
    s.assert_sentinel("IncidentAlertList", &alerts);
    let (_, ents) = send(
        env.http
            .post(format!("{}/incidents/{id}/entities?{API}", env.si()))
            .bearer_auth(&tok),
    )
    .await;
    s.assert_sentinel("IncidentEntitiesResponse", &ents);
    // Error bodies are CloudErrors.
    let (st, conflict) = send(env.http.put(env.incident_url(&id)).bearer_auth(&tok).json(&json!({"etag": "\"stale\"", "properties": {"title": "t", "severity": "High", "status": "New"}}))).await;
    assert_eq!(st, 409);
    s.assert_common("CloudError", &conflict);
    let (_, odata) = send(
        env.http
            .get(format!("{}/incidents?{API}&$filter=bogus", env.si()))
            .bearer_auth(&tok),
    )
    .await;
    s.assert_common("CloudError", &odata);

    // Log Analytics: results, partial error and error bodies.
    let la = env.token(LA).await;
    let q = format!(
        "{}/workspaces/{}/query",
        env.sb.urls().log_analytics,
        env.t.workspace_id
    );
    let (st, res) = send(
        env.http
            .post(&q)
            .bearer_auth(&la)
            .json(&json!({"query": "SecurityAlert | take 5", "timespan": "P1D"})),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(res["tables"][0]["rows"].as_array().unwrap().len(), 1);
    s.assert_la("queryResults", &res);
    c.set_la_partial_errors(1);
    let (_, partial) = send(
        env.http
            .post(&q)
            .bearer_auth(&la)
            .json(&json!({"query": "SecurityAlert"})),
    )
    .await;
    assert_eq!(partial["error"]["code"], "PartialError");
    s.assert_la("queryResults", &partial);
    let (st, err) = send(
        env.http
            .post(&q)
            .bearer_auth(&la)
            .json(&json!({"query": "SecurityAlert | frobnicate"})),
    )
    .await;
    assert_eq!(st, 400);
    s.assert_la("errorResponse", &err);
}
