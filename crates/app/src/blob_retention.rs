//! The blob store: the configured backend (`blob.backend`), and its
//! retention task: hourly, delete blobs not stored again for longer than
//! `blob.retention_days` (unless a bucket lifecycle rule does it).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use intake_blob::{
    BlobStore, LocalDirBlobStore, PurgeReport, S3BlobStore, S3Credentials, S3Options,
};
use intake_config::BlobConfig;
use tokio_util::sync::CancellationToken;

/// The blob store `config` names. Makes no request: an S3 store that cannot
/// be reached shows in readiness and as 503s, and recovers by itself.
pub(crate) fn open(config: &BlobConfig) -> anyhow::Result<Arc<dyn BlobStore>> {
    let Some(s3) = &config.s3 else {
        return Ok(Arc::new(LocalDirBlobStore::new(config.dir.clone())));
    };
    let credentials = match &s3.access_key {
        Some(key) => S3Credentials::Static {
            access_key_id: key.access_key_id.clone(),
            secret_access_key: key.secret_access_key.clone(),
            session_token: key.session_token.clone(),
        },
        None => S3Credentials::Chain,
    };
    let options = S3Options {
        endpoint: s3.endpoint.clone(),
        region: s3.region.clone(),
        bucket: s3.bucket.clone(),
        prefix: s3.prefix.clone(),
        path_style: s3.path_style,
        credentials,
        request_timeout: s3.request_timeout,
        connect_timeout: s3.connect_timeout,
        max_retries: s3.max_retries,
    };
    let store = S3BlobStore::new(&options).context("cannot set up the S3 blob store (blob.s3)")?;
    Ok(Arc::new(store))
}

/// How often the blob store is swept.
const SWEEP_INTERVAL: Duration = Duration::from_secs(3600);

/// Sweeps once at start, then every [`SWEEP_INTERVAL`], until `shutdown`.
pub(crate) async fn run(
    store: Arc<dyn BlobStore>,
    retention: Duration,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    loop {
        match store.purge_older_than(retention).await {
            Ok(report) => BlobsPurged { report }.emit(),
            Err(error) => BlobPurgeFailed { error: &error }.emit(),
        }
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(SWEEP_INTERVAL) => {}
        }
    }
}

/// One sweep finished.
struct BlobsPurged {
    report: PurgeReport,
}

impl BlobsPurged {
    fn emit(self) {
        if self.report.files > 0 {
            tracing::info!(
                files = self.report.files,
                bytes = self.report.bytes,
                "old blobs purged"
            );
        } else {
            tracing::debug!("no blobs old enough to purge");
        }
        metrics::counter!("intake_blobs_purged_total").increment(self.report.files);
    }
}

/// One sweep failed (it is tried again at the next interval).
struct BlobPurgeFailed<'a> {
    error: &'a intake_blob::BlobError,
}

impl BlobPurgeFailed<'_> {
    fn emit(self) {
        tracing::warn!(error = %self.error, "blob purge failed");
        metrics::counter!("intake_blob_purge_failures_total").increment(1);
    }
}
