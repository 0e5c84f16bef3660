//! `intake zendesk setup [--dry-run]` (issue 16): creates, idempotently, the
//! Zendesk webhook that calls `POST /v1/zendesk/events` and the two
//! triggers that notify it (public agent comments; tickets Zendesk created
//! in its own channels, decision 54), through Zendesk's Webhooks and
//! Triggers APIs, and prints what it did (with `--dry-run`, what it would
//! do). A second run changes nothing.
//!
//! The webhook is found by its endpoint, each trigger by its title; a found
//! one that differs from what intake needs is updated. Zendesk generates the
//! webhook's signing secret: when `zendesk_webhook.signing_secret_file` is
//! set, setup writes that secret there (mode 0600) if the file holds another
//! one; with `signing_secret_env` it only says whether the variable matches.
//! The secret is never printed.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use intake_zendesk::{Client, Trigger, Webhook};
use secrecy::ExposeSecret as _;
use serde_json::json;

/// The name of the webhook setup creates.
pub const WEBHOOK_NAME: &str = "intake: agent replies";
/// The title of the agent-comment trigger setup creates.
pub const TRIGGER_TITLE: &str = "intake: agent replies to the customer's channel";
/// The title of the trigger for tickets Zendesk created in its own channels.
pub const CREATED_TRIGGER_TITLE: &str = "intake: tickets Zendesk created in its own channels";

/// What one step did (or would do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Unchanged,
    Created,
    Updated,
}

impl Step {
    fn said(self, dry_run: bool) -> &'static str {
        match (self, dry_run) {
            (Step::Unchanged, _) => "unchanged",
            (Step::Created, false) => "created",
            (Step::Created, true) => "would create",
            (Step::Updated, false) => "updated",
            (Step::Updated, true) => "would update",
        }
    }
}

/// The webhook intake needs at `endpoint`.
fn wanted_webhook(endpoint: &str) -> Webhook {
    Webhook {
        id: String::new(),
        name: WEBHOOK_NAME.to_owned(),
        endpoint: endpoint.to_owned(),
        http_method: "POST".to_owned(),
        request_format: "json".to_owned(),
        status: "active".to_owned(),
        subscriptions: vec!["conditional_ticket_events".to_owned()],
    }
}

/// The trigger intake needs for webhook `webhook_id`: public comments by
/// agents notify the webhook with the documented body.
fn wanted_trigger(webhook_id: &str) -> Trigger {
    Trigger {
        id: 0,
        title: TRIGGER_TITLE.to_owned(),
        active: true,
        conditions: json!({
            "all": [
                {"field": "comment_is_public", "operator": "is", "value": "true"},
                {"field": "role", "operator": "is", "value": "agent"},
            ],
            "any": [],
        }),
        actions: json!([{
            "field": "notification_webhook",
            "value": [webhook_id, intake_replies::payload::TRIGGER_BODY_TEMPLATE],
        }]),
    }
}

/// The trigger for tickets Zendesk created itself: on creation, when not
/// made through the API (`via_id` 5, Web service: intake's own tickets),
/// notify the webhook with the documented body (docs/agent-replies.md).
fn wanted_created_trigger(webhook_id: &str) -> Trigger {
    Trigger {
        id: 0,
        title: CREATED_TRIGGER_TITLE.to_owned(),
        active: true,
        conditions: json!({
            "all": [
                {"field": "update_type", "operator": "is", "value": "Create"},
                {"field": "via_id", "operator": "is_not", "value": "5"},
            ],
            "any": [],
        }),
        actions: json!([{
            "field": "notification_webhook",
            "value": [webhook_id, intake_replies::native::CREATED_TRIGGER_BODY_TEMPLATE],
        }]),
    }
}

/// Runs `intake zendesk setup`.
pub async fn zendesk_setup(config_path: Option<&Path>, dry_run: bool) -> anyhow::Result<ExitCode> {
    let config = match crate::load_config(config_path, intake_config::Needs::default()) {
        Ok(config) => config,
        Err(code) => return Ok(code),
    };
    intake_telemetry::init_logging(config.log.format, "warn")?;
    let base = config
        .zendesk_webhook
        .public_base_url
        .as_ref()
        .context("zendesk_webhook.public_base_url: required by `intake zendesk setup`")?;
    let endpoint = base
        .join(intake_replies::ROUTE.trim_start_matches('/'))
        .context("zendesk_webhook.public_base_url")?
        .to_string();
    let client = crate::service::zendesk_client(&config)?;
    let (step, webhook_id) = webhook(&client, &endpoint, dry_run).await?;
    println!(
        "webhook {:?} -> {endpoint}: {}",
        webhook_id.as_deref().unwrap_or("(new)"),
        step.said(dry_run)
    );
    secret(
        &client,
        &config.zendesk_webhook,
        webhook_id.as_deref(),
        dry_run,
    )
    .await?;
    let webhook_id = webhook_id.as_deref().unwrap_or("(new webhook)");
    for wanted in [
        wanted_trigger(webhook_id),
        wanted_created_trigger(webhook_id),
    ] {
        let step = trigger(&client, &wanted, dry_run).await?;
        println!("trigger {:?}: {}", wanted.title, step.said(dry_run));
    }
    Ok(ExitCode::SUCCESS)
}

/// Finds the webhook by endpoint, creates or updates it; its id (none in a
/// dry run that would create it).
async fn webhook(
    client: &Client,
    endpoint: &str,
    dry_run: bool,
) -> anyhow::Result<(Step, Option<String>)> {
    let wanted = wanted_webhook(endpoint);
    let existing = client
        .list_webhooks()
        .await
        .context("listing the Zendesk webhooks")?
        .into_iter()
        .find(|w| w.endpoint == endpoint);
    let Some(found) = existing else {
        if dry_run {
            return Ok((Step::Created, None));
        }
        let created = client
            .create_webhook(&wanted)
            .await
            .context("creating the Zendesk webhook")?;
        return Ok((Step::Created, Some(created.id)));
    };
    let same = Webhook {
        id: String::new(),
        ..found.clone()
    } == wanted;
    if same {
        return Ok((Step::Unchanged, Some(found.id)));
    }
    if !dry_run {
        client
            .update_webhook(&found.id, &wanted)
            .await
            .context("updating the Zendesk webhook")?;
    }
    Ok((Step::Updated, Some(found.id)))
}

/// Compares (and with a secret file, stores) the webhook's signing secret.
async fn secret(
    client: &Client,
    hook: &intake_config::ZendeskWebhookConfig,
    webhook_id: Option<&str>,
    dry_run: bool,
) -> anyhow::Result<()> {
    let Some(id) = webhook_id else {
        match &hook.signing_secret_file {
            Some(path) => println!(
                "signing secret: would store the new webhook's secret in {}",
                path.display()
            ),
            None => println!(
                "signing secret: put the new webhook's secret (Admin Center, Webhooks) where zendesk_webhook.signing_secret_env points"
            ),
        }
        return Ok(());
    };
    let zendesk = client
        .webhook_signing_secret(id)
        .await
        .context("reading the webhook's signing secret")?;
    let configured = hook.signing_secret.as_ref().map(|s| s.expose_secret());
    if configured == Some(zendesk.expose_secret()) {
        println!("signing secret: the configured one matches");
        return Ok(());
    }
    let Some(path) = &hook.signing_secret_file else {
        println!(
            "signing secret: zendesk_webhook.signing_secret_env does not hold this webhook's secret; set it from Admin Center, Webhooks"
        );
        return Ok(());
    };
    if dry_run {
        println!(
            "signing secret: would store the webhook's secret in {}",
            path.display()
        );
        return Ok(());
    }
    write_secret(path, zendesk.expose_secret())
        .with_context(|| format!("writing {}", path.display()))?;
    println!(
        "signing secret: stored in {} (restart the gateway to use it)",
        path.display()
    );
    Ok(())
}

fn write_secret(path: &Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(secret.as_bytes())?;
    file.sync_all()
}

/// Finds the trigger by title, creates or updates it.
async fn trigger(client: &Client, wanted: &Trigger, dry_run: bool) -> anyhow::Result<Step> {
    let existing = client
        .list_triggers()
        .await
        .context("listing the Zendesk triggers")?
        .into_iter()
        .find(|t| t.title == wanted.title);
    let Some(found) = existing else {
        if !dry_run {
            client
                .create_trigger(wanted)
                .await
                .context("creating the Zendesk trigger")?;
        }
        return Ok(Step::Created);
    };
    let same = found.active == wanted.active
        && found.conditions == wanted.conditions
        && found.actions == wanted.actions;
    if same {
        return Ok(Step::Unchanged);
    }
    if !dry_run {
        client
            .update_trigger(found.id, wanted)
            .await
            .context("updating the Zendesk trigger")?;
    }
    Ok(Step::Updated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trigger_notifies_the_webhook_with_the_documented_body() {
        let trigger = wanted_trigger("01ABC");
        assert_eq!(trigger.actions[0]["field"], "notification_webhook");
        assert_eq!(trigger.actions[0]["value"][0], "01ABC");
        let body = trigger.actions[0]["value"][1].as_str().unwrap();
        assert!(body.contains("{{ticket.latest_comment.id}}"), "{body}");
        let created = wanted_created_trigger("01ABC");
        assert_eq!(created.conditions["all"][0]["field"], "update_type");
        assert_eq!(created.conditions["all"][1]["value"], "5");
        assert_eq!(created.actions[0]["value"][0], "01ABC");
        let body = created.actions[0]["value"][1].as_str().unwrap();
        assert!(body.contains(r#""event": "ticket_created""#), "{body}");
        assert_ne!(created.title, trigger.title, "two triggers, found by title");
        assert_eq!(Step::Created.said(true), "would create");
        assert_eq!(Step::Unchanged.said(true), "unchanged");
    }
}
