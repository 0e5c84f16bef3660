//! Where the raw body goes: inside the event for a small message (no blob
//! write at all before the 202), in the blob store for a large one.

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use intake_blob::{BlobStore, LocalDirBlobStore, sha256_hex};
use intake_bus::Topics;
use intake_channel::testing::{CountingBlobStore, RecordingPublisher};
use intake_channel::{ChannelContext, HttpChannel, read_raw};
use intake_channel_chat::{ChatChannel, ChatOptions};
use intake_event::{RawPayload, TicketEvent};

mod common;
use common::{options, send, signed};

struct Harness {
    app: Router,
    publisher: Arc<RecordingPublisher>,
    blobs: Arc<CountingBlobStore<LocalDirBlobStore>>,
    dir: tempfile::TempDir,
}

impl Harness {
    fn new(options: ChatOptions) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let blobs = CountingBlobStore::new(LocalDirBlobStore::new(dir.path().join("blobs")));
        let publisher = RecordingPublisher::new();
        let ctx = ChannelContext {
            publisher: publisher.clone(),
            topics: Topics::new("intake"),
            blobs: blobs.clone(),
        };
        let channel = Arc::new(ChatChannel::new(options).unwrap());
        Self {
            app: channel.routes(ctx),
            publisher,
            blobs,
            dir,
        }
    }

    fn event(&self) -> TicketEvent {
        let records = self.publisher.records();
        assert_eq!(records.len(), 1);
        TicketEvent::from_json(&records[0].payload).unwrap()
    }

    /// Files under the blob directory.
    fn blob_files(&self) -> usize {
        let root = self.dir.path().join("blobs");
        if !root.exists() {
            return 0;
        }
        walk(&root)
    }
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            if path.is_dir() { walk(&path) } else { 1 }
        })
        .sum()
}

const MESSAGE: &str =
    r#"{"conversation_id":"c-1","author":{"id":"v-1"},"text":"Where is my order?"}"#;

#[tokio::test]
async fn a_message_without_attachments_writes_no_blob() {
    let h = Harness::new(options());
    let (status, _, answer) = send(&h.app, signed("msg_small", MESSAGE)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");

    assert_eq!(h.blobs.puts(), 0, "no blob write for a small message");
    assert_eq!(h.blob_files(), 0, "the blob directory stays empty");
    let event = h.event();
    assert_eq!(event.raw, None);
    let inline = event.raw_inline.as_ref().expect("raw payload inline");
    assert_eq!(inline.sha256, sha256_hex(MESSAGE.as_bytes()));
    assert_eq!(inline.size, MESSAGE.len() as u64);
    assert_eq!(inline.decode().unwrap(), MESSAGE.as_bytes());
    let read = read_raw(h.blobs.as_ref(), &event).await.unwrap();
    assert_eq!(read.as_deref(), Some(MESSAGE.as_bytes()));
}

#[tokio::test]
async fn a_body_over_the_threshold_goes_to_the_blob_store() {
    // Unknown fields are ignored by the adapter but kept in the raw body.
    let padding = "x".repeat(intake_channel::DEFAULT_RAW_INLINE_MAX_BYTES);
    let body = format!(
        r#"{{"conversation_id":"c-2","author":{{"id":"v-2"}},"text":"big","padding":"{padding}"}}"#
    );
    let h = Harness::new(options());
    let (status, _, answer) = send(&h.app, signed("msg_big", &body)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");

    assert_eq!(h.blobs.puts(), 1);
    assert_eq!(h.blob_files(), 1);
    let event = h.event();
    assert_eq!(event.raw_inline, None, "too large to travel inline");
    let Some(RawPayload::Blob(r)) = event.raw_payload() else {
        panic!("blob reference expected");
    };
    assert_eq!(h.blobs.get(r).await.unwrap(), body.as_bytes());
    let read = read_raw(h.blobs.as_ref(), &event).await.unwrap();
    assert_eq!(read.as_deref(), Some(body.as_bytes()));
}

#[tokio::test]
async fn threshold_zero_keeps_every_raw_body_in_the_blob_store() {
    let h = Harness::new(ChatOptions {
        raw_inline_max_bytes: 0,
        ..options()
    });
    let (status, _, answer) = send(&h.app, signed("msg_zero", MESSAGE)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(h.blobs.puts(), 1);
    let event = h.event();
    assert_eq!(event.raw_inline, None);
    assert_eq!(
        event.raw.as_ref().map(|r| r.as_str().to_owned()),
        Some(format!("sha256/{}", sha256_hex(MESSAGE.as_bytes())))
    );
}

#[tokio::test]
async fn an_attachment_is_the_only_blob_write() {
    let body = r#"{"conversation_id":"c-3","author":{"id":"v-3"},"text":"see file",
        "attachments":[{"filename":"a.txt","content_type":"text/plain","data_base64":"0J/RgNC40LLQtdGC"}]}"#;
    let h = Harness::new(options());
    let (status, _, answer) = send(&h.app, signed("msg_att", body)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(h.blobs.puts(), 1, "the attachment only");
    let event = h.event();
    assert_eq!(event.attachments.len(), 1);
    assert!(h.blobs.exists(&event.attachments[0].blob).await.unwrap());
    let inline = event.raw_inline.expect("raw body inline");
    assert_eq!(inline.decode().unwrap(), body.as_bytes());
}
