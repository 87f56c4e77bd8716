//! Mail into the desk and replies out of it, against the emulator and a local stand-in for
//! Resend's API (tests/resend_standin.py, which checks each request as Resend documents it).
//! Resend's webhooks are signed by the Standard Webhooks library, as Svix signs them.

use std::process::Command;
use std::sync::Arc;

use harness::{FixtureRequest, OwnQueue, RESEND_KEY, StandIn, fixture, new_org, read, services, venv_bin};
use serde_json::{Value, json};
use shared::clock::SystemClock;
use shared::inbound::InboundServices;
use shared::inbound::email::EmailDoor;
use shared::outbound::{ReplyQueue, signing::generate_secret};
use shared::runtime::Services;
use shared::worker::reply_sender::ReplySender;
use tokio::sync::OnceCell;

async fn standin() -> &'static StandIn {
    static STANDIN: OnceCell<StandIn> = OnceCell::const_new();
    STANDIN.get_or_init(|| async { StandIn::resend() }).await
}

/// The desk's services, the email doors over `queue` (what they publish lands there), and the
/// stand-in.
struct Mailroom {
    desk: Services,
    inbound: InboundServices,
    door: EmailDoor,
    queue: OwnQueue,
    standin: &'static StandIn,
}

async fn mailroom(name: &str) -> Mailroom {
    let standin = standin().await;
    let queue = OwnQueue::new(name).await;
    let mut inbound = harness::inbound_services(Arc::new(SystemClock)).await;
    inbound.publisher = queue.publisher();
    Mailroom {
        desk: services().await,
        inbound,
        door: EmailDoor {
            files: harness::file_store(),
            http: shared::runtime::provider_client().unwrap(),
            resend_api_url: standin.url.clone(),
        },
        queue,
        standin,
    }
}

/// A connected mailbox: its integration as answered, its inbound address and token.
struct Mailbox {
    integration: Value,
    address: String,
    token: String,
}

async fn connect_mailbox(room: &Mailroom, org: &harness::Org, settings: Value) -> Mailbox {
    let mut body = json!({"provider": "email"});
    body.as_object_mut()
        .unwrap()
        .extend(settings.as_object().unwrap().clone());
    let (status, created) = integrations(
        room,
        fixture("integrations-create.json")
            .key(&org.admin_key)
            .body(body.to_string()),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let integration = created["integration"].clone();
    Mailbox {
        address: integration["mailbox"]["inbound_address"].as_str().unwrap().to_string(),
        token: integration["mailbox"]["inbound_token"].as_str().unwrap().to_string(),
        integration,
    }
}

async fn integrations(room: &Mailroom, request: FixtureRequest) -> (u16, Value) {
    read(shared::api::integrations::handle(&room.desk, &room.inbound.secrets, request.build()).await)
}

async fn email(room: &Mailroom, request: FixtureRequest) -> (u16, Value) {
    read(shared::inbound::email::handle(&room.inbound, &room.door, request.build()).await)
}

/// Posts a raw RFC 822 message with `token`.
async fn post_raw(room: &Mailroom, token: &str, mail: &str) -> (u16, Value) {
    let request = fixture("email-webhooks-inbound-email.json")
        .header("authorization", &format!("Bearer {token}"))
        .body(mail);
    email(room, request).await
}

/// A plain-text mail.
fn mail(from: &str, to: &str, subject: &str, message_id: &str, threading: &str, text: &str) -> String {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n{threading}\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
    )
}

/// `v1,<signature>` of Standard Webhooks over `body`, by the `standardwebhooks` library.
fn svix_signature(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    let script = "import sys, datetime\n\
from standardwebhooks.webhooks import Webhook\n\
at = datetime.datetime.fromtimestamp(int(sys.argv[3]), tz=datetime.timezone.utc)\n\
print(Webhook(sys.argv[1]).sign(sys.argv[2], at, sys.argv[4]))";
    let output = Command::new(venv_bin("python"))
        .args(["-c", script, secret, id, &timestamp.to_string(), body])
        .output()
        .expect("python runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// A Resend webhook request for `event`, signed with `secret` at `timestamp`.
fn resend_webhook(event: &Value, secret: &str, timestamp: i64) -> FixtureRequest {
    let body = event.to_string();
    let id = format!("msg_{}", shared::ids::new_ulid());
    fixture("email-webhooks-resend-received.json")
        .header("svix-id", &id)
        .header("svix-timestamp", &timestamp.to_string())
        .header("svix-signature", &svix_signature(secret, &id, timestamp, &body))
        .body(body)
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Registers a received mail with the stand-in; answers the `email.received` event Resend would
/// post for it.
async fn receive_at_resend(room: &Mailroom, email: Value, attachments: Value) -> Value {
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/_standin/received", room.standin.url))
        .json(&json!({"email": email, "attachments": attachments}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["webhook"].clone()
}

async fn sent_with_key(room: &Mailroom, idempotency_key: &str) -> Vec<Value> {
    room.standin.sent_with_key(idempotency_key).await
}

/// The organization's tickets, newest first.
async fn tickets(room: &Mailroom, org: &harness::Org) -> Vec<shared::store::tickets::Ticket> {
    let filter = shared::store::tickets::TicketFilter::default();
    room.desk
        .store
        .list_tickets(&org.org_id, &filter, 100, None)
        .await
        .unwrap()
        .tickets
}

async fn thread(room: &Mailroom, org: &harness::Org, ticket_id: &str) -> Vec<shared::store::tickets::Entry> {
    room.desk.store.list_entries(&org.org_id, ticket_id).await.unwrap()
}

#[tokio::test]
async fn a_mailbox_gets_an_inbound_address_and_a_token_shown_once() {
    let room = mailroom("email-mailbox").await;
    let org = new_org(&room.desk).await;
    let secret = generate_secret();
    let mailbox = connect_mailbox(
        &room,
        &org,
        json!({"addresses": ["Support@Shop.example"], "secret": secret, "api_key": RESEND_KEY,
               "from_address": "Shop Support <support@shop.example>", "own_senders": ["@shop.example"]}),
    )
    .await;
    assert!(
        mailbox.address.ends_with("@inbound.hookgate.local"),
        "{}",
        mailbox.address
    );
    assert!(mailbox.token.starts_with("hg_in_"));
    let view = &mailbox.integration["mailbox"];
    assert_eq!(view["addresses"], json!([mailbox.address, "support@shop.example"]));
    assert_eq!(view["own_senders"], json!(["shop.example"]));
    assert_eq!(view["has_api_key"], true);
    let shown = mailbox.integration.to_string();
    assert!(!shown.contains(&secret) && !shown.contains(RESEND_KEY));

    let id = mailbox.integration["id"].as_str().unwrap();
    let (status, read_back) = integrations(
        &room,
        fixture("integrations-create.json")
            .key(&org.admin_key)
            .method("GET", &format!("/api/v1/integrations/{id}"))
            .path_parameter("id", id),
    )
    .await;
    assert_eq!(status, 200, "{read_back}");
    assert!(
        read_back["integration"]["mailbox"].get("inbound_token").is_none(),
        "{read_back}"
    );

    // An address routes to one mailbox only.
    let (status, taken) = integrations(
        &room,
        fixture("integrations-create.json")
            .key(&org.admin_key)
            .body(json!({"provider": "email", "addresses": ["support@shop.example"]}).to_string()),
    )
    .await;
    assert_eq!(status, 409, "{taken}");
    for (body, field) in [
        (json!({"provider": "email", "secret": "not-whsec"}), "secret"),
        (
            json!({"provider": "email", "from_address": "Support <nope>"}),
            "from_address",
        ),
        (json!({"provider": "email", "api_key": "sk_live_x"}), "api_key"),
        (
            json!({"provider": "email", "addresses": ["not an address"]}),
            "addresses",
        ),
        (json!({"provider": "email", "own_senders": ["nodot"]}), "own_senders"),
    ] {
        let (status, refused) = integrations(
            &room,
            fixture("integrations-create.json")
                .key(&org.admin_key)
                .body(body.to_string()),
        )
        .await;
        assert_eq!(status, 422, "{refused}");
        assert_eq!(refused["error"]["details"]["field"], field, "{refused}");
    }
}

#[tokio::test]
async fn three_threaded_mails_are_one_ticket_and_a_new_subject_a_second() {
    let room = mailroom("email-threads").await;
    let org = new_org(&room.desk).await;
    let mailbox = connect_mailbox(&room, &org, json!({})).await;
    let customer = "Jane Doe <jane@example.com>";
    let first = mail(
        customer,
        &mailbox.address,
        "Where is my order?",
        "t1@example.com",
        "",
        "Order 4521 is late.",
    );
    let (status, accepted) = post_raw(&room, &mailbox.token, &first).await;
    assert_eq!(status, 200, "{accepted}");
    assert_eq!(accepted["event_id"], "t1@example.com");
    // A reply naming the first by In-Reply-To.
    let second = mail(
        customer,
        &mailbox.address,
        "Re: Where is my order?",
        "t2@example.com",
        "In-Reply-To: <t1@example.com>\r\nReferences: <t1@example.com>\r\n",
        "Any news?",
    );
    assert_eq!(post_raw(&room, &mailbox.token, &second).await.0, 200);
    // A reply to a mail we do not know (the agent's reply, as Resend numbered it), whose
    // References still name the thread.
    let third = mail(
        customer,
        &mailbox.address,
        "AW: Re: Where is my order?",
        "t3@example.com",
        "In-Reply-To: <resend-7@send.example>\r\nReferences: <t1@example.com> <t2@example.com> <resend-7@send.example>\r\n",
        "Danke!",
    );
    assert_eq!(post_raw(&room, &mailbox.token, &third).await.0, 200);
    // No references at all: the subject and the customer thread it.
    let fourth = mail(
        customer,
        &mailbox.address,
        "WG: where is my  ORDER?",
        "t4@example.com",
        "",
        "Still waiting.",
    );
    assert_eq!(post_raw(&room, &mailbox.token, &fourth).await.0, 200);
    // The same mail again: acknowledged as a duplicate, stored once.
    let (status, again) = post_raw(&room, &mailbox.token, &second).await;
    assert_eq!((status, &again["duplicate"]), (200, &json!(true)), "{again}");

    let opened = tickets(&room, &org).await;
    assert_eq!(opened.len(), 1, "{opened:?}");
    let ticket = &opened[0];
    assert_eq!(ticket.subject, "Where is my order?");
    assert_eq!(ticket.customer_email.as_deref(), Some("jane@example.com"));
    let entries = thread(&room, &org, &ticket.ticket_id).await;
    let texts: Vec<&str> = entries.iter().map(|e| e.content_text.as_str()).collect();
    assert_eq!(texts, ["Order 4521 is late.", "Any news?", "Danke!", "Still waiting."]);
    assert_eq!(entries[0].author.name.as_deref(), Some("Jane Doe"));
    assert_eq!(entries[2].email.as_ref().unwrap().references.len(), 3);

    // Another subject from the same customer is another ticket.
    let other = mail(
        customer,
        &mailbox.address,
        "Refund for order 4400",
        "t5@example.com",
        "",
        "Please refund.",
    );
    assert_eq!(post_raw(&room, &mailbox.token, &other).await.0, 200);
    let opened = tickets(&room, &org).await;
    assert_eq!(opened.len(), 2);
    assert_eq!(opened[0].subject, "Refund for order 4400");
}

#[tokio::test]
async fn raw_mail_needs_its_mailbox_token_and_a_known_recipient() {
    let room = mailroom("email-raw-auth").await;
    let org = new_org(&room.desk).await;
    let mailbox = connect_mailbox(&room, &org, json!({})).await;
    let message = mail(
        "a@example.com",
        &mailbox.address,
        "Hello",
        "auth1@example.com",
        "",
        "Hi",
    );
    let (status, refused) = post_raw(&room, "hg_in_wrong", &message).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (401, Some("UNAUTHORIZED")),
        "{refused}"
    );
    let no_token = fixture("email-webhooks-inbound-email.json")
        .without_header("authorization")
        .body(message.clone());
    assert_eq!(email(&room, no_token).await.0, 401);
    let stranger = mail(
        "a@example.com",
        "nobody@inbound.hookgate.local",
        "Hello",
        "auth2@example.com",
        "",
        "Hi",
    );
    assert_eq!(post_raw(&room, &mailbox.token, &stranger).await.0, 401);
    let (status, garbage) = post_raw(&room, &mailbox.token, "not a mail at all").await;
    assert_eq!(status, 400, "{garbage}");
    assert!(tickets(&room, &org).await.is_empty(), "nothing stored");
    // The token by query parameter and the envelope recipient by `?to=` work too.
    let forwarded = mail(
        "b@example.com",
        "support@shop.example",
        "Hello",
        "auth3@example.com",
        "",
        "Hi",
    );
    let request = fixture("email-webhooks-inbound-email.json")
        .without_header("authorization")
        .query("token", &mailbox.token)
        .query("to", &mailbox.address)
        .body(forwarded);
    let (status, accepted) = email(&room, request).await;
    assert_eq!(status, 200, "{accepted}");
    assert_eq!(tickets(&room, &org).await.len(), 1);
}

#[tokio::test]
async fn own_senders_are_ignored_and_blocked_senders_dropped() {
    let room = mailroom("email-senders").await;
    let org = new_org(&room.desk).await;
    let mailbox = connect_mailbox(
        &room,
        &org,
        json!({"own_senders": ["shop.example"], "from_address": "help@shop-mail.example"}),
    )
    .await;
    for (from, id) in [("agent@shop.example", "own1@x"), ("help@shop-mail.example", "own2@x")] {
        let (status, accepted) = post_raw(
            &room,
            &mailbox.token,
            &mail(from, &mailbox.address, "Out of office", id, "", "Away"),
        )
        .await;
        assert_eq!(status, 200, "{accepted}");
    }
    let blocked = |request: FixtureRequest| async {
        read(shared::api::blocked_senders::handle(&room.desk, request.build()).await)
    };
    let (status, created) = blocked(fixture("blocked-senders-block.json").key(&org.admin_key)).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["blocked_sender"]["sender"], "spam.example");
    assert_eq!(
        blocked(fixture("blocked-senders-block.json").key(&org.admin_key))
            .await
            .0,
        409
    );
    let spam = mail(
        "offers@mail.spam.example",
        &mailbox.address,
        "Deals",
        "spam1@x",
        "",
        "Buy now",
    );
    assert_eq!(post_raw(&room, &mailbox.token, &spam).await.0, 200);
    assert!(
        tickets(&room, &org).await.is_empty(),
        "own and blocked senders make no ticket"
    );

    let (status, listed) = blocked(fixture("blocked-senders-list.json").key(&org.admin_key)).await;
    assert_eq!(status, 200);
    assert_eq!(listed["blocked_senders"].as_array().unwrap().len(), 1);
    let unblock = || fixture("blocked-senders-unblock.json").key(&org.admin_key);
    assert_eq!(blocked(unblock()).await.0, 200);
    assert_eq!(blocked(unblock()).await.0, 404);
    let again = mail(
        "offers@mail.spam.example",
        &mailbox.address,
        "Deals",
        "spam2@x",
        "",
        "Buy now",
    );
    assert_eq!(post_raw(&room, &mailbox.token, &again).await.0, 200);
    assert_eq!(
        tickets(&room, &org).await.len(),
        1,
        "unblocked, the sender's mail lands"
    );
    let (status, refused) = blocked(
        fixture("blocked-senders-block.json")
            .key(&org.admin_key)
            .body(json!({"sender": "not a sender"}).to_string()),
    )
    .await;
    assert_eq!(
        (status, refused["error"]["details"]["field"].as_str()),
        (422, Some("sender"))
    );
}

#[tokio::test]
async fn a_resend_mail_lands_with_its_body_and_files_fetched_from_resend() {
    let room = mailroom("email-resend").await;
    let org = new_org(&room.desk).await;
    harness::subscribe(&room.desk, &org, &["email.received", "ticket.created"]).await;
    let secret = generate_secret();
    let mailbox = connect_mailbox(&room, &org, json!({"secret": secret, "api_key": RESEND_KEY})).await;
    let email_id = uuid_like();
    let receipt = b"%PDF-1.4 receipt of order 4521".to_vec();
    use base64::Engine;
    let webhook = receive_at_resend(
        &room,
        json!({"id": email_id, "from": "Jane Doe <jane@example.com>", "to": [mailbox.address],
               "subject": "Damaged parcel", "text": "The parcel arrived damaged, photo attached.",
               "html": "<p>The parcel arrived damaged, photo attached.</p>",
               "message_id": "<resend-in-1@mail.example.com>",
               "headers": {"message-id": "<resend-in-1@mail.example.com>"}}),
        json!([{"id": "att-1", "filename": "receipt.pdf", "content_type": "application/pdf",
                "content_disposition": "attachment", "content_id": null,
                "content_base64": base64::engine::general_purpose::STANDARD.encode(&receipt)}]),
    )
    .await;
    assert_eq!(webhook["type"], "email.received", "{webhook}");

    let (status, accepted) = email(&room, resend_webhook(&webhook, &secret, now())).await;
    assert_eq!(status, 200, "{accepted}");
    assert_eq!(accepted["duplicate"], false);
    let opened = tickets(&room, &org).await;
    assert_eq!(opened.len(), 1);
    let entries = thread(&room, &org, &opened[0].ticket_id).await;
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(entry.content_text, "The parcel arrived damaged, photo attached.");
    assert_eq!(
        entry.provider_message_id.as_deref(),
        Some("resend-in-1@mail.example.com")
    );
    assert_eq!(
        entry.email.as_ref().unwrap().provider_id.as_deref(),
        Some(email_id.as_str())
    );
    assert_eq!(entry.attachments.len(), 1, "{entry:?}");
    let stored = room
        .desk
        .store
        .get_attachment(&org.org_id, &entry.attachments[0].id)
        .await
        .unwrap()
        .unwrap();
    let url = room
        .door
        .files
        .presigned_get(
            &stored.object_key,
            &stored.filename,
            &stored.content_type,
            time::OffsetDateTime::now_utc(),
            std::time::Duration::from_secs(60),
        )
        .unwrap();
    let downloaded = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    assert_eq!(downloaded.as_ref(), receipt.as_slice(), "the file, byte for byte");

    // Svix retries with the same event: acknowledged, stored once.
    let (status, again) = email(&room, resend_webhook(&webhook, &secret, now())).await;
    assert_eq!((status, &again["duplicate"]), (200, &json!(true)), "{again}");
    assert_eq!(thread(&room, &org, &opened[0].ticket_id).await.len(), 1);

    let published = room.queue.drain().await;
    let received: Vec<&Value> = published.iter().filter(|m| m["event"] == "email.received").collect();
    assert_eq!(received.len(), 1, "{published:?}");
    assert_eq!(received[0]["data"]["ticketId"], opened[0].ticket_id.as_str());
    assert_eq!(received[0]["data"]["from"], "jane@example.com");
    assert_eq!(received[0]["data"]["newTicket"], true);
}

#[tokio::test]
async fn resend_signatures_are_checked_on_the_raw_bytes() {
    let room = mailroom("email-resend-signatures").await;
    let org = new_org(&room.desk).await;
    let secret = generate_secret();
    let mailbox = connect_mailbox(&room, &org, json!({"secret": secret, "api_key": RESEND_KEY})).await;
    let webhook = receive_at_resend(
        &room,
        json!({"id": uuid_like(), "from": "x@example.com", "to": [mailbox.address], "subject": "Hi", "text": "Hi"}),
        json!([]),
    )
    .await;
    let signed = resend_webhook(&webhook, &secret, now());
    let flipped = {
        let body = signed.body_text().replacen("Hi", "Ho", 1);
        resend_webhook(&webhook, &secret, now()).body(body)
    };
    let wrong_secret = resend_webhook(&webhook, &generate_secret(), now());
    let stale = resend_webhook(&webhook, &secret, now() - 301);
    let unsigned = resend_webhook(&webhook, &secret, now()).header("svix-signature", "");
    for (case, request) in [
        ("flipped byte", flipped),
        ("wrong secret", wrong_secret),
        ("stale", stale),
        ("unsigned", unsigned),
    ] {
        let (status, refused) = email(&room, request).await;
        assert_eq!(status, 401, "{case}: {refused}");
    }
    assert!(tickets(&room, &org).await.is_empty(), "nothing stored");
    // Several signatures, one of them good (a secret being rotated).
    let good = signed.header_value("svix-signature").to_string();
    let rotating = signed.header("svix-signature", &format!("v1,bm9wZQ== {good}"));
    assert_eq!(email(&room, rotating).await.0, 200);
    assert_eq!(tickets(&room, &org).await.len(), 1);
}

/// A reply sender over `queue`, sending to the stand-in.
async fn reply_sender(room: &Mailroom, queue: ReplyQueue) -> ReplySender {
    ReplySender {
        store: room.desk.store.clone(),
        queue,
        secrets: harness::secret_box().await,
        http: shared::runtime::provider_client().unwrap(),
        apis: harness::provider_apis(&room.standin.url, "http://127.0.0.1:9"),
        retry_delay_scale: 1.0,
        clock: Arc::new(SystemClock),
    }
}

/// An agent's reply on `ticket_id`, queued on `replies`; answers the entry.
async fn agent_reply(room: &Mailroom, org: &harness::Org, replies: &ReplyQueue, ticket_id: &str, text: &str) -> Value {
    let request = fixture("tickets-reply.json")
        .key(&org.admin_key)
        .path_parameter("id", ticket_id)
        .body(json!({"author": {"type": "agent", "name": "Sam"}, "content_text": text}).to_string());
    let (status, added) =
        read(shared::api::tickets::handle(&room.desk, &room.inbound.publisher, replies, request.build()).await);
    assert_eq!(status, 201, "{added}");
    added["conversation"].clone()
}

#[tokio::test]
async fn a_reply_goes_out_through_resend_threaded_and_its_status_is_recorded() {
    let room = mailroom("email-replies").await;
    let org = new_org(&room.desk).await;
    harness::subscribe(&room.desk, &org, &["reply.sent"]).await;
    let mailbox = connect_mailbox(
        &room,
        &org,
        json!({"api_key": RESEND_KEY, "from_address": "Shop Support <support@shop.example>"}),
    )
    .await;
    let first = mail(
        "Jane Doe <jane@example.com>",
        &mailbox.address,
        "Where is my order?",
        "r1@example.com",
        "References: <r0@example.com>\r\n",
        "Order 4521 is late.",
    );
    assert_eq!(post_raw(&room, &mailbox.token, &first).await.0, 200);
    let ticket = tickets(&room, &org).await.remove(0);
    let reply_queue = OwnQueue::new("email-replies-out").await;
    let replies = ReplyQueue {
        sqs: reply_queue.sender.clone(),
        queue_url: reply_queue.url.clone(),
    };
    let entry = agent_reply(&room, &org, &replies, &ticket.ticket_id, "It ships today.").await;
    assert_eq!(entry["delivery"]["status"], "queued", "{entry}");
    let entry_id = entry["id"].as_str().unwrap().to_string();
    let messages = reply_queue.take_bodies().await;
    assert_eq!(messages.len(), 1);
    // `reply.sent` names the customer's mail it answers (seed 000's `emailId`).
    let customer_mail = &thread(&room, &org, &ticket.ticket_id).await[0];
    let published = room.queue.drain().await;
    let sent_event = published
        .iter()
        .find(|m| m["event"] == "reply.sent")
        .expect("reply.sent");
    assert_eq!(sent_event["data"]["emailId"], customer_mail.entry_id.as_str());
    assert_eq!(sent_event["data"]["replyId"], entry_id.as_str());

    let sender = reply_sender(&room, replies.clone()).await;
    let outcome = shared::worker::reply_sender::handle(&sender, harness::sqs_event(&messages, 1)).await;
    assert!(outcome.batch_item_failures.is_empty(), "{outcome:?}");
    let sent = sent_with_key(&room, &entry_id).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    let (headers, body) = (&sent[0]["headers"], &sent[0]["body"]);
    assert_eq!(headers["authorization"], format!("Bearer {RESEND_KEY}"));
    assert_eq!(body["from"], "Shop Support <support@shop.example>");
    assert_eq!(body["to"], json!(["jane@example.com"]));
    assert_eq!(body["subject"], "Re: Where is my order?");
    assert_eq!(body["text"], "It ships today.");
    assert_eq!(body["headers"]["In-Reply-To"], "<r1@example.com>");
    assert_eq!(body["headers"]["References"], "<r0@example.com> <r1@example.com>");
    let stored = room
        .desk
        .store
        .get_entry(&org.org_id, &entry_id)
        .await
        .unwrap()
        .unwrap();
    let delivery = stored.delivery.unwrap();
    assert_eq!((delivery.status.as_str(), delivery.attempts), ("sent", 1));
    assert_eq!(delivery.provider_message_id.as_deref(), sent[0]["id"].as_str());
    // Delivered again (SQS is at least once): nothing is sent twice.
    let outcome = shared::worker::reply_sender::handle(&sender, harness::sqs_event(&messages, 2)).await;
    assert!(outcome.batch_item_failures.is_empty());
    assert_eq!(sent_with_key(&room, &entry_id).await.len(), 1);

    // Resend failing once: the reply waits, then goes out on the next receive.
    reqwest::Client::new()
        .post(format!("{}/_standin/fail-next", room.standin.url))
        .json(&json!({"status": 503, "count": 1}))
        .send()
        .await
        .unwrap();
    let entry = agent_reply(&room, &org, &replies, &ticket.ticket_id, "Tracking: 1Z999.").await;
    let entry_id = entry["id"].as_str().unwrap().to_string();
    let messages = reply_queue.take_bodies().await;
    let outcome = shared::worker::reply_sender::handle(&sender, harness::sqs_event(&messages, 1)).await;
    assert_eq!(outcome.batch_item_failures.len(), 1, "retried later");
    let waiting = room
        .desk
        .store
        .get_entry(&org.org_id, &entry_id)
        .await
        .unwrap()
        .unwrap()
        .delivery
        .unwrap();
    assert_eq!((waiting.status.as_str(), waiting.attempts), ("queued", 1));
    assert!(waiting.error.unwrap().contains("503"));
    let outcome = shared::worker::reply_sender::handle(&sender, harness::sqs_event(&messages, 2)).await;
    assert!(outcome.batch_item_failures.is_empty());
    let sent = room
        .desk
        .store
        .get_entry(&org.org_id, &entry_id)
        .await
        .unwrap()
        .unwrap()
        .delivery
        .unwrap();
    assert_eq!((sent.status.as_str(), sent.attempts), ("sent", 2));
    assert_eq!(sent_with_key(&room, &entry_id).await.len(), 1);
    // An internal note is never sent.
    let request = fixture("tickets-reply.json")
        .key(&org.admin_key)
        .path_parameter("id", &ticket.ticket_id)
        .body(json!({"author": {"type": "agent"}, "content_text": "note", "internal": true}).to_string());
    let (status, note) =
        read(shared::api::tickets::handle(&room.desk, &room.inbound.publisher, &replies, request.build()).await);
    assert_eq!(status, 201, "{note}");
    assert!(note["conversation"]["delivery"].is_null());
    assert!(reply_queue.take_bodies().await.is_empty());
}

#[tokio::test]
async fn a_reply_that_cannot_be_sent_fails_at_once() {
    let room = mailroom("email-replies-refused").await;
    let org = new_org(&room.desk).await;
    // No Resend key: nothing can send its replies.
    let mailbox = connect_mailbox(&room, &org, json!({})).await;
    let first = mail(
        "jane@example.com",
        &mailbox.address,
        "Hello",
        "f1@example.com",
        "",
        "Hi",
    );
    assert_eq!(post_raw(&room, &mailbox.token, &first).await.0, 200);
    let ticket = tickets(&room, &org).await.remove(0);
    let reply_queue = OwnQueue::new("email-replies-refused-out").await;
    let replies = ReplyQueue {
        sqs: reply_queue.sender.clone(),
        queue_url: reply_queue.url.clone(),
    };
    let entry = agent_reply(&room, &org, &replies, &ticket.ticket_id, "Hello back").await;
    let entry_id = entry["id"].as_str().unwrap();
    let messages = reply_queue.take_bodies().await;
    let sender = reply_sender(&room, replies.clone()).await;
    let outcome = shared::worker::reply_sender::handle(&sender, harness::sqs_event(&messages, 1)).await;
    assert_eq!(
        outcome.batch_item_failures.len(),
        1,
        "released to the dead-letter queue"
    );
    let failed = room
        .desk
        .store
        .get_entry(&org.org_id, entry_id)
        .await
        .unwrap()
        .unwrap()
        .delivery
        .unwrap();
    assert_eq!((failed.status.as_str(), failed.attempts), ("failed", 1));
    assert!(failed.error.unwrap().contains("API key"));
    assert!(sent_with_key(&room, entry_id).await.is_empty());
}

/// An id shaped like Resend's (a UUID), unique per call.
fn uuid_like() -> String {
    let ulid = shared::ids::new_ulid().to_lowercase();
    format!(
        "{}-{}-{}-{}-{}",
        &ulid[0..8],
        &ulid[8..12],
        &ulid[12..16],
        &ulid[16..20],
        &ulid[20..26]
    )
}
