//! The pull runner with scripted fake channels, in paused tokio time: restarts
//! with growing backoff (reset after a healthy run), stops for good on a
//! configuration error, drains on shutdown, readiness follows the status.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use intake_blob::LocalDirBlobStore;
use intake_bus::Topics;
use intake_channel::testing::RecordingPublisher;
use intake_channel::{
    ChannelContext, ChannelError, PullChannel, PullRunner, PullRunnerOptions, PullStatus,
};
use metrics_exporter_prometheus::PrometheusBuilder;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What one run of a scripted channel does.
enum Step {
    /// Fails at once with a retryable source error.
    FailRetryable,
    /// Runs for this long (connected), then fails retryably.
    FailAfter(Duration),
    /// Panics.
    Panic,
    /// Fails with a configuration error with this message.
    FailConfig(&'static str),
    /// Waits for `connect`, connects, fetches, runs until shutdown, then
    /// takes `drain` (simulated flushing) before returning.
    Serve { drain: Duration },
}

/// What the test sees of a channel.
enum Seen {
    Started(Instant),
    Connected,
    Drained,
}

struct ScriptedChannel {
    name: &'static str,
    script: VecDeque<Step>,
    seen: mpsc::UnboundedSender<Seen>,
    connect: Arc<tokio::sync::Notify>,
}

#[async_trait]
impl PullChannel for ScriptedChannel {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn run(
        &mut self,
        _ctx: ChannelContext,
        status: PullStatus,
        shutdown: CancellationToken,
    ) -> Result<(), ChannelError> {
        let _ = self.seen.send(Seen::Started(Instant::now()));
        let step = self.script.pop_front().unwrap_or(Step::Serve {
            drain: Duration::ZERO,
        });
        let source_error = || ChannelError::Source {
            channel: "scripted",
            message: "upstream hung up".to_owned(),
            retryable: true,
        };
        match step {
            Step::FailRetryable => Err(source_error()),
            Step::FailAfter(wait) => {
                status.set_connected(true);
                tokio::time::sleep(wait).await;
                Err(source_error())
            }
            Step::Panic => panic!("scripted panic"),
            Step::FailConfig(message) => Err(ChannelError::Config {
                channel: self.name,
                message: message.to_owned(),
            }),
            Step::Serve { drain } => {
                tokio::select! {
                    () = self.connect.notified() => {}
                    () = shutdown.cancelled() => return Ok(()),
                }
                status.set_connected(true);
                status.fetched();
                let _ = self.seen.send(Seen::Connected);
                shutdown.cancelled().await;
                tokio::time::sleep(drain).await;
                let _ = self.seen.send(Seen::Drained);
                Ok(())
            }
        }
    }
}

fn channel(
    name: &'static str,
    script: Vec<Step>,
) -> (
    Box<dyn PullChannel>,
    mpsc::UnboundedReceiver<Seen>,
    Arc<tokio::sync::Notify>,
) {
    let (seen, rx) = mpsc::unbounded_channel();
    let connect = Arc::new(tokio::sync::Notify::new());
    let channel = ScriptedChannel {
        name,
        script: script.into(),
        seen,
        connect: Arc::clone(&connect),
    };
    (Box::new(channel), rx, connect)
}

fn ctx() -> ChannelContext {
    ChannelContext {
        publisher: RecordingPublisher::new(),
        topics: Topics::new("intake"),
        blobs: Arc::new(LocalDirBlobStore::new(std::env::temp_dir())),
    }
}

fn options() -> PullRunnerOptions {
    PullRunnerOptions {
        initial_backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(4),
        healthy_after: Duration::from_secs(60),
        stale_fetch_after: Duration::from_secs(600),
    }
}

async fn next_start(rx: &mut mpsc::UnboundedReceiver<Seen>) -> Instant {
    loop {
        match rx.recv().await.expect("the channel is still running") {
            Seen::Started(at) => return at,
            _ => continue,
        }
    }
}

fn assert_within(wait: Duration, low_secs: f64, high_secs: f64) {
    let secs = wait.as_secs_f64();
    assert!(
        secs >= low_secs && secs <= high_secs,
        "waited {secs} s, expected [{low_secs}, {high_secs}]"
    );
}

#[tokio::test(start_paused = true)]
async fn retryable_failures_restart_with_growing_backoff_reset_after_a_healthy_run() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _guard = metrics::set_default_local_recorder(&recorder);

    let (mail, mut seen, _connect) = channel(
        "mail",
        vec![
            Step::FailRetryable,
            Step::FailRetryable,
            Step::FailRetryable,
            Step::Panic,
            Step::FailAfter(Duration::from_secs(90)),
            Step::FailRetryable,
        ],
    );
    let mut runner = PullRunner::new(options());
    runner.add(mail);
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(runner.run(ctx(), shutdown.clone()));

    let mut starts = Vec::new();
    for _ in 0..7 {
        starts.push(next_start(&mut seen).await);
    }
    let waits: Vec<Duration> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    // Ceilings 1, 2, 4, then capped at 4; each wait is jittered in [ceiling/2, ceiling].
    assert_within(waits[0], 0.5, 1.0);
    assert_within(waits[1], 1.0, 2.0);
    assert_within(waits[2], 2.0, 4.0);
    assert_within(waits[3], 2.0, 4.0);
    // The 90 s run was healthy (>= 60 s): the backoff starts again at 1 s.
    assert_within(waits[4] - Duration::from_secs(90), 0.5, 1.0);
    assert_within(waits[5], 1.0, 2.0);

    shutdown.cancel();
    running.await.unwrap().unwrap();
    let rendered = handle.render();
    for (reason, count) in [("source", 5), ("panicked", 1)] {
        let line = format!(
            r#"intake_pull_channel_restarts_total{{channel="mail",reason="{reason}"}} {count}"#
        );
        assert!(rendered.contains(&line), "{line} in\n{rendered}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_config_error_stops_the_runner_with_the_channels_message_and_drains_the_others() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _guard = metrics::set_default_local_recorder(&recorder);

    let (healthy, mut healthy_seen, connect) = channel(
        "telegram",
        vec![Step::Serve {
            drain: Duration::from_secs(3),
        }],
    );
    let (broken, _broken_seen, _) = channel(
        "mail",
        vec![Step::FailConfig(
            "login refused: check channels.mail.password_env",
        )],
    );
    let mut runner = PullRunner::new(options());
    runner.add(healthy);
    runner.add(broken);
    connect.notify_one();
    let error = runner
        .run(ctx(), CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(error.channel, "mail");
    let message = error.to_string();
    assert!(
        message.contains("mail")
            && message.contains("login refused: check channels.mail.password_env"),
        "{message}"
    );
    assert!(!error.source.is_retryable());
    // The other channel was asked to stop and finished its drain before `run` returned.
    let mut drained = false;
    while let Ok(seen) = healthy_seen.try_recv() {
        drained |= matches!(seen, Seen::Drained);
    }
    assert!(drained, "the healthy channel was not drained");
    let rendered = handle.render();
    assert!(
        rendered.contains(r#"intake_pull_channel_fatal_errors_total{channel="mail"} 1"#),
        "{rendered}"
    );
    assert!(
        !rendered.contains("intake_pull_channel_restarts_total"),
        "a config error is never restarted: {rendered}"
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_a_running_channel_to_drain() {
    let (mail, mut seen, connect) = channel(
        "mail",
        vec![Step::Serve {
            drain: Duration::from_secs(5),
        }],
    );
    let mut runner = PullRunner::new(options());
    runner.add(mail);
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(runner.run(ctx(), shutdown.clone()));
    connect.notify_one();
    loop {
        if matches!(seen.recv().await.unwrap(), Seen::Connected) {
            break;
        }
    }
    let asked = Instant::now();
    shutdown.cancel();
    running.await.unwrap().unwrap();
    assert!(
        asked.elapsed() >= Duration::from_secs(5),
        "run returned before the channel drained"
    );
    let mut drained = false;
    while let Ok(event) = seen.try_recv() {
        drained |= matches!(event, Seen::Drained);
    }
    assert!(drained);
}

#[tokio::test(start_paused = true)]
async fn readiness_follows_connected_and_the_last_fetch_age() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _guard = metrics::set_default_local_recorder(&recorder);

    let (mail, mut seen, connect) = channel("mail", vec![]);
    let mut runner = PullRunner::new(options());
    runner.add(mail);
    let readiness = runner.readiness();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(runner.run(ctx(), shutdown.clone()));

    next_start(&mut seen).await;
    let not_yet = readiness.check().unwrap_err();
    assert!(not_yet.contains("mail: not connected"), "{not_yet}");
    assert!(
        handle
            .render()
            .contains(r#"intake_pull_channel_connected{channel="mail"} 0"#)
    );

    connect.notify_one();
    loop {
        if matches!(seen.recv().await.unwrap(), Seen::Connected) {
            break;
        }
    }
    readiness.check().unwrap();
    let rendered = handle.render();
    assert!(
        rendered.contains(r#"intake_pull_channel_connected{channel="mail"} 1"#),
        "{rendered}"
    );
    assert!(
        rendered.contains(r#"intake_pull_channel_last_fetch_timestamp_seconds{channel="mail"}"#),
        "{rendered}"
    );

    tokio::time::advance(Duration::from_secs(601)).await;
    let stale = readiness.check().unwrap_err();
    assert!(
        stale.contains("mail: no successful fetch for 601 s"),
        "{stale}"
    );

    shutdown.cancel();
    running.await.unwrap().unwrap();
    assert!(readiness.check().is_err(), "a stopped channel is not ready");
}
