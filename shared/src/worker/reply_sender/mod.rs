//! `reply-sender`: the consumer of the reply queue. It sends an agent's or the AI's reply on an
//! email ticket through Resend's send API (`POST /emails`), threaded with `In-Reply-To` and
//! `References` so the customer's mail client shows it in the conversation, and records where the
//! sending stands on the entry (`delivery`: `queued`, `sent`, `failed`).
//!
//! A reply reads top to bottom in [`send_reply`]: read the entry (sent already: done) → find
//! the mailbox and the mail it answers → send with the entry's id as `Idempotency-Key` (Resend
//! keeps keys a day, so a retry after a lost answer sends nothing twice) → plan what follows with
//! the delivery worker's pure retry plan on [`RETRY_DELAYS_SECONDS`] → record the attempt. A
//! reply that cannot succeed (no mailbox, no key, no customer address, or Resend refusing the
//! request as invalid) fails at once. After the last attempt the message is released to the
//! queue's redrive policy, which moves it to the dead-letter queue; redriven from there, a
//! failed reply gets one more attempt.

pub mod resend;

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};

use super::delivery::retry::{self, Attempted, Plan, Timing};
use super::{Disposition, process_batch};
use crate::clock::{Clock, SystemClock, epoch_ms, rfc3339};
use crate::crypto::SecretBox;
use crate::mail::{resend_api_url, resend_client};
use crate::outbound::{ReplyMessage, ReplyQueue};
use crate::runtime::{Error, env_or, required_env};
use crate::store::Store;
use crate::store::mail::EntryDelivery;
use resend::{Outcome, OutgoingMail};

/// Waits before each retry of a reply: six attempts over about two and a half hours.
pub const RETRY_DELAYS_SECONDS: [u64; 5] = [10, 60, 300, 1800, 7200];

/// The sender's clients and settings, built once per container.
pub struct ReplySender {
    pub store: Store,
    pub queue: ReplyQueue,
    pub secrets: SecretBox,
    pub http: reqwest::Client,
    /// Resend's API (`https://api.resend.com`; tests point it at a local stand-in).
    pub resend_api_url: String,
    /// Multiplies every retry delay: 1 in production; tests run the schedule in seconds.
    pub retry_delay_scale: f64,
    pub clock: Arc<dyn Clock>,
}

impl ReplySender {
    pub async fn from_env(config: &aws_config::SdkConfig) -> Result<Self, Error> {
        Ok(Self {
            store: Store::new(aws_sdk_dynamodb::Client::new(config), required_env("TABLE_NAME")?),
            queue: ReplyQueue::from_env(config)?,
            secrets: SecretBox::from_env(config).await?,
            http: resend_client(std::time::Duration::from_secs(env_or("RESEND_TIMEOUT_SECONDS", 10)?))?,
            resend_api_url: resend_api_url()?,
            retry_delay_scale: env_or("RETRY_DELAY_SCALE", 1.0)?,
            clock: Arc::new(SystemClock),
        })
    }
}

/// One SQS batch of the reply queue, every reply at once.
pub async fn handle(sender: &ReplySender, event: SqsEvent) -> SqsBatchResponse {
    process_batch(&sender.queue.sqs, &sender.queue.queue_url, &event, |record| {
        send_reply(sender, record)
    })
    .await
}

async fn send_reply(sender: &ReplySender, record: &SqsMessage) -> Disposition {
    let Some(message) = record
        .body
        .as_deref()
        .and_then(|body| serde_json::from_str::<ReplyMessage>(body).ok())
    else {
        tracing::error!(message_id = ?record.message_id, "unreadable reply message");
        return Disposition::DeadLetter;
    };
    let entry = match sender.store.get_entry(&message.org_id, &message.entry_id).await {
        Ok(Some(entry)) => entry,
        Ok(None) => {
            tracing::info!(entry_id = %message.entry_id, "reply gone; nothing to send");
            return Disposition::Done;
        }
        Err(e) => {
            tracing::error!(error = ?e, "reading a reply");
            return Disposition::Retry;
        }
    };
    let delivery = entry
        .delivery
        .clone()
        .unwrap_or_else(|| EntryDelivery::queued(&entry.created_at));
    let receives: u32 = record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|count| count.parse().ok())
        .unwrap_or(1);
    match delivery.status.as_str() {
        "sent" => return Disposition::Done,
        // Given up on: on its way to the dead-letter queue, unless it was redriven from there.
        "failed" if receives > 1 => return Disposition::DeadLetter,
        _ => {}
    }
    let now = sender.clock.now();
    let number = delivery.attempts + 1;
    let outcome = match OutgoingMail::compose(sender, &message, &entry).await {
        Ok(mail) => mail.send(sender, &entry.entry_id).await,
        Err(outcome) => outcome,
    };
    let plan = match &outcome {
        Outcome::Sent { .. } => Plan::Delivered,
        Outcome::Refused { .. } => Plan::GiveUp { disable: None },
        Outcome::Failed {
            status, retry_after, ..
        } => retry::plan(
            Attempted {
                number,
                status: *status,
                retry_after: *retry_after,
                endpoint_active: true,
            },
            &RETRY_DELAYS_SECONDS,
            Timing {
                jitter: retry::jitter(),
                scale: sender.retry_delay_scale,
            },
            epoch_ms(now),
        ),
    };
    let (status, disposition) = match plan {
        Plan::Delivered => ("sent", Disposition::Done),
        Plan::Retry { visibility_seconds, .. } => ("queued", Disposition::Wait(visibility_seconds)),
        Plan::GiveUp { .. } => ("failed", Disposition::DeadLetter),
    };
    let recorded = EntryDelivery {
        status: status.into(),
        attempts: number,
        provider_message_id: match &outcome {
            Outcome::Sent { id } => Some(id.clone()),
            _ => None,
        },
        error: outcome.error(),
        updated_at: rfc3339(now),
    };
    if let Err(e) = sender
        .store
        .set_entry_delivery(&message.org_id, &message.ticket_id, &message.entry_id, &recorded)
        .await
    {
        tracing::error!(error = ?e, entry_id = %message.entry_id, status, "recording a reply's sending");
        // Sent but not recorded: the idempotency key makes the retry harmless.
        return Disposition::Retry;
    }
    if status == "failed" {
        tracing::warn!(entry_id = %message.entry_id, error = ?recorded.error, attempts = number, "reply not sent");
    }
    disposition
}
