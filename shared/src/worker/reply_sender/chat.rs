//! Replies on the chat channels, each through its provider's send API as the provider documents
//! it: WhatsApp's Cloud API and Messenger's Send API (Meta's Graph API, the account's access
//! token), Slack's `chat.postMessage` in the conversation's thread (the bot token), Twilio's
//! Messages API (the account SID and auth token), with our SMS webhook as the status callback.

use serde_json::json;

use super::{Outcome, Reply, ReplySender, read_answer};
use crate::http::SMS_WEBHOOK_PATH;
use crate::store::tickets::Channel;

/// Where the reply goes, from the message it answers.
fn recipient<'a>(reply: &'a Reply<'_>) -> Result<&'a crate::store::chat::EntryChat, Outcome> {
    reply
        .answered
        .and_then(|entry| entry.chat.as_ref())
        .ok_or_else(|| Outcome::refused("the ticket has no customer's message to answer on its channel"))
}

fn access_token(sender: &ReplySender, reply: &Reply<'_>) -> Result<String, Outcome> {
    reply
        .integration
        .channel
        .as_ref()
        .and_then(|channel| channel.sealed_access_token.as_deref())
        .and_then(|sealed| sender.secrets.open(sealed))
        .ok_or_else(|| Outcome::refused("the integration has no access token to reply with"))
}

pub async fn send(sender: &ReplySender, reply: &Reply<'_>) -> Outcome {
    let sent = match reply.ticket.channel {
        Channel::Whatsapp => whatsapp(sender, reply).await,
        Channel::Messenger => messenger(sender, reply).await,
        Channel::Slack => slack(sender, reply).await,
        Channel::Sms => twilio(sender, reply).await,
        other => Err(Outcome::refused(format!(
            "replies on {} tickets are not sent",
            other.as_str()
        ))),
    };
    sent.unwrap_or_else(|outcome| outcome)
}

/// `POST /{phone_number_id}/messages`: a text message to the customer's WhatsApp id.
async fn whatsapp(sender: &ReplySender, reply: &Reply<'_>) -> Result<Outcome, Outcome> {
    let to = recipient(reply)?;
    let token = access_token(sender, reply)?;
    let body = json!({
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": to.reply_to,
        "type": "text", "text": {"body": reply.entry.content_text},
    });
    let url = format!("{}/{}/messages", sender.apis.graph, reply.integration.account);
    let answer = read_answer(sender.http.post(url).bearer_auth(token).json(&body), "WhatsApp").await?;
    Ok(match answer.status {
        200..=299 => answer.id_at("/messages/0/id"),
        400 => answer.refused(),
        _ => answer.failed(),
    })
}

/// `POST /me/messages`: a `RESPONSE` to the customer's page-scoped id.
async fn messenger(sender: &ReplySender, reply: &Reply<'_>) -> Result<Outcome, Outcome> {
    let to = recipient(reply)?;
    let token = access_token(sender, reply)?;
    let body = json!({
        "recipient": {"id": to.reply_to}, "messaging_type": "RESPONSE",
        "message": {"text": reply.entry.content_text},
    });
    let url = format!("{}/me/messages", sender.apis.graph);
    let request = sender.http.post(url).query(&[("access_token", token)]).json(&body);
    let answer = read_answer(request, "Messenger").await?;
    Ok(match answer.status {
        200..=299 => answer.id_at("/message_id"),
        400 => answer.refused(),
        _ => answer.failed(),
    })
}

/// `chat.postMessage` into the conversation's thread. Slack answers 200 with `ok: false` on
/// errors: rate limits and its own failures are retried, the rest (a channel gone, the app
/// removed) cannot succeed.
async fn slack(sender: &ReplySender, reply: &Reply<'_>) -> Result<Outcome, Outcome> {
    let to = recipient(reply)?;
    let token = access_token(sender, reply)?;
    let mut body = json!({"channel": to.reply_to, "text": reply.entry.content_text});
    if let Some(thread) = &to.thread {
        body["thread_ts"] = json!(thread);
    }
    let url = format!("{}/chat.postMessage", sender.apis.slack);
    let answer = read_answer(sender.http.post(url).bearer_auth(token).json(&body), "Slack").await?;
    if !(200..300).contains(&answer.status) {
        return Ok(answer.failed());
    }
    let error = answer
        .json
        .as_ref()
        .and_then(|v| v.get("error"))
        .and_then(|e| e.as_str());
    Ok(
        match answer
            .json
            .as_ref()
            .and_then(|v| v.get("ok"))
            .and_then(|ok| ok.as_bool())
        {
            Some(true) => answer.id_at("/ts"),
            _ if matches!(
                error,
                Some("ratelimited" | "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout")
            ) =>
            {
                answer.failed()
            }
            _ => answer.refused(),
        },
    )
}

/// `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` from the integration's number, its
/// `StatusCallback` our SMS webhook (whose status callbacks are the reply's receipts).
async fn twilio(sender: &ReplySender, reply: &Reply<'_>) -> Result<Outcome, Outcome> {
    let to = recipient(reply)?;
    let sid = reply
        .integration
        .channel
        .as_ref()
        .and_then(|channel| channel.account_sid.clone())
        .ok_or_else(|| Outcome::refused("the integration has no Twilio account SID"))?;
    let auth_token = reply
        .integration
        .sealed_secret
        .as_deref()
        .and_then(|sealed| sender.secrets.open(sealed))
        .ok_or_else(|| Outcome::refused("the integration has no Twilio auth token"))?;
    let url = format!("{}/2010-04-01/Accounts/{sid}/Messages.json", sender.apis.twilio);
    let status_callback = format!("{}{SMS_WEBHOOK_PATH}", sender.apis.public_base_url);
    let form = [
        ("To", to.reply_to.as_str()),
        ("From", reply.integration.account.as_str()),
        ("Body", reply.entry.content_text.as_str()),
        ("StatusCallback", status_callback.as_str()),
    ];
    let request = sender.http.post(url).basic_auth(&sid, Some(auth_token)).form(&form);
    let answer = read_answer(request, "Twilio").await?;
    Ok(match answer.status {
        200..=299 => answer.id_at("/sid"),
        400 | 404 => answer.refused(),
        _ => answer.failed(),
    })
}
