//! Backend options: what [`crate::connect`] needs to open a bus.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

/// Which backend to open, with its options.
///
/// In TOML: `backend = "kafka"` or `backend = "embedded"` next to the
/// backend's own fields.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "backend", rename_all = "lowercase")]
pub enum BusOptions {
    /// Apache Kafka (or a Kafka-protocol broker): for clusters and several replicas.
    Kafka(KafkaOptions),
    /// A durable log in one SQLite file: for one machine only.
    Embedded(EmbeddedOptions),
}

/// Options of the Kafka backend.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaOptions {
    /// Bootstrap brokers, comma separated `host:port` (librdkafka `bootstrap.servers`).
    pub brokers: String,
    /// Extra librdkafka properties passed verbatim to every client (TLS,
    /// SASL PLAIN/SCRAM, timeouts such as `session.timeout.ms` or
    /// `message.timeout.ms`). The bus's delivery guarantees
    /// (`enable.idempotence`, `acks`, offset storing) cannot be overridden.
    /// Values of secret properties ([`is_secret_property`], [`holds_secret`])
    /// never appear in `Debug`.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// Create missing topics in `ensure_topics`; when false, a missing topic is an error.
    #[serde(default = "default_create_topics")]
    pub create_topics: bool,
    /// Partition count for topics the bus creates; -1 = the broker's `num.partitions`.
    #[serde(default = "default_partitions")]
    pub partitions: i32,
    /// Replication factor for topics the bus creates; -1 = the broker's
    /// `default.replication.factor`.
    #[serde(default = "default_replication_factor")]
    pub replication_factor: i32,
    /// `min.insync.replicas` of topics the bus creates, so `acks=all` waits
    /// for that many copies. `None`: 2 when the cluster has at least 3
    /// brokers, else 1 ([`min_insync_replicas_for`]). Never more than the
    /// replication factor.
    #[serde(default)]
    pub min_insync_replicas: Option<i32>,
    /// Client id sent to the brokers (shows in broker logs and quotas).
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// How long `connect` and `check_ready` wait for the brokers to answer a
    /// metadata request before giving up with `BusError::Unavailable`.
    #[serde(default = "default_ready_timeout_secs")]
    pub ready_timeout_secs: u64,
}

fn default_create_topics() -> bool {
    true
}

fn default_partitions() -> i32 {
    3
}

fn default_replication_factor() -> i32 {
    -1
}

fn default_client_id() -> String {
    "intake".to_owned()
}

fn default_ready_timeout_secs() -> u64 {
    5
}

impl KafkaOptions {
    /// Options for `brokers` with every other field at its default.
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            properties: BTreeMap::new(),
            create_topics: default_create_topics(),
            partitions: default_partitions(),
            replication_factor: default_replication_factor(),
            min_insync_replicas: None,
            client_id: default_client_id(),
            ready_timeout_secs: default_ready_timeout_secs(),
        }
    }
}

/// The `min.insync.replicas` given to a topic the bus creates: `configured`
/// if set, else 2 on a cluster of at least 3 brokers and 1 on a smaller one;
/// in both cases at most the replication factor (`replication_factor`, or the
/// broker count when that is -1, the broker's default) and at least 1.
pub fn min_insync_replicas_for(
    configured: Option<i32>,
    brokers: usize,
    replication_factor: i32,
) -> i32 {
    let brokers = i32::try_from(brokers).unwrap_or(i32::MAX);
    let wanted = configured.unwrap_or(if brokers >= 3 { 2 } else { 1 });
    let replicas = if replication_factor > 0 {
        replication_factor
    } else {
        brokers
    };
    wanted.min(replicas).max(1)
}

/// The one rule for which Kafka client properties hold secrets, used by the
/// bus (`Debug`, error messages) and by the configuration (which refuses
/// them inline). True for names whose values are credentials or private key
/// material:
///
/// - any name with `password`, `passphrase`, `secret` or `credential` in it
///   (`sasl.password`, `ssl.key.password`, `ssl.keystore.password`,
///   `ssl.truststore.password`, `sasl.oauthbearer.client.secret`,
///   `sasl.oauthbearer.assertion.private.key.passphrase`, …);
/// - `sasl.jaas.config` (the Java client's, with the password inside) and
///   `sasl.oauthbearer.config` (may carry principal and extension secrets);
/// - inline private keys: `ssl.key.pem`, `ssl_key`,
///   `sasl.oauthbearer.assertion.private.key.pem`, any `….private.key`;
/// - a name whose last part is `token`.
///
/// Case and `_` for `.` do not matter. Paths to key files (`ssl.key.location`,
/// `….private.key.file`) and public certificates (`ssl.certificate.pem`,
/// `ssl.ca.pem`) are not secret by name; see [`holds_secret`] for a private
/// key pasted into one of those.
pub fn is_secret_property(name: &str) -> bool {
    let name = name.trim().to_ascii_lowercase().replace('_', ".");
    let credential = ["password", "passphrase", "secret", "credential"]
        .iter()
        .any(|word| name.contains(word));
    let config_with_secrets = matches!(
        name.as_str(),
        "sasl.jaas.config" | "sasl.oauthbearer.config"
    );
    let key_material =
        name == "ssl.key" || name.ends_with("key.pem") || name.ends_with(".private.key");
    let token = name.rsplit('.').next() == Some("token");
    credential || config_with_secrets || key_material || token
}

/// [`is_secret_property`], or a value that holds a PEM private key
/// (`-----BEGIN … PRIVATE KEY-----`) whatever the property's name.
pub fn holds_secret(name: &str, value: &str) -> bool {
    is_secret_property(name) || value.contains("PRIVATE KEY-----")
}

/// `Debug` of a property map with every value [`holds_secret`] says is
/// secret shown as `[redacted]`.
pub struct RedactedProperties<'a>(pub &'a BTreeMap<String, String>);

impl fmt::Debug for RedactedProperties<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (name, value) in self.0 {
            if holds_secret(name, value) {
                map.entry(name, &"[redacted]");
            } else {
                map.entry(name, value);
            }
        }
        map.finish()
    }
}

impl fmt::Debug for KafkaOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaOptions")
            .field("brokers", &self.brokers)
            .field("properties", &RedactedProperties(&self.properties))
            .field("create_topics", &self.create_topics)
            .field("partitions", &self.partitions)
            .field("replication_factor", &self.replication_factor)
            .field("min_insync_replicas", &self.min_insync_replicas)
            .field("client_id", &self.client_id)
            .field("ready_timeout_secs", &self.ready_timeout_secs)
            .finish()
    }
}

/// Options of the embedded backend: a durable log in one SQLite file.
///
/// For **one machine** only: several processes on the same host may share the
/// file (SQLite locking, WAL), but not over a network filesystem, and every
/// topic has a single partition, so a consumer group has one active reader.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedOptions {
    /// The SQLite file; created (with its parent directory) when missing.
    pub path: PathBuf,
    /// Retention: records older than this many hours that every consumer
    /// group reading their topic has marked done are deleted (once while
    /// opening, then hourly by a background task). 0 keeps every record forever.
    #[serde(default = "default_retention_hours")]
    pub retention_hours: u64,
    /// Group commit: at most this many concurrent publishes share one SQLite
    /// transaction (one fsync). 1 commits every record on its own; 0 counts as 1.
    #[serde(default = "default_max_batch_records")]
    pub max_batch_records: usize,
    /// Group commit: how long the writer waits, after the first record of a
    /// batch, for more records before committing, in microseconds. 0 commits
    /// what is queued at once (records published while a commit runs still
    /// share the next one).
    #[serde(default = "default_max_batch_wait_micros")]
    pub max_batch_wait_micros: u64,
    /// The largest record accepted, in bytes (key, payload and headers
    /// together); a larger one is refused with `BusError::TooLarge`.
    #[serde(default = "default_max_record_bytes")]
    pub max_record_bytes: u64,
}

/// 7 days.
fn default_retention_hours() -> u64 {
    168
}

fn default_max_batch_records() -> usize {
    256
}

fn default_max_batch_wait_micros() -> u64 {
    0
}

/// [`crate::EMBEDDED_MAX_RECORD_BYTES`] (1 MB, librdkafka's default
/// `message.max.bytes`).
fn default_max_record_bytes() -> u64 {
    crate::EMBEDDED_MAX_RECORD_BYTES
}

impl EmbeddedOptions {
    /// Options for the file at `path` with every other field at its default.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            retention_hours: default_retention_hours(),
            max_batch_records: default_max_batch_records(),
            max_batch_wait_micros: default_max_batch_wait_micros(),
            max_record_bytes: default_max_record_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_insync_follows_the_cluster_and_never_passes_the_replication_factor() {
        assert_eq!(min_insync_replicas_for(None, 3, 3), 2);
        assert_eq!(min_insync_replicas_for(None, 5, 3), 2);
        assert_eq!(min_insync_replicas_for(None, 1, 1), 1);
        assert_eq!(min_insync_replicas_for(None, 2, 2), 1);
        assert_eq!(min_insync_replicas_for(None, 3, 1), 1, "capped by rf");
        assert_eq!(min_insync_replicas_for(None, 3, -1), 2);
        assert_eq!(min_insync_replicas_for(None, 1, -1), 1);
        assert_eq!(min_insync_replicas_for(Some(3), 5, 5), 3);
        assert_eq!(min_insync_replicas_for(Some(3), 5, 2), 2, "capped by rf");
        assert_eq!(min_insync_replicas_for(Some(0), 5, 3), 1);
    }

    #[test]
    fn debug_hides_secret_properties() {
        let mut options = KafkaOptions::new("b:9092");
        options
            .properties
            .insert("sasl.password".into(), "hunter2".into());
        options
            .properties
            .insert("ssl.key.pem".into(), "-----BEGIN".into());
        options
            .properties
            .insert("security.protocol".into(), "SASL_SSL".into());
        options.properties.insert(
            "ssl.certificate.pem".into(),
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n\
             -----BEGIN PRIVATE KEY-----\nMIIE-key\n-----END PRIVATE KEY-----"
                .into(),
        );
        options.properties.insert(
            "sasl.oauthbearer.token.endpoint.url".into(),
            "https://idp.example/token".into(),
        );
        let shown = format!("{options:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("BEGIN"), "{shown}");
        assert!(!shown.contains("MIIE-key"), "{shown}");
        assert!(shown.contains("SASL_SSL"), "{shown}");
        assert!(shown.contains("https://idp.example/token"), "{shown}");
    }

    #[test]
    fn the_rule_knows_secrets_from_paths_and_public_values() {
        for secret in [
            "sasl.password",
            "SASL.PASSWORD",
            "ssl.key.password",
            "ssl.keystore.password",
            "ssl.truststore.password",
            "ssl.key.pem",
            "ssl_key",
            "sasl.oauthbearer.client.secret",
            "sasl.oauthbearer.config",
            "sasl.oauthbearer.assertion.private.key.pem",
            "sasl.oauthbearer.assertion.private.key.passphrase",
            "sasl.jaas.config",
            "sasl.oauthbearer.token",
        ] {
            assert!(is_secret_property(secret), "{secret} is secret");
        }
        for public in [
            "security.protocol",
            "sasl.mechanism",
            "sasl.username",
            "ssl.key.location",
            "ssl.keystore.location",
            "ssl.ca.pem",
            "ssl.certificate.pem",
            "sasl.oauthbearer.assertion.private.key.file",
            "sasl.oauthbearer.token.endpoint.url",
            "sasl.oauthbearer.client.id",
        ] {
            assert!(!is_secret_property(public), "{public} is not secret");
        }
        assert!(holds_secret(
            "ssl.certificate.pem",
            "-----BEGIN EC PRIVATE KEY-----\nx\n-----END EC PRIVATE KEY-----"
        ));
        assert!(!holds_secret(
            "ssl.certificate.pem",
            "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----"
        ));
    }

    #[test]
    fn parses_tagged_options_and_rejects_unknown_fields() {
        let kafka: BusOptions = serde_json::from_str(
            r#"{"backend":"kafka","brokers":"a:1","properties":{"security.protocol":"SSL"}}"#,
        )
        .expect("kafka options");
        let BusOptions::Kafka(kafka) = kafka else {
            panic!("expected kafka, got {kafka:?}");
        };
        assert_eq!(kafka.brokers, "a:1");
        assert_eq!(kafka.partitions, 3);
        assert!(kafka.create_topics);
        assert_eq!(kafka.properties["security.protocol"], "SSL");

        let embedded: BusOptions =
            serde_json::from_str(r#"{"backend":"embedded","path":"/var/lib/intake/bus.sqlite"}"#)
                .expect("embedded options");
        assert_eq!(
            embedded,
            BusOptions::Embedded(EmbeddedOptions::new("/var/lib/intake/bus.sqlite"))
        );
        let BusOptions::Embedded(embedded) = embedded else {
            unreachable!()
        };
        assert_eq!(embedded.retention_hours, 168);
        let kept: BusOptions = serde_json::from_str(
            r#"{"backend":"embedded","path":"bus.sqlite","retention_hours":0}"#,
        )
        .expect("embedded options with retention");
        let BusOptions::Embedded(kept) = kept else {
            panic!("expected embedded, got {kept:?}");
        };
        assert_eq!(kept.retention_hours, 0);

        let unknown =
            serde_json::from_str::<BusOptions>(r#"{"backend":"embedded","path":"x","paht":"y"}"#);
        assert!(unknown.is_err());
    }
}
