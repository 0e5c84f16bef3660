//! The local deployment files keep their promises: every `intake run`
//! service in `docker-compose.yml` has a health check on the ops listener,
//! Kafka keeps its data on a named volume (acknowledged events survive
//! `docker compose down`), and `.dockerignore` keeps build output, local data
//! and development secrets out of the image's build context without hiding
//! what `deploy/Dockerfile` copies.

use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn compose() -> Value {
    let mut document: Value = serde_yaml_ng::from_str(&read("docker-compose.yml")).unwrap();
    document.apply_merge().unwrap();
    document
}

fn words(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .map(|items| {
            items
                .iter()
                .map(|item| item.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_intake_service_is_health_checked_on_the_ops_listener() {
    let document = compose();
    let services = document["services"].as_mapping().unwrap();
    let mut checked = Vec::new();
    for (name, spec) in services {
        let name = name.as_str().unwrap();
        if words(&spec["command"]).first().map(String::as_str) != Some("run") {
            continue;
        }
        let check = &spec["healthcheck"];
        let test = words(&check["test"]).join(" ");
        assert!(
            test.contains("/dev/tcp/127.0.0.1/9090") && test.contains("GET /healthz"),
            "{name}: the health check asks the ops listener's /healthz: {test:?}"
        );
        assert!(
            test.contains(" 200 "),
            "{name}: only a 200 passes: {test:?}"
        );
        for key in ["interval", "timeout", "retries"] {
            assert!(!check[key].is_null(), "{name}: healthcheck.{key} is set");
        }
        checked.push(name.to_owned());
    }
    checked.sort();
    assert_eq!(checked, ["gateway", "router"]);
}

#[test]
fn kafka_keeps_its_data_on_a_named_volume() {
    let document = compose();
    let kafka = &document["services"]["kafka"];
    let log_dirs = kafka["environment"]["KAFKA_LOG_DIRS"]
        .as_str()
        .expect("KAFKA_LOG_DIRS is set (the image's default is under /tmp)");
    assert!(!log_dirs.starts_with("/tmp"), "{log_dirs}");
    let mounted = words(&kafka["volumes"]).into_iter().find_map(|mount| {
        let (volume, path) = mount.split_once(':')?;
        (path.trim_end_matches(":rw") == log_dirs).then(|| volume.to_owned())
    });
    let volume = mounted.unwrap_or_else(|| panic!("nothing is mounted at {log_dirs}"));
    assert!(
        !volume.starts_with('.') && !volume.starts_with('/'),
        "a named volume, not a bind mount: {volume}"
    );
    assert!(
        document["volumes"]
            .as_mapping()
            .unwrap()
            .contains_key(volume.as_str()),
        "volume {volume} is declared"
    );
}

/// The `.dockerignore` patterns, without comments and blank lines.
fn ignored() -> Vec<String> {
    read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.trim_end_matches('/').to_owned())
        .collect()
}

#[test]
fn the_build_context_leaves_out_local_state_and_secrets() {
    let ignored = ignored();
    for wanted in ["target", ".git", "data", ".test-services", "deploy/secrets"] {
        assert!(
            ignored.iter().any(|pattern| pattern == wanted),
            "{wanted} is not in .dockerignore: {ignored:?}"
        );
    }
    // What the build needs stays: the workspace and what the Dockerfile copies.
    let dockerfile = read("deploy/Dockerfile");
    let copied: Vec<&str> = dockerfile
        .lines()
        .filter(|line| line.starts_with("COPY ") && !line.contains("--from="))
        .filter_map(|line| line.split_whitespace().nth(1))
        .filter(|source| *source != ".")
        .collect();
    assert!(
        !copied.is_empty(),
        "the Dockerfile copies files: {dockerfile}"
    );
    let needed = ["Cargo.toml", "Cargo.lock", "src", "crates", "config"];
    for path in needed.iter().copied().chain(copied) {
        assert!(
            !ignored
                .iter()
                .any(|pattern| path == pattern || path.starts_with(&format!("{pattern}/"))),
            "{path} is needed by the build but ignored"
        );
    }
}
