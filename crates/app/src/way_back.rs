//! The way back to the customer, wired from the configuration: the reply
//! senders of the channels that can answer, the acknowledgement consumer
//! (gateway role) and the iCalendar feed refreshes of the calendars the
//! deadlines and acknowledgements are counted on.

use std::sync::Arc;

use anyhow::Context;
use intake_ack::deliver::RetryPolicy;
use intake_ack::{AckOptions, Acknowledger, ChannelAck, Language};
use intake_bus::{Bus, Topics};
use intake_calendar::refresh::LivePolicies;
use intake_channel::ReplySenders;
use intake_config::{AckLanguage, Config};
use intake_replies::{AgentReplies, SigningSecret, WebhookOptions};
use intake_store::StateStore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

type Tasks = JoinSet<(&'static str, anyhow::Result<()>)>;

/// The reply senders of the enabled channels that configure one (the
/// registration list in `channels.rs` names them).
pub(crate) fn reply_senders(config: &Config) -> anyhow::Result<ReplySenders> {
    let mut senders = ReplySenders::new();
    for registration in crate::channels::CHANNELS {
        let sender = registration
            .reply_sender(&config.channels)
            .with_context(|| format!("channels.{}", registration.name()))?;
        if let Some(sender) = sender {
            senders.register(sender)?;
        }
    }
    Ok(senders)
}

/// `[acknowledgements]` as the consumer's options.
pub(crate) fn ack_options(config: &Config, topics: &Topics) -> AckOptions {
    let acks = &config.acknowledgements;
    let language = |language: AckLanguage| match language {
        AckLanguage::Ru => Language::Ru,
        AckLanguage::En => Language::En,
    };
    let channels = acks
        .channels
        .iter()
        .map(|(name, channel)| {
            let templates = channel
                .templates
                .iter()
                .map(|(lang, text)| (language(*lang), text.clone()))
                .collect();
            let settings = ChannelAck {
                enabled: channel.enabled,
                templates,
            };
            (name.clone(), settings)
        })
        .collect();
    AckOptions {
        consumer_group: acks.consumer_group.clone(),
        default_language: language(acks.default_language),
        sender_window: acks.sender_window,
        channels,
        retry_initial_backoff: acks.retry_initial_backoff,
        retry_max_backoff: acks.retry_max_backoff,
        give_up_after: acks.give_up_after,
        ..AckOptions::new(topics.clone())
    }
}

/// Spawns the acknowledgement consumer as the component `acknowledgements`.
pub(crate) fn spawn_acknowledgements(
    config: &Config,
    topics: &Topics,
    bus: Arc<dyn Bus>,
    store: Arc<dyn StateStore>,
    live: LivePolicies,
    shutdown: &CancellationToken,
    tasks: &mut Tasks,
) -> anyhow::Result<()> {
    intake_ack::telemetry::describe_metrics();
    let senders = reply_senders(config)?;
    tracing::info!(channels = ?senders.channels().collect::<Vec<_>>(), "reply senders");
    let acknowledger = Acknowledger::new(bus, store, senders, live, ack_options(config, topics))
        .context("acknowledgements")?;
    let token = shutdown.clone();
    tasks.spawn(async move {
        (
            "acknowledgements",
            acknowledger.run(token).await.map_err(anyhow::Error::from),
        )
    });
    Ok(())
}

/// The agent-replies route (`[zendesk_webhook]`, mounted on the data
/// listener like a channel's) and the component `agent replies`, which
/// resumes replies left pending by an earlier run and, at shutdown, waits
/// for the deliveries in flight.
pub(crate) fn spawn_agent_replies(
    config: &Config,
    store: Arc<dyn StateStore>,
    zendesk: Option<intake_zendesk::Client>,
    shutdown: &CancellationToken,
    tasks: &mut Tasks,
) -> anyhow::Result<Arc<dyn intake_channel::HttpChannel>> {
    use secrecy::ExposeSecret as _;
    let hook = &config.zendesk_webhook;
    let secret = hook
        .signing_secret
        .as_ref()
        .context("zendesk_webhook.signing_secret_env: no signing secret")?;
    let acks = &config.acknowledgements;
    let mut options = WebhookOptions::new(SigningSecret::new(secret.expose_secret().as_bytes()));
    options.replay_window = hook.replay_window;
    options.send_mail = hook.mail_replies == intake_config::MailReplies::Intake;
    options.retry = RetryPolicy {
        initial_backoff: acks.retry_initial_backoff,
        max_backoff: acks.retry_max_backoff,
        give_up_after: acks.give_up_after,
    };
    let senders = reply_senders(config)?;
    let replies = AgentReplies::new(store, senders, zendesk, options, shutdown.clone());
    let component = Arc::clone(&replies);
    let token = shutdown.clone();
    tasks.spawn(async move {
        match component.resume().await {
            Ok(count) if count > 0 => tracing::info!(count, "agent replies resumed"),
            Ok(_) => {}
            Err(error) => tracing::warn!(error = %error, "pending agent replies not read"),
        }
        token.cancelled().await;
        component.close().await;
        ("agent replies", Ok(()))
    });
    Ok(replies)
}

/// Spawns one refresh task per calendar configured with an `ical_url`
/// (`intake_calendar::refresh::run_feed`), updating `live`.
pub(crate) fn spawn_ical_feeds(
    config: &Config,
    live: &LivePolicies,
    shutdown: &CancellationToken,
    tasks: &mut Tasks,
) -> anyhow::Result<()> {
    let feeds = &config.working_time.ical_feeds;
    if feeds.is_empty() {
        return Ok(());
    }
    intake_calendar::refresh::describe_metrics();
    let client = reqwest::Client::builder()
        .build()
        .context("cannot build the HTTP client of the calendar feeds")?;
    for feed in feeds.iter().cloned() {
        let (live, client, token) = (live.clone(), client.clone(), shutdown.clone());
        tasks.spawn(async move {
            intake_calendar::refresh::run_feed(live, feed, client, token).await;
            ("calendar feed", Ok(()))
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Monday 7 December 2026 as a holiday.
    const FEED: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:test\r\nBEGIN:VEVENT\r\nUID:d7@test\r\nDTSTART;VALUE=DATE:20261207\r\nSUMMARY:Team holiday\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

    fn chat_due(live: &LivePolicies) -> chrono::DateTime<chrono::Utc> {
        let friday = chrono::DateTime::parse_from_rfc3339("2026-12-04T17:57:00+03:00").unwrap();
        live.current()
            .first_response_deadline("chat", None, friday.with_timezone(&chrono::Utc))
            .unwrap()
            .due_at
    }

    #[tokio::test]
    async fn a_calendar_with_an_ical_url_is_refreshed_by_a_spawned_task() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = axum::Router::new().route("/h.ics", axum::routing::get(|| async { FEED }));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let text = format!(
            "[calendars.default]\nical_url = \"http://127.0.0.1:{port}/h.ics\"\nrefresh_secs = 3600\n"
        );
        let config =
            intake_config::load_from(Some(&text), &[], &crate::channel_sections()).unwrap();
        let live = LivePolicies::new(config.working_time.sla.clone());
        assert_eq!(
            chat_due(&live).to_rfc3339(),
            "2026-12-07T07:02:00+00:00",
            "before the feed: Monday 10:02 Moscow"
        );
        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();
        spawn_ical_feeds(&config, &live, &shutdown, &mut tasks).unwrap();
        assert_eq!(tasks.len(), 1, "one task per calendar with a URL");

        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        while live.status("default").successes == 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the feed was not fetched"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(
            chat_due(&live).to_rfc3339(),
            "2026-12-08T07:02:00+00:00",
            "the feed's holiday moves the deadline to Tuesday 10:02"
        );
        shutdown.cancel();
        let (name, ended) = tasks.join_next().await.unwrap().unwrap();
        assert_eq!(name, "calendar feed");
        assert!(ended.is_ok());
    }

    #[tokio::test]
    async fn no_feed_no_task() {
        let config = intake_config::load_from(None, &[], &crate::channel_sections()).unwrap();
        let live = LivePolicies::new(config.working_time.sla.clone());
        let mut tasks = JoinSet::new();
        spawn_ical_feeds(&config, &live, &CancellationToken::new(), &mut tasks).unwrap();
        assert!(tasks.is_empty());
    }
}
