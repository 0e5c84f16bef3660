//! `POST /api/v2/uploads`: raw file bodies grouped under a token.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use futures::StreamExt;
use serde_json::json;

use super::{json, with_location};
use crate::error::ApiError;
use crate::model::{Attachment, Upload};
use crate::state::SimState;

/// How long an upload token stays valid on the sim clock.
pub const TOKEN_TTL_SECS: i64 = 60 * 60;

/// Reads the body, stopping as soon as it exceeds `max` bytes.
async fn read_limited(body: Body, max: u64) -> Result<u64, ApiError> {
    let mut size: u64 = 0;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| ApiError::BadJson)?;
        size += chunk.len() as u64;
        if size > max {
            return Err(ApiError::AttachmentTooLarge);
        }
    }
    Ok(size)
}

/// `POST /api/v2/uploads?filename=x.pdf[&token=T]`
pub async fn create(
    State(state): State<SimState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let filename = query
        .get("filename")
        .filter(|f| !f.is_empty())
        .cloned()
        .ok_or(ApiError::ParameterMissing("filename"))?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/binary")
        .to_owned();
    let now = state.now();
    if let Some(token) = query.get("token") {
        let data = state.data();
        if data.uploads.get(token).is_none_or(|u| u.expires_at <= now) {
            return Err(ApiError::invalid(
                "token",
                "Token: is invalid or has expired",
            ));
        }
    }
    let size = read_limited(body, state.config().max_upload_bytes).await?;
    let base = state.render();
    let payload = {
        let mut data = state.data();
        let attachment = Attachment {
            id: data.next_id(),
            file_name: filename,
            content_type,
            size,
        };
        let token = match query.get("token") {
            Some(token) => token.clone(),
            None => uuid::Uuid::new_v4().simple().to_string(),
        };
        let upload = data.uploads.entry(token.clone()).or_insert_with(|| Upload {
            token,
            expires_at: now + chrono::Duration::seconds(TOKEN_TTL_SECS),
            attachments: Vec::new(),
        });
        if upload.expires_at <= now {
            return Err(ApiError::invalid(
                "token",
                "Token: is invalid or has expired",
            ));
        }
        let location = format!(
            "{}/api/v2/attachments/{}.json",
            base.get().base,
            attachment.id
        );
        upload.attachments.push(attachment);
        (json!({"upload": base.get().upload(upload)}), location)
    };
    state.persist().await;
    let (payload, location) = payload;
    let resp = json(StatusCode::CREATED, payload);
    // Recorded uploads answer with the new attachment's URL in `Location`.
    Ok(with_location(resp, &location, None))
}
