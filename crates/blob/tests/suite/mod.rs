//! The blob store's behaviour, the same for every backend: content
//! addressing, put/get/exists, a missing or invalid reference, corruption,
//! the retention sweep, and a store that is down.
#![allow(dead_code)]

use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

use intake_blob::{BlobError, BlobRef, BlobStore, content_ref};

/// Every blob this suite stores is unique to the run, so stores shared
/// between runs (one bucket) never see another run's bytes.
pub fn unique(label: &str) -> Vec<u8> {
    format!("{label} {} Счёт 🧾", uuid::Uuid::new_v4()).into_bytes()
}

pub async fn put_get_exists_and_content_addressing(store: &dyn BlobStore) {
    let bytes = unique("attachment");
    assert!(!store.exists(&content_ref(&bytes)).await.unwrap());
    let r = store.put(&bytes).await.unwrap();
    assert_eq!(
        r,
        content_ref(&bytes),
        "the reference is the content's sha256"
    );
    assert!(r.as_str().starts_with("sha256/"));
    assert!(store.exists(&r).await.unwrap());
    assert_eq!(store.get(&r).await.unwrap(), bytes);
    // Idempotent: the same bytes give the same reference.
    assert_eq!(store.put(&bytes).await.unwrap(), r);
    assert_eq!(store.get(&r).await.unwrap(), bytes);

    // Different bytes, different reference; the empty blob is a blob too.
    let other = unique("other");
    let other_ref = store.put(&other).await.unwrap();
    assert_ne!(other_ref, r);
    assert_eq!(store.get(&other_ref).await.unwrap(), other);
    let empty = store.put(b"").await.unwrap();
    assert_eq!(store.get(&empty).await.unwrap(), Vec::<u8>::new());

    // A blob of a few MiB (a typical attachment) round-trips unchanged.
    let large: Vec<u8> = (0..3 * 1024 * 1024 + 7).map(|i| (i % 251) as u8).collect();
    let large_ref = store.put(&large).await.unwrap();
    assert_eq!(store.get(&large_ref).await.unwrap(), large);
}

pub async fn missing_and_invalid_references(store: &dyn BlobStore) {
    let missing = content_ref(&unique("never stored"));
    let err = store.get(&missing).await.unwrap_err();
    assert!(matches!(err, BlobError::NotFound(_)), "{err}");
    assert!(
        !err.is_retryable(),
        "a missing blob does not appear by retrying"
    );
    assert!(!store.exists(&missing).await.unwrap());

    for bad in ["sha256/../../etc/passwd", "md5/abc", "", "sha256/ABC"] {
        let r = BlobRef(bad.to_owned());
        let err = store.get(&r).await.unwrap_err();
        assert!(matches!(err, BlobError::InvalidRef(_)), "{bad:?}: {err}");
        assert!(!err.is_retryable());
        assert!(matches!(
            store.exists(&r).await,
            Err(BlobError::InvalidRef(_))
        ));
    }
}

/// `tamper` replaces the stored bytes behind a reference with others.
pub async fn corruption_is_detected<F, Fut>(store: &dyn BlobStore, tamper: F)
where
    F: FnOnce(BlobRef, Vec<u8>) -> Fut,
    Fut: Future<Output = ()>,
{
    let r = store.put(&unique("original")).await.unwrap();
    tamper(r.clone(), b"tampered".to_vec()).await;
    let err = store.get(&r).await.unwrap_err();
    assert!(matches!(err, BlobError::Corrupt(_)), "{err}");
    assert!(!err.is_retryable());
}

/// Two blobs are stored, the clock moves on, one is stored again; a sweep
/// whose cutoff falls between the two times deletes the first only. Waits on
/// the clock (bounded), asserts nothing about durations.
pub async fn sweep_deletes_old_blobs_and_keeps_those_stored_again(store: &dyn BlobStore) {
    let old = store.put(&unique("old")).await.unwrap();
    let reused_bytes = unique("reused");
    let reused = store.put(&reused_bytes).await.unwrap();
    // S3 times have a resolution of one second: let three pass.
    let first = SystemTime::now();
    let deadline = Instant::now() + Duration::from_secs(30);
    while SystemTime::now() < first + Duration::from_secs(3) {
        assert!(Instant::now() < deadline, "the clock did not move");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stored_again_at = SystemTime::now();
    assert_eq!(store.put(&reused_bytes).await.unwrap(), reused);
    let fresh = store.put(&unique("fresh")).await.unwrap();

    // The cutoff lies 1.5 s before the second puts, after the first ones.
    let cutoff = stored_again_at - Duration::from_millis(1500);
    let age = SystemTime::now().duration_since(cutoff).unwrap();
    let report = store.purge_older_than(age).await.unwrap();
    assert!(report.files >= 1, "{report:?}");
    assert!(!store.exists(&old).await.unwrap(), "the old blob is gone");
    assert!(matches!(store.get(&old).await, Err(BlobError::NotFound(_))));
    assert_eq!(store.get(&reused).await.unwrap(), reused_bytes);
    assert!(store.exists(&fresh).await.unwrap());

    // Nothing is younger than a day's age: a second sweep deletes nothing.
    let report = store
        .purge_older_than(Duration::from_secs(86_400))
        .await
        .unwrap();
    assert_eq!(report.files, 0, "{report:?}");
    assert!(store.exists(&reused).await.unwrap());
}

pub async fn ready_when_writable(store: &dyn BlobStore) {
    store.check_ready().await.unwrap();
}

/// A store that cannot be reached: every call fails retryable (the gateway
/// answers 503, the router retries), and readiness says so.
pub async fn down_is_retryable(store: &dyn BlobStore) {
    let err = store.put(b"anything").await.unwrap_err();
    assert!(err.is_retryable(), "put: {err}");
    let err = store.check_ready().await.unwrap_err();
    assert!(err.is_retryable(), "check_ready: {err}");
    let r = content_ref(b"anything");
    let err = store.get(&r).await.unwrap_err();
    assert!(err.is_retryable(), "get: {err}");
    assert!(!matches!(err, BlobError::NotFound(_)));
    let err = store.exists(&r).await.unwrap_err();
    assert!(err.is_retryable(), "exists: {err}");
}
