#![forbid(unsafe_code)]
//! Configuration: a TOML file plus `INTAKE__SECTION__KEY` environment
//! overrides, parsed into validated, typed values.
//!
//! Loading goes in three steps, and every problem of every step is reported
//! at once with its key path:
//! 1. the file and the environment are merged into one value tree
//!    (`INTAKE__ZENDESK__REQUESTS_PER_MINUTE=400` sets
//!    `zendesk.requests_per_minute`; list keys such as
//!    `router.channel_priority` take comma-separated values);
//! 2. the tree is deserialised into raw structs that mirror the file
//!    (unknown keys and wrong types are collected, see `collect.rs`);
//! 3. the raw structs are validated into [`Config`]; secrets are read from
//!    the environment variable (`*_env`) or file (`*_file`) they name.
//!
//! What only one role needs (Zendesk credentials for the router, channel
//! secrets for the gateway) is checked by [`Config::require_router`] and
//! [`Config::require_gateway`], so `intake run --role gateway` does not ask
//! for Zendesk credentials.

mod acknowledgements;
mod blob;
mod bus;
mod channels;
mod collect;
mod cross_channel;
mod general;
mod http;
mod problems;
mod router;
mod rulebook;
mod rulebook_absence_ical;
mod rulebook_departments;
mod secret;
mod sla_watch;
mod source;
mod store;
mod working_time;
mod zendesk;
mod zendesk_webhook;

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

pub use acknowledgements::{AckLanguage, AcknowledgementsConfig, ChannelAckConfig};
pub use blob::{BlobConfig, BlobS3Config, S3AccessKey};
pub use bus::{BusBackend, BusConfig, EmbeddedBusConfig, KafkaConfig};
pub use channels::{
    ChannelEntry, ChannelRouting, ChannelSection, ChannelsConfig, GENERIC_CHANNEL_KEYS,
    KNOWN_CHANNELS, Section, SectionContext, TicketPriority,
};
pub use cross_channel::CrossChannelConfig;
pub use general::{LogConfig, ServiceConfig};
pub use http::{HttpConfig, OpsConfig, UNAUTHENTICATED_BODY_ALLOWANCE_BYTES};
pub use intake_telemetry::LogFormat;
pub use problems::{ConfigErrors, Problem};
pub use router::{AutomaticMessages, RouterConfig};
pub use rulebook::RulebookConfig;
pub use sla_watch::{SlaSlackConfig, SlaSlackTarget, SlaWatchConfig};
pub use source::{ENV_PREFIX, ENV_SEPARATOR};
pub use store::StoreConfig;
pub use working_time::{IcalFeed, WorkingTimeConfig};
pub use zendesk::{ZendeskAccount, ZendeskAuth, ZendeskConfig};
pub use zendesk_webhook::{MailReplies, ZendeskWebhookConfig};

use crate::problems::Problems;
use crate::secret::Ctx;

/// The whole configuration, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub log: LogConfig,
    pub service: ServiceConfig,
    pub http: HttpConfig,
    pub ops: OpsConfig,
    pub bus: BusConfig,
    pub store: StoreConfig,
    pub blob: BlobConfig,
    pub zendesk: ZendeskConfig,
    pub router: RouterConfig,
    pub channels: ChannelsConfig,
    /// Working-time calendars and SLA policies (`[calendars.*]`, `[sla]`).
    pub working_time: WorkingTimeConfig,
    /// Acknowledgements to customers (`[acknowledgements]`).
    pub acknowledgements: AcknowledgementsConfig,
    /// The Zendesk webhook of agent comments (`[zendesk_webhook]`).
    pub zendesk_webhook: ZendeskWebhookConfig,
    /// The support team's rules on new tickets (`[rulebook.*]`).
    pub rulebook: RulebookConfig,
    /// The 30-minute warning before first-response deadlines (`[sla_watch]`).
    pub sla_watch: SlaWatchConfig,
}

/// The file as written: one field per section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    /// Logging.
    #[serde(default)]
    log: general::RawLog,
    /// Process lifetime.
    #[serde(default)]
    service: general::RawService,
    /// The data listener (channel webhooks) and its limits.
    #[serde(default)]
    http: http::RawHttp,
    /// The operational listener (`/metrics`, `/healthz`, `/readyz`).
    #[serde(default)]
    ops: http::RawOps,
    /// The event bus.
    #[serde(default)]
    bus: bus::RawBus,
    /// The state store.
    #[serde(default)]
    store: store::RawStore,
    /// The blob store.
    #[serde(default)]
    blob: blob::RawBlob,
    /// The Zendesk account.
    #[serde(default)]
    zendesk: zendesk::RawZendesk,
    /// The router.
    #[serde(default)]
    router: router::RawRouter,
    // `[channels]` is taken out of the tree before this is deserialised and
    // validated against the registered channel sections (`channels.rs`).
    /// Working-time calendars by name.
    #[serde(default)]
    calendars: std::collections::BTreeMap<String, working_time::RawCalendar>,
    /// SLA first-response policies.
    #[serde(default)]
    sla: working_time::RawSla,
    /// Acknowledgements to customers.
    #[serde(default)]
    acknowledgements: acknowledgements::RawAcknowledgements,
    /// The Zendesk webhook of agent comments.
    #[serde(default)]
    zendesk_webhook: zendesk_webhook::RawZendeskWebhook,
    /// The support team's rules on new tickets.
    #[serde(default)]
    rulebook: rulebook::RawRulebook,
    /// The 30-minute warning before first-response deadlines.
    #[serde(default)]
    sla_watch: sla_watch::RawSlaWatch,
}

/// Loads the file at `path` (if any) with the process environment laid over
/// it; `channels` are the registered channel sections (the app's list).
pub fn load(path: Option<&Path>, channels: &[Section]) -> Result<Config, ConfigErrors> {
    load_for(path, Needs::default(), channels)
}

/// What a process will run, so that what it needs (credentials, secrets) is
/// reported together with every other problem of the file, in one pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// The router runs: Zendesk URL and credentials are required.
    pub router: bool,
    /// The gateway runs: every enabled channel's secret is required.
    pub gateway: bool,
}

/// [`load`] that also reports, in the same list, what the roles in `needs`
/// require but the configuration lacks.
pub fn load_for(
    path: Option<&Path>,
    needs: Needs,
    channels: &[Section],
) -> Result<Config, ConfigErrors> {
    let env = process_env();
    let Some(path) = path else {
        return load_labelled("(no file)", None, &env, needs, channels);
    };
    let label = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => load_labelled(&label, Some(&text), &env, needs, channels),
        Err(error) => Err(ConfigErrors {
            problems: vec![Problem::new(
                label,
                format!("cannot read the file: {error}"),
            )],
        }),
    }
}

/// Loads from TOML text (if any) and the given environment, which serves both
/// for `INTAKE__…` overrides and for secrets named by `*_env` keys.
pub fn load_from(
    toml_text: Option<&str>,
    env: &[(String, String)],
    channels: &[Section],
) -> Result<Config, ConfigErrors> {
    load_text(toml_text, env, Needs::default(), channels)
}

/// [`load_from`] that also reports what the roles in `needs` require (as
/// [`load_for`] does).
pub fn load_text(
    toml_text: Option<&str>,
    env: &[(String, String)],
    needs: Needs,
    channels: &[Section],
) -> Result<Config, ConfigErrors> {
    load_labelled("(config text)", toml_text, env, needs, channels)
}

fn load_labelled(
    label: &str,
    toml_text: Option<&str>,
    env: &[(String, String)],
    needs: Needs,
    sections: &[Section],
) -> Result<Config, ConfigErrors> {
    let mut problems = Problems::default();
    let mut merged = source::merge(label, toml_text, env, &mut problems);
    let channels_tree = match &mut merged.tree.kind {
        config::ValueKind::Table(root) => root.remove("channels"),
        _ => None,
    };
    let raw: RawConfig =
        collect::deserialize_collecting(merged.tree, &mut problems).unwrap_or_default();

    let env_map: HashMap<String, String> = env.iter().cloned().collect();
    let mut known_channels: Vec<String> = KNOWN_CHANNELS.iter().map(|c| (*c).to_owned()).collect();
    for section in sections {
        if !known_channels.iter().any(|known| known == section.name()) {
            known_channels.push(section.name().to_owned());
        }
    }
    let mut ctx = Ctx::new(problems, &env_map, known_channels);
    let log = raw.log.validate(&mut ctx);
    let service = raw.service.validate(&mut ctx);
    let http = raw.http.validate(&mut ctx);
    let ops = raw.ops.validate(&mut ctx, &http);
    let mut config = Config {
        log,
        service,
        http,
        ops,
        bus: raw.bus.validate(&mut ctx),
        store: raw.store.validate(&mut ctx),
        blob: raw.blob.validate(&mut ctx),
        zendesk: raw.zendesk.validate(&mut ctx),
        router: raw.router.validate(&mut ctx),
        channels: channels::validate(&mut ctx, channels_tree, sections),
        working_time: working_time::validate(&mut ctx, raw.calendars, raw.sla),
        acknowledgements: raw.acknowledgements.validate(&mut ctx),
        zendesk_webhook: raw.zendesk_webhook.validate(&mut ctx),
        rulebook: Default::default(),
        sla_watch: raw.sla_watch.validate(&mut ctx),
    };
    let calendars: Vec<&str> = config.working_time.sla.calendars().names().collect();
    config.rulebook = raw.rulebook.validate(&mut ctx, &calendars);
    let mut problems = ctx.problems;
    let missing = [
        (needs.router, config.require_router()),
        (needs.gateway, config.require_gateway()),
    ];
    for (needed, outcome) in missing {
        if let (true, Err(errors)) = (needed, outcome) {
            for problem in errors.problems {
                problems.push(problem.key, problem.message);
            }
        }
    }
    problems
        .finish(config)
        .map_err(|errors| annotate_env_origin(errors, &merged.env_keys))
}

/// Says which variable set a key, when it came from the environment.
fn annotate_env_origin(
    mut errors: ConfigErrors,
    env_keys: &HashMap<String, String>,
) -> ConfigErrors {
    for problem in &mut errors.problems {
        let base = problem.key.split('[').next().unwrap_or_default();
        if let Some(name) = env_keys.get(base) {
            problem.message.push_str(&format!(" (set by {name})"));
        }
    }
    errors
}

fn process_env() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
        .collect()
}

impl Config {
    /// The channel topics the router consumes (and every role creates): each
    /// enabled channel, in `router.channel_priority` order, unlisted ones
    /// last. The one place that decides it, so that no accepted message is
    /// left without a consumer.
    pub fn router_channels(&self) -> Vec<String> {
        self.router.consumed_channels(&self.channels.enabled())
    }

    /// Ok when everything the router role needs is configured (the Zendesk
    /// URL and credentials, at least one enabled channel); otherwise every
    /// missing piece with its key.
    pub fn require_router(&self) -> Result<(), ConfigErrors> {
        let mut problems = Problems::default();
        for problem in &self.zendesk.missing {
            problems.push(problem.key.clone(), problem.message.clone());
        }
        if self.router_channels().is_empty() {
            problems.push(
                "channels",
                "no channel is enabled: the router would have nothing to consume",
            );
        }
        problems.finish(())
    }

    /// Ok when every enabled channel has what the gateway role needs (its
    /// webhook secret); otherwise every missing piece with its key.
    pub fn require_gateway(&self) -> Result<(), ConfigErrors> {
        let mut problems = Problems::default();
        for problem in self.channels.missing_for_gateway() {
            problems.push(problem.key, problem.message);
        }
        problems.finish(())
    }
}
