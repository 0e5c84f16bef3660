//! The blob store's retention task: hourly, delete blobs not stored again
//! for longer than `blob.retention_days`.

use std::time::Duration;

use intake_blob::{LocalDirBlobStore, PurgeReport};
use tokio_util::sync::CancellationToken;

/// How often the blob directory is swept.
const SWEEP_INTERVAL: Duration = Duration::from_secs(3600);

/// Sweeps once at start, then every [`SWEEP_INTERVAL`], until `shutdown`.
pub(crate) async fn run(
    store: LocalDirBlobStore,
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
