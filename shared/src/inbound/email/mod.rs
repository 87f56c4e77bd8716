//! The mailbox doors into the desk, on `email-webhooks`:
//!
//! - `POST /api/webhooks/resend` (and its alias `/api/webhooks/email`): Resend's `email.received`
//!   webhook, signed the Svix way; the mail itself is fetched from Resend's API ([`resend`]).
//! - `POST /api/webhooks/inbound-email`: a raw RFC 822 message, as a mail server or an IMAP sync
//!   forwards it, with the mailbox's token ([`raw`]).
//!
//! Both find the mailbox by a recipient address, then [`land`] the mail the same way: the
//! organization's own senders are ignored, blocked senders dropped; the mail threads onto the
//! ticket whose mail its `In-Reply-To`/`References` name, else the customer's email ticket with
//! the same subject (`Re:`, `AW:`, `Fwd:`, `WG:` stripped) updated within 14 days, else a new
//! ticket; its attachments go to the attachments bucket; `email.received` is published. A mail
//! lands once: the provider's id is claimed by the pipeline, and its Message-ID is stored with its
//! entry, so the same mail through both doors is one entry too.

pub mod raw;
pub mod resend;

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::json;
use time::Duration;

use super::{InboundServices, Processed, Webhook, accept};
use crate::api::attachments::{FormFile, store_file};
use crate::api::tickets::desk::{Desk, NewEntry, NewTicket, new_entry_id, new_ticket_id};
use crate::api::tickets::model::{Channel, Status};
use crate::blob::FileStore;
use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::http::{Route, error_response, find_route, normalized_email};
use crate::runtime::{Error, env_or};
use crate::store::attachments::AttachmentRef;
use crate::store::integrations::Mailbox;
use crate::store::mail::EntryEmail;
use crate::store::tickets::Ticket;

/// A mail threads by subject onto a ticket of the same customer updated this recently.
const SUBJECT_THREAD_DAYS: i64 = 14;

/// A mail's text is kept up to this many characters (the rest is cut, and the cut is said).
const MAX_TEXT_CHARS: usize = 100_000;

/// At most this many attachments of a mail are kept.
const MAX_ATTACHMENTS: usize = 20;

/// What the email doors need besides the pipeline's services.
pub struct EmailDoor {
    pub files: FileStore,
    /// Calls Resend's API.
    pub http: reqwest::Client,
    /// Resend's API (`https://api.resend.com`; tests point it at a local stand-in).
    pub resend_api_url: String,
}

impl EmailDoor {
    pub fn from_env(config: &aws_config::SdkConfig) -> Result<Self, Error> {
        Ok(Self {
            files: FileStore::from_env(config)?,
            http: resend_client(std::time::Duration::from_secs(env_or("RESEND_TIMEOUT_SECONDS", 10)?))?,
            resend_api_url: resend_api_url()?,
        })
    }
}

/// Resend's API base URL, from `RESEND_API_URL`.
pub fn resend_api_url() -> Result<String, Error> {
    Ok(env_or("RESEND_API_URL", "https://api.resend.com".to_string())?
        .trim_end_matches('/')
        .to_string())
}

/// An HTTP client for Resend's API: Resend refuses requests without a `User-Agent`.
pub fn resend_client(timeout: std::time::Duration) -> Result<reqwest::Client, Error> {
    Ok(reqwest::Client::builder()
        .user_agent(concat!("hookgate/", env!("CARGO_PKG_VERSION")))
        .timeout(timeout)
        .build()?)
}

#[derive(Clone, Copy)]
pub enum EmailRoute {
    Resend,
    Raw,
}

/// `email-webhooks`' routes: signatures and tokens, not keys, guard them.
pub const ROUTES: [Route<EmailRoute>; 3] = [
    Route::public(Method::POST, "/api/webhooks/resend", EmailRoute::Resend),
    Route::public(Method::POST, "/api/webhooks/email", EmailRoute::Resend),
    Route::public(Method::POST, "/api/webhooks/inbound-email", EmailRoute::Raw),
];

pub async fn handle(services: &InboundServices, door: &EmailDoor, request: Request) -> Response<Body> {
    let outcome = match find_route(&ROUTES, &request).map(|route| route.route) {
        Ok(EmailRoute::Resend) => accept(services, &resend::Resend { door }, &request).await,
        Ok(EmailRoute::Raw) => accept(services, &raw::RawMail { door }, &request).await,
        Err(error) => Err(error),
    };
    outcome.unwrap_or_else(|error| error_response(&error))
}

/// A received mail, from either door.
#[derive(Debug, Default, Clone)]
pub struct Mail {
    /// The provider's id (Resend's email id).
    pub provider_id: Option<String>,
    /// Without angle brackets.
    pub message_id: Option<String>,
    pub from_name: Option<String>,
    /// Lowercased.
    pub from: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    pub attachments: Vec<FormFile>,
}

/// Lands a verified mail on the desk (see the module's documentation).
pub async fn land(webhook: &Webhook<'_>, door: &EmailDoor, mail: Mail) -> Result<Processed, ApiError> {
    let services = webhook.services;
    let integration = webhook.integration;
    let org_id = integration.org_id.as_str();
    let mailbox = integration.mailbox.as_ref().ok_or_else(ApiError::internal)?;
    if is_own_sender(mailbox, &mail.from) {
        tracing::info!(org_id, "mail from the organization's own sender ignored");
        return Ok(Processed::nothing());
    }
    if let Some(blocked) = services.store.blocking_entry(org_id, &mail.from).await? {
        tracing::info!(org_id, blocked_by = %blocked.sender, "mail from a blocked sender dropped");
        return Ok(Processed::nothing());
    }
    let message_id = mail
        .message_id
        .clone()
        .unwrap_or_else(|| format!("{}@hookgate.invalid", new_entry_id()));
    let desk = Desk {
        store: &services.store,
        publisher: &services.publisher,
        org_id,
        now: webhook.now,
        replies: None,
    };
    let threaded = thread_of(&desk, &mail, &message_id).await?;
    let Some(thread) = threaded else {
        tracing::info!(org_id, "mail stored before (its Message-ID is known): not stored again");
        return Ok(Processed::nothing());
    };
    services
        .store
        .upsert_customer(
            org_id,
            &mail.from,
            &serde_json::Map::from_iter([("email".to_string(), json!(mail.from))]),
            &rfc3339(webhook.now),
        )
        .await?;
    let ticket_id = thread.as_ref().map_or_else(new_ticket_id, |t| t.ticket_id.clone());
    let entry_id = new_entry_id();
    let attachments = keep_attachments(webhook, door, &ticket_id, &entry_id, mail.attachments).await?;
    let email = EntryEmail {
        from: mail.from.clone(),
        to: mail.to,
        cc: mail.cc,
        subject: mail.subject.clone(),
        in_reply_to: mail.in_reply_to,
        references: mail.references,
        mailbox_id: integration.integration_id.clone(),
        provider_id: mail.provider_id.clone(),
    };
    let entry = NewEntry {
        entry_id: Some(entry_id),
        provider_message_id: Some(message_id.clone()),
        email: Some(email),
        attachments,
        content: mail.html.as_ref().map(|html| json!({"html": html})),
        ..NewEntry::from_customer(
            mail.from_name.clone(),
            body_text(mail.text.as_deref(), mail.html.as_deref()),
        )
    };
    let (ticket, entry, new_ticket) = match thread {
        Some(ticket) => {
            let added = desk.add(ticket, entry).await?;
            (added.ticket, added.entry, false)
        }
        None => {
            let new = NewTicket {
                ticket_id: Some(ticket_id),
                subject: subject_or_default(&mail.subject),
                channel: Channel::Email,
                customer_email: Some(mail.from.clone()),
                first: Some(entry),
                ..NewTicket::default()
            };
            let (ticket, first) = desk.open(new).await?;
            (ticket, first.ok_or_else(ApiError::internal)?, true)
        }
    };
    Ok(Processed::publish(
        "email.received",
        json!({
            "emailId": entry.entry_id,
            "providerEmailId": mail.provider_id,
            "messageId": message_id,
            "ticketId": ticket.ticket_id,
            "ticketNumber": ticket.number,
            "newTicket": new_ticket,
            "from": mail.from,
            "fromName": mail.from_name,
            "to": entry.email.as_ref().map(|e| &e.to),
            "subject": mail.subject,
            "attachments": entry.attachments,
            "receivedAt": entry.created_at,
        }),
    ))
}

/// The ticket a mail belongs to: `Some(None)` for a new one, `None` when the mail itself was
/// stored before.
async fn thread_of(desk: &Desk<'_>, mail: &Mail, message_id: &str) -> Result<Option<Option<Ticket>>, ApiError> {
    let mut ids = vec![message_id.to_string()];
    ids.extend(mail.in_reply_to.iter().cloned());
    // The newest references first: the closest mail in the thread decides.
    ids.extend(mail.references.iter().rev().cloned());
    let known = desk.store.tickets_of_messages(desk.org_id, &ids).await?;
    if known.contains_key(message_id) {
        return Ok(None);
    }
    let by_reference = ids[1..].iter().find_map(|id| known.get(id));
    if let Some(ticket_id) = by_reference
        && let Some(ticket) = desk.store.get_ticket(desk.org_id, ticket_id).await?
        && ticket.status != Status::Closed
    {
        return Ok(Some(Some(ticket)));
    }
    let subject = normalized_subject(&mail.subject);
    if subject.is_empty() {
        return Ok(Some(None));
    }
    let since = rfc3339(desk.now - Duration::days(SUBJECT_THREAD_DAYS));
    let recent = desk.store.recent_email_tickets(desk.org_id, &mail.from, &since).await?;
    Ok(Some(recent.into_iter().find(|ticket| {
        ticket.status != Status::Closed && normalized_subject(&ticket.subject) == subject
    })))
}

/// Stores a mail's attachments in the bucket, linked to its ticket and entry. A file the desk
/// cannot take (a malformed type or name) is skipped and logged, not the whole mail.
async fn keep_attachments(
    webhook: &Webhook<'_>,
    door: &EmailDoor,
    ticket_id: &str,
    entry_id: &str,
    files: Vec<FormFile>,
) -> Result<Vec<AttachmentRef>, ApiError> {
    let org_id = webhook.integration.org_id.as_str();
    let now = rfc3339(webhook.now);
    let mut kept = Vec::new();
    for file in files.into_iter().take(MAX_ATTACHMENTS) {
        let links = (Some(ticket_id.to_string()), Some(entry_id.to_string()));
        match store_file(&webhook.services.store, &door.files, org_id, &now, Some(file), links).await {
            Ok(attachment) => kept.push(attachment.into()),
            Err(error) if error.status.is_client_error() => {
                tracing::warn!(org_id, error = %error.message, "a mail's attachment skipped");
            }
            Err(error) => return Err(error),
        }
    }
    Ok(kept)
}

/// Whether mail from `address` is the organization's own: the mailbox's addresses, its reply
/// sender, and the addresses and domains it lists.
pub fn is_own_sender(mailbox: &Mailbox, address: &str) -> bool {
    let address = address.to_lowercase();
    let domain = address.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    let from = mailbox
        .from_address
        .as_deref()
        .and_then(mailbox_address)
        .map(|(_, address)| address);
    mailbox.addresses.contains(&address)
        || from.as_deref() == Some(address.as_str())
        || mailbox.own_senders.iter().any(|own| {
            own == &address || (!own.contains('@') && (domain == own || domain.ends_with(&format!(".{own}"))))
        })
}

/// `Name <addr@host>`, `"Name" <addr@host>` or `addr@host`: the name, if any, and the address,
/// lowercased.
pub fn mailbox_address(text: &str) -> Option<(Option<String>, String)> {
    let text = text.trim();
    match (text.rfind('<'), text.ends_with('>')) {
        (Some(open), true) => {
            let address = normalized_email(&text[open + 1..text.len() - 1])?;
            let name = text[..open].trim().trim_matches('"').trim();
            Some(((!name.is_empty()).then(|| name.to_string()), address))
        }
        _ => Some((None, normalized_email(text)?)),
    }
}

/// The addresses a header lists (`a@x, "B" <b@y>`); unreadable ones are left out.
pub fn address_list(text: &str) -> Vec<String> {
    split_addresses(text)
        .into_iter()
        .filter_map(|part| mailbox_address(&part).map(|(_, address)| address))
        .collect()
}

/// Splits a header's address list at the commas outside quotes and angle brackets.
fn split_addresses(text: &str) -> Vec<String> {
    let (mut parts, mut current, mut quoted, mut angled) = (Vec::new(), String::new(), false, false);
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => angled = true,
            '>' if !quoted => angled = false,
            ',' if !quoted && !angled => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

/// An address lowercased, or a bare domain (`@Example.com` gives `example.com`): how blocked
/// and own senders are kept.
pub fn sender_or_domain(sender: &str) -> Option<String> {
    let sender = sender.trim().trim_start_matches('@');
    if sender.contains('@') {
        return normalized_email(sender);
    }
    let domain = sender.to_lowercase();
    let labels_valid = domain.split('.').all(|label| {
        !label.is_empty() && label.len() <= 63 && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    (domain.contains('.') && domain.len() <= 253 && labels_valid).then_some(domain)
}

/// The Message-IDs a header lists (`<a@x> <b@y>`), without angle brackets.
pub fn message_ids(text: &str) -> Vec<String> {
    let ids: Vec<String> = text
        .split(['<', '>', ' ', ',', '\t', '\r', '\n'])
        .map(str::trim)
        .filter(|id| !id.is_empty() && id.contains('@') && id.len() <= 250)
        .map(str::to_string)
        .collect();
    ids
}

/// A Message-ID without its angle brackets and spaces.
pub fn bare_message_id(text: &str) -> Option<String> {
    message_ids(text).into_iter().next()
}

/// The subject a thread keeps: reply and forward prefixes in several languages (`Re:`, `AW:`,
/// `Fwd:`, `FW:`, `WG:`, `SV:`, `Antw:`, also `Re[2]:`) stripped however often they repeat,
/// whitespace collapsed, lowercased.
pub fn normalized_subject(subject: &str) -> String {
    const PREFIXES: [&str; 8] = ["re", "aw", "fwd", "fw", "wg", "sv", "antw", "tr"];
    let mut rest = subject.trim();
    while let Some((head, tail)) = rest.split_once(':') {
        let head = head.trim().to_lowercase();
        // `Re[2]` and `Re(2)` count replies.
        let word = head.split(['[', '(']).next().unwrap_or_default();
        if !PREFIXES.contains(&word) {
            break;
        }
        rest = tail.trim_start();
    }
    rest.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

fn subject_or_default(subject: &str) -> String {
    let subject = subject.trim();
    if subject.is_empty() {
        "(no subject)".to_string()
    } else {
        subject.chars().take(250).collect()
    }
}

/// The entry's text: the plain part, else the HTML part's text; cut at [`MAX_TEXT_CHARS`].
fn body_text(text: Option<&str>, html: Option<&str>) -> String {
    let text = match (text.map(str::trim).filter(|t| !t.is_empty()), html) {
        (Some(text), _) => text.to_string(),
        (None, Some(html)) => html_to_text(html),
        (None, None) => String::new(),
    };
    if text.chars().count() > MAX_TEXT_CHARS {
        let mut cut: String = text.chars().take(MAX_TEXT_CHARS).collect();
        cut.push_str("\n[message cut: it was longer than 100000 characters]");
        return cut;
    }
    text
}

/// The text of an HTML body: tags dropped (`<br>` and block ends as line breaks), the common
/// entities decoded, style and script contents left out.
pub fn html_to_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len() / 2);
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        text.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('>') else {
            rest = "";
            break;
        };
        let tag = rest[open + 1..open + close].trim().to_lowercase();
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        rest = &rest[open + close + 1..];
        if !tag.starts_with('/') && (name == "style" || name == "script") {
            let end = format!("</{name}");
            rest = rest.to_lowercase().find(&end).map_or("", |at| &rest[at..]);
            continue;
        }
        if ["br", "p", "div", "tr", "li", "h1", "h2", "h3", "blockquote"].contains(&name.as_str())
            && (name == "br" || tag.starts_with('/'))
        {
            text.push('\n');
        }
    }
    text.push_str(rest);
    let decoded = text
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    let lines: Vec<&str> = decoded.lines().map(str::trim).collect();
    lines.join("\n").trim().to_string()
}

/// The address a mailbox's routes know it by: lowercased, a `+tag` also without it.
pub fn route_candidates(addresses: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut candidates: Vec<String> = Vec::new();
    for address in addresses {
        let untagged = address
            .split_once('@')
            .and_then(|(local, domain)| Some(format!("{}@{domain}", local.split_once('+')?.0)));
        for candidate in std::iter::once(address).chain(untagged) {
            if !candidates.contains(&candidate) {
                candidates.push(candidate);
            }
        }
    }
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_lose_reply_and_forward_prefixes_in_several_languages() {
        for subject in [
            "Where is my order?",
            "Re: Where is my order?",
            "RE: re:  Where is   my order?",
            "AW: Where is my order?",
            "Fwd: Re: Where is my order?",
            "WG: Where is my order?",
            "Re[2]: Where is my order?",
        ] {
            assert_eq!(normalized_subject(subject), "where is my order?", "{subject}");
        }
        assert_eq!(normalized_subject("Reminder: order"), "reminder: order");
        assert_eq!(normalized_subject("Re:"), "");
    }

    #[test]
    fn addresses_are_read_with_or_without_names() {
        assert_eq!(
            mailbox_address("\"Doe, Jane\" <Jane@Example.com>"),
            Some((Some("Doe, Jane".into()), "jane@example.com".into()))
        );
        assert_eq!(
            mailbox_address("jane@example.com"),
            Some((None, "jane@example.com".into()))
        );
        assert_eq!(mailbox_address("not an address"), None);
        assert_eq!(
            address_list("\"Doe, Jane\" <jane@example.com>, b@y.org, junk"),
            vec!["jane@example.com", "b@y.org"]
        );
    }

    #[test]
    fn senders_are_addresses_or_domains() {
        assert_eq!(sender_or_domain(" Spam@Example.com "), Some("spam@example.com".into()));
        assert_eq!(sender_or_domain("@Example.com"), Some("example.com".into()));
        assert_eq!(sender_or_domain("mail.example.com"), Some("mail.example.com".into()));
        for bad in ["example", "exa mple.com", "", "@", "a..b", "x@", "-"] {
            assert_eq!(sender_or_domain(bad), None, "{bad}");
        }
    }

    #[test]
    fn message_id_lists_are_split() {
        assert_eq!(message_ids("<a@x> <b@y>\r\n <c@z>"), vec!["a@x", "b@y", "c@z"]);
        assert_eq!(bare_message_id(" <a@x> "), Some("a@x".into()));
    }

    #[test]
    fn own_senders_are_the_mailbox_its_sender_and_its_domains() {
        let mailbox = Mailbox {
            addresses: vec!["abc@inbound.example".into(), "support@shop.com".into()],
            from_address: Some("Shop Support <help@shop.com>".into()),
            own_senders: vec!["agents.shop.com".into(), "owner@gmail.com".into()],
            sealed_api_key: None,
            token_hash: String::new(),
        };
        for own in [
            "support@shop.com",
            "HELP@shop.com",
            "a@agents.shop.com",
            "a@eu.agents.shop.com",
            "owner@gmail.com",
        ] {
            assert!(is_own_sender(&mailbox, own), "{own}");
        }
        for customer in ["customer@gmail.com", "a@shop.com", "a@notagents.shop.com"] {
            assert!(!is_own_sender(&mailbox, customer), "{customer}");
        }
    }

    #[test]
    fn html_bodies_become_text() {
        let html = "<html><style>p{color:red}</style><p>Hello&nbsp;there</p><p>Line&amp;two<br>three</p></html>";
        assert_eq!(html_to_text(html), "Hello there\nLine&two\nthree");
    }

    #[test]
    fn a_tagged_address_also_routes_without_its_tag() {
        assert_eq!(
            route_candidates(["a+shop@x.com".to_string(), "b@y.com".to_string()]),
            vec!["a+shop@x.com", "a@x.com", "b@y.com"]
        );
    }
}
