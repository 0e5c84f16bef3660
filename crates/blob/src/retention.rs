//! Retention of the local blob store: attachments and raw payloads are
//! personal data, needed until the router has made the ticket (and for
//! replays from the dead-letter queue), not forever.

use std::fs;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::BlobError;
use crate::local::LocalDirBlobStore;

/// What one purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeReport {
    pub files: u64,
    pub bytes: u64,
}

impl LocalDirBlobStore {
    /// Deletes blobs (and stray temporary files) last written more than `age`
    /// ago. Storing the same content again refreshes its time, so a blob in
    /// use by a recent event is never purged.
    pub async fn purge_older_than(&self, age: Duration) -> Result<PurgeReport, BlobError> {
        let root = self.root().to_path_buf();
        tokio::task::spawn_blocking(move || purge(&root, age))
            .await
            .map_err(crate::local::join_error)?
    }
}

fn purge(root: &Path, age: Duration) -> Result<PurgeReport, BlobError> {
    let cutoff = SystemTime::now()
        .checked_sub(age)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut report = PurgeReport::default();
    let sha_dir = root.join("sha256");
    for shard in read_dir_or_empty(&sha_dir)? {
        let shard = shard.map_err(io_error)?.path();
        if shard.is_dir() {
            purge_files(&shard, cutoff, &mut report)?;
        }
    }
    purge_files(&root.join("tmp"), cutoff, &mut report)?;
    Ok(report)
}

fn purge_files(dir: &Path, cutoff: SystemTime, report: &mut PurgeReport) -> Result<(), BlobError> {
    for entry in read_dir_or_empty(dir)? {
        let entry = entry.map_err(io_error)?;
        let metadata = entry.metadata().map_err(io_error)?;
        if !metadata.is_file() || metadata.modified().map_err(io_error)? >= cutoff {
            continue;
        }
        match fs::remove_file(entry.path()) {
            Ok(()) => {
                report.files += 1;
                report.bytes += metadata.len();
            }
            // Removed meanwhile by another process purging the same directory.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(e)),
        }
    }
    Ok(())
}

fn read_dir_or_empty(dir: &Path) -> Result<Vec<io::Result<fs::DirEntry>>, BlobError> {
    match fs::read_dir(dir) {
        Ok(entries) => Ok(entries.collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io_error(e)),
    }
}

fn io_error(source: io::Error) -> BlobError {
    BlobError::Io {
        operation: "purge old blobs",
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BlobStore;

    fn age_file(path: &Path, by: Duration) {
        let file = fs::File::options().write(true).open(path).unwrap();
        file.set_modified(SystemTime::now() - by).unwrap();
    }

    #[tokio::test]
    async fn old_blobs_go_recent_and_re_stored_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDirBlobStore::new(dir.path());
        let day = Duration::from_secs(24 * 3600);
        let old = store.put(b"old attachment").await.unwrap();
        let reused = store.put(b"old but sent again").await.unwrap();
        let fresh = store.put(b"fresh attachment").await.unwrap();
        age_file(&store.path_of(&old).unwrap(), 40 * day);
        age_file(&store.path_of(&reused).unwrap(), 40 * day);
        // The same content arrives again with a new message: it is in use.
        assert_eq!(store.put(b"old but sent again").await.unwrap(), reused);

        let report = store.purge_older_than(30 * day).await.unwrap();
        assert_eq!(report.files, 1, "{report:?}");
        assert_eq!(report.bytes, b"old attachment".len() as u64);
        assert!(matches!(store.get(&old).await, Err(BlobError::NotFound(_))));
        assert_eq!(store.get(&reused).await.unwrap(), b"old but sent again");
        assert_eq!(store.get(&fresh).await.unwrap(), b"fresh attachment");
    }

    #[tokio::test]
    async fn an_empty_or_missing_store_purges_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDirBlobStore::new(dir.path().join("not-yet-created"));
        let report = store.purge_older_than(Duration::ZERO).await.unwrap();
        assert_eq!(report, PurgeReport::default());
    }
}
