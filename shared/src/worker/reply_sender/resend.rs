//! A reply as Resend's send API takes it (`POST /emails`): the mailbox's sender, the ticket's
//! customer, the subject of the mail answered with `Re:`, the text (and HTML when the reply has
//! it), and `In-Reply-To`/`References` naming that mail and its thread. The entry's id is the
//! `Idempotency-Key`: Resend keeps keys a day, so a retry after a lost answer sends nothing twice.

use serde_json::{Map, Value, json};

use super::{Outcome, Reply, ReplySender, read_answer};
use crate::mail::normalized_subject;
use crate::store::tickets::Entry;

/// Synthesised Message-IDs (mail that came without one) are never named to the customer.
const SYNTHESISED_ID_DOMAIN: &str = "@hookgate.invalid";

pub async fn send(sender: &ReplySender, reply: &Reply<'_>) -> Outcome {
    let mailbox = match reply.integration.mailbox.as_ref() {
        Some(mailbox) => mailbox,
        None => return Outcome::refused("the mailbox is not an email integration"),
    };
    let Some(customer) = reply.ticket.customer_email.clone() else {
        return Outcome::refused("the ticket has no customer email address");
    };
    let Some(api_key) = mailbox.sealed_api_key.as_deref().and_then(|s| sender.secrets.open(s)) else {
        return Outcome::refused("the mailbox has no Resend API key to send with");
    };
    let from = mailbox
        .from_address
        .clone()
        .or_else(|| mailbox.addresses.get(1).cloned())
        .or_else(|| mailbox.addresses.first().cloned());
    let Some(from) = from else {
        return Outcome::refused("the mailbox has no address to send from");
    };
    let subject = reply
        .answered
        .and_then(|e| e.email.as_ref())
        .map_or(reply.ticket.subject.as_str(), |email| email.subject.as_str());
    let mut body = Map::from_iter([
        ("from".to_string(), json!(from)),
        ("to".to_string(), json!([customer])),
        ("subject".to_string(), json!(reply_subject(subject))),
        ("text".to_string(), json!(reply.entry.content_text)),
    ]);
    if let Some(html) = reply
        .entry
        .content
        .as_ref()
        .and_then(|c| c.get("html"))
        .and_then(Value::as_str)
    {
        body.insert("html".into(), json!(html));
    }
    if let Some(headers) = reply.answered.and_then(thread_headers) {
        body.insert("headers".into(), headers);
    }
    let request = sender
        .http
        .post(format!("{}/emails", sender.apis.resend))
        .bearer_auth(&api_key)
        .header("Idempotency-Key", &reply.entry.entry_id)
        .json(&body);
    let answer = match read_answer(request, "Resend").await {
        Ok(answer) => answer,
        Err(outcome) => return outcome,
    };
    match answer.status {
        200..=299 => answer.id_at("/id"),
        // The request itself is wrong (an unverified sender, a malformed address): no retry
        // can fix it.
        400 | 422 => answer.refused(),
        _ => answer.failed(),
    }
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
