//! Every `INTAKE__…` variable set by `docker-compose.yml` and
//! `deploy/k8s/*.yaml` is a real configuration key: each service's variables
//! load into a valid configuration (unknown keys are errors), complete for
//! the role the service runs. The Helm chart's variables are checked by
//! `helm_chart.rs`.

mod common;
mod deploy;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::load_from;
use deploy::{Service, load_service, repo_root, role_of, scalar};
use serde::Deserialize;
use serde_yaml_ng::Value;

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
            toml: None,
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
                toml: None,
                env,
            });
        }
    }
    services
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
