//! A reply as Resend's send API takes it (`POST /emails`): the mailbox's sender, the ticket's
//! customer, the subject of the mail answered with `Re:`, the text (and HTML when the reply has
//! it), and `In-Reply-To`/`References` naming the customer's mail and its thread.

use serde_json::{Map, Value, json};

use super::ReplySender;
use crate::desk::mail_answered;
use crate::mail::normalized_subject;
use crate::outbound::ReplyMessage;
use crate::store::integrations::{Integration, Provider};
use crate::store::tickets::Entry;

/// What sending a reply came to.
#[derive(Debug)]
pub enum Outcome {
    /// Resend took it, under this id.
    Sent { id: String },
    /// It cannot succeed however often it is tried.
    Refused { error: String },
    /// It may succeed later.
    Failed {
        status: Option<u16>,
        retry_after: Option<u64>,
        error: String,
    },
}

impl Outcome {
    pub fn error(&self) -> Option<String> {
        match self {
            Outcome::Sent { .. } => None,
            Outcome::Refused { error } | Outcome::Failed { error, .. } => Some(error.clone()),
        }
    }

    fn unavailable(error: impl std::fmt::Display) -> Self {
        Outcome::Failed {
            status: None,
            retry_after: None,
            error: error.to_string(),
        }
    }

    fn refused(error: impl Into<String>) -> Self {
        Outcome::Refused { error: error.into() }
    }
}

/// A reply ready to send.
pub struct OutgoingMail {
    api_key: String,
    body: Value,
}

/// Synthesised Message-IDs (mail that came without one) are never named to the customer.
const SYNTHESISED_ID_DOMAIN: &str = "@hookgate.invalid";

impl OutgoingMail {
    /// The reply `entry` of `message` as Resend takes it, or why it cannot be sent.
    pub async fn compose(sender: &ReplySender, message: &ReplyMessage, entry: &Entry) -> Result<Self, Outcome> {
        let store = &sender.store;
        let ticket = store
            .get_ticket(&message.org_id, &message.ticket_id)
            .await
            .map_err(|e| Outcome::unavailable(format!("{e:?}")))?
            .ok_or_else(|| Outcome::refused("the ticket is gone"))?;
        let customer = ticket
            .customer_email
            .clone()
            .ok_or_else(|| Outcome::refused("the ticket has no customer email address"))?;
        let entries = store
            .list_entries(&message.org_id, &message.ticket_id)
            .await
            .map_err(|e| Outcome::unavailable(format!("{e:?}")))?;
        let answered = mail_answered(&entries, &entry.created_at);
        let integration = mailbox_of(sender, &message.org_id, answered).await?;
        let mailbox = integration
            .mailbox
            .as_ref()
            .ok_or_else(|| Outcome::refused("the mailbox is not an email integration"))?;
        let api_key = mailbox
            .sealed_api_key
            .as_deref()
            .and_then(|sealed| sender.secrets.open(sealed))
            .ok_or_else(|| Outcome::refused("the mailbox has no Resend API key to send with"))?;
        let from = mailbox
            .from_address
            .clone()
            .or_else(|| mailbox.addresses.get(1).cloned())
            .or_else(|| mailbox.addresses.first().cloned())
            .ok_or_else(|| Outcome::refused("the mailbox has no address to send from"))?;
        let subject = answered
            .and_then(|e| e.email.as_ref())
            .map_or(ticket.subject.as_str(), |email| email.subject.as_str());
        let mut body = Map::from_iter([
            ("from".to_string(), json!(from)),
            ("to".to_string(), json!([customer])),
            ("subject".to_string(), json!(reply_subject(subject))),
            ("text".to_string(), json!(entry.content_text)),
        ]);
        if let Some(html) = entry
            .content
            .as_ref()
            .and_then(|c| c.get("html"))
            .and_then(Value::as_str)
        {
            body.insert("html".into(), json!(html));
        }
        if let Some(headers) = answered.and_then(thread_headers) {
            body.insert("headers".into(), headers);
        }
        Ok(Self {
            api_key,
            body: Value::Object(body),
        })
    }

    /// Sends it, `idempotency_key` making a repeat the same send.
    pub async fn send(&self, sender: &ReplySender, idempotency_key: &str) -> Outcome {
        let url = format!("{}/emails", sender.resend_api_url);
        let response = sender
            .http
            .post(&url)
            .bearer_auth(&self.api_key)
            .header("Idempotency-Key", idempotency_key)
            .json(&self.body)
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            Err(e) => return Outcome::unavailable(format!("Resend could not be reached: {e}")),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let text = response.text().await.unwrap_or_default();
        let excerpt: String = text.chars().take(500).collect();
        match status {
            200..=299 => match serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.get("id")?.as_str().map(str::to_string))
            {
                Some(id) => Outcome::Sent { id },
                None => Outcome::unavailable(format!("Resend answered {status} without an id: {excerpt}")),
            },
            // The request itself is wrong (an unverified sender, a malformed address): no retry
            // can fix it.
            400 | 422 => Outcome::refused(format!("Resend refused the reply ({status}): {excerpt}")),
            _ => Outcome::Failed {
                status: Some(status),
                retry_after,
                error: format!("Resend answered {status}: {excerpt}"),
            },
        }
    }
}

/// The mailbox a reply goes out through: the one the answered mail came to, else the
/// organization's first.
async fn mailbox_of(sender: &ReplySender, org_id: &str, answered: Option<&Entry>) -> Result<Integration, Outcome> {
    let store = &sender.store;
    if let Some(mailbox_id) = answered.and_then(|e| e.email.as_ref()).map(|e| e.mailbox_id.as_str())
        && let Some(integration) = store
            .get_integration(org_id, mailbox_id)
            .await
            .map_err(|e| Outcome::unavailable(format!("{e:?}")))?
    {
        return Ok(integration);
    }
    store
        .list_integrations(org_id)
        .await
        .map_err(|e| Outcome::unavailable(format!("{e:?}")))?
        .into_iter()
        .find(|integration| integration.provider == Provider::Email)
        .ok_or_else(|| Outcome::refused("the organization has no mailbox to send replies through"))
}

/// `Re: <subject>`, unless the subject says `Re:` already.
pub fn reply_subject(subject: &str) -> String {
    let subject = subject.trim();
    let already = subject
        .split_once(':')
        .is_some_and(|(head, _)| head.trim().eq_ignore_ascii_case("re"));
    match (already, normalized_subject(subject).is_empty()) {
        (true, _) => subject.to_string(),
        (false, true) => "Re: (no subject)".to_string(),
        (false, false) => format!("Re: {subject}"),
    }
}

/// `In-Reply-To` and `References` answering `mail`: its Message-ID after its own references.
fn thread_headers(mail: &Entry) -> Option<Value> {
    let id = mail
        .provider_message_id
        .as_deref()
        .filter(|id| !id.ends_with(SYNTHESISED_ID_DOMAIN))?;
    let email = mail.email.as_ref()?;
    let references: Vec<String> = email
        .references
        .iter()
        .map(String::as_str)
        .chain(std::iter::once(id))
        .map(|id| format!("<{id}>"))
        .collect();
    Some(json!({"In-Reply-To": format!("<{id}>"), "References": references.join(" ")}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_say_re_once() {
        assert_eq!(reply_subject("Where is my order?"), "Re: Where is my order?");
        assert_eq!(reply_subject("RE: Where is my order?"), "RE: Where is my order?");
        assert_eq!(reply_subject("AW: Bestellung"), "Re: AW: Bestellung");
        assert_eq!(reply_subject(""), "Re: (no subject)");
    }
}
