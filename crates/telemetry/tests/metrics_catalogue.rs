//! The metrics catalogue stays true to the code.
//!
//! Scans `crates/*/src/**/*.rs` for the names passed to the `metrics` macros
//! (`counter!`, `gauge!`, `histogram!`, `describe_*!`): string literals, or
//! consts (`names::MESSAGES_RECEIVED`, `Self::METRIC`, `CALLS_TOTAL`) whose
//! value is a string literal. Then checks that
//! - every emitted metric has a row in `docs/operations.md` naming its type
//!   and labels, and that every row names an emitted metric;
//! - `deploy/prometheus/alerts.yml` and the Grafana dashboards use only
//!   emitted metrics (histograms with `_bucket`/`_sum`/`_count`) and, per
//!   expression, only labels those metrics have.
//!
//! The scanner works on tokens (comments stripped, strings kept whole), so a
//! macro call spread over several lines is found like a one-line call, and
//! `#[cfg(test)]` items are skipped.

#[path = "metrics_catalogue/scan.rs"]
mod scan;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use scan::{Metric, catalogue_problems, expression_problems, scan_sources};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root exists")
}

fn rust_sources(root: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    let crates = std::fs::read_dir(root.join("crates")).expect("crates/ is readable");
    for entry in crates {
        let src = entry.expect("crates/ entry").path().join("src");
        if src.is_dir() {
            collect_rs(&src, root, &mut files);
        }
    }
    files.sort();
    files
}

fn collect_rs(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).expect("source dir is readable") {
        let path = entry.expect("source dir entry").path();
        if path.is_dir() {
            collect_rs(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("source is UTF-8");
            let name = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string();
            out.push((name, text));
        }
    }
}

fn emitted() -> BTreeMap<String, Metric> {
    let root = workspace_root();
    let sources = rust_sources(&root);
    assert!(
        sources.len() > 20,
        "found only {} source files",
        sources.len()
    );
    match scan_sources(&sources) {
        Ok(metrics) => metrics,
        Err(problems) => panic!("metric scan failed:\n  {}", problems.join("\n  ")),
    }
}

fn read(relative: &str) -> String {
    let path = workspace_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fail_on(problems: Vec<String>, what: &str) {
    assert!(problems.is_empty(), "{what}:\n  {}", problems.join("\n  "));
}

#[test]
fn the_scan_finds_literal_const_and_multiline_names() {
    let metrics = emitted();
    // A literal in a multi-line call (router), a `names::` const (channel),
    // a plain const (zendesk), an associated const (telemetry), a histogram.
    for (name, kind) in [
        ("intake_dead_letters_total", "counter"),
        ("intake_messages_rejected_total", "counter"),
        ("intake_zendesk_calls_total", "counter"),
        ("intake_shutdowns_total", "counter"),
        ("intake_bus_consumer_lag_records", "gauge"),
        ("intake_receipt_to_ticket_seconds", "histogram"),
    ] {
        let metric = metrics
            .get(name)
            .unwrap_or_else(|| panic!("{name} not found"));
        assert_eq!(metric.kind, kind, "{name}");
    }
    let dead = &metrics["intake_dead_letters_total"];
    assert!(dead.labels.contains("channel") && dead.labels.contains("reason"));
    let calls = &metrics["intake_zendesk_calls_total"];
    assert!(calls.labels.contains("status_class") && calls.labels.contains("endpoint"));
}

#[test]
fn every_emitted_metric_is_in_the_operations_catalogue() {
    let metrics = emitted();
    let doc = read("docs/operations.md");
    fail_on(
        catalogue_problems(&metrics, &doc),
        "docs/operations.md disagrees with the code",
    );
}

#[test]
fn alert_rules_use_only_emitted_metrics_and_labels() {
    let metrics = emitted();
    let alerts = read("deploy/prometheus/alerts.yml");
    let exprs = scan::yaml_exprs(&alerts);
    assert!(
        exprs.len() >= 5,
        "found only {} alert expressions",
        exprs.len()
    );
    let problems = exprs
        .iter()
        .flat_map(|expr| expression_problems(&metrics, expr))
        .collect();
    fail_on(problems, "deploy/prometheus/alerts.yml");
}

#[test]
fn dashboards_use_only_emitted_metrics_and_labels() {
    let metrics = emitted();
    let dir = workspace_root().join("deploy/grafana");
    let mut dashboards = 0;
    let mut problems = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("deploy/grafana exists") {
        let path = entry.expect("deploy/grafana entry").path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        dashboards += 1;
        let text = std::fs::read_to_string(&path).expect("dashboard is UTF-8");
        let json: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
        let mut exprs = Vec::new();
        scan::json_exprs(&json, &mut exprs);
        assert!(
            exprs.len() >= 10,
            "{}: only {} queries",
            path.display(),
            exprs.len()
        );
        for expr in &exprs {
            for problem in expression_problems(&metrics, expr) {
                problems.push(format!("{}: {problem}", path.display()));
            }
        }
        // Nothing outside the queries may name a metric the code lacks either.
        for name in scan::intake_names(&text) {
            if scan::base_metric(&metrics, &name).is_none() {
                problems.push(format!("{}: unknown metric {name}", path.display()));
            }
        }
    }
    assert!(dashboards >= 1, "no dashboard in {}", dir.display());
    fail_on(problems, "Grafana dashboards");
}

#[test]
fn a_missing_entry_or_a_stale_reference_fails() {
    let source = r#"
        pub mod names { pub const SENT: &str = "intake_widgets_sent_total"; }
        fn emit(channel: &'static str) {
            let c = 'x';
            // counter!("intake_commented_out_total").increment(1);
            metrics::counter!(
                names::SENT,
                "channel" => channel,
                "kind" => "a"
            )
            .increment(1);
            metrics::histogram!("intake_widget_wait_seconds").record(1.0);
        }
        #[cfg(test)]
        mod tests { fn t() { metrics::counter!("intake_only_in_tests_total").increment(1); } }
    "#;
    let metrics = scan_sources(&[("fake.rs".to_owned(), source.to_owned())]).expect("scan");
    let names: Vec<_> = metrics.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        ["intake_widget_wait_seconds", "intake_widgets_sent_total"]
    );
    let sent = &metrics["intake_widgets_sent_total"];
    assert_eq!(sent.labels.iter().collect::<Vec<_>>(), ["channel", "kind"]);

    let complete = "| `intake_widgets_sent_total` | counter | `channel`, `kind` | x |\n\
                    | `intake_widget_wait_seconds` | histogram | — | x |\n";
    assert_eq!(catalogue_problems(&metrics, complete), Vec::<String>::new());
    let missing = "| `intake_widgets_sent_total` | counter | `channel`, `kind` | x |\n";
    assert_eq!(catalogue_problems(&metrics, missing).len(), 1);
    let wrong_type = complete.replace("| histogram |", "| gauge |");
    assert_eq!(catalogue_problems(&metrics, &wrong_type).len(), 1);
    let no_label = complete.replace(", `kind`", "");
    assert_eq!(catalogue_problems(&metrics, &no_label).len(), 1);
    let stale = format!("{complete}| `intake_gone_total` | counter | — | x |\n");
    assert_eq!(catalogue_problems(&metrics, &stale).len(), 1);

    let good = "histogram_quantile(0.99, sum by (le) (rate(intake_widget_wait_seconds_bucket[5m])))\
                + sum by (channel) (rate(intake_widgets_sent_total{kind=\"a\"}[5m]))";
    assert_eq!(expression_problems(&metrics, good), Vec::<String>::new());
    for bad in [
        "rate(intake_widgets_sent[5m])",
        "rate(intake_widgets_sent_total_bucket[5m])",
        "sum by (topic) (rate(intake_widgets_sent_total[5m]))",
        "rate(intake_widgets_sent_total{status=\"5xx\"}[5m])",
    ] {
        assert_eq!(expression_problems(&metrics, bad).len(), 1, "{bad}");
    }

    let unresolved = "fn f() { metrics::counter!(format!(\"intake_{}\", x)).increment(1); }";
    assert!(scan_sources(&[("u.rs".to_owned(), unresolved.to_owned())]).is_err());
    let conflict =
        "fn f() { metrics::counter!(\"intake_a_total\"); metrics::gauge!(\"intake_a_total\"); }";
    assert!(scan_sources(&[("c.rs".to_owned(), conflict.to_owned())]).is_err());
}
