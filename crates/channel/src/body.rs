//! Reading a request body with a hard size limit, counting the bytes actually
//! received (a missing or lying `Content-Length` does not get past it).
//!
//! The buffer is allocated once from a declared length that was checked
//! against the limit (hyper enforces that exactly that many bytes arrive);
//! without one it grows by doubling but never past the limit, so a body of
//! `limit` bytes never costs more than `limit` bytes of buffer.
//! How long the bytes may take to arrive, and how many bytes all requests
//! together may buffer, is the gateway's business (its admission limits).

use axum::body::{Body, Bytes, HttpBody};
use futures::StreamExt;

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// More than `limit` bytes arrived, or were declared.
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

/// First buffer of a body of unknown length.
const UNKNOWN_LENGTH_START_BYTES: usize = 8 * 1024;

/// Reads the whole body, failing as soon as more than `limit` bytes arrived
/// or a larger length was declared (before any byte is read).
pub async fn read_body_limited(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    let hint = body.size_hint();
    if hint.lower() > limit as u64 {
        return Err(BodyError::TooLarge { limit });
    }
    // Checked against the limit just above: never more than `limit`.
    let declared = hint.exact().and_then(|len| usize::try_from(len).ok());
    let mut collected =
        Vec::with_capacity(declared.unwrap_or_else(|| UNKNOWN_LENGTH_START_BYTES.min(limit)));
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| BodyError::Read(e.to_string()))?;
        let needed = collected.len() + chunk.len();
        if needed > limit {
            return Err(BodyError::TooLarge { limit });
        }
        if needed > collected.capacity() {
            let grown = collected
                .capacity()
                .saturating_mul(2)
                .max(needed)
                .min(limit);
            collected.reserve_exact(grown - collected.len());
        }
        collected.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(collected))
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use http_body::{Frame, SizeHint};

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

    /// A body that declares `declared` bytes and then sends `chunks`.
    struct Declared {
        declared: u64,
        chunks: Vec<Bytes>,
    }

    impl HttpBody for Declared {
        type Data = Bytes;
        type Error = Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            if self.chunks.is_empty() {
                return Poll::Ready(None);
            }
            let chunk = self.chunks.remove(0);
            Poll::Ready(Some(Ok(Frame::data(chunk))))
        }
        fn size_hint(&self) -> SizeHint {
            SizeHint::with_exact(self.declared)
        }
    }

    #[tokio::test]
    async fn a_declared_length_over_the_limit_is_refused_before_reading() {
        let body = Body::new(Declared {
            declared: 1 << 30,
            chunks: vec![Bytes::from_static(b"x")],
        });
        let err = read_body_limited(body, 1024).await.unwrap_err();
        assert!(matches!(err, BodyError::TooLarge { limit: 1024 }), "{err}");
    }

    #[tokio::test]
    async fn the_buffer_is_allocated_once_from_the_declared_length() {
        let chunks: Vec<Bytes> = (0..100).map(|_| Bytes::from(vec![7u8; 1000])).collect();
        let body = Body::new(Declared {
            declared: 100_000,
            chunks,
        });
        let bytes = read_body_limited(body, 1 << 20).await.unwrap();
        assert_eq!(bytes.len(), 100_000);
        // `Bytes::from(Vec)` keeps the Vec's buffer: no growth means the
        // buffer was exactly the declared size, not a doubling past it.
        let vec: Vec<u8> = bytes.into();
        assert_eq!(vec.capacity(), 100_000);
    }

    #[tokio::test]
    async fn an_unknown_length_never_grows_the_buffer_past_the_limit() {
        let limit = 300_000;
        let chunks = futures::stream::iter(
            (0..300).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![1u8; 1000]))),
        );
        let bytes = read_body_limited(Body::from_stream(chunks), limit)
            .await
            .unwrap();
        assert_eq!(bytes.len(), limit);
        let vec: Vec<u8> = bytes.into();
        assert!(vec.capacity() <= limit, "capacity {}", vec.capacity());
    }
}
