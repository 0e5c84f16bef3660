//! The SLA watch in the router role (`[sla_watch]`): the deadline recorder
//! (every replica) and the scheduler (the replica holding the lease), as the
//! components `sla deadline recorder` and `sla watch`.

use std::sync::Arc;

use anyhow::Context;
use intake_bus::{Bus, Topics};
use intake_calendar::refresh::LivePolicies;
use intake_config::{Config, SlaSlackTarget};
use intake_sla_watch::{DeadlineRecorder, Scheduler, SlaWatchOptions, SlackNotifier, SlackTarget};
use intake_store::StateStore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

type Tasks = JoinSet<(&'static str, anyhow::Result<()>)>;

/// `[sla_watch]` as the components' options.
fn options(config: &Config, topics: &Topics) -> SlaWatchOptions {
    let watch = &config.sla_watch;
    SlaWatchOptions {
        consumer_group: watch.consumer_group.clone(),
        warn_before: watch.warn_before,
        warn_before_by_policy: watch.warn_before_by_policy.clone(),
        scan_interval: watch.scan_interval,
        lease_ttl: watch.lease_ttl,
        warning_tag: watch.warning_tag.clone(),
        breach_tag: watch.breach_tag.clone(),
        zendesk_base_url: config.zendesk.account.as_ref().map(|a| a.base_url.clone()),
        ..SlaWatchOptions::new(topics.clone())
    }
}

fn slack(config: &Config) -> anyhow::Result<Option<SlackNotifier>> {
    let Some(slack) = &config.sla_watch.slack else {
        return Ok(None);
    };
    let target = match &slack.target {
        SlaSlackTarget::Webhook(url) => SlackTarget::Webhook(url.clone()),
        SlaSlackTarget::PostMessage {
            bot_token,
            channel,
            api_base_url,
        } => SlackTarget::PostMessage {
            bot_token: bot_token.clone(),
            channel: channel.clone(),
            api_base_url: api_base_url.clone(),
        },
    };
    let notifier = SlackNotifier::new(target, slack.request_timeout).context("sla_watch.slack")?;
    Ok(Some(notifier))
}

/// Spawns both components when `[sla_watch]` is enabled.
#[allow(clippy::too_many_arguments)]
pub(crate) fn spawn(
    config: &Config,
    topics: &Topics,
    bus: Arc<dyn Bus>,
    store: Arc<dyn StateStore>,
    zendesk: intake_zendesk::Client,
    live: LivePolicies,
    shutdown: &CancellationToken,
    tasks: &mut Tasks,
) -> anyhow::Result<()> {
    if !config.sla_watch.enabled {
        return Ok(());
    }
    intake_sla_watch::telemetry::describe_metrics();
    let options = options(config, topics);
    let recorder = DeadlineRecorder::new(bus, Arc::clone(&store), options.clone());
    let scheduler = Scheduler::new(store, zendesk, slack(config)?, live, options);
    let token = shutdown.clone();
    tasks.spawn(async move {
        recorder.run(token).await;
        ("sla deadline recorder", Ok(()))
    });
    let token = shutdown.clone();
    tasks.spawn(async move {
        scheduler.run(token).await;
        ("sla watch", Ok(()))
    });
    Ok(())
}
