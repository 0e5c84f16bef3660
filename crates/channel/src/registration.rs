//! Registration: how the app lists a channel with one line.
//!
//! A channel crate implements [`Channel`] on a marker type: its
//! `[channels.<name>]` section (`intake_config::ChannelSection`) and how its
//! adapter is built from the validated options. The app lists it once:
//! `Registration::of::<intake_channel_chat::Chat>()`. From that list come
//! the sections the configuration accepts, the channels the gateway runs and
//! (through the enabled channels) the topics the router consumes.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

pub use intake_config::{ChannelSection, ChannelsConfig, Section, SectionContext};

use crate::cursor::{CursorStore, MemoryCursors};
use crate::{HttpChannel, PullChannel, ReplySender};

/// A channel: its configuration section and the adapter it builds.
pub trait Channel: ChannelSection {
    /// The adapter for `options` (validated by `ChannelSection::validate`).
    /// An error is a configuration error: the process stops with it,
    /// prefixed with `channels.<name>`.
    fn build(options: &Self::Options, gateway: &BuildContext) -> Result<Adapter, BuildError>;

    /// The channel's reply sender (the reply role), when its options
    /// configure one; the default: the channel cannot reply.
    fn reply_sender(options: &Self::Options) -> Result<Option<Arc<dyn ReplySender>>, BuildError> {
        let _ = options;
        Ok(None)
    }
}

/// What the gateway gives every channel it builds: its limits, and where a
/// pull channel keeps its position.
#[derive(Clone)]
pub struct BuildContext {
    /// `http.max_body_bytes`: the gateway refuses larger bodies on every
    /// route; cap the channel's own body limit at it so its 413 says so.
    pub max_body_bytes: usize,
    /// The state store's cursors (`<channel>:<source>` scopes), for a pull
    /// channel's position across restarts.
    pub cursors: Arc<dyn CursorStore>,
}

impl BuildContext {
    /// Limits with cursors kept in memory (tests, and channels that keep no
    /// position).
    pub fn in_memory(max_body_bytes: usize) -> Self {
        Self {
            max_body_bytes,
            cursors: Arc::new(MemoryCursors::default()),
        }
    }
}

impl fmt::Debug for BuildContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuildContext")
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

/// What a channel runs as.
pub enum Adapter {
    /// Routes mounted on the gateway's data listener.
    Http(Arc<dyn HttpChannel>),
    /// A fetching session supervised by the pull runner.
    Pull(Box<dyn PullChannel>),
}

impl fmt::Debug for Adapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Adapter::Http(channel) => write!(f, "Adapter::Http({})", channel.name()),
            Adapter::Pull(channel) => write!(f, "Adapter::Pull({})", channel.name()),
        }
    }
}

/// Why a channel's adapter cannot be built. Never holds a secret.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BuildError(pub Box<dyn std::error::Error + Send + Sync>);

impl BuildError {
    /// Never: the configuration has to change.
    pub fn is_retryable(&self) -> bool {
        false
    }

    /// Wraps any error of the channel's constructor.
    pub fn from_error(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Box::new(error))
    }
}

/// One line of the app's channel list.
#[derive(Debug, Clone, Copy)]
pub struct Registration {
    section: Section,
    build: BuildFn,
    reply_sender: ReplySenderFn,
}

type BuildFn = fn(&dyn Any, &BuildContext) -> Option<Result<Adapter, BuildError>>;
type ReplySenderFn = fn(&dyn Any) -> Option<Result<Option<Arc<dyn ReplySender>>, BuildError>>;

impl Registration {
    /// The registration of channel `C`.
    pub const fn of<C: Channel>() -> Self {
        Self {
            section: Section::of::<C>(),
            build: build_erased::<C>,
            reply_sender: reply_sender_erased::<C>,
        }
    }

    /// The channel name.
    pub fn name(&self) -> &'static str {
        self.section.name()
    }

    /// Its configuration section, for `intake_config::load_for`.
    pub fn section(&self) -> Section {
        self.section
    }

    /// The adapter of this channel, when it is enabled in `channels`; an
    /// enabled channel without options (its section had problems) is an
    /// error naming the section.
    pub fn build(
        &self,
        channels: &ChannelsConfig,
        gateway: &BuildContext,
    ) -> Option<Result<Adapter, BuildError>> {
        let name = self.name();
        if !channels.is_enabled(name) {
            return None;
        }
        let Some(options) = channels.options_of(name) else {
            let message = format!("channels.{name}: the section is not complete (check-config)");
            return Some(Err(BuildError(message.into())));
        };
        (self.build)(options, gateway)
    }
}

impl Registration {
    /// The reply sender of this channel, when it is enabled, its section is
    /// complete and configures one.
    pub fn reply_sender(
        &self,
        channels: &ChannelsConfig,
    ) -> Result<Option<Arc<dyn ReplySender>>, BuildError> {
        if !channels.is_enabled(self.name()) {
            return Ok(None);
        }
        let Some(options) = channels.options_of(self.name()) else {
            return Ok(None);
        };
        (self.reply_sender)(options).unwrap_or(Ok(None))
    }
}

fn reply_sender_erased<C: Channel>(
    options: &dyn Any,
) -> Option<Result<Option<Arc<dyn ReplySender>>, BuildError>> {
    let options = options.downcast_ref::<C::Options>()?;
    Some(C::reply_sender(options))
}

fn build_erased<C: Channel>(
    options: &dyn Any,
    gateway: &BuildContext,
) -> Option<Result<Adapter, BuildError>> {
    let options = options.downcast_ref::<C::Options>()?;
    Some(C::build(options, gateway))
}

/// The sections of `registrations`, in order.
pub fn sections(registrations: &[Registration]) -> Vec<Section> {
    registrations.iter().map(Registration::section).collect()
}
