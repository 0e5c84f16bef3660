//! The contract between the config crate and a channel crate: a channel
//! defines its `[channels.<name>]` section by implementing [`ChannelSection`]
//! and is listed as a [`Section`] (the app's registration list); the config
//! crate deserialises the section's table into the channel's raw type and
//! hands it to [`ChannelSection::validate`] with a [`SectionContext`] that
//! reports problems under `channels.<name>.`.

use std::any::Any;
use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use config::Value;
use secrecy::SecretString;
use serde::de::DeserializeOwned;

use crate::problems::Problem;
use crate::secret::Ctx;

/// A channel's own `[channels.<name>]` section.
///
/// The generic keys (`enabled`, `priority`, `group_id`, `tags`) are taken out
/// by the config crate before the rest of the table is deserialised into
/// [`ChannelSection::Raw`], so `Raw` lists only the channel's own keys (with
/// `#[serde(deny_unknown_fields)]`, a doc comment on every field, units in
/// names, defaults as named functions, secrets as `<name>_env`/`<name>_file`).
pub trait ChannelSection: 'static {
    /// The section name: `[channels.<NAME>]`, the bus topic
    /// `<prefix>.events.<NAME>`, the metric label.
    const NAME: &'static str;
    /// Whether the channel runs when its section does not say `enabled`.
    const ENABLED_BY_DEFAULT: bool = false;
    /// The section as written. Give every field a default (`Option` fields
    /// are `None` when absent; others `#[serde(default = "named_fn")]`), so
    /// that a key with a problem falls back to its default and every other
    /// key is still checked.
    type Raw: DeserializeOwned;
    /// The validated settings the channel's adapter is built from.
    type Options: Debug + Send + Sync + 'static;

    /// Validates `raw`, reporting every problem through `ctx`; `None` when
    /// the options cannot be made (a secret the gateway needs is not given).
    /// Options returned despite a reported problem are dropped by the loader,
    /// so `validate` may go on after a problem to find the next one.
    fn validate(raw: Self::Raw, ctx: &mut SectionContext<'_, '_>) -> Option<Self::Options>;
}

/// A registered section, type-erased: what the loader is given, one per
/// channel (`Section::of::<ChatSection>()`).
#[derive(Clone, Copy)]
pub struct Section {
    pub(crate) name: &'static str,
    pub(crate) enabled_by_default: bool,
    pub(crate) load: LoadFn,
}

type LoadFn = fn(Value, &mut SectionContext<'_, '_>) -> Option<Arc<dyn SectionOptions>>;

impl Section {
    /// The section of channel `S`.
    pub const fn of<S: ChannelSection>() -> Self {
        Self {
            name: S::NAME,
            enabled_by_default: S::ENABLED_BY_DEFAULT,
            load: load_section::<S>,
        }
    }

    /// The channel name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl Debug for Section {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Section").field("name", &self.name).finish()
    }
}

fn load_section<S: ChannelSection>(
    table: Value,
    ctx: &mut SectionContext<'_, '_>,
) -> Option<Arc<dyn SectionOptions>> {
    let prefix = ctx.prefix.clone();
    let before = ctx.problems().len();
    let raw: S::Raw = crate::collect::deserialize_collecting_at(&prefix, table, ctx.problems())?;
    let options = S::validate(raw, ctx)?;
    // Options of a section with problems are never used.
    (ctx.problems().len() == before).then(|| Arc::new(options) as Arc<dyn SectionOptions>)
}

/// Validated options behind the type erasure (any `ChannelSection::Options`).
pub(crate) trait SectionOptions: Debug + Send + Sync {
    fn as_any(&self) -> &dyn Any;
}

impl<T: Debug + Send + Sync + 'static> SectionOptions for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// What a channel's `validate` reports through: every key it is given is
/// relative to its section (`"secret_env"` is reported as
/// `channels.<name>.secret_env`).
pub struct SectionContext<'ctx, 'env> {
    ctx: &'ctx mut Ctx<'env>,
    prefix: String,
    enabled: bool,
    /// What the gateway will need but the section does not give.
    pub(crate) missing: Vec<Problem>,
}

impl<'ctx, 'env> SectionContext<'ctx, 'env> {
    pub(crate) fn new(ctx: &'ctx mut Ctx<'env>, name: &str, enabled: bool) -> Self {
        Self {
            ctx,
            prefix: format!("channels.{name}"),
            enabled,
            missing: Vec::new(),
        }
    }

    fn problems(&mut self) -> &mut crate::problems::Problems {
        &mut self.ctx.problems
    }

    /// The full key path of `key` (`channels.chat.secret_env`), for messages
    /// that name another key.
    pub fn key(&self, key: &str) -> String {
        format!("{}.{key}", self.prefix)
    }

    /// Whether the channel is enabled (generic key `enabled`).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Reports a problem at `key` (relative to the section).
    pub fn problem(&mut self, key: &str, message: impl Into<String>) {
        let key = self.key(key);
        self.ctx.problem(key, message);
    }

    /// The optional secret `<name>_env` / `<name>_file`; `None` when neither
    /// is given, or when it cannot be read (then a problem is reported).
    pub fn secret(
        &mut self,
        name: &str,
        env: &Option<String>,
        file: &Option<PathBuf>,
    ) -> Option<SecretString> {
        let key = self.key(name);
        self.ctx.secret(&key, env.as_deref(), file.as_deref())
    }

    /// The secret `<name>_env` / `<name>_file` that the gateway needs while
    /// the channel is enabled. When neither is given, the gateway role
    /// reports it as missing (`check-config --role router` does not).
    pub fn required_secret(
        &mut self,
        name: &str,
        env: &Option<String>,
        file: &Option<PathBuf>,
    ) -> Option<SecretString> {
        if env.is_none() && file.is_none() {
            if self.enabled {
                self.missing.push(Problem::new(
                    self.key(&format!("{name}_env")),
                    format!(
                        "required while {} is true (or {})",
                        self.key("enabled"),
                        self.key(&format!("{name}_file"))
                    ),
                ));
            }
            return None;
        }
        self.secret(name, env, file)
    }

    /// The key that gave the secret `<name>` (`<name>_env` or `<name>_file`),
    /// to report a problem with the secret's value.
    pub fn secret_key(&self, name: &str, env: &Option<String>) -> String {
        match env {
            Some(_) => format!("{name}_env"),
            None => format!("{name}_file"),
        }
    }

    /// A byte or count limit that must be at least 1 (reports a problem and
    /// gives 1 otherwise).
    pub fn positive_usize(&mut self, key: &str, value: u64) -> usize {
        let key = self.key(key);
        crate::general::positive_usize(self.ctx, &key, value)
    }

    /// `secs` as a duration when it is within `min..=max` seconds; otherwise
    /// a problem naming the range, and the nearest bound.
    pub fn secs_between(&mut self, key: &str, secs: u64, min: u64, max: u64) -> Duration {
        if !(min..=max).contains(&secs) {
            self.problem(key, format!("must be between {min} and {max} seconds"));
        }
        Duration::from_secs(secs.clamp(min, max))
    }

    /// Reports `message` at `key` unless `value` is at least 1.
    pub fn at_least_one(&mut self, key: &str, value: u64) {
        if value == 0 {
            self.problem(key, "must be at least 1");
        }
    }
}
