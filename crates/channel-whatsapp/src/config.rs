//! `[channels.whatsapp]`: the channel's own keys (`enabled`, `priority`,
//! `group_id` and `tags` are the config crate's), validated into
//! [`WhatsAppOptions`]; and the registration, [`WhatsApp`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use intake_channel::{
    Adapter, BuildContext, BuildError, Channel, ChannelSection, ReplySender, SectionContext,
};
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use crate::reply::ReplyTemplate;

/// `[channels.whatsapp]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWhatsApp {
    /// Environment variable holding the Meta app secret (signs every delivery).
    app_secret_env: Option<String>,
    /// File holding the Meta app secret.
    app_secret_file: Option<PathBuf>,
    /// Environment variable holding the verify token of the subscription check.
    verify_token_env: Option<String>,
    /// File holding the verify token.
    verify_token_file: Option<PathBuf>,
    /// Environment variable holding the Cloud API access token (media, replies).
    access_token_env: Option<String>,
    /// File holding the Cloud API access token.
    access_token_file: Option<PathBuf>,
    /// Base URL of the Graph API, with its version.
    #[serde(default = "default_api_base_url")]
    api_base_url: String,
    /// The business number's id that replies are sent from when the
    /// conversation does not name one.
    phone_number_id: Option<String>,
    /// Approved template sent outside the 24-hour customer-care window (its
    /// body's one parameter is the reply's text); none: such replies fail.
    reply_template_name: Option<String>,
    /// Language code of `reply_template_name`.
    #[serde(default = "default_reply_template_language")]
    reply_template_language: String,
    /// Largest request body, in bytes.
    #[serde(default = "default_max_body_bytes")]
    max_body_bytes: u64,
    /// Largest media file stored, in bytes; a larger one is named on the ticket.
    #[serde(default = "default_max_media_bytes")]
    max_media_bytes: u64,
    /// Hosts a media file may be downloaded from with the access token
    /// (`https` only; `*.example.com` matches its subdomains). The Graph
    /// API's own origin (`api_base_url`) is always allowed. A media URL on
    /// any other host is not fetched and is named on the ticket instead.
    #[serde(default = "default_media_hosts")]
    media_hosts: Vec<String>,
    /// Longest time one call of the Graph API may take, in seconds.
    #[serde(default = "default_api_timeout_secs")]
    api_timeout_secs: u64,
}

/// Meta's Graph API.
pub fn default_api_base_url() -> String {
    "https://graph.facebook.com/v21.0/".to_owned()
}
/// US English.
pub fn default_reply_template_language() -> String {
    "en_US".to_owned()
}
/// 1 MiB: a payload carries text only, media come by id.
pub fn default_max_body_bytes() -> u64 {
    1024 * 1024
}
/// 16 MiB, WhatsApp's own limit for audio and video.
pub fn default_max_media_bytes() -> u64 {
    16 * 1024 * 1024
}
/// Meta's media CDN, where the Cloud API's media URLs point.
pub fn default_media_hosts() -> Vec<String> {
    vec!["lookaside.fbsbx.com".to_owned()]
}
/// Thirty seconds.
pub fn default_api_timeout_secs() -> u64 {
    30
}

/// Settings of the WhatsApp channel, validated.
#[derive(Debug, Clone)]
pub struct WhatsAppOptions {
    pub app_secret: SecretString,
    pub verify_token: SecretString,
    pub access_token: SecretString,
    /// Always ends in `/`.
    pub api_base_url: Url,
    pub phone_number_id: Option<String>,
    pub reply_template: Option<ReplyTemplate>,
    pub max_body_bytes: usize,
    pub max_media_bytes: u64,
    /// Lower-case host names or `*.`-prefixed suffixes.
    pub media_hosts: Vec<String>,
    pub api_timeout: Duration,
}

/// The WhatsApp channel, as the app's registration list names it.
#[derive(Debug)]
pub struct WhatsApp;

impl ChannelSection for WhatsApp {
    const NAME: &'static str = crate::CHANNEL;
    type Raw = RawWhatsApp;
    type Options = WhatsAppOptions;

    fn validate(raw: RawWhatsApp, ctx: &mut SectionContext<'_, '_>) -> Option<WhatsAppOptions> {
        let max_body_bytes = ctx.positive_usize("max_body_bytes", raw.max_body_bytes);
        let max_media_bytes = ctx.positive_usize("max_media_bytes", raw.max_media_bytes) as u64;
        let api_timeout = ctx.secs_between("api_timeout_secs", raw.api_timeout_secs, 1, 300);
        let api_base_url = match Url::parse(&raw.api_base_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => with_slash(url),
            _ => {
                ctx.problem("api_base_url", "must be an http or https URL");
                with_slash(Url::parse(&default_api_base_url()).expect("the default parses"))
            }
        };
        let app_secret =
            ctx.required_secret("app_secret", &raw.app_secret_env, &raw.app_secret_file);
        let verify_token = ctx.required_secret(
            "verify_token",
            &raw.verify_token_env,
            &raw.verify_token_file,
        );
        let access_token = ctx.required_secret(
            "access_token",
            &raw.access_token_env,
            &raw.access_token_file,
        );
        let media_hosts = media_hosts(raw.media_hosts, ctx);
        let reply_template = raw.reply_template_name.map(|name| ReplyTemplate {
            name,
            language: raw.reply_template_language,
        });
        Some(WhatsAppOptions {
            app_secret: app_secret?,
            verify_token: verify_token?,
            access_token: access_token?,
            api_base_url,
            phone_number_id: raw.phone_number_id,
            reply_template,
            max_body_bytes,
            max_media_bytes,
            media_hosts,
            api_timeout,
        })
    }
}

/// Each entry a bare host name (no scheme, port or path), lower-cased.
fn media_hosts(hosts: Vec<String>, ctx: &mut SectionContext<'_, '_>) -> Vec<String> {
    let mut valid = Vec::new();
    for host in hosts {
        let host = host.trim().to_ascii_lowercase();
        let bare = host.strip_prefix("*.").unwrap_or(&host);
        let ok = !bare.is_empty()
            && bare
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if ok {
            valid.push(host);
        } else {
            ctx.problem(
                "media_hosts",
                format!("{host:?} is not a host name (write e.g. \"lookaside.fbsbx.com\" or \"*.fbsbx.com\")"),
            );
        }
    }
    valid
}

fn with_slash(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

impl Channel for WhatsApp {
    fn build(options: &WhatsAppOptions, gateway: &BuildContext) -> Result<Adapter, BuildError> {
        let max_body_bytes = options.max_body_bytes.min(gateway.max_body_bytes);
        let options = WhatsAppOptions {
            max_body_bytes,
            ..options.clone()
        };
        let channel = crate::WhatsAppChannel::new(options).map_err(BuildError::from_error)?;
        Ok(Adapter::Http(channel))
    }

    fn reply_sender(options: &WhatsAppOptions) -> Result<Option<Arc<dyn ReplySender>>, BuildError> {
        let sender = crate::replies(options).map_err(BuildError::from_error)?;
        Ok(Some(Arc::new(sender)))
    }
}
