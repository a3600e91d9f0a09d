//! The official Azure Swagger schemas vendored in `tests/specs`, loaded for the `jsonschema`
//! crate (draft 4, formats checked), shared by the tests that validate what the sandbox answers
//! (`sandbox_schema.rs`) and what the connector sends (`wire_fidelity.rs`).
//!
//! The spec files reference each other with relative `$ref`s. The loader reads every file
//! reachable from `Incidents.json` and `OperationalInsights.json`, copies all their definitions
//! into one document under `<file-key>__<Definition>` and rewrites each `$ref` to that local
//! name, so no retriever or network is involved.
//!
//! One documented relaxation (optional): `OperationalInsights.json` declares every row cell as
//! `{"type": "object"}`, which rejects the documented wire format (strings, numbers) and even the
//! spec's own example; with `relax_la_cells` the cell schema is `{}` (any JSON value).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde_json::{json, Map, Value};

/// The official specs, vendored verbatim in `tests/specs` (provenance in its README), so a clean
/// clone validates without anything beside it.
pub fn specs() -> String {
    let vendored = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/specs/azure/specification");
    assert!(
        vendored.is_dir(),
        "the vendored Azure specs are missing: {}",
        vendored.display()
    );
    vendored.to_string_lossy().into_owned()
}
pub const INCIDENTS: &str =
    "securityinsights/resource-manager/Microsoft.SecurityInsights/stable/2025-12-01/Incidents.json";
pub const LA_SPEC: &str = "operationalinsights/data-plane/Microsoft.OperationalInsights/stable/2022-10-27/OperationalInsights.json";

pub fn normalize(p: &Path) -> PathBuf {
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

pub fn key_of(p: &Path) -> String {
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

pub struct Specs {
    pub defs: Map<String, Value>,
    pub inc_key: String,
    pub la_key: String,
}

impl Specs {
    pub fn load(relax_la_cells: bool) -> Specs {
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

    pub fn validate(&self, key: &str, def: &str, v: &Value) -> Vec<String> {
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

    pub fn assert_sentinel(&self, def: &str, v: &Value) {
        let errs = self.validate(&self.inc_key, def, v);
        assert!(errs.is_empty(), "{def} invalid: {errs:?}\n{v:#}");
    }

    pub fn assert_common(&self, def: &str, v: &Value) {
        let key = key_of(&normalize(
            &PathBuf::from(specs()).join("securityinsights/resource-manager/common/2.0/types.json"),
        ));
        let errs = self.validate(&key, def, v);
        assert!(errs.is_empty(), "{def} invalid: {errs:?}\n{v:#}");
    }

    pub fn assert_la(&self, def: &str, v: &Value) {
        let errs = self.validate(&self.la_key, def, v);
        assert!(errs.is_empty(), "{def} invalid: {errs:?}\n{v:#}");
    }
}

/// The request body schema of the Logs Ingestion `Upload` operation (inline in the spec).
pub fn ingestion_body_schema() -> Value {
    let p = Path::new(&specs())
        .join("monitor/data-plane/ingestion/stable/2023-01-01/DataCollectionRules.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    let params = doc["paths"]["/dataCollectionRules/{ruleId}/streams/{stream}"]["post"]
        ["parameters"]
        .as_array()
        .expect("Upload parameters");
    params
        .iter()
        .find(|p| p["in"] == "body")
        .map(|p| p["schema"].clone())
        .expect("Upload body schema")
}

/// Findings of `v` against a self-contained schema (draft 4, formats checked).
pub fn findings(schema: &Value, v: &Value) -> Vec<String> {
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(true)
        .build(schema)
        .expect("schema compiles");
    validator
        .iter_errors(v)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}
