//! Builds one value tree from the TOML file and the `INTAKE__…` environment
//! overrides, before anything is typed.

use std::collections::HashMap;

use config::{Config, File, FileFormat, Map, Value, ValueKind};

use crate::problems::Problems;

/// Prefix of environment overrides: `INTAKE__SECTION__KEY`.
pub const ENV_PREFIX: &str = "INTAKE__";
/// Separator between key segments in an environment override.
pub const ENV_SEPARATOR: &str = "__";

/// The merged tree, and which key paths came from which variable (for messages).
pub(crate) struct Merged {
    pub(crate) tree: Value,
    pub(crate) env_keys: HashMap<String, String>,
}

/// Parses `toml_text` (reported under `file_label` when broken) and lays the
/// `INTAKE__…` entries of `env` over it.
pub(crate) fn merge(
    file_label: &str,
    toml_text: Option<&str>,
    env: &[(String, String)],
    problems: &mut Problems,
) -> Merged {
    let mut tree = Value::new(None, ValueKind::Table(Map::new()));
    if let Some(text) = toml_text {
        match Config::builder()
            .add_source(File::from_str(text, FileFormat::Toml))
            .build()
        {
            Ok(parsed) => tree = parsed.cache,
            Err(error) => problems.push(file_label, format!("not valid TOML: {error}")),
        }
    }

    let mut env_keys = HashMap::new();
    let mut overrides: Vec<&(String, String)> =
        env.iter().filter(|(name, _)| has_prefix(name)).collect();
    // Deterministic order whatever order the environment came in.
    overrides.sort();
    for (name, value) in overrides {
        let Some(segments) = env_key_segments(name) else {
            problems.push(
                name.as_str(),
                "not a valid override: use INTAKE__SECTION__KEY with letters, digits and single underscores",
            );
            continue;
        };
        let key = segments.join(".");
        let origin = format!("environment variable {name}");
        let kind = if is_list_key(&key) {
            ValueKind::Array(
                split_list(value)
                    .map(|item| Value::new(Some(&origin), ValueKind::String(item)))
                    .collect(),
            )
        } else {
            ValueKind::String(value.clone())
        };
        insert_path(&mut tree, &segments, Value::new(Some(&origin), kind));
        env_keys.insert(key, name.clone());
    }
    Merged { tree, env_keys }
}

fn has_prefix(name: &str) -> bool {
    name.len() >= ENV_PREFIX.len() && name[..ENV_PREFIX.len()].eq_ignore_ascii_case(ENV_PREFIX)
}

/// `INTAKE__BUS__KAFKA__CLIENT_ID` → `["bus", "kafka", "client_id"]`.
///
/// Under `bus.kafka.properties` (and `secret_properties_env`/`_file`) a
/// property name has dots, which an environment variable name cannot: there
/// single underscores stand for dots (`…__PROPERTIES__SECURITY_PROTOCOL` →
/// `security.protocol`).
pub(crate) fn env_key_segments(name: &str) -> Option<Vec<String>> {
    if !has_prefix(name) {
        return None;
    }
    let rest = &name[ENV_PREFIX.len()..];
    let mut segments: Vec<String> = Vec::new();
    for raw in rest.split(ENV_SEPARATOR) {
        let segment = raw.to_ascii_lowercase();
        let valid = !segment.is_empty()
            && !segment.starts_with('_')
            && !segment.ends_with('_')
            && segment
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return None;
        }
        segments.push(segment);
    }
    let property_maps = [
        "properties",
        "secret_properties_env",
        "secret_properties_file",
    ];
    if segments.len() == 4
        && segments[..2] == ["bus", "kafka"]
        && property_maps.contains(&segments[2].as_str())
    {
        segments[3] = segments[3].replace('_', ".");
    }
    Some(segments)
}

/// Keys whose environment value is a comma-separated list.
pub(crate) fn is_list_key(key: &str) -> bool {
    key == "router.channel_priority"
        || (key.starts_with("channels.") && key.ends_with(".tags"))
        || (key.starts_with("calendars.") && key.contains(".hours."))
        || (key.starts_with("sla.policies.")
            && (key.ends_with(".channels") || key.ends_with(".priorities")))
}

fn split_list(value: &str) -> impl Iterator<Item = String> + '_ {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
}

/// Sets `segments` in `tree`, creating tables on the way (and replacing
/// anything that is not a table: the environment wins).
fn insert_path(tree: &mut Value, segments: &[String], value: Value) {
    let Some((last, parents)) = segments.split_last() else {
        return;
    };
    let mut node = tree;
    for segment in parents {
        if !matches!(node.kind, ValueKind::Table(_)) {
            node.kind = ValueKind::Table(Map::new());
        }
        let ValueKind::Table(table) = &mut node.kind else {
            return;
        };
        node = table
            .entry(segment.clone())
            .or_insert_with(|| Value::new(None, ValueKind::Table(Map::new())));
    }
    if !matches!(node.kind, ValueKind::Table(_)) {
        node.kind = ValueKind::Table(Map::new());
    }
    if let ValueKind::Table(table) = &mut node.kind {
        table.insert(last.clone(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_map_to_key_paths() {
        let cases: &[(&str, Option<&[&str]>)] = &[
            (
                "INTAKE__ZENDESK__REQUESTS_PER_MINUTE",
                Some(&["zendesk", "requests_per_minute"]),
            ),
            (
                "INTAKE__CHANNELS__CHAT__PRIORITY",
                Some(&["channels", "chat", "priority"]),
            ),
            (
                "INTAKE__BUS__KAFKA__PROPERTIES__SECURITY_PROTOCOL",
                Some(&["bus", "kafka", "properties", "security.protocol"]),
            ),
            ("intake__log__level", Some(&["log", "level"])),
            ("INTAKE__LOG____LEVEL", None),
            ("INTAKE__LOG__LE-VEL", None),
            ("INTAKE__", None),
            ("OTHER__LOG__LEVEL", None),
        ];
        for (name, expected) in cases {
            let got = env_key_segments(name);
            let expected = expected.map(|s| s.iter().map(|p| p.to_string()).collect::<Vec<_>>());
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn list_keys_are_split_on_commas() {
        let mut problems = Problems::default();
        let env = vec![(
            "INTAKE__ROUTER__CHANNEL_PRIORITY".to_owned(),
            "chat, email,,".to_owned(),
        )];
        let merged = merge("test", None, &env, &mut problems);
        assert!(problems.is_empty());
        let ValueKind::Table(root) = merged.tree.kind else {
            panic!("root is a table");
        };
        let router = root["router"].clone().into_table().unwrap();
        let list = router["channel_priority"].clone().into_array().unwrap();
        let items: Vec<String> = list.into_iter().map(|v| v.into_string().unwrap()).collect();
        assert_eq!(items, ["chat", "email"]);
    }
}
