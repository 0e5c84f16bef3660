//! Reading one rendered Deployment's pod: its configuration file, its
//! secrets and its volumes, as intake inside the container would see them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

use super::helm::{find, seq};
use super::{Service, role_of, scalar, stand_in_secret};

/// Every file of the container's mounted Secret volumes, with a stand-in
/// file for each (valid for the key whose variable names it).
pub fn secret_stand_ins(
    name: &str,
    container: &Value,
    volumes: &BTreeMap<String, &Value>,
    env: &BTreeMap<String, String>,
    scratch: &Path,
) -> BTreeMap<String, PathBuf> {
    let mut files = BTreeMap::new();
    for mount in seq(&container["volumeMounts"]) {
        let volume = volumes[&scalar(&mount["name"])];
        for item in seq(&volume["secret"]["items"]) {
            let path = format!("{}/{}", scalar(&mount["mountPath"]), scalar(&item["path"]));
            // The variable that names the file says what it must hold.
            let content = env
                .iter()
                .find(|(_, value)| **value == path)
                .map_or("stand-in-secret", |(variable, _)| stand_in_secret(variable));
            let stand_in = scratch.join(format!("{name}-{}", path.replace('/', "_")));
            std::fs::write(&stand_in, content).unwrap();
            files.insert(path, stand_in);
        }
    }
    files
}

/// One Deployment's container as a [`Service`], after checking that its
/// configuration file, secret files and secret variables are really there;
/// with the container and stand-ins for its secret files.
pub fn deployment_service(
    documents: &[Value],
    deployment: &Value,
    scratch: &Path,
) -> (Service, Value, BTreeMap<String, PathBuf>) {
    let name = scalar(&deployment["metadata"]["name"]);
    let pod = &deployment["spec"]["template"]["spec"];
    let containers = seq(&pod["containers"]);
    assert_eq!(containers.len(), 1, "{name}: one container");
    let container = containers[0].clone();
    let volumes: BTreeMap<String, &Value> = seq(&pod["volumes"])
        .iter()
        .map(|volume| (scalar(&volume["name"]), volume))
        .collect();
    let mut env = BTreeMap::new();
    let mut from_secrets = BTreeSet::new();
    for entry in seq(&container["env"]) {
        let variable = scalar(&entry["name"]);
        if entry["valueFrom"]["secretKeyRef"].is_mapping() {
            from_secrets.insert(variable);
        } else {
            env.insert(variable, scalar(&entry["value"]));
        }
    }
    let config_mount = seq(&container["volumeMounts"])
        .iter()
        .find(|mount| mount["mountPath"].as_str() == Some(env["INTAKE_CONFIG"].as_str()))
        .expect("INTAKE_CONFIG is a mounted file");
    let config_map = volumes[&scalar(&config_mount["name"])]["configMap"]["name"].as_str();
    let config_map = find(
        documents,
        "ConfigMap",
        config_map.expect("a ConfigMap volume"),
    );
    let mut toml = scalar(&config_map["data"][scalar(&config_mount["subPath"])]);
    let secret_files = secret_stand_ins(&name, &container, &volumes, &env, scratch);
    // Secret files that intake.toml names (mount-only secrets entries) are read too.
    for (path, stand_in) in &secret_files {
        toml = toml.replace(
            &format!("\"{path}\""),
            &format!("\"{}\"", stand_in.display()),
        );
    }
    for (variable, value) in &env {
        if variable.starts_with("INTAKE__") && variable.ends_with("_FILE") {
            assert!(
                secret_files.contains_key(value),
                "{name}: {variable}={value} is no file of a mounted Secret"
            );
        }
        if variable.starts_with("INTAKE__") && variable.ends_with("_ENV") {
            assert!(
                from_secrets.contains(value),
                "{name}: {variable} names {value}, not from a Secret"
            );
        }
    }
    let service = Service {
        name,
        role: role_of(container.get("args")),
        toml: Some(toml),
        env,
    };
    (service, container, secret_files)
}

/// The path of the volume mount of the volume `volume` (a claim, or emptyDir).
pub fn mounted_at(deployment: &Value, container: &Value, volume: &str) -> PathBuf {
    let kind = seq(&deployment["spec"]["template"]["spec"]["volumes"])
        .iter()
        .find(|entry| entry["name"].as_str() == Some(volume))
        .unwrap_or_else(|| panic!("volume {volume}"));
    assert!(kind["persistentVolumeClaim"].is_mapping() || kind["emptyDir"].is_mapping());
    let mount = seq(&container["volumeMounts"])
        .iter()
        .find(|mount| mount["name"].as_str() == Some(volume))
        .unwrap_or_else(|| panic!("mount of {volume}"));
    PathBuf::from(scalar(&mount["mountPath"]))
}

pub fn port_named(container: &Value, name: &str) -> u64 {
    seq(&container["ports"])
        .iter()
        .find(|port| port["name"].as_str() == Some(name))
        .and_then(|port| port["containerPort"].as_u64())
        .unwrap_or_else(|| panic!("no container port {name}"))
}
