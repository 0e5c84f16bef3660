//! `attach_raw` and `read_raw`: the raw payload inline or in the blob store.

use intake_blob::{BlobError, LocalDirBlobStore};
use intake_channel::testing::CountingBlobStore;
use intake_channel::{INLINE_EVENT_BUDGET_BYTES, RawPlacement, attach_raw, read_raw};
use intake_event::{Contact, InlineRaw, TicketEvent};

fn event(text: &str) -> TicketEvent {
    let contact = Contact {
        key: "chat:v".into(),
        ..Contact::default()
    };
    TicketEvent::new("chat", "m", contact, text, chrono::Utc::now())
}

#[tokio::test]
async fn small_bodies_go_inline_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = CountingBlobStore::new(LocalDirBlobStore::new(dir.path()));
    let mut e = event("hi");
    let placed = attach_raw(blobs.as_ref(), &mut e, b"{\"a\":1}", 1024)
        .await
        .unwrap();
    assert_eq!(placed, RawPlacement::Inline);
    assert_eq!(blobs.puts(), 0);
    assert_eq!(
        read_raw(blobs.as_ref(), &e).await.unwrap().as_deref(),
        Some(&b"{\"a\":1}"[..])
    );
}

#[tokio::test]
async fn an_event_that_would_grow_too_large_keeps_a_blob_reference() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = CountingBlobStore::new(LocalDirBlobStore::new(dir.path()));
    // Long fields next to a body that is under the threshold.
    let mut e = event(&"y".repeat(INLINE_EVENT_BUDGET_BYTES - 1000));
    let body = vec![b'z'; 4096];
    let placed = attach_raw(blobs.as_ref(), &mut e, &body, 64 * 1024)
        .await
        .unwrap();
    assert_eq!(placed, RawPlacement::Blob);
    assert_eq!(blobs.puts(), 1);
    assert_eq!(e.raw_inline, None);
    assert!(e.raw.is_some());
    assert_eq!(read_raw(blobs.as_ref(), &e).await.unwrap(), Some(body));
}

#[tokio::test]
async fn a_tampered_inline_payload_is_refused_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = LocalDirBlobStore::new(dir.path());
    let mut e = event("hi");
    let mut inline = InlineRaw::new(b"original");
    inline.base64 = InlineRaw::new(b"changed!").base64;
    e.raw_inline = Some(inline);
    let err = read_raw(&blobs, &e).await.unwrap_err();
    assert!(matches!(err, BlobError::Corrupt(_)), "{err}");
    assert_eq!(read_raw(&blobs, &event("none")).await.unwrap(), None);
}
