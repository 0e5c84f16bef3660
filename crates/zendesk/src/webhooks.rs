//! The Webhooks and Triggers APIs, as far as `intake zendesk setup` needs
//! them (issue 16): list, create and update a webhook, read its signing
//! secret (Zendesk generates it), list, create and update a trigger.
//!
//! Webhooks: `GET/POST /api/v2/webhooks`, `PATCH /api/v2/webhooks/{id}`,
//! `GET /api/v2/webhooks/{id}/signing_secret`. Triggers:
//! `GET/POST /api/v2/triggers`, `PUT /api/v2/triggers/{id}`. Lists read one
//! page of 100 (an account has far fewer webhooks and intake triggers).

use reqwest::Method;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::client::{Call, Client};
use crate::error::Error;
use crate::retry::RetryPolicy;

/// A webhook as Zendesk shows it (the fields intake reads and writes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    /// Zendesk's id (a string); empty in a create request.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    pub name: String,
    pub endpoint: String,
    pub http_method: String,
    pub request_format: String,
    /// `active` or `inactive`.
    pub status: String,
    /// `["conditional_ticket_events"]` for a webhook that triggers call.
    #[serde(default)]
    pub subscriptions: Vec<String>,
}

/// A trigger as Zendesk shows it (the fields intake reads and writes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trigger {
    /// Zendesk's id; 0 in a create request.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub id: u64,
    pub title: String,
    #[serde(default = "active_by_default")]
    pub active: bool,
    /// `{"all": [...], "any": [...]}`.
    pub conditions: Value,
    /// `[{"field": ..., "value": ...}]`.
    pub actions: Value,
}

fn is_zero(id: &u64) -> bool {
    *id == 0
}

fn active_by_default() -> bool {
    true
}

#[derive(Serialize)]
struct WebhookBody<'a> {
    webhook: &'a Webhook,
}

#[derive(Serialize)]
struct TriggerBody<'a> {
    trigger: &'a Trigger,
}

#[derive(Deserialize)]
struct WebhookEnvelope {
    webhook: Webhook,
}

#[derive(Deserialize)]
struct WebhookList {
    #[serde(default)]
    webhooks: Vec<Webhook>,
}

#[derive(Deserialize)]
struct TriggerEnvelope {
    trigger: Trigger,
}

#[derive(Deserialize)]
struct TriggerList {
    #[serde(default)]
    triggers: Vec<Trigger>,
}

#[derive(Deserialize)]
struct SecretEnvelope {
    signing_secret: SecretBody,
}

#[derive(Deserialize)]
struct SecretBody {
    secret: String,
}

impl Client {
    /// The account's webhooks (first page of 100).
    pub async fn list_webhooks(&self) -> Result<Vec<Webhook>, Error> {
        let call = Call::get("list_webhooks", "/api/v2/webhooks".into()).query("page[size]", "100");
        let list: WebhookList = self.execute(call).await?.json()?;
        Ok(list.webhooks)
    }

    /// Creates `webhook`; a retry only when nothing can have been created.
    pub async fn create_webhook(&self, webhook: &Webhook) -> Result<Webhook, Error> {
        let mut call = Call::json(
            "create_webhook",
            Method::POST,
            "/api/v2/webhooks".into(),
            &WebhookBody { webhook },
        )?;
        call.policy = RetryPolicy::OnlyUnprocessed;
        let created: WebhookEnvelope = self.execute(call).await?.json()?;
        Ok(created.webhook)
    }

    /// Sets the fields of webhook `id` to those of `webhook`.
    pub async fn update_webhook(&self, id: &str, webhook: &Webhook) -> Result<(), Error> {
        let call = Call::json(
            "update_webhook",
            Method::PATCH,
            format!("/api/v2/webhooks/{id}"),
            &WebhookBody { webhook },
        )?;
        self.execute(call).await?;
        Ok(())
    }

    /// The signing secret Zendesk generated for webhook `id`.
    pub async fn webhook_signing_secret(&self, id: &str) -> Result<SecretString, Error> {
        let call = Call::get(
            "webhook_signing_secret",
            format!("/api/v2/webhooks/{id}/signing_secret"),
        );
        let answer: SecretEnvelope = self.execute(call).await?.json()?;
        Ok(SecretString::from(answer.signing_secret.secret))
    }

    /// The account's triggers (first page of 100).
    pub async fn list_triggers(&self) -> Result<Vec<Trigger>, Error> {
        let call = Call::get("list_triggers", "/api/v2/triggers".into()).query("per_page", "100");
        let list: TriggerList = self.execute(call).await?.json()?;
        Ok(list.triggers)
    }

    /// Creates `trigger`; a retry only when nothing can have been created.
    pub async fn create_trigger(&self, trigger: &Trigger) -> Result<Trigger, Error> {
        let mut call = Call::json(
            "create_trigger",
            Method::POST,
            "/api/v2/triggers".into(),
            &TriggerBody { trigger },
        )?;
        call.policy = RetryPolicy::OnlyUnprocessed;
        let created: TriggerEnvelope = self.execute(call).await?.json()?;
        Ok(created.trigger)
    }

    /// Replaces trigger `id` with `trigger`.
    pub async fn update_trigger(&self, id: u64, trigger: &Trigger) -> Result<Trigger, Error> {
        let call = Call::json(
            "update_trigger",
            Method::PUT,
            format!("/api/v2/triggers/{id}"),
            &TriggerBody { trigger },
        )?;
        let updated: TriggerEnvelope = self.execute(call).await?.json()?;
        Ok(updated.trigger)
    }
}
