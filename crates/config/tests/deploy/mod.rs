//! Shared by the deployment tests (`deploy_env.rs`, `helm_chart.rs`): a
//! process as a deployment file describes it, loaded as intake would load it.
#![allow(dead_code)]

pub mod helm;
pub mod pod;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::load_from;
use intake_config::{Config, ENV_PREFIX};
use serde_yaml_ng::Value;

use crate::common::CHAT_SECRET;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One compose service or Deployment container: its name, role (from its
/// command), configuration file text (if it gets one) and variables.
pub struct Service {
    pub name: String,
    pub role: Option<String>,
    pub toml: Option<String>,
    pub env: BTreeMap<String, String>,
}

pub fn scalar(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// The role of `intake run [--role R]` (`all` without `--role`); `None` for
/// any other command.
pub fn role_of(command: Option<&Value>) -> Option<String> {
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

/// A stand-in secret that passes validation for the key the variable `name`
/// sets (`INTAKE__CHANNELS__CHAT__SECRET_FILE`, …).
pub fn stand_in_secret(name: &str) -> &'static str {
    let upper = name.to_ascii_uppercase();
    if upper.contains("CHAT__SECRET") {
        CHAT_SECRET
    } else if upper.contains("POSTGRES_URL") {
        "postgres://intake@postgres.invalid:5432/intake"
    } else {
        "stand-in-secret"
    }
}

/// Loads one service's configuration file and `INTAKE__…` variables (unknown
/// keys are errors) and checks it is complete for the service's role. Secret
/// files it names are the files in `secret_files` when known, otherwise
/// stand-ins with valid content; a variable a `*_env` key names gets a
/// stand-in value unless the service sets it.
pub fn load_service(
    service: &Service,
    secret_files: &BTreeMap<String, PathBuf>,
    scratch: &Path,
) -> Config {
    let mut env = Vec::new();
    for (name, value) in &service.env {
        let upper = name.to_ascii_uppercase();
        if !upper.starts_with(ENV_PREFIX) {
            env.push((name.clone(), value.clone()));
            continue;
        }
        let value = if upper.ends_with("_FILE") {
            match secret_files.get(value) {
                Some(path) => path.display().to_string(),
                None => {
                    let stand_in = scratch.join(format!("{}-{name}", service.name));
                    std::fs::write(&stand_in, stand_in_secret(name)).unwrap();
                    stand_in.display().to_string()
                }
            }
        } else {
            value.clone()
        };
        if upper.ends_with("_ENV") && !service.env.contains_key(&value) {
            env.push((value.clone(), stand_in_secret(name).to_owned()));
        }
        env.push((name.clone(), value));
    }
    assert!(
        env.iter().any(|(name, _)| name.starts_with(ENV_PREFIX)) || service.toml.is_some(),
        "{} sets no INTAKE__ variable and has no configuration file",
        service.name
    );
    let config = load_from(service.toml.as_deref(), &env).unwrap_or_else(|errors| {
        panic!(
            "{}: its configuration does not load:\n{errors}",
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
