//! The blob store suite against a real S3-compatible server.
//!
//! The server comes from `scripts/test-services` (SeaweedFS): its endpoint in
//! `INTAKE_TEST_S3`, the bucket and an access key in `INTAKE_TEST_S3_BUCKET`,
//! `INTAKE_TEST_S3_ACCESS_KEY_ID` and `INTAKE_TEST_S3_SECRET_ACCESS_KEY`
//! (`eval "$(scripts/test-services env)"`). Without it the tests are skipped,
//! except under CI (`CI` set), where they fail. Each test works under its own
//! random key prefix in the shared bucket.

mod suite;

use std::net::TcpListener;
use std::time::Duration;

use intake_blob::{BlobError, BlobStore, S3BlobStore, S3Credentials, S3Options};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use secrecy::SecretString;

struct Server {
    endpoint: String,
    bucket: String,
    key_id: String,
    secret: String,
}

fn server() -> Option<Server> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    match var("INTAKE_TEST_S3") {
        Some(endpoint) => Some(Server {
            endpoint,
            bucket: var("INTAKE_TEST_S3_BUCKET").expect("INTAKE_TEST_S3_BUCKET"),
            key_id: var("INTAKE_TEST_S3_ACCESS_KEY_ID").expect("INTAKE_TEST_S3_ACCESS_KEY_ID"),
            secret: var("INTAKE_TEST_S3_SECRET_ACCESS_KEY")
                .expect("INTAKE_TEST_S3_SECRET_ACCESS_KEY"),
        }),
        None if std::env::var_os("CI").is_some() => panic!(
            "INTAKE_TEST_S3 is not set under CI: run `scripts/test-services start` \
             and `eval \"$(scripts/test-services env)\"` before the tests"
        ),
        None => {
            eprintln!(
                "skipping s3 test: INTAKE_TEST_S3 is not set \
                 (run `scripts/test-services start s3`, then `eval \"$(scripts/test-services env)\"`)"
            );
            None
        }
    }
}

impl Server {
    fn options(&self, prefix: &str) -> S3Options {
        let mut options = S3Options::new(&self.bucket);
        options.endpoint = Some(self.endpoint.clone());
        options.prefix = prefix.to_owned();
        options.path_style = true;
        options.credentials = S3Credentials::Static {
            access_key_id: SecretString::from(self.key_id.clone()),
            secret_access_key: SecretString::from(self.secret.clone()),
            session_token: None,
        };
        options
    }

    /// A store under a fresh random prefix.
    fn store(&self) -> (S3BlobStore, String) {
        let prefix = format!("tests/{}", uuid::Uuid::new_v4().simple());
        let store = S3BlobStore::new(&self.options(&prefix)).expect("client builds");
        (store, prefix)
    }

    /// The widely used client itself, to look at the bucket from outside.
    fn raw(&self) -> impl ObjectStoreExt {
        AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_bucket_name(&self.bucket)
            .with_region("us-east-1")
            .with_access_key_id(&self.key_id)
            .with_secret_access_key(&self.secret)
            .build()
            .unwrap()
    }
}

#[tokio::test]
async fn put_get_exists_and_content_addressing() {
    let Some(server) = server() else { return };
    let (store, prefix) = server.store();
    suite::put_get_exists_and_content_addressing(&store).await;
    assert_eq!(store.backend(), "s3");

    // The object sits at the local directory's layout under the prefix.
    let bytes = suite::unique("layout");
    let r = store.put(&bytes).await.unwrap();
    let hex = r.as_str().strip_prefix("sha256/").unwrap();
    let key = format!("{prefix}/sha256/{}/{hex}", &hex[..2]);
    assert_eq!(store.key_of(&r).unwrap(), key);
    let stored = server.raw().get(&Path::from(key)).await.unwrap();
    assert_eq!(stored.bytes().await.unwrap().as_ref(), bytes.as_slice());
}

#[tokio::test]
async fn missing_and_invalid_references() {
    let Some(server) = server() else { return };
    suite::missing_and_invalid_references(&server.store().0).await;
}

#[tokio::test]
async fn corruption_is_detected() {
    let Some(server) = server() else { return };
    let (store, _) = server.store();
    let raw = server.raw();
    let keys = store.clone();
    suite::corruption_is_detected(&store, |r, bytes| async move {
        let key = Path::from(keys.key_of(&r).unwrap());
        raw.put(&key, PutPayload::from(bytes)).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn sweep_deletes_old_blobs_and_keeps_those_stored_again() {
    let Some(server) = server() else { return };
    suite::sweep_deletes_old_blobs_and_keeps_those_stored_again(&server.store().0).await;
}

/// The sweep stays inside its prefix: another prefix's blobs survive it.
#[tokio::test]
async fn sweep_stays_inside_its_prefix() {
    let Some(server) = server() else { return };
    let (mine, _) = server.store();
    let (other, _) = server.store();
    let kept = other.put(&suite::unique("other prefix")).await.unwrap();
    let gone = mine.put(&suite::unique("mine")).await.unwrap();
    let stored = std::time::SystemTime::now();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::SystemTime::now() < stored + Duration::from_secs(3) {
        assert!(
            std::time::Instant::now() < deadline,
            "the clock did not move"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let report = mine.purge_older_than(Duration::from_secs(1)).await.unwrap();
    assert_eq!(report.files, 1, "{report:?}");
    assert!(!mine.exists(&gone).await.unwrap());
    assert!(other.exists(&kept).await.unwrap());
}

#[tokio::test]
async fn ready_when_writable() {
    let Some(server) = server() else { return };
    suite::ready_when_writable(&server.store().0).await;
}

/// Nothing listens on the endpoint: connection refused, retryable.
#[tokio::test]
async fn down_is_retryable() {
    let Some(server) = server() else { return };
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut options = server.options("down");
    options.endpoint = Some(format!("http://127.0.0.1:{closed}"));
    options.connect_timeout = Duration::from_secs(2);
    options.request_timeout = Duration::from_secs(5);
    options.max_retries = 1;
    suite::down_is_retryable(&S3BlobStore::new(&options).unwrap()).await;
}

/// Refused credentials and a missing bucket do not pass by retrying.
#[tokio::test]
async fn wrong_credentials_and_missing_bucket_are_not_retryable() {
    let Some(server) = server() else { return };
    let mut options = server.options("denied");
    options.credentials = S3Credentials::Static {
        access_key_id: SecretString::from(server.key_id.clone()),
        secret_access_key: SecretString::from("not-the-secret".to_owned()),
        session_token: None,
    };
    let store = S3BlobStore::new(&options).unwrap();
    let err = store.put(b"x").await.unwrap_err();
    assert!(matches!(err, BlobError::Rejected { .. }), "{err}");
    assert!(!err.is_retryable());
    assert!(!err.to_string().contains("not-the-secret"), "{err}");
    assert!(!store.check_ready().await.unwrap_err().is_retryable());

    let mut options = server.options("nobucket");
    options.bucket = format!("missing-{}", uuid::Uuid::new_v4().simple());
    let store = S3BlobStore::new(&options).unwrap();
    let err = store.put(b"x").await.unwrap_err();
    assert!(matches!(err, BlobError::Rejected { .. }), "{err}");
    assert!(!err.is_retryable());
}
