//! `sla-breaches`: run every minute by an EventBridge schedule (locally by `make dev`), it
//! publishes `sla.breached` once per ticket and target that passed its due time unmet.
//!
//! It reads only what is due, from the due-time index (see [`crate::store::sla`]), so a run
//! after downtime catches up on everything that fell due meanwhile. A breach is recorded on the
//! ticket by a conditional write before its event is published: of two overlapping runs, one
//! records it and publishes; when publishing fails the record is taken back, and the next run
//! tries again.

use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;

use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::outbound::{Publisher, publish};
use crate::store::Store;
use crate::store::sla::{DUE_SHARDS, DueTarget};
use crate::store::tickets::Ticket;

/// Due targets read per index page.
const PAGE: i32 = 100;
/// Index pages one run reads per shard at the most; the rest waits for the next run.
const MAX_PAGES: usize = 10;

/// What one run did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct RunSummary {
    /// Due targets read.
    pub due: usize,
    /// Breaches recorded and published.
    pub breached: usize,
    /// Targets met, changed or breached before: removed from the index without an event.
    pub settled: usize,
    /// Targets that failed and stay for the next run.
    pub failed: usize,
}

/// One run at `now`: every shard, every due target.
pub async fn run(store: &Store, publisher: &Publisher, now: OffsetDateTime) -> RunSummary {
    let at = rfc3339(now);
    let mut summary = RunSummary::default();
    for shard in 0..DUE_SHARDS {
        let mut start = None;
        for _ in 0..MAX_PAGES {
            let (targets, next) = match store.due_sla_targets(shard, &at, PAGE, start).await {
                Ok(page) => page,
                Err(error) => {
                    tracing::error!(shard, ?error, "reading due SLA targets");
                    summary.failed += 1;
                    break;
                }
            };
            summary.due += targets.len();
            for due in &targets {
                match settle(store, publisher, due, &at).await {
                    Ok(true) => summary.breached += 1,
                    Ok(false) => summary.settled += 1,
                    Err(error) => {
                        tracing::error!(ticket = %due.ticket_id, metric = due.metric.as_str(), ?error, "SLA target");
                        summary.failed += 1;
                    }
                }
            }
            start = next;
            if start.is_none() {
                break;
            }
        }
    }
    tracing::info!(?summary, "SLA run");
    summary
}

/// Records and publishes one due target's breach if it is one, then removes it from the index;
/// `true` when it was a breach.
async fn settle(store: &Store, publisher: &Publisher, due: &DueTarget, at: &str) -> Result<bool, ApiError> {
    let breached = store.record_sla_breach(due, at).await?;
    if let Some(ticket) = &breached
        && let Err(error) = publish_breach(store, publisher, due, ticket, at).await
    {
        store.withdraw_sla_breach(due, at).await?;
        return Err(error);
    }
    store.remove_due_target(due).await?;
    Ok(breached.is_some())
}

async fn publish_breach(
    store: &Store,
    publisher: &Publisher,
    due: &DueTarget,
    ticket: &Ticket,
    at: &str,
) -> Result<(), ApiError> {
    let data = json!({
        "ticketId": ticket.ticket_id,
        "ticketNumber": ticket.number,
        "metric": due.metric,
        "dueAt": due.due_at,
        "breachedAt": at,
        "policyId": ticket.sla.as_ref().map(|sla| sla.policy_id.clone()),
        "priority": ticket.priority,
        "status": ticket.status,
        "channel": ticket.channel,
        "assignee": ticket.assignee,
        "team": ticket.team,
        "customerEmail": ticket.customer_email,
    });
    publish(store, publisher, &due.org_id, "sla.breached", at, &data).await?;
    Ok(())
}
