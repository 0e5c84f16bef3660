//! Attachments of a chat message: base64 ones are decoded here; URL ones
//! are syntax-checked and returned as [`AttachmentLink`]s for the handler
//! to fetch (see [`crate::fetch`]).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use intake_event::Attachment;

use crate::message::{ChatAttachment, MAX_CONTENT_TYPE_CHARS, MAX_FILENAME_CHARS, MAX_URL_CHARS};
use crate::normalise::{DroppedField, NormaliseError, attachment, non_blank};

/// Attachment policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachmentLimits {
    /// Largest decoded attachment, in bytes.
    pub max_attachment_bytes: usize,
    /// Most attachments (base64 and URL together) per message.
    pub max_attachments: usize,
}

/// An attachment given by URL, syntax-checked (`http`/`https`, length).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentLink {
    /// Index in the body's `attachments` array, which is also its index in
    /// the final `event.attachments` (insert in ascending order).
    pub position: usize,
    /// `attachments[<n>].url`, for error messages and logs.
    pub field: String,
    pub filename: String,
    /// The sender's `content_type`, when given (else the response's is used).
    pub content_type: Option<String>,
    pub url: url::Url,
}

impl AttachmentLink {
    /// The event's attachment for the fetched `bytes`: the sender's content
    /// type, else `fetched_type` (the response header), else
    /// `application/octet-stream`.
    pub fn to_attachment(&self, bytes: &[u8], fetched_type: Option<String>) -> Attachment {
        let content_type = self
            .content_type
            .clone()
            .or(fetched_type)
            .unwrap_or_else(|| "application/octet-stream".to_owned());
        Attachment {
            filename: self.filename.clone(),
            content_type,
            size: bytes.len() as u64,
            sha256: intake_blob::sha256_hex(bytes),
            blob: intake_blob::content_ref(bytes),
        }
    }
}

pub(crate) enum Decoded {
    Bytes(Attachment, Vec<u8>),
    Link(AttachmentLink),
}

fn mime_type(value: Option<String>) -> Result<Option<String>, ()> {
    let Some(value) = non_blank(value) else {
        return Ok(None);
    };
    let value = value.to_ascii_lowercase();
    let valid = value.chars().count() <= MAX_CONTENT_TYPE_CHARS
        && matches!(value.split_once('/'), Some((t, s)) if !t.is_empty() && !s.is_empty())
        && !value.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid { Ok(Some(value)) } else { Err(()) }
}

/// Decodes attachment `index`. An invalid `content_type` of a URL
/// attachment (where it is optional) is dropped into `dropped`.
pub(crate) fn decode_attachment(
    index: usize,
    item: ChatAttachment,
    limits: &AttachmentLimits,
    dropped: &mut Vec<DroppedField>,
) -> Result<Decoded, NormaliseError> {
    let field = |name: &str| format!("attachments[{index}].{name}");
    let filename = item.filename.trim().to_owned();
    if filename.is_empty() || filename.chars().count() > MAX_FILENAME_CHARS {
        return Err(attachment(
            field("filename"),
            format!("must be 1 to {MAX_FILENAME_CHARS} characters"),
        ));
    }
    if filename.chars().any(char::is_control) {
        return Err(attachment(field("filename"), "contains control characters"));
    }
    let content_type = mime_type(item.content_type);
    match (item.data_base64, item.url) {
        (Some(data), None) => {
            let content_type = match content_type {
                Ok(Some(value)) => value,
                Ok(None) => {
                    return Err(attachment(
                        field("content_type"),
                        "required with data_base64 (a MIME type such as `image/png`)",
                    ));
                }
                Err(()) => {
                    return Err(attachment(
                        field("content_type"),
                        "not a MIME type such as `image/png`",
                    ));
                }
            };
            let compact: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            // Reject before decoding: base64 carries 3 bytes per 4 characters.
            if compact.len() / 4 * 3 > limits.max_attachment_bytes + 2 {
                return Err(too_big(field("data_base64"), limits));
            }
            let bytes = STANDARD
                .decode(compact.as_bytes())
                .map_err(|e| attachment(field("data_base64"), format!("not valid base64: {e}")))?;
            if bytes.len() > limits.max_attachment_bytes {
                return Err(too_big(field("data_base64"), limits));
            }
            let meta = Attachment {
                filename,
                content_type,
                size: bytes.len() as u64,
                sha256: intake_blob::sha256_hex(&bytes),
                blob: intake_blob::content_ref(&bytes),
            };
            Ok(Decoded::Bytes(meta, bytes))
        }
        (None, Some(url)) => {
            let url = url.trim().to_owned();
            let parsed = url::Url::parse(&url)
                .map_err(|e| attachment(field("url"), format!("not a valid URL: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https")
                || parsed.host().is_none()
                || url.chars().count() > MAX_URL_CHARS
            {
                return Err(attachment(
                    field("url"),
                    format!("must be an http(s) URL of at most {MAX_URL_CHARS} characters"),
                ));
            }
            let content_type = content_type.unwrap_or_else(|()| {
                if !dropped.contains(&DroppedField::AttachmentContentType) {
                    dropped.push(DroppedField::AttachmentContentType);
                }
                None
            });
            Ok(Decoded::Link(AttachmentLink {
                position: index,
                field: field("url"),
                filename,
                content_type,
                url: parsed,
            }))
        }
        (Some(_), Some(_)) => Err(attachment(
            field("url"),
            "give either data_base64 or url, not both",
        )),
        (None, None) => Err(attachment(
            field("data_base64"),
            "give either data_base64 or url",
        )),
    }
}

fn too_big(field: String, limits: &AttachmentLimits) -> NormaliseError {
    attachment(
        field,
        format!("larger than {} bytes", limits.max_attachment_bytes),
    )
}
