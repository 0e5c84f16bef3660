//! Every `INTAKE__…` variable set by `docker-compose.yml` and
//! `deploy/k8s/*.yaml` is a real configuration key: each service's variables
//! load into a valid configuration (unknown keys are errors), complete for
//! the role the service runs.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::CHAT_SECRET;
use intake_config::{Config, ENV_PREFIX, load_from};
use serde::Deserialize;
use serde_yaml_ng::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One service or Deployment: its name, role (from its command) and variables.
struct Service {
    name: String,
    role: Option<String>,
    env: BTreeMap<String, String>,
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

fn role_of(command: Option<&Value>) -> Option<String> {
    let words: Vec<String> = command?.as_sequence()?.iter().map(scalar).collect();
    if words.first().map(String::as_str) != Some("run") {
        return None;
    }
    let role = words
        .iter()
        .position(|word| word == "--role")
        .and_then(|index| words.get(index + 1).cloned());
    Some(role.unwrap_or_else(|| "all".to_owned()))
}

fn compose_services() -> (Vec<Service>, BTreeMap<String, PathBuf>) {
    let text = std::fs::read_to_string(repo_root().join("docker-compose.yml")).unwrap();
    let mut document: Value = serde_yaml_ng::from_str(&text).unwrap();
    document.apply_merge().unwrap();
    // Compose mounts secret <name> at /run/secrets/<name>.
    let mut secret_files = BTreeMap::new();
    if let Some(secrets) = document["secrets"].as_mapping() {
        for (name, spec) in secrets {
            let file = scalar(&spec["file"]);
            secret_files.insert(
                format!("/run/secrets/{}", scalar(name)),
                repo_root().join(file),
            );
        }
    }
    let mut services = Vec::new();
    for (name, spec) in document["services"].as_mapping().unwrap() {
        let mut env = BTreeMap::new();
        if let Some(mut environment) = spec.get("environment").cloned() {
            environment.apply_merge().unwrap();
            for (key, value) in environment.as_mapping().unwrap() {
                env.insert(scalar(key), scalar(value));
            }
        }
        services.push(Service {
            name: scalar(name),
            role: role_of(spec.get("command")),
            env,
        });
    }
    (services, secret_files)
}

fn k8s_services() -> Vec<Service> {
    let mut documents = Vec::new();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(repo_root().join("deploy/k8s"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty());
    for path in &paths {
        let text = std::fs::read_to_string(path).unwrap();
        for document in serde_yaml_ng::Deserializer::from_str(&text) {
            let value =
                Value::deserialize(document).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            documents.push(value);
        }
    }
    let mut config_maps: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for document in &documents {
        if document["kind"].as_str() == Some("ConfigMap") {
            let data = document["data"]
                .as_mapping()
                .map(|data| data.iter().map(|(k, v)| (scalar(k), scalar(v))).collect())
                .unwrap_or_default();
            config_maps.insert(scalar(&document["metadata"]["name"]), data);
        }
    }
    let mut services = Vec::new();
    for document in &documents {
        if document["kind"].as_str() != Some("Deployment") {
            continue;
        }
        for container in document["spec"]["template"]["spec"]["containers"]
            .as_sequence()
            .unwrap()
        {
            let mut env = BTreeMap::new();
            for source in container["envFrom"].as_sequence().into_iter().flatten() {
                let name = scalar(&source["configMapRef"]["name"]);
                let data = config_maps
                    .get(&name)
                    .unwrap_or_else(|| panic!("ConfigMap {name} is not in deploy/k8s"));
                env.extend(data.clone());
            }
            for entry in container["env"].as_sequence().into_iter().flatten() {
                env.insert(scalar(&entry["name"]), scalar(&entry["value"]));
            }
            services.push(Service {
                name: scalar(&document["metadata"]["name"]),
                role: role_of(container.get("args")),
                env,
            });
        }
    }
    services
}

/// Loads one service's `INTAKE__…` variables; secret files it names are the
/// compose development files when known, otherwise stand-ins with valid content.
fn load_service(
    service: &Service,
    secret_files: &BTreeMap<String, PathBuf>,
    scratch: &Path,
) -> Config {
    let mut env = Vec::new();
    for (name, value) in &service.env {
        if !name.to_ascii_uppercase().starts_with(ENV_PREFIX) {
            continue;
        }
        let upper = name.to_ascii_uppercase();
        let value = if upper.ends_with("_FILE") {
            match secret_files.get(value) {
                Some(path) => path.display().to_string(),
                None => {
                    let stand_in = scratch.join(format!("{}-{name}", service.name));
                    let content = if upper.contains("CHAT__SECRET") {
                        CHAT_SECRET
                    } else {
                        "stand-in-secret"
                    };
                    std::fs::write(&stand_in, content).unwrap();
                    stand_in.display().to_string()
                }
            }
        } else {
            value.clone()
        };
        if upper.ends_with("_ENV") {
            env.push((value.clone(), "stand-in-secret".to_owned()));
        }
        env.push((name.clone(), value));
    }
    assert!(
        env.iter().any(|(name, _)| name.starts_with(ENV_PREFIX)),
        "{} sets no INTAKE__ variable",
        service.name
    );
    let config = load_from(None, &env).unwrap_or_else(|errors| {
        panic!(
            "{}: its INTAKE__ variables do not load:\n{errors}",
            service.name
        )
    });
    match service.role.as_deref() {
        Some("gateway") => config.require_gateway(),
        Some("router") => config.require_router(),
        Some("all") => config.require_gateway().and(config.require_router()),
        _ => Ok(()),
    }
    .unwrap_or_else(|errors| panic!("{}: incomplete for its role:\n{errors}", service.name));
    config
}

#[test]
fn compose_variables_are_config_keys_and_complete_for_each_role() {
    let (services, secret_files) = compose_services();
    let scratch = tempfile::tempdir().unwrap();
    let mut roles = Vec::new();
    for service in services.iter().filter(|service| service.role.is_some()) {
        load_service(service, &secret_files, scratch.path());
        roles.push(service.role.clone().unwrap());
    }
    roles.sort();
    assert_eq!(roles, ["gateway", "router"]);
}

#[test]
fn kubernetes_variables_are_config_keys_and_complete_for_each_role() {
    let services = k8s_services();
    let scratch = tempfile::tempdir().unwrap();
    let mut roles = Vec::new();
    for service in &services {
        load_service(service, &BTreeMap::new(), scratch.path());
        roles.push(service.role.clone().unwrap_or_default());
    }
    roles.sort();
    assert_eq!(roles, ["gateway", "router"]);
}

#[test]
fn a_misspelt_variable_would_be_caught() {
    // The check above relies on unknown keys being errors; prove it does.
    let errors = load_from(
        None,
        &[(
            "INTAKE__ZENDESK__REQUEST_PER_MINUTE".to_owned(),
            "400".to_owned(),
        )],
    )
    .unwrap_err();
    let problem = errors
        .for_key("zendesk.request_per_minute")
        .expect("reported");
    assert!(problem.message.contains("unknown key"));
    assert!(
        problem
            .message
            .contains("INTAKE__ZENDESK__REQUEST_PER_MINUTE")
    );
}
