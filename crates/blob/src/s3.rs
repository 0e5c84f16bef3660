//! S3-compatible backend (AWS S3, MinIO, Ceph, SeaweedFS, ...) through the
//! `object_store` crate: blob `sha256/<hex>` is the object
//! `<prefix>/sha256/<first two hex>/<hex>`, the local directory's layout, so a
//! blob directory can be copied into the bucket as it is.
//!
//! Storing bytes that are already there uploads them again: the new object's
//! last-modified time is what retention counts from, for the sweep
//! ([`S3BlobStore::purge_older_than`]) and for a bucket lifecycle rule alike.
//!
//! The sweep lists the prefix with each object's last-modified time; for an
//! object that looks old it reads the time again (HEAD) right before the
//! DELETE. S3 has no delete conditional on the time, so a put of the same
//! bytes that lands in the milliseconds between that HEAD and the DELETE is
//! lost; with at most one such window per blob and retention period this is
//! the documented limit of the sweep on S3 (a lifecycle rule has no sweep).
//!
//! Errors are classified: the store unreachable, a timeout or a 5xx (after the
//! client's bounded retries) is [`BlobError::Unavailable`], retryable;
//! refused credentials or access and a missing bucket are
//! [`BlobError::Rejected`], not retryable.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use futures::TryStreamExt;
use intake_event::BlobRef;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
};
use secrecy::{ExposeSecret, SecretString};

use crate::{BlobError, BlobStore, PurgeReport, content_ref, parse_ref, sha256_hex};

/// Where the bucket is and how to reach it.
#[derive(Debug, Clone)]
pub struct S3Options {
    /// `http(s)://host:port` of an S3-compatible store; `None` for AWS S3
    /// (the endpoint follows from the region).
    pub endpoint: Option<String>,
    /// The bucket's region (`us-east-1` for most S3-compatible stores).
    pub region: String,
    /// The bucket; it must exist (intake does not create buckets).
    pub bucket: String,
    /// Key prefix inside the bucket (`intake/blobs`), without slashes at the
    /// ends; empty for the bucket's root.
    pub prefix: String,
    /// `http://endpoint/bucket/key` requests instead of
    /// `http://bucket.endpoint/key` (MinIO, SeaweedFS, Ceph usually need it).
    pub path_style: bool,
    pub credentials: S3Credentials,
    /// Deadline of one request, upload and download included.
    pub request_timeout: Duration,
    /// Deadline to open a connection.
    pub connect_timeout: Duration,
    /// How often the client retries a failed request (5xx, connection
    /// refused, timeout) before the error reaches the caller.
    pub max_retries: usize,
}

impl S3Options {
    /// Options for `bucket` with the defaults: AWS, `us-east-1`, no prefix,
    /// virtual-hosted requests, the standard AWS credential chain, 30 s per
    /// request, 5 s to connect, 2 retries.
    pub fn new(bucket: impl Into<String>) -> Self {
        Self {
            endpoint: None,
            region: "us-east-1".to_owned(),
            bucket: bucket.into(),
            prefix: String::new(),
            path_style: false,
            credentials: S3Credentials::Chain,
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            max_retries: 2,
        }
    }
}

/// How the client signs its requests.
#[derive(Clone)]
pub enum S3Credentials {
    /// An access key (from the configuration's `*_env` / `*_file` keys).
    Static {
        access_key_id: SecretString,
        secret_access_key: SecretString,
        session_token: Option<SecretString>,
    },
    /// The standard AWS chain: `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`
    /// (and `AWS_SESSION_TOKEN`), else web identity (`AWS_WEB_IDENTITY_TOKEN_FILE`
    /// with `AWS_ROLE_ARN`, EKS IRSA), else ECS or EKS Pod Identity container
    /// credentials, else the instance metadata service.
    Chain,
}

impl fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            S3Credentials::Static { session_token, .. } => f
                .debug_struct("Static")
                .field("access_key_id", &"[redacted]")
                .field("secret_access_key", &"[redacted]")
                .field(
                    "session_token",
                    &session_token.as_ref().map(|_| "[redacted]"),
                )
                .finish(),
            S3Credentials::Chain => f.write_str("Chain"),
        }
    }
}

/// Blobs in an S3-compatible bucket.
#[derive(Clone)]
pub struct S3BlobStore {
    store: Arc<AmazonS3>,
    /// `<prefix>/sha256` (or `sha256` without a prefix).
    blobs: Path,
    /// Overwritten by each readiness check.
    probe: Path,
    bucket: String,
}

impl fmt::Debug for S3BlobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3BlobStore")
            .field("bucket", &self.bucket)
            .field("blobs", &self.blobs.as_ref())
            .finish_non_exhaustive()
    }
}

impl S3BlobStore {
    /// Builds the client. No request is made: an unreachable store shows in
    /// [`BlobStore::check_ready`] and in each call, as a retryable error.
    pub fn new(options: &S3Options) -> Result<Self, BlobError> {
        let prefix = checked_prefix(&options.prefix)?;
        let mut builder = match &options.credentials {
            // The chain reads the AWS_* environment (keys, web identity,
            // container credentials) and falls back to instance metadata.
            S3Credentials::Chain => AmazonS3Builder::from_env(),
            S3Credentials::Static {
                access_key_id,
                secret_access_key,
                session_token,
            } => {
                let builder = AmazonS3Builder::new()
                    .with_access_key_id(access_key_id.expose_secret())
                    .with_secret_access_key(secret_access_key.expose_secret());
                match session_token {
                    Some(token) => builder.with_token(token.expose_secret()),
                    None => builder,
                }
            }
        };
        let mut client = ClientOptions::new()
            .with_timeout(options.request_timeout)
            .with_connect_timeout(options.connect_timeout);
        if let Some(endpoint) = &options.endpoint {
            client = client.with_allow_http(endpoint.starts_with("http://"));
            builder = builder.with_endpoint(endpoint.trim_end_matches('/'));
        }
        builder = builder
            .with_bucket_name(&options.bucket)
            .with_region(&options.region)
            .with_virtual_hosted_style_request(!options.path_style)
            .with_client_options(client)
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: options.max_retries,
                retry_timeout: options.request_timeout.saturating_mul(2),
            });
        let store = builder
            .build()
            .map_err(|e| BlobError::Config(e.to_string()))?;
        let under = |name: &str| match &prefix {
            Some(prefix) => Path::from(format!("{prefix}/{name}")),
            None => Path::from(name),
        };
        Ok(Self {
            store: Arc::new(store),
            blobs: under("sha256"),
            probe: under("ready.probe"),
            bucket: options.bucket.clone(),
        })
    }

    /// The object key of the blob behind `r` (after validating `r`).
    pub fn key_of(&self, r: &BlobRef) -> Result<String, BlobError> {
        Ok(self.path_of(parse_ref(r)?).to_string())
    }

    fn path_of(&self, hex_part: &str) -> Path {
        self.blobs.clone().join(&hex_part[..2]).join(hex_part)
    }

    /// Deletes objects under the prefix last modified more than `age` ago;
    /// each is re-checked (HEAD) right before its DELETE.
    pub async fn purge_older_than(&self, age: Duration) -> Result<PurgeReport, BlobError> {
        let cutoff = crate::retention::cutoff(age);
        let mut report = PurgeReport::default();
        let mut listing = self.store.list(Some(&self.blobs));
        while let Some(meta) = listing
            .try_next()
            .await
            .map_err(|e| classify("list blobs", e))?
        {
            if SystemTime::from(meta.last_modified) >= cutoff {
                continue;
            }
            let current = match self.store.head(&meta.location).await {
                Ok(current) => current,
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(e) => return Err(classify("check blob", e)),
            };
            if SystemTime::from(current.last_modified) >= cutoff {
                continue; // stored again since the listing
            }
            match self.store.delete(&meta.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {
                    report.files += 1;
                    report.bytes += current.size;
                }
                Err(e) => return Err(classify("delete blob", e)),
            }
        }
        Ok(report)
    }
}

/// `a/b/c` from the configured prefix (slashes at the ends trimmed); each
/// segment must be a plain name.
/// True when `prefix` (leading and trailing `/` ignored) is empty or made of
/// segments of letters, digits, `-`, `_` and `.` separated by `/` (no `.` or
/// `..` segment): the one rule for `blob.s3.prefix`, used by the config check too.
pub fn is_valid_prefix(prefix: &str) -> bool {
    let plain = |segment: &str| {
        !segment.is_empty()
            && segment != "."
            && segment != ".."
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    let trimmed = prefix.trim_matches('/');
    trimmed.is_empty() || trimmed.split('/').all(plain)
}

fn checked_prefix(prefix: &str) -> Result<Option<String>, BlobError> {
    if !is_valid_prefix(prefix) {
        return Err(BlobError::Config(format!(
            "prefix {prefix:?}: segments of letters, digits, '-', '_' and '.' separated by '/'"
        )));
    }
    let trimmed = prefix.trim_matches('/');
    Ok((!trimmed.is_empty()).then(|| trimmed.to_owned()))
}

/// Maps an object store error to the blob store's kinds (a missing object is
/// handled by the callers, where it means different things).
fn classify(operation: &'static str, error: object_store::Error) -> BlobError {
    use object_store::Error as E;
    match error {
        E::Generic { .. } | E::JoinError { .. } => BlobError::Unavailable {
            operation,
            message: error.to_string(),
        },
        // The response body may quote the access key id: say what to check instead.
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => BlobError::Rejected {
            operation,
            message: "access denied: check the blob.s3 credentials and the bucket's policy".into(),
        },
        E::NotFound { .. } => BlobError::Rejected {
            operation,
            message: "not found: check that the bucket exists".into(),
        },
        other => BlobError::Rejected {
            operation,
            message: other.to_string(),
        },
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, bytes: &[u8]) -> Result<BlobRef, BlobError> {
        let blob_ref = content_ref(bytes);
        let path = self.path_of(parse_ref(&blob_ref)?);
        self.store
            .put(&path, PutPayload::from(bytes.to_vec()))
            .await
            .map_err(|e| classify("put blob", e))?;
        tracing::debug!(blob = %blob_ref.as_str(), "blob stored");
        Ok(blob_ref)
    }

    async fn get(&self, r: &BlobRef) -> Result<Vec<u8>, BlobError> {
        let hex_part = parse_ref(r)?;
        let path = self.path_of(hex_part);
        let result = match self.store.get(&path).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(BlobError::NotFound(r.as_str().to_owned()));
            }
            Err(e) => return Err(classify("get blob", e)),
        };
        let bytes = result.bytes().await.map_err(|e| classify("read blob", e))?;
        if sha256_hex(&bytes) != hex_part {
            return Err(BlobError::Corrupt(r.as_str().to_owned()));
        }
        Ok(bytes.to_vec())
    }

    async fn exists(&self, r: &BlobRef) -> Result<bool, BlobError> {
        let path = self.path_of(parse_ref(r)?);
        match self.store.head(&path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(classify("check blob", e)),
        }
    }

    async fn check_ready(&self) -> Result<(), BlobError> {
        self.store
            .put(&self.probe, PutPayload::from_static(b""))
            .await
            .map_err(|e| classify("write probe", e))?;
        Ok(())
    }

    async fn purge_older_than(&self, age: Duration) -> Result<PurgeReport, BlobError> {
        S3BlobStore::purge_older_than(self, age).await
    }

    fn backend(&self) -> &'static str {
        "s3"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_plain_segments() {
        assert_eq!(checked_prefix("").unwrap(), None);
        assert_eq!(checked_prefix("/").unwrap(), None);
        assert_eq!(
            checked_prefix("/intake/blobs/").unwrap().as_deref(),
            Some("intake/blobs")
        );
        for bad in ["a//b", "../x", "a/./b", "sp ace", "a/b?c"] {
            assert!(
                matches!(checked_prefix(bad), Err(BlobError::Config(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn keys_follow_the_local_layout_under_the_prefix() {
        let mut options = S3Options::new("bucket");
        options.endpoint = Some("http://127.0.0.1:1".into());
        options.prefix = "intake/blobs".into();
        options.path_style = true;
        let store = S3BlobStore::new(&options).unwrap();
        let r = content_ref(b"abc");
        let hex = parse_ref(&r).unwrap();
        assert_eq!(
            store.key_of(&r).unwrap(),
            format!("intake/blobs/sha256/ba/{hex}")
        );
        assert!(matches!(
            store.key_of(&BlobRef("sha256/../x".into())),
            Err(BlobError::InvalidRef(_))
        ));
    }

    #[test]
    fn debug_output_hides_the_credentials() {
        let mut options = S3Options::new("bucket");
        options.credentials = S3Credentials::Static {
            access_key_id: SecretString::from("AKIDEXAMPLEKEYID"),
            secret_access_key: SecretString::from("wJalrXUtnFEMIsecret"),
            session_token: Some(SecretString::from("session-token-value")),
        };
        let text = format!("{options:?}");
        for secret in [
            "AKIDEXAMPLEKEYID",
            "wJalrXUtnFEMIsecret",
            "session-token-value",
        ] {
            assert!(!text.contains(secret), "{text}");
        }
        options.endpoint = Some("http://127.0.0.1:1".into());
        let store = S3BlobStore::new(&options).unwrap();
        let text = format!("{store:?}");
        assert!(!text.contains("wJalrXUtnFEMIsecret"), "{text}");
    }
}
