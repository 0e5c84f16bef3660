//! What the deployment files say about the ops listener and the alerts stays
//! true: probes and scrapes use the ops port (9090, named `ops`), containers
//! open it on all interfaces, and the alert rules pass promtool's checks and
//! their unit tests (`deploy/prometheus/alerts_test.yml`), which show that
//! publish failures, refused customers, shed requests, a target that is down
//! or missing, and a router that is not running (no lag series) all alert.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_yaml_ng::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(relative: &str) -> String {
    let path = repo_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml_documents(relative: &str) -> Vec<Value> {
    let text = read(relative);
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|document| Value::deserialize(document).unwrap())
        .collect()
}

/// promtool from `scripts/prom-tools` (`INTAKE_PROMTOOL`) or the PATH.
/// Missing: a failure under CI, a skip elsewhere.
fn promtool() -> Option<PathBuf> {
    let candidate = std::env::var_os("INTAKE_PROMTOOL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("promtool"));
    let works = Command::new(&candidate)
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if works {
        return Some(candidate);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "promtool is missing under CI: run `scripts/prom-tools install` (scripts/test does)"
    );
    eprintln!("skipping: no promtool (run scripts/prom-tools install)");
    None
}

#[test]
fn the_alert_rules_pass_promtool_and_their_unit_tests() {
    let Some(promtool) = promtool() else {
        return;
    };
    let dir = repo_root().join("deploy/prometheus");
    for args in [
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts_test.yml"],
    ] {
        let out = Command::new(&promtool)
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("promtool runs");
        assert!(
            out.status.success(),
            "promtool {}:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Alert name → expression, from `deploy/prometheus/alerts.yml`.
fn alerts() -> Vec<(String, String)> {
    let documents = yaml_documents("deploy/prometheus/alerts.yml");
    let mut alerts = Vec::new();
    for group in documents[0]["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            alerts.push((
                rule["alert"].as_str().unwrap().to_owned(),
                rule["expr"].as_str().unwrap().to_owned(),
            ));
        }
    }
    alerts
}

#[test]
fn the_alerts_cover_refusals_targets_and_a_router_that_is_not_running() {
    let alerts = alerts();
    let expr = |name: &str| {
        alerts
            .iter()
            .find(|(alert, _)| alert == name)
            .map(|(_, expr)| expr.clone())
            .unwrap_or_else(|| panic!("no alert {name}"))
    };
    assert!(expr("IntakeEventPublishFailures").contains("intake_event_publish_failures_total"));
    assert!(expr("IntakeMessagesRefused").contains("bus_unavailable"));
    assert!(expr("IntakeRequestsShed").contains("intake_http_requests_shed_total"));
    assert!(expr("IntakeTargetDown").contains("== 0"));
    assert!(expr("IntakeTargetsMissing").starts_with("absent(up"));
    assert_eq!(
        expr("IntakeBusLagUnknown"),
        "absent(intake_bus_consumer_lag_records)"
    );
    // Every alert is unit-tested.
    let tests = read("deploy/prometheus/alerts_test.yml");
    for name in [
        "IntakeEventPublishFailures",
        "IntakeMessagesRefused",
        "IntakeRequestsShed",
        "IntakeTargetDown",
        "IntakeTargetsMissing",
        "IntakeBusLagUnknown",
    ] {
        assert!(
            tests.contains(&format!("alertname: {name}")),
            "{name} has no unit test"
        );
    }
}

/// The containers of the Deployments in `relative`.
fn containers(relative: &str) -> Vec<(Value, Value)> {
    yaml_documents(relative)
        .into_iter()
        .filter(|document| document["kind"] == "Deployment")
        .flat_map(|deployment| {
            let template = deployment["spec"]["template"].clone();
            template["spec"]["containers"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|container| (template["metadata"].clone(), container.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn kubernetes_probes_and_scrapes_use_the_ops_port() {
    for (file, has_data_port) in [
        ("deploy/k8s/gateway.yaml", true),
        ("deploy/k8s/router.yaml", false),
    ] {
        let containers = containers(file);
        assert!(!containers.is_empty(), "{file}: no container");
        for (metadata, container) in containers {
            let ports = container["ports"].as_sequence().unwrap();
            let port = |name: &str| {
                ports
                    .iter()
                    .find(|p| p["name"] == name)
                    .map(|p| p["containerPort"].as_u64().unwrap())
            };
            assert_eq!(port("ops"), Some(9090), "{file}");
            assert_eq!(port("http").is_some(), has_data_port, "{file}");
            for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
                let http = &container[probe]["httpGet"];
                assert_eq!(http["port"], "ops", "{file} {probe}");
            }
            assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
            assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
            let annotations = &metadata["annotations"];
            assert_eq!(annotations["prometheus.io/port"], "9090", "{file}");
            assert_eq!(annotations["prometheus.io/path"], "/metrics", "{file}");
        }
    }
}

#[test]
fn containers_open_the_ops_listener_on_all_interfaces() {
    let configmap = &yaml_documents("deploy/k8s/configmap.yaml")[0];
    assert_eq!(configmap["data"]["INTAKE__OPS__LISTEN"], "0.0.0.0:9090");
    let dockerfile = read("deploy/Dockerfile");
    assert!(dockerfile.contains("INTAKE__OPS__LISTEN=0.0.0.0:9090"));
    assert!(
        dockerfile
            .lines()
            .any(|l| l.starts_with("EXPOSE") && l.contains("9090"))
    );
    let compose = &yaml_documents("docker-compose.yml")[0];
    for service in ["gateway", "router"] {
        let env = &compose["services"][service]["environment"];
        assert_eq!(env["INTAKE__OPS__LISTEN"], "0.0.0.0:9090", "{service}");
    }
    // The scrape example keeps only the ops port, in a job the rules match.
    let scrape = &yaml_documents("deploy/prometheus/scrape.yml")[0];
    let job = &scrape["scrape_configs"][0];
    assert!(job["job_name"].as_str().unwrap().contains("intake"));
    let relabels = serde_yaml_ng::to_string(&job["relabel_configs"]).unwrap();
    assert!(relabels.contains("__meta_kubernetes_pod_container_port_name"));
    assert!(relabels.contains("regex: ops"));
}
