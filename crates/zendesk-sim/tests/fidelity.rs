//! Compares simulator responses field by field with the fixtures in `tests/fixtures/`:
//! status code, presence of headers, presence and JSON type of every documented field,
//! and exact bodies for error responses.
mod common;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request};
use common::{AGENT, TOKEN, basic, call, create_ticket, sim};
use serde_json::{Value, json};
use tower::ServiceExt;

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Checks `actual` against a shape: a type string (`"string|null"`) or an object of shapes.
fn check_shape(path: &str, shape: &Value, actual: Option<&Value>, errors: &mut Vec<String>) {
    let Some(actual) = actual else {
        errors.push(format!("{path}: missing"));
        return;
    };
    match shape {
        Value::String(types) => {
            let have = type_name(actual);
            if !types.split('|').any(|t| t == have) {
                errors.push(format!("{path}: expected {types}, got {have}"));
            }
        }
        Value::Object(fields) => {
            if !actual.is_object() {
                errors.push(format!(
                    "{path}: expected object, got {}",
                    type_name(actual)
                ));
                return;
            }
            for (name, sub) in fields {
                check_shape(&format!("{path}.{name}"), sub, actual.get(name), errors);
            }
        }
        other => errors.push(format!("{path}: bad shape in fixture {other}")),
    }
}

/// Resolves `a.b[0].c` in a JSON value.
fn at<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = root;
    for part in path.split('.') {
        let (key, index) = match part.split_once('[') {
            Some((key, rest)) => (key, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        cur = cur.get(key)?;
        if let Some(i) = index {
            cur = cur.get(i)?;
        }
    }
    Some(cur)
}

#[test]
fn checker_reports_missing_fields_and_wrong_types() {
    let shape = json!({"id": "number", "subject": "string|null", "via": {"channel": "string"}});
    let mut errors = Vec::new();
    check_shape(
        "t",
        &shape,
        Some(&json!({"id": "1", "via": {"channel": 3}})),
        &mut errors,
    );
    assert_eq!(errors.len(), 3, "{errors:?}");
    let mut ok = Vec::new();
    check_shape(
        "t",
        &shape,
        Some(&json!({"id": 1, "subject": null, "via": {"channel": "api"}})),
        &mut ok,
    );
    assert!(ok.is_empty(), "{ok:?}");
}

/// Builds the simulator a fixture asks for (`config.requests_per_minute`).
fn sim_for(fixture: &Value) -> (axum::Router, intake_zendesk_sim::SimState) {
    match fixture["config"]["requests_per_minute"].as_u64() {
        Some(limit) => common::sim_with(intake_zendesk_sim::SimConfig {
            search_lag: std::time::Duration::ZERO,
            requests_per_minute: Some(u32::try_from(limit).unwrap()),
            ..intake_zendesk_sim::SimConfig::default()
        }),
        None => sim(),
    }
}

/// Every fixture names the recording(s) or reference page it was written from.
fn check_sources(fixture: &Value, errors: &mut Vec<String>) {
    let sources = fixture["sources"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if sources.is_empty() {
        errors.push("fixture names no source".to_owned());
    }
    for source in sources {
        if source["repository"].as_str().is_none() || source["path"].as_str().is_none() {
            errors.push(format!("source without repository/path: {source}"));
        }
    }
}

/// Compares status, header names, numeric header values, fixed header values and content type.
fn check_head(fixture: &Value, status: u16, headers: &HeaderMap, errors: &mut Vec<String>) {
    if Some(u64::from(status)) != fixture["status"].as_u64() {
        errors.push(format!("status {status}, expected {}", fixture["status"]));
    }
    for header in fixture["headers"].as_array().unwrap() {
        let header = header.as_str().unwrap();
        if !headers.contains_key(header) {
            errors.push(format!("header {header} missing"));
        }
    }
    for header in fixture["numeric_headers"].as_array().into_iter().flatten() {
        let header = header.as_str().unwrap();
        let value = headers.get(header).and_then(|v| v.to_str().ok());
        if value.is_some_and(|v| v.parse::<u64>().is_err()) {
            errors.push(format!("header {header} not a whole number: {value:?}"));
        }
    }
    for (name, want) in fixture["header_values"].as_object().into_iter().flatten() {
        let have = headers.get(name.as_str()).and_then(|v| v.to_str().ok());
        if have != want.as_str() {
            errors.push(format!("header {name} = {have:?}, expected {want}"));
        }
    }
    let want_ct = fixture["content_type"]
        .as_str()
        .unwrap_or("application/json");
    let have_ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !have_ct.starts_with(want_ct) {
        errors.push(format!("content-type {have_ct:?}, expected {want_ct}"));
    }
}

/// Sends the fixture's request (`repeat` times, the last answer counts).
async fn replay(app: &axum::Router, fixture: &Value, path: &str) -> (u16, HeaderMap, Value) {
    let req = &fixture["request"];
    let auth = req["auth"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| basic(AGENT, TOKEN));
    let repeat = req["repeat"].as_u64().unwrap_or(1).clamp(1, 5);
    let mut last = None;
    for _ in 0..repeat {
        let mut builder = Request::builder()
            .method(req["method"].as_str().unwrap())
            .uri(path)
            .header("authorization", auth.as_str())
            .header("accept", "application/json");
        for (name, value) in req["headers"].as_object().into_iter().flatten() {
            builder = builder.header(name.as_str(), value.as_str().unwrap());
        }
        let body = if let Some(raw) = req["raw_body"].as_str() {
            builder = builder.header(
                "content-type",
                req["content_type"].as_str().unwrap_or("application/binary"),
            );
            Body::from(raw.to_owned())
        } else if let Some(json_body) = req.get("body") {
            builder = builder.header("content-type", "application/json");
            Body::from(json_body.to_string())
        } else {
            Body::empty()
        };
        let resp = app
            .clone()
            .oneshot(builder.body(body).unwrap())
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let actual: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        last = Some((status, headers, actual));
    }
    last.unwrap()
}

#[tokio::test]
async fn simulator_matches_every_fixture() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 20, "fixtures missing");
    let mut failures = Vec::new();
    for file in files {
        let name = file.file_stem().unwrap().to_string_lossy().into_owned();
        let fixture: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        let (app, state) = sim_for(&fixture);
        let mut errors = Vec::new();
        check_sources(&fixture, &mut errors);
        let mut seed = json!({"subject": "seed", "comment": {"body": "seed"}});
        if fixture["setup"] == "external_id" {
            seed["external_id"] = json!("fidelity-ext-1");
        }
        let ticket_id = create_ticket(&app, seed).await;
        if fixture["setup"] == "close_ticket" {
            call(
                &app,
                Method::POST,
                format!("/admin/tickets/{ticket_id}/close"),
                None,
            )
            .await;
        }
        // `end_users`: two end users for `{user_id}` and `{other_user_id}`.
        let (user_id, other_user_id) = if fixture["setup"] == "end_users" {
            (
                state.create_user("Fidelity One", "fidelity-1@example.test", "end-user"),
                state.create_user("Fidelity Two", "fidelity-2@example.test", "end-user"),
            )
        } else {
            (0, 0)
        };
        let fill = |text: &str| {
            text.replace("{ticket_id}", &ticket_id.to_string())
                .replace("{agent_id}", &state.agent_id().to_string())
                .replace("{user_id}", &user_id.to_string())
                .replace("{other_user_id}", &other_user_id.to_string())
        };
        let path = fill(fixture["request"]["path"].as_str().unwrap());
        let mut fixture = fixture.clone();
        if let Some(body) = fixture["request"].get("body") {
            fixture["request"]["body"] = serde_json::from_str(&fill(&body.to_string())).unwrap();
        }
        let (status, headers, actual) = replay(&app, &fixture, &path).await;
        check_head(&fixture, status, &headers, &mut errors);
        if let Some(shape) = fixture.get("shape") {
            check_shape("$", shape, Some(&actual), &mut errors);
        }
        if let Some(items) = fixture.get("items").and_then(Value::as_object) {
            for (path, shape) in items {
                check_shape(path, shape, at(&actual, path), &mut errors);
            }
        }
        if let Some(body) = fixture.get("body")
            && *body != actual
        {
            errors.push(format!("body {actual}, expected {body}"));
        }
        if !errors.is_empty() {
            failures.push(format!("{name}: {}", errors.join("; ")));
        }
    }
    assert!(
        failures.is_empty(),
        "fidelity failures:\n{}",
        failures.join("\n")
    );
}
