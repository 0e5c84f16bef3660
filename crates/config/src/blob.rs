//! `[blob]` and `[blob.s3]`: where attachments and raw payloads are kept.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use crate::general::{non_empty, parse_choice};
use crate::secret::{Ctx, SecretRef};

/// `[blob]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBlob {
    /// `local` (a directory on this machine) or `s3` (an S3-compatible
    /// bucket, shared by gateways and routers on different machines).
    #[serde(default = "default_backend")]
    backend: RawBlobBackend,
    /// Directory of the local blob store (attachments, raw messages), for
    /// the `local` backend.
    #[serde(default = "default_blob_dir")]
    dir: PathBuf,
    /// Days a blob is kept after it was last stored; older ones are deleted
    /// hourly. 0 keeps blobs forever.
    #[serde(default = "default_blob_retention_days")]
    retention_days: u64,
    /// Settings of the `s3` backend.
    #[serde(default)]
    s3: RawBlobS3,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "String")]
enum RawBlobBackend {
    Local,
    S3,
}

impl TryFrom<String> for RawBlobBackend {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        parse_choice(&value, &[("local", Self::Local), ("s3", Self::S3)])
    }
}

fn default_backend() -> RawBlobBackend {
    RawBlobBackend::Local
}
fn default_blob_dir() -> PathBuf {
    PathBuf::from("data/blobs")
}
/// 30 days: long enough to replay dead letters, short for personal data.
fn default_blob_retention_days() -> u64 {
    30
}
/// 100 years: anything longer is a typo (use 0 to keep blobs forever).
const MAX_BLOB_RETENTION_DAYS: u64 = 36_500;

impl Default for RawBlob {
    fn default() -> Self {
        Self {
            backend: default_backend(),
            dir: default_blob_dir(),
            retention_days: default_blob_retention_days(),
            s3: RawBlobS3::default(),
        }
    }
}

/// `[blob.s3]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBlobS3 {
    /// `http(s)://host:port` of an S3-compatible store (MinIO, Ceph,
    /// SeaweedFS, ...); empty for AWS S3, whose endpoint follows from the region.
    #[serde(default)]
    endpoint: String,
    /// The bucket's region.
    #[serde(default = "default_region")]
    region: String,
    /// The bucket; it must exist (intake does not create it).
    #[serde(default)]
    bucket: String,
    /// Key prefix inside the bucket (`intake/blobs`); empty for the root.
    #[serde(default)]
    prefix: String,
    /// Path-style requests (`endpoint/bucket/key`), which MinIO, SeaweedFS
    /// and Ceph usually need; false sends `bucket.endpoint/key`.
    #[serde(default)]
    path_style: bool,
    /// Environment variable holding the access key id. Without an access key
    /// (`_env` or `_file`), the standard AWS credential chain is used.
    #[serde(default)]
    access_key_id_env: Option<String>,
    /// File holding the access key id.
    #[serde(default)]
    access_key_id_file: Option<PathBuf>,
    /// Environment variable holding the secret access key.
    #[serde(default)]
    secret_access_key_env: Option<String>,
    /// File holding the secret access key.
    #[serde(default)]
    secret_access_key_file: Option<PathBuf>,
    /// Environment variable holding a session token (temporary credentials).
    #[serde(default)]
    session_token_env: Option<String>,
    /// File holding a session token.
    #[serde(default)]
    session_token_file: Option<PathBuf>,
    /// `sweep`: intake deletes objects not stored again for
    /// `blob.retention_days` (hourly, over the prefix listing); `lifecycle`:
    /// a bucket lifecycle rule expires them and intake deletes nothing.
    #[serde(default = "default_expire_by")]
    expire_by: RawExpireBy,
    /// Seconds one request may take, upload or download included.
    #[serde(default = "default_request_timeout_secs")]
    request_timeout_secs: u64,
    /// Seconds to open a connection to the store.
    #[serde(default = "default_connect_timeout_secs")]
    connect_timeout_secs: u64,
    /// Retries of a failed request (5xx, refused, timeout) before the error
    /// counts (the gateway then answers 503).
    #[serde(default = "default_max_retries")]
    max_retries: u64,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "String")]
enum RawExpireBy {
    Sweep,
    Lifecycle,
}

impl TryFrom<String> for RawExpireBy {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        parse_choice(
            &value,
            &[("sweep", Self::Sweep), ("lifecycle", Self::Lifecycle)],
        )
    }
}

fn default_region() -> String {
    "us-east-1".to_owned()
}
fn default_expire_by() -> RawExpireBy {
    RawExpireBy::Sweep
}
fn default_request_timeout_secs() -> u64 {
    30
}
fn default_connect_timeout_secs() -> u64 {
    5
}
fn default_max_retries() -> u64 {
    2
}
/// More retries only hold a sender's request open longer.
const MAX_RETRIES: u64 = 10;
/// A request deadline past the gateway's own makes no sense.
const MAX_TIMEOUT_SECS: u64 = 600;

impl Default for RawBlobS3 {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            region: default_region(),
            bucket: String::new(),
            prefix: String::new(),
            path_style: false,
            access_key_id_env: None,
            access_key_id_file: None,
            secret_access_key_env: None,
            secret_access_key_file: None,
            session_token_env: None,
            session_token_file: None,
            expire_by: default_expire_by(),
            request_timeout_secs: default_request_timeout_secs(),
            connect_timeout_secs: default_connect_timeout_secs(),
            max_retries: default_max_retries(),
        }
    }
}

/// The blob store.
#[derive(Debug, Clone)]
pub struct BlobConfig {
    /// The local directory (used by the `local` backend).
    pub dir: PathBuf,
    /// How long intake's sweep keeps blobs after they were last stored;
    /// `None` = intake deletes nothing (kept forever, or expired by a bucket
    /// lifecycle rule).
    pub retention: Option<Duration>,
    /// `Some` when `blob.backend = "s3"`.
    pub s3: Option<BlobS3Config>,
}

/// The `s3` backend.
#[derive(Debug, Clone)]
pub struct BlobS3Config {
    /// `None` for AWS S3.
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    /// Without slashes at the ends; empty for the bucket's root.
    pub prefix: String,
    pub path_style: bool,
    /// `None`: the standard AWS credential chain.
    pub access_key: Option<S3AccessKey>,
    /// True when a bucket lifecycle rule expires the objects.
    pub lifecycle_expiry: bool,
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    pub max_retries: usize,
}

/// Static S3 credentials, read from the `*_env` / `*_file` keys.
#[derive(Debug, Clone)]
pub struct S3AccessKey {
    pub access_key_id: SecretString,
    pub secret_access_key: SecretString,
    pub session_token: Option<SecretString>,
}

impl RawBlob {
    pub(crate) fn validate(self, ctx: &mut Ctx<'_>) -> BlobConfig {
        if self.dir.as_os_str().is_empty() {
            ctx.problem("blob.dir", "must not be empty");
        }
        if self.retention_days > MAX_BLOB_RETENTION_DAYS {
            ctx.problem(
                "blob.retention_days",
                format!("must be at most {MAX_BLOB_RETENTION_DAYS} (0 keeps blobs forever)"),
            );
        }
        let mut retention = (self.retention_days > 0).then(|| {
            Duration::from_secs(self.retention_days.min(MAX_BLOB_RETENTION_DAYS) * 86_400)
        });
        let s3 = match self.backend {
            RawBlobBackend::Local => None,
            RawBlobBackend::S3 => Some(self.s3.validate(ctx)),
        };
        if s3.as_ref().is_some_and(|s3| s3.lifecycle_expiry) {
            retention = None;
        }
        BlobConfig {
            dir: self.dir,
            retention,
            s3,
        }
    }
}

impl RawBlobS3 {
    fn validate(self, ctx: &mut Ctx<'_>) -> BlobS3Config {
        let access_key = self.access_key(ctx);
        let endpoint = self.endpoint.trim();
        let endpoint = (!endpoint.is_empty()).then(|| {
            check_endpoint(ctx, endpoint);
            endpoint.trim_end_matches('/').to_owned()
        });
        let region = non_empty(ctx, "blob.s3.region", self.region);
        let bucket = self.bucket.trim().to_owned();
        if bucket.is_empty() {
            ctx.problem("blob.s3.bucket", "required when blob.backend is \"s3\"");
        } else if !valid_bucket(&bucket) {
            ctx.problem(
                "blob.s3.bucket",
                "must be 3 to 63 lower-case letters, digits, '-' and '.'",
            );
        }
        let prefix = self.prefix.trim().trim_matches('/').to_owned();
        if !intake_blob::is_valid_prefix(&prefix) {
            ctx.problem(
                "blob.s3.prefix",
                "must be segments of letters, digits, '-', '_' and '.' separated by '/'",
            );
        }
        let timeout = |ctx: &mut Ctx<'_>, key: &str, secs: u64| {
            if secs == 0 || secs > MAX_TIMEOUT_SECS {
                ctx.problem(key, format!("must be from 1 to {MAX_TIMEOUT_SECS}"));
            }
            Duration::from_secs(secs.clamp(1, MAX_TIMEOUT_SECS))
        };
        let request_timeout = timeout(
            ctx,
            "blob.s3.request_timeout_secs",
            self.request_timeout_secs,
        );
        let connect_timeout = timeout(
            ctx,
            "blob.s3.connect_timeout_secs",
            self.connect_timeout_secs,
        );
        if self.max_retries > MAX_RETRIES {
            ctx.problem(
                "blob.s3.max_retries",
                format!("must be at most {MAX_RETRIES}"),
            );
        }
        BlobS3Config {
            endpoint,
            region,
            bucket,
            prefix,
            path_style: self.path_style,
            access_key,
            lifecycle_expiry: matches!(self.expire_by, RawExpireBy::Lifecycle),
            request_timeout,
            connect_timeout,
            max_retries: self.max_retries.min(MAX_RETRIES) as usize,
        }
    }

    /// Both halves of the key or neither (then the AWS chain); a session
    /// token only with a key.
    fn access_key(&self, ctx: &mut Ctx<'_>) -> Option<S3AccessKey> {
        let id = SecretRef::new(&self.access_key_id_env, &self.access_key_id_file);
        let secret = SecretRef::new(&self.secret_access_key_env, &self.secret_access_key_file);
        let token = SecretRef::new(&self.session_token_env, &self.session_token_file);
        match (id.is_given(), secret.is_given()) {
            (false, false) => {
                if token.is_given() {
                    ctx.problem(
                        "blob.s3.session_token_env",
                        "needs blob.s3.access_key_id_env and blob.s3.secret_access_key_env (or their _file keys)",
                    );
                }
                None
            }
            (true, false) => {
                ctx.problem(
                    "blob.s3.secret_access_key_env",
                    "required with blob.s3.access_key_id (or blob.s3.secret_access_key_file)",
                );
                None
            }
            (false, true) => {
                ctx.problem(
                    "blob.s3.access_key_id_env",
                    "required with blob.s3.secret_access_key (or blob.s3.access_key_id_file)",
                );
                None
            }
            (true, true) => {
                let access_key_id = id.resolve(ctx, "blob.s3.access_key_id");
                let secret_access_key = secret.resolve(ctx, "blob.s3.secret_access_key");
                let session_token = token.resolve(ctx, "blob.s3.session_token");
                Some(S3AccessKey {
                    access_key_id: access_key_id?,
                    secret_access_key: secret_access_key?,
                    session_token,
                })
            }
        }
    }
}

/// The endpoint must be an `http(s)://host[:port]` URL; the message never
/// repeats the value (it may hold user:password by mistake).
fn check_endpoint(ctx: &mut Ctx<'_>, endpoint: &str) {
    const KEY: &str = "blob.s3.endpoint";
    match url::Url::parse(endpoint) {
        Ok(url) if !matches!(url.scheme(), "http" | "https") => {
            ctx.problem(KEY, "must start with http:// or https://");
        }
        Ok(url) if url.host().is_none() => ctx.problem(KEY, "must name a host"),
        Ok(url) if !url.username().is_empty() || url.password().is_some() => ctx.problem(
            KEY,
            "must not hold credentials: use blob.s3.access_key_id_env and blob.s3.secret_access_key_env",
        ),
        Ok(url) if url.path() != "/" || url.query().is_some() => ctx.problem(
            KEY,
            "must be scheme, host and port only (the bucket goes in blob.s3.bucket, keys under blob.s3.prefix)",
        ),
        Ok(_) => {}
        Err(error) => ctx.problem(KEY, format!("is not a URL ({error})")),
    }
}

/// S3's bucket naming rules (the common subset every compatible store accepts).
fn valid_bucket(bucket: &str) -> bool {
    (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.'))
        && bucket
            .bytes()
            .next()
            .zip(bucket.bytes().last())
            .is_some_and(|(first, last)| {
                first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric()
            })
}
