//! Retention of the local blob store: attachments and raw payloads are
//! personal data, needed until the router has made the ticket (and for
//! replays from the dead-letter queue), not forever.
//!
//! The sweep lists the files and their times without locks; for each file
//! that looks old it takes the file's exclusive lock (a put that refreshes a
//! blob holds the shared one), re-reads the time under the lock and deletes
//! only when the file is still old and still the one at that path. A put of
//! the same bytes either refreshed the time first (the file stays) or finds
//! the file gone after the sweep and writes it anew (see `local.rs`).

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
        tokio::task::spawn_blocking(move || purge(&root, cutoff(age), &|_| {}))
            .await
            .map_err(crate::local::join_error)?
    }
}

/// The time before which a blob counts as old.
pub(crate) fn cutoff(age: Duration) -> SystemTime {
    SystemTime::now()
        .checked_sub(age)
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// Deletes what was last written before `cutoff`. `before_delete` runs for
/// each file found old, between reading its age and deleting it (tests use
/// it to store the same bytes exactly there).
pub(crate) fn purge(
    root: &Path,
    cutoff: SystemTime,
    before_delete: &dyn Fn(&Path),
) -> Result<PurgeReport, BlobError> {
    let mut report = PurgeReport::default();
    let sha_dir = root.join("sha256");
    for shard in read_dir_or_empty(&sha_dir)? {
        let shard = shard.map_err(io_error)?.path();
        if shard.is_dir() {
            purge_files(&shard, cutoff, &mut report, before_delete)?;
        }
    }
    purge_files(&root.join("tmp"), cutoff, &mut report, before_delete)?;
    Ok(report)
}

fn purge_files(
    dir: &Path,
    cutoff: SystemTime,
    report: &mut PurgeReport,
    before_delete: &dyn Fn(&Path),
) -> Result<(), BlobError> {
    for entry in read_dir_or_empty(dir)? {
        let entry = entry.map_err(io_error)?;
        let metadata = entry.metadata().map_err(io_error)?;
        if !metadata.is_file() || metadata.modified().map_err(io_error)? >= cutoff {
            continue;
        }
        let path = entry.path();
        before_delete(&path);
        if let Some(bytes) = delete_if_still_old(&path, cutoff).map_err(io_error)? {
            report.files += 1;
            report.bytes += bytes;
        }
    }
    Ok(())
}

/// Deletes `path` if, under its exclusive lock, it is still older than
/// `cutoff` and still the file at that path; returns its size when deleted.
fn delete_if_still_old(path: &Path, cutoff: SystemTime) -> io::Result<Option<u64>> {
    let file = match fs::File::open(path) {
        Ok(file) => file,
        // Removed meanwhile (another process sweeping the same directory).
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    file.lock()?;
    let metadata = file.metadata()?;
    if metadata.modified()? >= cutoff || !crate::local::still_linked(&file, path)? {
        // Stored again, replaced or removed since the listing.
        return Ok(None);
    }
    match fs::remove_file(path) {
        Ok(()) => Ok(Some(metadata.len())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
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
    use std::cell::Cell;

    use super::*;
    use crate::BlobStore;
    use crate::local::write_atomically;

    const DAY: Duration = Duration::from_secs(24 * 3600);

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

    /// Point 8 of issue 8, one side: the sweep has read the blob's age (old)
    /// when the same bytes are stored again, before it deletes. The old sweep
    /// deleted the file the put had just refreshed and returned a reference to.
    #[test]
    fn a_put_between_the_age_check_and_the_delete_keeps_the_blob() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let bytes = b"attachment sent again";
        let r = write_atomically(root, bytes, &|| {}).unwrap();
        let path = LocalDirBlobStore::new(root).path_of(&r).unwrap();
        age_file(&path, 40 * DAY);

        let stored_again = Cell::new(None);
        let report = purge(root, cutoff(30 * DAY), &|seen| {
            if seen == path {
                stored_again.set(Some(write_atomically(root, bytes, &|| {}).unwrap()));
            }
        })
        .unwrap();
        assert_eq!(stored_again.take(), Some(r), "the put ran inside the sweep");
        assert_eq!(report, PurgeReport::default(), "nothing may be deleted");
        assert_eq!(fs::read(&path).unwrap(), bytes);
    }

    /// The other side: a put has found the blob and is about to refresh it
    /// when a whole sweep runs and deletes it. The put must notice and write
    /// the blob again (the old put failed with an i/o error, or refreshed a
    /// file that was gone).
    #[test]
    fn a_sweep_between_finding_the_blob_and_refreshing_it_makes_the_put_write_it_again() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let bytes = b"attachment sent again";
        let r = write_atomically(root, bytes, &|| {}).unwrap();
        let path = LocalDirBlobStore::new(root).path_of(&r).unwrap();
        age_file(&path, 40 * DAY);

        let swept = Cell::new(None);
        let again = write_atomically(root, bytes, &|| {
            swept.set(Some(purge(root, cutoff(30 * DAY), &|_| {}).unwrap()));
        })
        .unwrap();
        assert_eq!(
            swept.get().map(|r| r.files),
            Some(1),
            "the sweep ran inside the put"
        );
        assert_eq!(again, r);
        assert_eq!(fs::read(&path).unwrap(), bytes);
        let modified = fs::metadata(&path).unwrap().modified().unwrap();
        assert!(modified >= cutoff(30 * DAY), "the blob is new again");
    }

    /// Many puts and sweeps of the same old blob in two threads: after each
    /// round the blob every put returned is there (bounded: 200 rounds).
    #[test]
    fn concurrent_puts_and_sweeps_never_lose_a_returned_blob() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let bytes = b"busy attachment";
        let path = LocalDirBlobStore::new(&root)
            .path_of(&crate::content_ref(bytes))
            .unwrap();
        for round in 0..200 {
            write_atomically(&root, bytes, &|| {}).unwrap();
            age_file(&path, 40 * DAY);
            let sweeper = {
                let root = root.clone();
                std::thread::spawn(move || purge(&root, cutoff(30 * DAY), &|_| {}).unwrap())
            };
            write_atomically(&root, bytes, &|| {}).unwrap();
            let report = sweeper.join().unwrap();
            // Whatever the order, the put came last: its blob must be there.
            assert!(path.is_file(), "round {round}: blob gone ({report:?})");
        }
    }

    #[tokio::test]
    async fn an_empty_or_missing_store_purges_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDirBlobStore::new(dir.path().join("not-yet-created"));
        let report = store.purge_older_than(Duration::ZERO).await.unwrap();
        assert_eq!(report, PurgeReport::default());
    }
}
