//! Local directory backend: `<root>/sha256/<first two hex>/<hex>`, written
//! through a temporary file in `<root>/tmp/` that is fsynced and renamed into
//! place, so a reader never sees a partial blob and a crash leaves at most a
//! stray temporary file.
//!
//! Storing bytes that are already there refreshes the file's modification
//! time (retention counts from it) under a shared lock (`flock`) on the file;
//! the retention sweep takes the exclusive lock and re-checks the time before
//! it deletes (see `retention.rs`). So a put and a sweep of the same blob are
//! atomic with respect to each other, in one process or several on one
//! machine: either the put refreshed first and the sweep keeps the file, or
//! the sweep deleted first and the put sees it gone and writes it anew.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use intake_event::BlobRef;

use crate::{BlobError, BlobStore, PurgeReport, content_ref, parse_ref, sha256_hex};

/// Blobs in a local directory (the single-machine default).
#[derive(Debug, Clone)]
pub struct LocalDirBlobStore {
    root: Arc<PathBuf>,
}

impl LocalDirBlobStore {
    /// A store rooted at `dir`; directories are created on first write.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            root: Arc::new(dir.into()),
        }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file that holds the blob behind `r` (after validating `r`).
    pub fn path_of(&self, r: &BlobRef) -> Result<PathBuf, BlobError> {
        let hex_part = parse_ref(r)?;
        Ok(blob_path(&self.root, hex_part))
    }
}

fn blob_path(root: &Path, hex_part: &str) -> PathBuf {
    root.join("sha256").join(&hex_part[..2]).join(hex_part)
}

fn io_error(operation: &'static str) -> impl FnOnce(io::Error) -> BlobError {
    move |source| BlobError::Io { operation, source }
}

pub(crate) fn join_error(e: tokio::task::JoinError) -> BlobError {
    BlobError::Io {
        operation: "blocking task",
        source: io::Error::other(e.to_string()),
    }
}

/// Flushes a directory entry change (create, rename) to disk.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Stores `bytes` under their content address. `before_refresh` runs when the
/// blob is already there, between opening it and locking it (tests use it to
/// run a sweep exactly there).
pub(crate) fn write_atomically(
    root: &Path,
    bytes: &[u8],
    before_refresh: &dyn Fn(),
) -> Result<BlobRef, BlobError> {
    let blob_ref = content_ref(bytes);
    let hex_part = parse_ref(&blob_ref)?.to_owned();
    let target = blob_path(root, &hex_part);
    if refresh_existing(&target, before_refresh)? {
        return Ok(blob_ref);
    }
    let tmp_dir = root.join("tmp");
    fs::create_dir_all(&tmp_dir).map_err(io_error("create tmp dir"))?;
    let tmp_path = tmp_dir.join(format!("{}.tmp", uuid::Uuid::new_v4()));
    let result = (|| {
        let mut file = File::create_new(&tmp_path).map_err(io_error("create tmp file"))?;
        file.write_all(bytes).map_err(io_error("write tmp file"))?;
        file.sync_all().map_err(io_error("fsync tmp file"))?;
        drop(file);
        let shard = target.parent().expect("blob path has a shard directory");
        fs::create_dir_all(shard).map_err(io_error("create shard dir"))?;
        fs::rename(&tmp_path, &target).map_err(io_error("rename into place"))?;
        sync_dir(shard).map_err(io_error("fsync shard dir"))?;
        Ok(blob_ref)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp_path);
    }
    result
}

/// Makes an existing blob new again for retention: stored again, it is in use
/// by a new event. False when there is none, or when the sweep deleted it
/// before the lock was had: then the caller writes it anew.
fn refresh_existing(target: &Path, before_refresh: &dyn Fn()) -> Result<bool, BlobError> {
    let file = match File::options().write(true).open(target) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io_error("open blob")(e)),
    };
    before_refresh();
    file.lock_shared().map_err(io_error("lock blob"))?;
    if !still_linked(&file, target).map_err(io_error("check blob"))? {
        return Ok(false);
    }
    file.set_modified(SystemTime::now())
        .map_err(io_error("refresh blob time"))?;
    Ok(true)
}

/// True when `path` still names the file `file` was opened from (not deleted
/// or replaced since).
pub(crate) fn still_linked(file: &File, path: &Path) -> io::Result<bool> {
    let opened = file.metadata()?;
    match fs::metadata(path) {
        Ok(current) => Ok(same_file(&opened, &current)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(unix)]
fn same_file(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

/// Without inode numbers the check cannot be made; the lock still orders a
/// put's refresh before or after a sweep's re-check.
#[cfg(not(unix))]
fn same_file(_: &fs::Metadata, _: &fs::Metadata) -> bool {
    true
}

fn read_verified(path: &Path, blob_ref: &BlobRef, hex_part: &str) -> Result<Vec<u8>, BlobError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(BlobError::NotFound(blob_ref.as_str().to_owned()));
        }
        Err(e) => return Err(io_error("read blob")(e)),
    };
    if sha256_hex(&bytes) != hex_part {
        return Err(BlobError::Corrupt(blob_ref.as_str().to_owned()));
    }
    Ok(bytes)
}

fn probe_writable(root: &Path) -> Result<(), BlobError> {
    let tmp_dir = root.join("tmp");
    fs::create_dir_all(&tmp_dir).map_err(io_error("create tmp dir"))?;
    let probe = tmp_dir.join(format!("ready-{}.probe", uuid::Uuid::new_v4()));
    File::create_new(&probe).map_err(io_error("create probe file"))?;
    fs::remove_file(&probe).map_err(io_error("remove probe file"))
}

#[async_trait]
impl BlobStore for LocalDirBlobStore {
    async fn put(&self, bytes: &[u8]) -> Result<BlobRef, BlobError> {
        let root = Arc::clone(&self.root);
        let bytes = bytes.to_vec();
        let blob_ref = tokio::task::spawn_blocking(move || write_atomically(&root, &bytes, &|| {}))
            .await
            .map_err(join_error)??;
        tracing::debug!(blob = %blob_ref.as_str(), "blob stored");
        Ok(blob_ref)
    }

    async fn get(&self, r: &BlobRef) -> Result<Vec<u8>, BlobError> {
        let hex_part = parse_ref(r)?.to_owned();
        let path = blob_path(&self.root, &hex_part);
        let blob_ref = r.clone();
        tokio::task::spawn_blocking(move || read_verified(&path, &blob_ref, &hex_part))
            .await
            .map_err(join_error)?
    }

    async fn exists(&self, r: &BlobRef) -> Result<bool, BlobError> {
        let path = self.path_of(r)?;
        tokio::task::spawn_blocking(move || match fs::metadata(&path) {
            Ok(metadata) => Ok(metadata.is_file()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_error("check blob")(e)),
        })
        .await
        .map_err(join_error)?
    }

    async fn check_ready(&self) -> Result<(), BlobError> {
        let root = Arc::clone(&self.root);
        tokio::task::spawn_blocking(move || probe_writable(&root))
            .await
            .map_err(join_error)?
    }

    async fn purge_older_than(&self, age: std::time::Duration) -> Result<PurgeReport, BlobError> {
        LocalDirBlobStore::purge_older_than(self, age).await
    }

    fn backend(&self) -> &'static str {
        "local"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_then_get_round_trips_and_is_content_addressed() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDirBlobStore::new(dir.path());
        let bytes = "Счёт 🧾 attached".as_bytes();
        let r = store.put(bytes).await.unwrap();
        assert_eq!(r, content_ref(bytes));
        let path = store.path_of(&r).unwrap();
        assert!(path.starts_with(dir.path().join("sha256")));
        assert_eq!(fs::read(&path).unwrap(), bytes);
        assert_eq!(store.get(&r).await.unwrap(), bytes);

        // Idempotent: same bytes, same ref, no temporary files left behind.
        assert_eq!(store.put(bytes).await.unwrap(), r);
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("tmp")).unwrap().collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[tokio::test]
    async fn empty_blob_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDirBlobStore::new(dir.path());
        let r = store.put(b"").await.unwrap();
        assert_eq!(store.get(&r).await.unwrap(), Vec::<u8>::new());
    }

    #[tokio::test]
    async fn missing_traversing_and_corrupt_blobs_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDirBlobStore::new(dir.path());

        let missing = content_ref(b"never stored");
        assert!(matches!(
            store.get(&missing).await,
            Err(BlobError::NotFound(_))
        ));

        fs::write(dir.path().join("secret.txt"), b"x").unwrap();
        let traversal = BlobRef("sha256/../../secret.txt".into());
        assert!(matches!(
            store.get(&traversal).await,
            Err(BlobError::InvalidRef(_))
        ));

        let r = store.put(b"original").await.unwrap();
        fs::write(store.path_of(&r).unwrap(), b"tampered").unwrap();
        let err = store.get(&r).await.unwrap_err();
        assert!(matches!(err, BlobError::Corrupt(_)), "{err}");
    }

    #[tokio::test]
    async fn readiness_reports_unwritable_root() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDirBlobStore::new(dir.path().join("blobs"));
        store.check_ready().await.unwrap();

        // A root that is a regular file can never hold blobs.
        let file = dir.path().join("not-a-dir");
        fs::write(&file, b"x").unwrap();
        let broken = LocalDirBlobStore::new(&file);
        let err = broken.check_ready().await.unwrap_err();
        assert!(err.is_retryable(), "{err}");
        assert!(broken.put(b"data").await.is_err());
    }
}
