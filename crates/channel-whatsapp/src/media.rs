//! Media of a message into the blob store: `GET {api_base_url}/{media-id}`
//! (bearer access token) names the file's URL and size; `GET <url>` with
//! the same token gives the bytes, read up to `max_media_bytes`, but only
//! from the Graph API's origin or an https host of `media_hosts`: the token
//! is never sent to a host the answer merely names. A file
//! over the limit, or one Meta no longer has (4xx), is named on the ticket
//! instead (never silently dropped); a failure that may pass (5xx, timeout,
//! network) refuses the delivery with 503 so that Meta delivers it again.

use std::time::Duration;

use futures::StreamExt;
use intake_channel::events::AttachmentFetch;
use intake_channel::webhook::{Normalised, Rejection};
use intake_channel::{ChannelContext, FetchOutcome, RejectReason};
use intake_event::Attachment;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use url::Url;

use crate::CHANNEL;
use crate::normalise::MediaRef;

/// Downloads media with the Cloud API's access token.
#[derive(Debug, Clone)]
pub struct MediaFetcher {
    pub(crate) http: reqwest::Client,
    pub(crate) api_base_url: Url,
    pub(crate) access_token: SecretString,
    pub(crate) max_media_bytes: u64,
    pub(crate) media_hosts: Vec<String>,
}

/// `GET /{media-id}`'s answer (the fields used).
#[derive(Debug, Deserialize)]
struct MediaInfo {
    url: String,
    #[serde(default)]
    file_size: Option<serde_json::Value>,
}

/// Why one file was not fetched.
struct Failed {
    outcome: FetchOutcome,
    detail: String,
}

impl Failed {
    fn of(error: reqwest::Error) -> Self {
        let outcome = if error.is_timeout() {
            FetchOutcome::Timeout
        } else {
            FetchOutcome::Unreachable
        };
        let detail = format!("media request failed: {}", error.without_url());
        Self { outcome, detail }
    }

    fn status(status: reqwest::StatusCode) -> Self {
        let outcome = if status.is_server_error() || status.as_u16() == 429 {
            FetchOutcome::ServerError
        } else {
            FetchOutcome::ClientError
        };
        Self {
            outcome,
            detail: format!("media endpoint answered {status}"),
        }
    }
}

impl MediaFetcher {
    /// Fetches every media of `message` into the blob store and the event.
    pub(crate) async fn complete(
        &self,
        ctx: &ChannelContext,
        message: &mut Normalised<Vec<MediaRef>>,
    ) -> Result<(), Rejection> {
        let event_id = message.event.event_id;
        for media in std::mem::take(&mut message.extra) {
            let detail = match self.fetch(&media).await {
                Ok(bytes) => {
                    let blob = ctx.blobs.put(&bytes).await.map_err(|e| {
                        tracing::warn!(error = %e, channel = CHANNEL, %event_id, "media store failed");
                        Rejection::new(
                            RejectReason::BlobUnavailable,
                            "attachment storage unavailable, retry later",
                        )
                    })?;
                    AttachmentFetch {
                        channel: CHANNEL,
                        outcome: FetchOutcome::Fetched,
                        event_id,
                        detail: "media",
                        bytes: bytes.len() as u64,
                    }
                    .emit();
                    message.event.attachments.push(Attachment {
                        filename: media.filename.clone(),
                        content_type: media.mime_type.clone(),
                        size: bytes.len() as u64,
                        sha256: hex::encode(Sha256::digest(&bytes)),
                        blob,
                    });
                    continue;
                }
                Err(failed) => {
                    AttachmentFetch {
                        channel: CHANNEL,
                        outcome: failed.outcome,
                        event_id,
                        detail: &failed.detail,
                        bytes: 0,
                    }
                    .emit();
                    if failed.outcome.is_retryable() {
                        return Err(Rejection::new(
                            RejectReason::AttachmentUnavailable,
                            "a media file could not be fetched, retry later",
                        )
                        .logging(failed.detail)
                        .with_retry_after(Duration::from_secs(30)));
                    }
                    failed.detail
                }
            };
            message.event.text.push_str(&format!(
                "\n\n[attachment not stored: {} ({}): {detail}]",
                media.filename, media.mime_type
            ));
        }
        Ok(())
    }

    async fn fetch(&self, media: &MediaRef) -> Result<Vec<u8>, Failed> {
        let info_url = self.api_base_url.join(&media.id).map_err(|_| Failed {
            outcome: FetchOutcome::ClientError,
            detail: "media id is not a URL path segment".to_owned(),
        })?;
        let answer = self.get(info_url).await?;
        let info: MediaInfo = answer.json().await.map_err(Failed::of)?;
        let declared = info.file_size.as_ref().and_then(|size| match size {
            serde_json::Value::Number(n) => n.as_u64(),
            serde_json::Value::String(s) => s.parse().ok(),
            _ => None,
        });
        let limit = self.max_media_bytes;
        let too_large = |size: u64| Failed {
            outcome: FetchOutcome::TooLarge,
            detail: format!("{size} bytes is over the {limit}-byte limit"),
        };
        if let Some(size) = declared.filter(|size| *size > limit) {
            return Err(too_large(size));
        }
        let url = Url::parse(&info.url).map_err(|_| Failed {
            outcome: FetchOutcome::ClientError,
            detail: "media url is not a URL".to_owned(),
        })?;
        if !self.may_fetch(&url) {
            return Err(Failed {
                outcome: FetchOutcome::ClientError,
                detail: format!(
                    "media host {} is not allowed (channels.whatsapp.media_hosts)",
                    url.host_str().unwrap_or("(none)")
                ),
            });
        }
        let answer = self.get(url).await?;
        let mut bytes = Vec::new();
        let mut stream = answer.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(Failed::of)?;
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > limit {
                return Err(too_large(bytes.len() as u64));
            }
        }
        Ok(bytes)
    }

    /// The Graph API's own origin, or https on an allowed host.
    fn may_fetch(&self, url: &Url) -> bool {
        if url.origin() == self.api_base_url.origin() {
            return true;
        }
        let Some(host) = url.host_str().filter(|_| url.scheme() == "https") else {
            return false;
        };
        let host = host.to_ascii_lowercase();
        self.media_hosts
            .iter()
            .any(|allowed| match allowed.strip_prefix("*.") {
                Some(suffix) => host.len() > suffix.len() && host.ends_with(&format!(".{suffix}")),
                None => host == *allowed,
            })
    }

    async fn get(&self, url: Url) -> Result<reqwest::Response, Failed> {
        let answer = self
            .http
            .get(url)
            .bearer_auth(self.access_token.expose_secret())
            .send()
            .await
            .map_err(Failed::of)?;
        if !answer.status().is_success() {
            return Err(Failed::status(answer.status()));
        }
        Ok(answer)
    }
}
