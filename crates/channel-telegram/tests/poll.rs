//! Long polling against the stand-in Bot API: Telegram's offset moves past
//! an update only after its event is on the bus.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use intake_blob::LocalDirBlobStore;
use intake_channel::testing::RecordingPublisher;
use intake_channel::{ChannelContext, PullChannel, PullStatus, TicketEvent};
use serde_json::json;
use support::{bot_api, options};
use tokio_util::sync::CancellationToken;

fn update(update_id: i64, text: &str) -> serde_json::Value {
    json!({"update_id": update_id, "message": {"message_id": update_id - 500, "date": 1764590000,
        "text": text, "from": {"id": 42, "is_bot": false, "first_name": "Anna"},
        "chat": {"id": 42, "type": "private"}}})
}

#[tokio::test]
async fn the_offset_passes_an_update_only_after_the_bus_took_its_event() {
    let (api, state) = bot_api().await;
    *state.updates.lock().unwrap() = vec![
        update(1001, "first"),
        json!({"update_id": 1002, "message": {"message_id": 2, "date": 0, "text": "/start",
            "from": {"id": 42, "is_bot": false, "first_name": "Anna"}, "chat": {"id": 42, "type": "private"}}}),
        update(1003, "third"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let bus = RecordingPublisher::new();
    let ctx = ChannelContext {
        publisher: Arc::clone(&bus) as _,
        topics: intake_bus::Topics::new("t"),
        blobs: Arc::new(LocalDirBlobStore::new(dir.path().join("blobs"))),
    };
    let mut poller = intake_channel_telegram::poller(&options(
        &api,
        "mode = \"polling\"\npoll_timeout_secs = 0\n",
    ))
    .unwrap();

    // The bus refuses: the session ends, nothing is confirmed.
    bus.set_failing(true);
    let refused = poller
        .run(
            ctx.clone(),
            PullStatus::new("telegram"),
            CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert!(refused.is_retryable(), "{refused}");
    assert_eq!(poller.offset(), None);
    assert_eq!(*state.offsets.lock().unwrap(), [None]);
    assert_eq!(state.updates.lock().unwrap().len(), 3);

    // The bus takes them: two events (/start makes none), then the offset passes all three.
    bus.set_failing(false);
    let shutdown = CancellationToken::new();
    let session = {
        let (ctx, shutdown) = (ctx.clone(), shutdown.clone());
        tokio::spawn(async move {
            let result = poller.run(ctx, PullStatus::new("telegram"), shutdown).await;
            (poller, result)
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !state.offsets.lock().unwrap().contains(&Some(1004)) {
        assert!(Instant::now() < deadline, "offset never passed the updates");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    let (poller, result) = session.await.unwrap();
    result.unwrap();
    assert_eq!(poller.offset(), Some(1004));
    let texts: Vec<String> = bus
        .records()
        .iter()
        .map(|r| TicketEvent::from_json(&r.payload).unwrap().text)
        .collect();
    assert_eq!(texts, ["first", "third"]);
    // Every offset sent was one past an update whose event was already on the bus.
    let offsets = state.offsets.lock().unwrap().clone();
    assert!(
        offsets.iter().all(|o| matches!(o, None | Some(1004))),
        "{offsets:?}"
    );
    assert!(state.updates.lock().unwrap().is_empty(), "all confirmed");
}
