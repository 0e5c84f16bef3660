//! Reading a request body with a hard size limit, counting the bytes actually
//! received (a missing or lying `Content-Length` does not get past it).

use axum::body::{Body, Bytes};
use futures::StreamExt;

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// More than `limit` bytes arrived.
    #[error("body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// The connection failed while reading.
    #[error("failed to read the request body: {0}")]
    Read(String),
}

impl BodyError {
    /// True when sending the same request again may work.
    pub fn is_retryable(&self) -> bool {
        matches!(self, BodyError::Read(_))
    }
}

/// Reads the whole body, failing as soon as more than `limit` bytes arrived.
pub async fn read_body_limited(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    let mut stream = body.into_data_stream();
    let mut collected = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| BodyError::Read(e.to_string()))?;
        if collected.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        collected.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(collected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn limit_is_inclusive_and_enforced_on_streamed_bytes() {
        let exact = read_body_limited(Body::from("12345"), 5).await.unwrap();
        assert_eq!(&exact[..], b"12345");

        let chunks = futures::stream::iter(vec![
            Ok::<_, std::io::Error>(Bytes::from_static(b"123")),
            Ok(Bytes::from_static(b"456")),
        ]);
        let err = read_body_limited(Body::from_stream(chunks), 5)
            .await
            .unwrap_err();
        assert!(matches!(err, BodyError::TooLarge { limit: 5 }), "{err}");
    }
}
