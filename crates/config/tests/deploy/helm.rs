//! Running helm and kubeconform on the chart in `deploy/helm/intake`, and
//! reading what it renders. The tools come from `scripts/helm-tools install`
//! (scripts/test runs it); their paths from `INTAKE_HELM`, `INTAKE_KUBECONFORM`,
//! `INTAKE_K8S_SCHEMAS` and `INTAKE_K8S_VERSIONS`, else from
//! `scripts/helm-tools env`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde::Deserialize;
use serde_yaml_ng::Value;

use super::repo_root;

pub fn chart_dir() -> PathBuf {
    repo_root().join("deploy/helm/intake")
}

/// The values files the chart is tested with: the defaults (no file) and
/// every `ci/*-values.yaml`.
pub fn values_sets() -> Vec<(String, Option<PathBuf>)> {
    let mut sets = vec![("defaults".to_owned(), None)];
    let mut files: Vec<PathBuf> = std::fs::read_dir(chart_dir().join("ci"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().ends_with("-values.yaml"))
        .collect();
    files.sort();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy();
        sets.push((name.trim_end_matches("-values.yaml").to_owned(), Some(file)));
    }
    sets
}

pub struct Tools {
    pub helm: PathBuf,
    pub kubeconform: PathBuf,
    pub schemas: PathBuf,
    /// Kubernetes versions to render and validate for (oldest and newest).
    pub versions: Vec<String>,
}

/// The installed tools, or `None` (with a message) when they are missing
/// outside CI; under CI a missing tool fails the test.
pub fn tools() -> Option<Tools> {
    let defaults = default_paths();
    let path = |name: &str| -> PathBuf {
        std::env::var_os(name)
            .map(PathBuf::from)
            .or_else(|| defaults.get(name).map(PathBuf::from))
            .unwrap_or_default()
    };
    let tools = Tools {
        helm: path("INTAKE_HELM"),
        kubeconform: path("INTAKE_KUBECONFORM"),
        schemas: path("INTAKE_K8S_SCHEMAS"),
        versions: std::env::var("INTAKE_K8S_VERSIONS")
            .ok()
            .or_else(|| defaults.get("INTAKE_K8S_VERSIONS").cloned())
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
    };
    let missing: Vec<String> = [&tools.helm, &tools.kubeconform, &tools.schemas]
        .into_iter()
        .filter(|path| path.as_os_str().is_empty() || !path.exists())
        .map(|path| path.display().to_string())
        .collect();
    if missing.is_empty() && !tools.versions.is_empty() {
        return Some(tools);
    }
    let message = format!(
        "helm tools missing ({}): run scripts/helm-tools install",
        missing.join(", ")
    );
    if std::env::var_os("CI").is_some() {
        panic!("{message}");
    }
    eprintln!("skipping the Helm chart test: {message}");
    None
}

/// `export NAME=value` lines of `scripts/helm-tools env`.
fn default_paths() -> BTreeMap<String, String> {
    let output = Command::new("bash")
        .arg(repo_root().join("scripts/helm-tools"))
        .arg("env")
        .output()
        .expect("scripts/helm-tools env runs");
    assert!(output.status.success(), "scripts/helm-tools env failed");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| line.strip_prefix("export ")?.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.trim_matches('\'').to_owned()))
        .collect()
}

fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"))
}

impl Tools {
    /// `helm template` of the chart with a values file (if any) and extra
    /// arguments: the manifests, or helm's error output.
    pub fn render(
        &self,
        values: Option<&Path>,
        extra: &[&str],
        kube_version: &str,
    ) -> Result<String, String> {
        let mut command = Command::new(&self.helm);
        command
            .args(["template", "intake", "--namespace", "support"])
            .arg(chart_dir())
            .args(["--kube-version", kube_version]);
        if let Some(values) = values {
            command.arg("--values").arg(values);
        }
        command.args(extra);
        let output = run(&mut command);
        if output.status.success() {
            Ok(String::from_utf8(output.stdout).unwrap())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    pub fn newest(&self) -> &str {
        self.versions.last().unwrap()
    }

    /// `helm lint --strict` with a values file: helm's report if it failed.
    pub fn lint(&self, values: Option<&Path>) -> Result<(), String> {
        let mut command = Command::new(&self.helm);
        command.args(["lint", "--strict"]).arg(chart_dir());
        if let Some(values) = values {
            command.arg("--values").arg(values);
        }
        let output = run(&mut command);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.status.success() && stdout.contains("0 chart(s) failed") {
            Ok(())
        } else {
            Err(format!(
                "{stdout}{}",
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }

    /// kubeconform -strict on `manifests` for Kubernetes `version`, against
    /// the offline Kubernetes schemas and the chart's own CRD schemas
    /// (deploy/helm/schemas). Ok with the number of valid resources.
    pub fn validate(&self, manifests: &str, version: &str) -> Result<u64, String> {
        // kubeconform reads only files named *.yaml, *.yml or *.json.
        let file = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
        std::fs::write(file.path(), manifests).unwrap();
        let kubernetes = format!(
            "{}/{{{{ .NormalizedKubernetesVersion }}}}-local{{{{ .StrictSuffix }}}}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
            self.schemas.display()
        );
        let crds = format!(
            "{}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
            repo_root().join("deploy/helm/schemas").display()
        );
        let output = run(Command::new(&self.kubeconform)
            .args(["-strict", "-summary", "-output", "json"])
            .args(["-kubernetes-version", version])
            .args(["-schema-location", &kubernetes, "-schema-location", &crds])
            .arg(file.path()));
        let report = String::from_utf8_lossy(&output.stdout).into_owned();
        let summary: Value = serde_yaml_ng::from_str(&report)
            .map_err(|error| format!("unreadable kubeconform report ({error}): {report}"))?;
        let count = |name: &str| summary["summary"][name].as_u64().unwrap_or(u64::MAX);
        if output.status.success()
            && [count("invalid"), count("errors"), count("skipped")] == [0; 3]
        {
            Ok(count("valid"))
        } else {
            Err(report)
        }
    }
}

/// The documents of a multi-document YAML stream (empty ones left out).
pub fn documents(manifests: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(manifests)
        .map(|document| Value::deserialize(document).expect("rendered YAML parses"))
        .filter(|document| !document.is_null())
        .collect()
}

/// The document of `kind` named `name`.
pub fn find<'a>(documents: &'a [Value], kind: &str, name: &str) -> &'a Value {
    documents
        .iter()
        .find(|document| {
            document["kind"].as_str() == Some(kind)
                && document["metadata"]["name"].as_str() == Some(name)
        })
        .unwrap_or_else(|| panic!("no {kind} {name} rendered"))
}

pub fn of_kind<'a>(documents: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> {
    documents
        .iter()
        .filter(move |document| document["kind"].as_str() == Some(kind))
}

/// The sequence at `value` (empty when absent).
pub fn seq(value: &Value) -> &[Value] {
    value.as_sequence().map(Vec::as_slice).unwrap_or_default()
}
