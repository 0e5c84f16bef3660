//! The Helm chart in `deploy/helm/intake`, for the default values and every
//! `ci/*-values.yaml`: `helm lint --strict` passes; the rendered manifests
//! validate against the Kubernetes schemas (kubeconform -strict, offline);
//! every `INTAKE__…` variable and every intake.toml key the chart renders is
//! a real configuration key, complete for the Deployment's role, with its
//! secret files mounted and its data paths on writable volumes; the chart
//! refuses what cannot work (router replicas > 1 without PostgreSQL, …).
//!
//! Needs helm and kubeconform (`scripts/helm-tools install`): without them
//! the tests skip with a message, except under CI, where they fail.

mod common;
mod deploy;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::OnceLock;

use common::load_from;
use deploy::helm::{Tools, chart_dir, documents, find, of_kind, seq, tools, values_sets};
use deploy::pod::{deployment_service, mounted_at, port_named};
use deploy::{Service, load_service, repo_root, scalar};
use intake_config::{Config, StoreConfig};
use serde_yaml_ng::Value;

/// Renders every values set for the newest Kubernetes version.
fn rendered(tools: &Tools) -> Vec<(String, Vec<Value>)> {
    values_sets()
        .into_iter()
        .map(|(name, file)| {
            let manifests = tools
                .render(file.as_deref(), &[], tools.newest())
                .unwrap_or_else(|error| panic!("{name}: helm template failed:\n{error}"));
            (name, documents(&manifests))
        })
        .collect()
}

#[test]
fn the_three_required_values_sets_exist() {
    let names: Vec<String> = values_sets().into_iter().map(|(name, _)| name).collect();
    for wanted in ["defaults", "postgres-kafka-s3", "full"] {
        assert!(
            names.iter().any(|name| name == wanted),
            "{wanted} in {names:?}"
        );
    }
}

#[test]
fn chart_lints_clean_for_every_values_file() {
    let Some(tools) = tools() else { return };
    for (name, file) in values_sets() {
        if let Err(report) = tools.lint(file.as_deref()) {
            panic!("{name}: helm lint --strict failed:\n{report}");
        }
    }
}

#[test]
fn rendered_manifests_validate_against_the_kubernetes_schemas() {
    let Some(tools) = tools() else { return };
    for (name, file) in values_sets() {
        for version in &tools.versions {
            let manifests = tools
                .render(file.as_deref(), &[], version)
                .unwrap_or_else(|error| panic!("{name}: helm template failed:\n{error}"));
            let rendered = documents(&manifests).len() as u64;
            match tools.validate(&manifests, version) {
                Ok(valid) => assert_eq!(valid, rendered, "{name} on {version}: all validated"),
                Err(report) => panic!("{name} on Kubernetes {version} is invalid:\n{report}"),
            }
        }
    }
}

#[test]
fn the_validator_rejects_what_the_schemas_forbid() {
    // Proves the validation above is not vacuous: a wrong type, an unknown
    // field, and an unknown ServiceMonitor field (the hand-written CRD schema).
    let Some(tools) = tools() else { return };
    let full = chart_dir().join("ci/full-values.yaml");
    let manifests = tools.render(Some(&full), &[], tools.newest()).unwrap();
    assert!(tools.validate(&manifests, tools.newest()).is_ok());
    for (from, to) in [
        ("containerPort: 8081", "containerPort: eighty"),
        (
            "imagePullPolicy: Always",
            "imagePullPolicy: Always\n          imagePulPolicy: Always",
        ),
        ("honorLabels: true", "honorLabel: true"),
    ] {
        assert!(manifests.contains(from), "{from} is rendered");
        let broken = manifests.replacen(from, to, 1);
        let report = tools.validate(&broken, tools.newest()).unwrap_err();
        assert!(
            report.contains("invalid") || report.contains("error"),
            "{report}"
        );
    }
}

#[test]
fn router_replicas_above_one_need_postgres() {
    let Some(tools) = tools() else { return };
    let error = tools
        .render(None, &["--set", "router.replicas=2"], tools.newest())
        .unwrap_err();
    assert!(
        error.contains(
            "router.replicas is 2, but more than one router replica needs config.store.backend = \"postgres\""
        ),
        "{error}"
    );
    // With PostgreSQL the same replica count renders, rolling.
    let manifests = tools
        .render(
            None,
            &[
                "--set",
                "router.replicas=2",
                "--set",
                "config.store.backend=postgres",
            ],
            tools.newest(),
        )
        .unwrap();
    let documents = documents(&manifests);
    let router = find(&documents, "Deployment", "intake-router");
    assert_eq!(router["spec"]["replicas"].as_u64(), Some(2));
    assert!(router["spec"]["strategy"]["type"].as_str() != Some("Recreate"));
    assert!(
        of_kind(&documents, "PersistentVolumeClaim")
            .all(|claim| { claim["metadata"]["name"].as_str() != Some("intake-state") })
    );
}

#[test]
fn chart_refuses_configurations_that_cannot_work() {
    let Some(tools) = tools() else { return };
    let cases: [(&[&str], &str); 9] = [
        (
            &["--set", "config.channels.email.enabled=true"],
            "the gateway needs the shared state store for channels.email (its mailbox cursor)",
        ),
        (
            &["--set", "config.acknowledgements.enabled=true"],
            "the gateway needs the shared state store for acknowledgements.enabled",
        ),
        (
            // PostgreSQL, but its URL only for the router.
            &[
                "--set",
                "config.store.backend=postgres",
                "--set",
                "gateway.config.zendesk_webhook.enabled=true",
            ],
            "the gateway needs the shared state store for zendesk_webhook.enabled (agent replies): set config.store.backend = \"postgres\" and give the secrets entry for store.postgres_url the roles [gateway, router]",
        ),
        (
            &["--set", "config.bus.backend=embedded"],
            "set config.bus.backend = \"kafka\"",
        ),
        (
            &["--set", "config.ops.listen=0.0.0.0:9999"],
            "config.ops.listen is set by the chart",
        ),
        (
            &["--set", "config.http.listen=0.0.0.0:80"],
            "config.http.listen is set by the chart",
        ),
        (
            &["--set", "config.service.shutdown_deadline_secs=30"],
            "config.service.shutdown_deadline_secs (30) must be below gateway.terminationGracePeriodSeconds (30)",
        ),
        (
            &["--set", "persistence.blobs.accessModes={ReadWriteOnce}"],
            "persistence.blobs.accessModes must include ReadWriteMany",
        ),
        (
            &["--set", "secrets.zendeskApiToken.secretName="],
            "secrets.zendeskApiToken: secretName and secretKey",
        ),
    ];
    for (args, message) in cases {
        let error = tools.render(None, args, tools.newest()).unwrap_err();
        assert!(error.contains(message), "{args:?}: {error}");
    }
}

/// `INTAKE__OPS__LISTEN` is set by the chart for decision 1 (the ops
/// listener); until `ops.listen` is a configuration key on this branch the
/// variable is left out of the key check, loudly, and checked as soon as it is.
fn ops_listen_is_a_key() -> bool {
    static KNOWN: OnceLock<bool> = OnceLock::new();
    *KNOWN.get_or_init(|| {
        let env = common::env(&[("INTAKE__OPS__LISTEN", "0.0.0.0:9090")]);
        let known = load_from(None, &env).is_ok();
        if !known {
            eprintln!(
                "NOTE: ops.listen is not a configuration key yet; INTAKE__OPS__LISTEN is not checked"
            );
        }
        known
    })
}

/// `blob.backend` as the service's intake.toml says (intake's default: local).
fn blob_backend(service: &Service) -> String {
    let table: toml::Table = service.toml.as_deref().unwrap().parse().unwrap();
    table
        .get("blob")
        .and_then(|blob| blob.get("backend"))
        .and_then(|backend| backend.as_str())
        .unwrap_or("local")
        .to_owned()
}

/// Checks what every role's container must have; returns its loaded config
/// and its `blob.backend`.
fn check_container(
    documents: &[Value],
    deployment: &Value,
    scratch: &Path,
) -> (String, Config, String) {
    let (mut service, container, secret_files) = deployment_service(documents, deployment, scratch);
    if !ops_listen_is_a_key() {
        service.env.remove("INTAKE__OPS__LISTEN");
    }
    let role = service.role.clone().expect("intake run --role …");
    let config = load_service(&service, &secret_files, scratch);
    let ops = port_named(&container, "ops");
    if ops_listen_is_a_key() {
        assert_eq!(service.env["INTAKE__OPS__LISTEN"], format!("0.0.0.0:{ops}"));
    }
    for (probe, path) in [
        ("startupProbe", "/healthz"),
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
    ] {
        assert_eq!(
            container[probe]["httpGet"]["port"].as_str(),
            Some("ops"),
            "{probe}"
        );
        assert_eq!(
            container[probe]["httpGet"]["path"].as_str(),
            Some(path),
            "{probe}"
        );
    }
    if role == "gateway" {
        let http = port_named(&container, "http");
        assert_eq!(config.http.listen.port() as u64, http);
    }
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(security["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(
        deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"].as_bool(),
        Some(true)
    );
    // The relative default paths land in the writable scratch directory.
    assert_eq!(
        mounted_at(deployment, &container, "scratch"),
        Path::new("/var/lib/intake/data")
    );
    if blob_backend(&service) != "s3" {
        assert!(
            config
                .blob
                .dir
                .starts_with(mounted_at(deployment, &container, "blobs"))
        );
    }
    if let (StoreConfig::Sqlite { path }, "router") = (&config.store, role.as_str()) {
        assert!(path.starts_with(mounted_at(deployment, &container, "state")));
    }
    let blob = blob_backend(&service);
    (role, config, blob)
}

#[test]
fn every_rendered_variable_and_toml_key_is_a_config_key_complete_for_its_role() {
    let Some(tools) = tools() else { return };
    let scratch = tempfile::tempdir().unwrap();
    for (name, documents) in rendered(&tools) {
        assert!(
            of_kind(&documents, "Secret").next().is_none(),
            "{name}: the chart makes no Secret"
        );
        let mut roles = BTreeMap::new();
        for deployment in of_kind(&documents, "Deployment") {
            let (role, config, blob) = check_container(&documents, deployment, scratch.path());
            roles.insert(role, (deployment.clone(), config, blob));
        }
        assert_eq!(
            roles.keys().collect::<Vec<_>>(),
            ["gateway", "router"],
            "{name}"
        );
        let (router, config, blob) = &roles["router"];
        let replicas = router["spec"]["replicas"].as_u64().unwrap();
        // Each replica is told how many share the account's budget.
        assert_eq!(
            u64::from(config.zendesk.replicas.get()),
            replicas,
            "{name}: zendesk.replicas"
        );
        if replicas > 1 {
            assert!(
                matches!(config.store, StoreConfig::Postgres { .. }),
                "{name}"
            );
        }
        // The gateway shares the store exactly when its PostgreSQL URL is
        // given to it; acknowledgements are on exactly then (decision 51).
        let (_, gateway, _) = &roles["gateway"];
        let shares = matches!(gateway.store, StoreConfig::Postgres { .. });
        assert_eq!(gateway.acknowledgements.enabled, shares, "{name}");
        assert_eq!(shares, name == "postgres-kafka-s3", "{name}");
        if name == "postgres-kafka-s3" {
            assert!(gateway.zendesk_webhook.enabled, "{name}: agent replies");
            assert!(matches!(config.store, StoreConfig::Postgres { .. }));
            assert_eq!(blob, "s3", "{name}: the blob store is S3");
            assert_eq!(replicas, 3);
        }
    }
}

/// (port, protocol) of each egress rule of the role's NetworkPolicy.
fn egress_ports(documents: &[Value], policy: &str) -> BTreeSet<(u64, String)> {
    let policy = find(documents, "NetworkPolicy", policy);
    seq(&policy["spec"]["egress"])
        .iter()
        .flat_map(|rule| seq(&rule["ports"]))
        .map(|port| (port["port"].as_u64().unwrap(), scalar(&port["protocol"])))
        .collect()
}

#[test]
fn network_policy_egress_follows_the_configuration() {
    let Some(tools) = tools() else { return };
    let tcp = |port: u64| (port, "TCP".to_owned());
    let dns = [(53, "UDP".to_owned()), tcp(53)];
    let all = rendered(&tools);
    let of = |name: &str| &all.iter().find(|(set, _)| set == name).unwrap().1;
    // Defaults: DNS, the broker port of bus.kafka.brokers; the router also Zendesk.
    let defaults = of("defaults");
    let expected: BTreeSet<_> = dns.iter().cloned().chain([tcp(9092)]).collect();
    assert_eq!(egress_ports(defaults, "intake-gateway"), expected);
    let expected: BTreeSet<_> = dns.iter().cloned().chain([tcp(9092), tcp(443)]).collect();
    assert_eq!(egress_ports(defaults, "intake-router"), expected);
    // Brokers on 9093, S3 at :9000, PostgreSQL for both (the gateway shares
    // the store: its postgres_url secret has the gateway role).
    let cluster = of("postgres-kafka-s3");
    let expected: BTreeSet<_> = dns
        .iter()
        .cloned()
        .chain([tcp(9093), tcp(9000), tcp(5432)])
        .collect();
    assert_eq!(egress_ports(cluster, "intake-gateway"), expected);
    let expected: BTreeSet<_> = dns
        .iter()
        .cloned()
        .chain([tcp(9093), tcp(9000), tcp(443), tcp(5432)])
        .collect();
    assert_eq!(egress_ports(cluster, "intake-router"), expected);
}

#[test]
fn the_chart_dashboard_is_the_grafana_dashboard() {
    // files/intake-dashboard.json is a symbolic link to it (helm follows it
    // and says so), so the two cannot drift apart.
    let canonical =
        std::fs::read_to_string(repo_root().join("deploy/grafana/intake-dashboard.json")).unwrap();
    let Some(tools) = tools() else { return };
    let full = chart_dir().join("ci/full-values.yaml");
    let documents = documents(&tools.render(Some(&full), &[], tools.newest()).unwrap());
    let dashboard = find(&documents, "ConfigMap", "helpdesk-intake-dashboard");
    assert_eq!(
        dashboard["metadata"]["labels"]["grafana_dashboard"].as_str(),
        Some("1")
    );
    assert_eq!(
        scalar(&dashboard["data"]["intake-dashboard.json"]).trim(),
        canonical.trim()
    );
}
