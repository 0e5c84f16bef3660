//! The blob store suite against the local directory backend.

mod suite;

use intake_blob::{BlobStore, LocalDirBlobStore};

fn store() -> (tempfile::TempDir, LocalDirBlobStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalDirBlobStore::new(dir.path().join("blobs"));
    (dir, store)
}

#[tokio::test]
async fn put_get_exists_and_content_addressing() {
    let (_dir, store) = store();
    suite::put_get_exists_and_content_addressing(&store).await;
    assert_eq!(store.backend(), "local");
}

#[tokio::test]
async fn missing_and_invalid_references() {
    let (_dir, store) = store();
    suite::missing_and_invalid_references(&store).await;
}

#[tokio::test]
async fn corruption_is_detected() {
    let (_dir, store) = store();
    let path_store = store.clone();
    suite::corruption_is_detected(&store, |r, bytes| async move {
        std::fs::write(path_store.path_of(&r).unwrap(), bytes).unwrap();
    })
    .await;
}

#[tokio::test]
async fn sweep_deletes_old_blobs_and_keeps_those_stored_again() {
    let (_dir, store) = store();
    suite::sweep_deletes_old_blobs_and_keeps_those_stored_again(&store).await;
}

#[tokio::test]
async fn ready_when_writable() {
    let (_dir, store) = store();
    suite::ready_when_writable(&store).await;
}

/// The local store "down": its root is a regular file, nothing can be
/// written or read below it.
#[tokio::test]
async fn down_is_retryable() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    suite::down_is_retryable(&LocalDirBlobStore::new(&file)).await;
}
