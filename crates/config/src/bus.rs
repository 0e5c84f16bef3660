//! `[bus]`, `[bus.embedded]`, `[bus.kafka]`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

use intake_bus::{RedactedProperties, holds_secret, is_secret_property};

use crate::general::{non_empty, parse_choice};
use crate::secret::{Ctx, SecretRef};

/// `[bus]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBus {
    /// `embedded` (a durable log in a local SQLite file) or `kafka`.
    #[serde(default = "default_backend")]
    backend: RawBusBackend,
    /// Topic names are `<topic_prefix>.events.<channel>` and `<topic_prefix>.dlq`.
    #[serde(default = "default_topic_prefix")]
    topic_prefix: String,
    /// Settings of the embedded backend.
    #[serde(default)]
    embedded: RawEmbedded,
    /// Settings of the Kafka backend.
    #[serde(default)]
    kafka: RawKafka,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "String")]
enum RawBusBackend {
    Embedded,
    Kafka,
}

impl TryFrom<String> for RawBusBackend {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        parse_choice(
            &value,
            &[("embedded", Self::Embedded), ("kafka", Self::Kafka)],
        )
    }
}

fn default_backend() -> RawBusBackend {
    RawBusBackend::Embedded
}
fn default_topic_prefix() -> String {
    "intake".to_owned()
}

impl Default for RawBus {
    fn default() -> Self {
        Self {
            backend: default_backend(),
            topic_prefix: default_topic_prefix(),
            embedded: RawEmbedded::default(),
            kafka: RawKafka::default(),
        }
    }
}

/// `[bus.embedded]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEmbedded {
    /// SQLite file holding the log and the consumer positions.
    #[serde(default = "default_embedded_path")]
    path: PathBuf,
    /// Hours a record is kept after every consumer group reading its topic
    /// has marked it done; older ones are purged hourly. 0 keeps records forever.
    #[serde(default = "default_retention_hours")]
    retention_hours: u64,
}

fn default_embedded_path() -> PathBuf {
    PathBuf::from("data/bus.sqlite")
}
/// 7 days.
fn default_retention_hours() -> u64 {
    168
}
/// 100 years: anything longer is a typo (use 0 to keep records forever).
const MAX_RETENTION_HOURS: u64 = 876_000;

impl Default for RawEmbedded {
    fn default() -> Self {
        Self {
            path: default_embedded_path(),
            retention_hours: default_retention_hours(),
        }
    }
}

/// `[bus.kafka]` as written. `Debug` hides secret property values.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKafka {
    /// Comma-separated `host:port` list (librdkafka `bootstrap.servers`).
    #[serde(default)]
    brokers: Option<String>,
    /// Create missing topics at start.
    #[serde(default = "default_create_topics")]
    create_topics: bool,
    /// Partitions of topics created by intake.
    #[serde(default = "default_partitions")]
    partitions: u32,
    /// Replication factor of topics created by intake (3 in production).
    #[serde(default = "default_replication_factor")]
    replication_factor: u32,
    /// `min.insync.replicas` of topics created by intake; not set: 2 on a
    /// cluster of at least 3 brokers, else 1 (read from the metadata at start).
    #[serde(default)]
    min_insync_replicas: Option<u32>,
    /// Kafka `client.id`.
    #[serde(default = "default_client_id")]
    client_id: String,
    /// Extra librdkafka properties, passed verbatim (e.g. `security.protocol`).
    #[serde(default)]
    properties: BTreeMap<String, String>,
    /// Environment variable holding the SASL password (sets `sasl.password`).
    #[serde(default)]
    sasl_password_env: Option<String>,
    /// File holding the SASL password (sets `sasl.password`).
    #[serde(default)]
    sasl_password_file: Option<PathBuf>,
    /// Secret librdkafka properties (e.g. `ssl.key.password`) read from
    /// environment variables: property name → variable name.
    #[serde(default)]
    secret_properties_env: BTreeMap<String, String>,
    /// Secret librdkafka properties read from files: property name → path.
    #[serde(default)]
    secret_properties_file: BTreeMap<String, PathBuf>,
}

fn default_create_topics() -> bool {
    true
}
fn default_partitions() -> u32 {
    6
}
fn default_replication_factor() -> u32 {
    1
}
fn default_client_id() -> String {
    "intake".to_owned()
}

impl std::fmt::Debug for RawKafka {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `*_env` hold variable names, where a pasted secret may sit by
        // mistake: only whether they are set (and which properties) shows.
        f.debug_struct("RawKafka")
            .field("brokers", &self.brokers)
            .field("create_topics", &self.create_topics)
            .field("partitions", &self.partitions)
            .field("replication_factor", &self.replication_factor)
            .field("min_insync_replicas", &self.min_insync_replicas)
            .field("client_id", &self.client_id)
            .field("properties", &RedactedProperties(&self.properties))
            .field(
                "sasl_password_env",
                &self.sasl_password_env.as_ref().map(|_| "[set]"),
            )
            .field("sasl_password_file", &self.sasl_password_file)
            .field(
                "secret_properties_env",
                &self.secret_properties_env.keys().collect::<Vec<_>>(),
            )
            .field("secret_properties_file", &self.secret_properties_file)
            .finish()
    }
}

impl Default for RawKafka {
    fn default() -> Self {
        Self {
            brokers: None,
            create_topics: default_create_topics(),
            partitions: default_partitions(),
            replication_factor: default_replication_factor(),
            min_insync_replicas: None,
            client_id: default_client_id(),
            properties: BTreeMap::new(),
            sasl_password_env: None,
            sasl_password_file: None,
            secret_properties_env: BTreeMap::new(),
            secret_properties_file: BTreeMap::new(),
        }
    }
}

/// librdkafka properties that intake sets itself, with the reason.
const MANAGED_PROPERTIES: &[(&str, &str)] = &[
    ("bootstrap.servers", "set bus.kafka.brokers instead"),
    ("client.id", "set bus.kafka.client_id instead"),
    (
        "sasl.password",
        "secrets are never given inline: set bus.kafka.sasl_password_env or bus.kafka.sasl_password_file",
    ),
    ("group.id", "set router.consumer_group instead"),
    (
        "enable.idempotence",
        "intake always uses an idempotent producer (no duplicates on retry)",
    ),
    ("acks", "intake always waits for all in-sync replicas"),
    (
        "enable.auto.offset.store",
        "intake stores offsets only after the work is done",
    ),
];

/// The event bus.
#[derive(Debug, Clone)]
pub struct BusConfig {
    /// Prefix of every topic name.
    pub topic_prefix: String,
    pub backend: BusBackend,
}

/// Which bus, with its settings.
#[derive(Debug, Clone)]
pub enum BusBackend {
    Embedded(EmbeddedBusConfig),
    Kafka(KafkaConfig),
}

/// The embedded bus (single machine).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedBusConfig {
    pub path: PathBuf,
    /// Hours consumed records are kept; 0 = forever.
    pub retention_hours: u64,
}

/// The Kafka bus. `Debug` hides secret values.
#[derive(Clone)]
pub struct KafkaConfig {
    /// `host:port` entries, at least one.
    pub brokers: Vec<String>,
    pub create_topics: bool,
    pub partitions: i32,
    pub replication_factor: i16,
    /// `min.insync.replicas` of created topics; `None`: by broker count.
    pub min_insync_replicas: Option<i16>,
    pub client_id: String,
    /// Extra librdkafka properties (never one of those intake manages).
    pub properties: BTreeMap<String, String>,
    /// `sasl.password`, when SASL is used.
    pub sasl_password: Option<SecretString>,
    /// Secret librdkafka properties (`ssl.key.password`, …), read from the
    /// environment or files named in the configuration.
    pub secret_properties: BTreeMap<String, SecretString>,
}

impl std::fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("create_topics", &self.create_topics)
            .field("partitions", &self.partitions)
            .field("replication_factor", &self.replication_factor)
            .field("min_insync_replicas", &self.min_insync_replicas)
            .field("client_id", &self.client_id)
            .field("properties", &RedactedProperties(&self.properties))
            .field("sasl_password", &self.sasl_password)
            .field("secret_properties", &self.secret_properties)
            .finish()
    }
}

impl KafkaConfig {
    /// The brokers as librdkafka's `bootstrap.servers` value.
    pub fn bootstrap_servers(&self) -> String {
        self.brokers.join(",")
    }
}

impl RawBus {
    pub(crate) fn validate(self, ctx: &mut Ctx<'_>) -> BusConfig {
        let topic_prefix = self.topic_prefix.trim().to_owned();
        let valid_topic_chars = topic_prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if topic_prefix.is_empty() || topic_prefix.len() > 200 || !valid_topic_chars {
            ctx.problem(
                "bus.topic_prefix",
                "must be 1 to 200 characters of letters, digits, '.', '_' or '-'",
            );
        }
        // Checked whatever the backend: an inline secret is wrong even unused.
        check_properties(ctx, &self.kafka.properties);
        let backend = match self.backend {
            RawBusBackend::Embedded => {
                if self.embedded.path.as_os_str().is_empty() {
                    ctx.problem("bus.embedded.path", "must not be empty");
                }
                if self.embedded.retention_hours > MAX_RETENTION_HOURS {
                    ctx.problem(
                        "bus.embedded.retention_hours",
                        format!("must be at most {MAX_RETENTION_HOURS} (0 keeps records forever)"),
                    );
                }
                BusBackend::Embedded(EmbeddedBusConfig {
                    path: self.embedded.path,
                    retention_hours: self.embedded.retention_hours,
                })
            }
            RawBusBackend::Kafka => BusBackend::Kafka(self.kafka.validate(ctx)),
        };
        BusConfig {
            topic_prefix,
            backend,
        }
    }
}

impl RawKafka {
    fn validate(self, ctx: &mut Ctx<'_>) -> KafkaConfig {
        let brokers = match self.brokers.as_deref().map(str::trim) {
            None | Some("") => {
                ctx.problem(
                    "bus.kafka.brokers",
                    "required when bus.backend is \"kafka\" (e.g. \"kafka-1:9092,kafka-2:9092\")",
                );
                Vec::new()
            }
            Some(list) => parse_brokers(ctx, list),
        };
        let partitions = match i32::try_from(self.partitions) {
            Ok(n) if n >= 1 => n,
            _ => {
                ctx.problem("bus.kafka.partitions", "must be between 1 and 2147483647");
                1
            }
        };
        let replication_factor = match i16::try_from(self.replication_factor) {
            Ok(n) if n >= 1 => n,
            _ => {
                ctx.problem(
                    "bus.kafka.replication_factor",
                    "must be between 1 and 32767",
                );
                1
            }
        };
        let min_insync_replicas = match self.min_insync_replicas.map(i16::try_from) {
            None => None,
            Some(Ok(n)) if n >= 1 && n <= replication_factor => Some(n),
            Some(_) => {
                ctx.problem(
                    "bus.kafka.min_insync_replicas",
                    format!(
                        "must be between 1 and bus.kafka.replication_factor ({replication_factor})"
                    ),
                );
                None
            }
        };
        let client_id = non_empty(ctx, "bus.kafka.client_id", self.client_id);
        let sasl_password = SecretRef::new(&self.sasl_password_env, &self.sasl_password_file)
            .resolve(ctx, "bus.kafka.sasl_password");
        let mut secret_properties = BTreeMap::new();
        for (name, variable) in &self.secret_properties_env {
            let key = format!("bus.kafka.secret_properties_env.{name}");
            check_managed(ctx, &key, name);
            if let Some(value) = ctx.secret_from_env(&key, variable) {
                secret_properties.insert(name.trim().to_owned(), value);
            }
        }
        for (name, path) in &self.secret_properties_file {
            let key = format!("bus.kafka.secret_properties_file.{name}");
            check_managed(ctx, &key, name);
            if secret_properties.contains_key(name.trim()) {
                ctx.problem(key, "given both as _env and _file: keep one");
                continue;
            }
            if let Some(value) = ctx.secret_from_file(&key, path) {
                secret_properties.insert(name.trim().to_owned(), value);
            }
        }
        KafkaConfig {
            brokers,
            create_topics: self.create_topics,
            partitions,
            replication_factor,
            min_insync_replicas,
            client_id,
            properties: self.properties,
            sasl_password,
            secret_properties,
        }
    }
}

/// Refuses inline secrets (by the bus's one rule: [`holds_secret`]) and
/// properties intake sets itself. Messages name the property, never its value.
fn check_properties(ctx: &mut Ctx<'_>, properties: &BTreeMap<String, String>) {
    for (name, value) in properties {
        let key = format!("bus.kafka.properties.{name}");
        if holds_secret(name, value) {
            let what = if is_secret_property(name) {
                "this property holds a secret"
            } else {
                "the value holds a private key"
            };
            ctx.problem(
                key,
                format!(
                    "{what}, and secrets are never given inline: name an environment variable in \
                     bus.kafka.secret_properties_env or a file in bus.kafka.secret_properties_file"
                ),
            );
            continue;
        }
        check_managed(ctx, &key, name);
    }
}

/// Refuses a property that intake sets itself.
fn check_managed(ctx: &mut Ctx<'_>, key: &str, name: &str) {
    if let Some((_, reason)) = MANAGED_PROPERTIES
        .iter()
        .find(|(managed, _)| managed.eq_ignore_ascii_case(name.trim()))
    {
        ctx.problem(key, *reason);
    }
}

fn parse_brokers(ctx: &mut Ctx<'_>, list: &str) -> Vec<String> {
    let mut brokers = Vec::new();
    for entry in list.split(',').map(str::trim) {
        let valid = entry
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if valid {
            brokers.push(entry.to_owned());
        } else {
            ctx.problem("bus.kafka.brokers", format!("{entry:?} is not host:port"));
        }
    }
    brokers
}

#[cfg(test)]
mod tests {
    use crate::{BusBackend, EmbeddedBusConfig, load_from};

    fn embedded(toml: &str) -> EmbeddedBusConfig {
        let config = load_from(Some(toml), &[], &[]).unwrap_or_else(|e| panic!("{e}"));
        match config.bus.backend {
            BusBackend::Embedded(embedded) => embedded,
            other => panic!("expected the embedded bus, got {other:?}"),
        }
    }

    #[test]
    fn retention_defaults_to_seven_days() {
        assert_eq!(embedded("").retention_hours, 168);
    }

    #[test]
    fn retention_is_read_and_zero_keeps_forever() {
        let config = embedded("[bus.embedded]\npath = \"x.sqlite\"\nretention_hours = 0\n");
        assert_eq!(config.retention_hours, 0);
        assert_eq!(
            embedded("[bus.embedded]\nretention_hours = 24\n").retention_hours,
            24
        );
    }

    #[test]
    fn retention_too_long_or_negative_is_a_problem() {
        let errors = load_from(
            Some("[bus.embedded]\nretention_hours = 1000000\n"),
            &[],
            &[],
        )
        .expect_err("a century and more is refused");
        assert!(
            errors.to_string().contains("bus.embedded.retention_hours"),
            "{errors}"
        );
        let errors = load_from(Some("[bus.embedded]\nretention_hours = -1\n"), &[], &[])
            .expect_err("negative is refused");
        assert!(errors.to_string().contains("retention_hours"), "{errors}");
    }
}
