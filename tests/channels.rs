//! The chat and phone channels against the emulator and a local stand-in for the providers' send
//! APIs (tests/chat_standin.py, which checks each request as the provider documents it). Every
//! webhook is signed by the provider's own library or documented recipe (tests/sign_channel.py):
//! accepted and landing on the right ticket; a flipped byte, a wrong secret and a stale
//! timestamp refused with nothing stored; a provider's retry stored once; a reply sent as the
//! provider documents; receipts moving the reply's status; the handshakes answered.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use harness::{FixtureRequest, OwnQueue, StandIn, fixture, new_org, read, repo_root, services, venv_bin};
use serde_json::{Value, json};
use shared::clock::SystemClock;
use shared::inbound::InboundServices;
use shared::outbound::ReplyQueue;
use shared::runtime::Services;
use shared::store::tickets::{Entry, Ticket, TicketFilter};
use shared::worker::reply_sender::{ProviderApis, ReplySender};
use tokio::sync::OnceCell;

const META_TOKEN: &str = "EAAtest";
const SLACK_TOKEN: &str = "xoxb-test";
const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";
const TWILIO_TOKEN: &str = "twilio-test-token";
const PUBLIC_BASE_URL: &str = "https://api.example.com";

async fn standin() -> &'static StandIn {
    static STANDIN: OnceCell<StandIn> = OnceCell::const_new();
    STANDIN.get_or_init(|| async { StandIn::chat() }).await
}

/// The desk, the channels' webhooks over `queue`, and the reply queue of a test of its own.
struct Channels {
    desk: Services,
    inbound: InboundServices,
    queue: OwnQueue,
    replies: ReplyQueue,
    reply_queue: OwnQueue,
    standin: &'static StandIn,
}

async fn channels(name: &str) -> Channels {
    let queue = OwnQueue::new(name).await;
    let reply_queue = OwnQueue::new(&format!("{name}-replies")).await;
    let mut inbound = harness::inbound_services(Arc::new(SystemClock)).await;
    inbound.publisher = queue.publisher();
    Channels {
        desk: services().await,
        inbound,
        replies: ReplyQueue {
            sqs: reply_queue.sender.clone(),
            queue_url: reply_queue.url.clone(),
        },
        queue,
        reply_queue,
        standin: standin().await,
    }
}

/// A unique run of digits, for accounts and phone numbers.
fn unique_digits(length: usize) -> String {
    let ulid = shared::ids::new_ulid();
    let digits: String = ulid.bytes().rev().map(|b| char::from(b'0' + b % 10)).collect();
    digits[..length].to_string()
}

async fn connect(c: &Channels, org: &harness::Org, body: Value) -> Value {
    let request = fixture("integrations-create.json")
        .key(&org.admin_key)
        .body(body.to_string());
    let (status, created) = read(shared::api::integrations::handle(&c.desk, &c.inbound.secrets, request.build()).await);
    assert_eq!(status, 201, "{created}");
    created["integration"].clone()
}

/// Signs with tests/sign_channel.py.
fn sign(args: &[&str]) -> String {
    let output = Command::new(venv_bin("python"))
        .arg(repo_root().join("tests/sign_channel.py"))
        .args(args)
        .output()
        .expect("python runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

async fn tickets(c: &Channels, org: &harness::Org) -> Vec<Ticket> {
    c.desk
        .store
        .list_tickets(&org.org_id, &TicketFilter::default(), 100, None)
        .await
        .unwrap()
        .tickets
}

async fn thread(c: &Channels, org: &harness::Org, ticket_id: &str) -> Vec<Entry> {
    c.desk.store.list_entries(&org.org_id, ticket_id).await.unwrap()
}

/// An agent's reply on `ticket_id`, sent by the reply sender; answers the entry's id.
async fn reply_and_send(c: &Channels, org: &harness::Org, ticket_id: &str, text: &str) -> String {
    let request = fixture("tickets-reply.json")
        .key(&org.admin_key)
        .path_parameter("id", ticket_id)
        .body(json!({"author": {"type": "agent", "name": "Sam"}, "content_text": text}).to_string());
    let (status, added) =
        read(shared::api::tickets::handle(&c.desk, &c.inbound.publisher, &c.replies, request.build()).await);
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["conversation"]["delivery"]["status"], "queued", "{added}");
    let entry_id = added["conversation"]["id"].as_str().unwrap().to_string();
    let received = c
        .reply_queue
        .sqs
        .receive_message()
        .queue_url(&c.reply_queue.url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let bodies: Vec<String> = received
        .messages()
        .iter()
        .map(|m| m.body().unwrap().to_string())
        .collect();
    assert_eq!(bodies.len(), 1);
    let sender = ReplySender {
        store: c.desk.store.clone(),
        queue: c.replies.clone(),
        secrets: harness::secret_box().await,
        http: shared::runtime::provider_client().unwrap(),
        apis: ProviderApis {
            // Where this test's SMS webhook requests are signed for.
            public_base_url: PUBLIC_BASE_URL.into(),
            ..harness::provider_apis("http://127.0.0.1:9", &c.standin.url)
        },
        retry_delay_scale: 1.0,
        clock: Arc::new(SystemClock),
    };
    let outcome = shared::worker::reply_sender::handle(&sender, harness::sqs_event(&bodies, 1)).await;
    assert!(
        outcome.batch_item_failures.is_empty(),
        "not sent: {}",
        delivery(c, org, &entry_id).await
    );
    entry_id
}

/// What the stand-in accepted from `provider`.
async fn sent(c: &Channels, provider: &str) -> Vec<Value> {
    c.standin.sent(&format!("?provider={provider}")).await
}

async fn delivery(c: &Channels, org: &harness::Org, entry_id: &str) -> Value {
    let entry = c.desk.store.get_entry(&org.org_id, entry_id).await.unwrap().unwrap();
    serde_json::to_value(entry.delivery).unwrap()
}

// --- WhatsApp ---------------------------------------------------------------------------------

const META_SECRET: &str = "meta-app-secret-for-tests";

fn whatsapp_body(phone_number_id: &str, value: Value) -> String {
    let mut value = value;
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] = json!({"display_phone_number": "15550783881", "phone_number_id": phone_number_id});
    json!({"object": "whatsapp_business_account",
           "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}]})
    .to_string()
}

fn whatsapp_text(phone_number_id: &str, from: &str, wamid: &str, text: &str) -> String {
    whatsapp_body(
        phone_number_id,
        json!({"contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": from}],
               "messages": [{"from": from, "id": wamid, "timestamp": now().to_string(), "type": "text",
                             "text": {"body": text}}]}),
    )
}

fn meta_request(fixture_name: &str, body: &str, secret: &str) -> FixtureRequest {
    fixture(fixture_name)
        .header("x-hub-signature-256", &sign(&["meta", secret, body]))
        .body(body.to_string())
}

/// WhatsApp's source, fetching media from the stand-in.
async fn whatsapp_source(c: &Channels) -> shared::inbound::whatsapp::Whatsapp {
    shared::inbound::whatsapp::Whatsapp {
        files: harness::file_store(),
        http: shared::runtime::provider_client().unwrap(),
        graph_url: harness::provider_apis("http://127.0.0.1:9", &c.standin.url).graph,
    }
}

async fn whatsapp(c: &Channels, request: FixtureRequest) -> (u16, Value) {
    read(shared::inbound::whatsapp::handle(&c.inbound, &whatsapp_source(c).await, request.build()).await)
}

#[tokio::test]
async fn whatsapp_messages_land_replies_go_out_and_statuses_move_them() {
    let c = channels("channels-whatsapp").await;
    let org = new_org(&c.desk).await;
    harness::subscribe(&c.desk, &org, &["message.received"]).await;
    let phone_number_id = unique_digits(15);
    let verify_token = format!("verify-{phone_number_id}");
    connect(
        &c,
        &org,
        json!({"provider": "whatsapp", "account_id": phone_number_id, "secret": META_SECRET,
               "access_token": META_TOKEN, "verify_token": verify_token}),
    )
    .await;

    // The handshake answers the challenge for a connected verify token only.
    let handshake = |token: &str| {
        fixture("whatsapp-webhooks-handshake.json")
            .without_query()
            .query("hub.mode", "subscribe")
            .query("hub.verify_token", token)
            .query("hub.challenge", "1158201444")
    };
    let response =
        shared::inbound::whatsapp::handle(&c.inbound, &whatsapp_source(&c).await, handshake(&verify_token).build())
            .await;
    assert_eq!(response.status(), 200);
    assert_eq!(std::str::from_utf8(response.body().as_ref()).unwrap(), "1158201444");
    assert_eq!(whatsapp(&c, handshake("not-the-token")).await.0, 403);

    let customer = format!("1{}", unique_digits(10));
    let first = whatsapp_text(&phone_number_id, &customer, "wamid.first", "Where is my order #4521?");
    // Refused with nothing stored: a flipped byte, a wrong secret, no signature.
    let flipped = {
        let signed = meta_request("whatsapp-webhooks-message.json", &first, META_SECRET);
        let header = signed.header_value("x-hub-signature-256").to_string();
        fixture("whatsapp-webhooks-message.json")
            .header("x-hub-signature-256", &header)
            .body(first.replace("#4521", "#4522"))
    };
    for request in [
        flipped,
        meta_request("whatsapp-webhooks-message.json", &first, "another-app-secret"),
        fixture("whatsapp-webhooks-message.json")
            .without_header("x-hub-signature-256")
            .body(first.clone()),
    ] {
        let (status, refused) = whatsapp(&c, request).await;
        assert_eq!(status, 401, "{refused}");
    }
    assert!(tickets(&c, &org).await.is_empty(), "nothing stored");

    let (status, accepted) = whatsapp(&c, meta_request("whatsapp-webhooks-message.json", &first, META_SECRET)).await;
    assert_eq!((status, &accepted["duplicate"]), (200, &json!(false)), "{accepted}");
    // Meta's retry of the same webhook, and the same message batched anew: stored once.
    let (status, again) = whatsapp(&c, meta_request("whatsapp-webhooks-message.json", &first, META_SECRET)).await;
    assert_eq!((status, &again["duplicate"]), (200, &json!(true)));
    let rebatched = whatsapp_body(
        &phone_number_id,
        json!({"messages": [{"from": customer, "id": "wamid.first", "timestamp": "1", "type": "text", "text": {"body": "Where is my order #4521?"}}],
               "statuses": []}),
    );
    assert_eq!(
        whatsapp(
            &c,
            meta_request("whatsapp-webhooks-message.json", &rebatched, META_SECRET)
        )
        .await
        .0,
        200
    );
    let second = whatsapp_text(&phone_number_id, &customer, "wamid.second", "It was due Monday.");
    assert_eq!(
        whatsapp(&c, meta_request("whatsapp-webhooks-message.json", &second, META_SECRET))
            .await
            .0,
        200
    );

    let opened = tickets(&c, &org).await;
    assert_eq!(opened.len(), 1, "one ticket for the customer's conversation");
    let ticket = &opened[0];
    assert_eq!(serde_json::to_value(ticket.channel).unwrap(), "whatsapp");
    let entries = thread(&c, &org, &ticket.ticket_id).await;
    let texts: Vec<&str> = entries.iter().map(|e| e.content_text.as_str()).collect();
    assert_eq!(texts, ["Where is my order #4521?", "It was due Monday."]);
    assert_eq!(entries[0].author.name.as_deref(), Some("Sheena Nelson"));
    let found = c
        .desk
        .store
        .customer_by_identity(&org.org_id, "whatsapp", &customer)
        .await
        .unwrap()
        .expect("the customer, found by their WhatsApp id");
    assert_eq!(found.fields["name"], "Sheena Nelson");
    let published: Vec<Value> = c.queue.drain().await;
    let received: Vec<&Value> = published.iter().filter(|m| m["event"] == "message.received").collect();
    assert_eq!(received.len(), 2, "{published:?}");
    assert_eq!(received[0]["data"]["channel"], "whatsapp");

    // A photo: its file fetched from the Graph API into the bucket, byte for byte.
    let photo_bytes = b"\xff\xd8\xff\xe0 a photo of the parcel";
    use base64::Engine;
    let registered = reqwest::Client::new()
        .post(format!("{}/_standin/media", c.standin.url))
        .json(&json!({"id": "1037543291543636", "mime_type": "image/jpeg",
                      "content_base64": base64::engine::general_purpose::STANDARD.encode(photo_bytes)}))
        .send()
        .await
        .unwrap();
    assert!(registered.status().is_success());
    let photo = whatsapp_body(
        &phone_number_id,
        json!({"messages": [{"from": customer, "id": "wamid.photo", "timestamp": now().to_string(), "type": "image",
                             "image": {"id": "1037543291543636", "mime_type": "image/jpeg", "sha256": "x", "caption": "Dented box"}}]}),
    );
    assert_eq!(
        whatsapp(&c, meta_request("whatsapp-webhooks-message.json", &photo, META_SECRET))
            .await
            .0,
        200
    );
    let entries = thread(&c, &org, &ticket.ticket_id).await;
    let with_photo = entries
        .iter()
        .find(|e| e.content_text == "[image] Dented box")
        .expect("the photo's entry");
    assert_eq!(with_photo.attachments.len(), 1, "{with_photo:?}");
    let stored = c
        .desk
        .store
        .get_attachment(&org.org_id, &with_photo.attachments[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.content_type, "image/jpeg");
    let url = whatsapp_source(&c)
        .await
        .files
        .presigned_get(
            &stored.object_key,
            &stored.filename,
            &stored.content_type,
            time::OffsetDateTime::now_utc(),
            Duration::from_secs(60),
        )
        .unwrap();
    let downloaded = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    assert_eq!(downloaded.as_ref(), photo_bytes.as_slice());

    // The agent's reply goes out through the Cloud API.
    let entry_id = reply_and_send(&c, &org, &ticket.ticket_id, "It ships today.").await;
    let out = sent(&c, "whatsapp").await;
    let request = out
        .iter()
        .find(|s| s["body"]["text"]["body"] == "It ships today.")
        .expect("sent to WhatsApp");
    assert_eq!(request["path"], format!("/v21.0/{phone_number_id}/messages"));
    assert_eq!(request["headers"]["authorization"], format!("Bearer {META_TOKEN}"));
    assert_eq!(request["body"]["to"], customer.as_str());
    assert_eq!(request["body"]["messaging_product"], "whatsapp");
    let wamid = request["id"].as_str().unwrap();
    let recorded = delivery(&c, &org, &entry_id).await;
    assert_eq!(
        (recorded["status"].as_str(), recorded["provider_message_id"].as_str()),
        (Some("sent"), Some(wamid))
    );

    // Statuses: delivered, read, then a late delivered that moves nothing back.
    for state in ["delivered", "read", "delivered"] {
        let status = whatsapp_body(
            &phone_number_id,
            json!({"statuses": [{"id": wamid, "status": state, "timestamp": now().to_string(), "recipient_id": customer}]}),
        );
        assert_eq!(
            whatsapp(&c, meta_request("whatsapp-webhooks-message.json", &status, META_SECRET))
                .await
                .0,
            200
        );
    }
    assert_eq!(delivery(&c, &org, &entry_id).await["status"], "read");
}

// --- Messenger --------------------------------------------------------------------------------

fn messenger_body(page: &str, messaging: Value) -> String {
    json!({"object": "page", "entry": [{"id": page, "time": now() * 1000, "messaging": [messaging]}]}).to_string()
}

async fn messenger(c: &Channels, request: FixtureRequest) -> (u16, Value) {
    read(shared::inbound::messenger::handle(&c.inbound, request.build()).await)
}

#[tokio::test]
async fn messenger_messages_land_echoes_do_not_and_replies_go_out() {
    let c = channels("channels-messenger").await;
    let org = new_org(&c.desk).await;
    let page = unique_digits(15);
    connect(
        &c,
        &org,
        json!({"provider": "messenger", "account_id": page, "secret": META_SECRET,
               "access_token": META_TOKEN, "verify_token": format!("verify-{page}")}),
    )
    .await;
    let psid = unique_digits(16);
    let message = messenger_body(
        &page,
        json!({"sender": {"id": psid}, "recipient": {"id": page}, "timestamp": now() * 1000,
               "message": {"mid": "m_first", "text": "Can I change my address?"}}),
    );
    // The handshake, for this page's verify token only.
    let handshake = |token: &str| {
        fixture("whatsapp-webhooks-handshake.json")
            .method("GET", "/api/webhooks/messenger")
            .without_query()
            .query("hub.mode", "subscribe")
            .query("hub.verify_token", token)
            .query("hub.challenge", "8675309")
    };
    let answered = shared::inbound::messenger::handle(&c.inbound, handshake(&format!("verify-{page}")).build()).await;
    assert_eq!(
        (answered.status().as_u16(), answered.body().as_ref()),
        (200, b"8675309".as_slice())
    );
    assert_eq!(messenger(&c, handshake("verify-someone-else")).await.0, 403);
    // Refused with nothing stored: a wrong secret, a flipped byte.
    assert_eq!(
        messenger(&c, meta_request("messenger-webhooks-message.json", &message, "wrong"))
            .await
            .0,
        401
    );
    let signed = meta_request("messenger-webhooks-message.json", &message, META_SECRET);
    let flipped = fixture("messenger-webhooks-message.json")
        .header("x-hub-signature-256", signed.header_value("x-hub-signature-256"))
        .body(message.replace("address", "addrass"));
    assert_eq!(messenger(&c, flipped).await.0, 401);
    assert!(tickets(&c, &org).await.is_empty(), "nothing stored");
    let (status, accepted) = messenger(
        &c,
        meta_request("messenger-webhooks-message.json", &message, META_SECRET),
    )
    .await;
    assert_eq!(status, 200, "{accepted}");
    // Meta's retry.
    let (status, again) = messenger(
        &c,
        meta_request("messenger-webhooks-message.json", &message, META_SECRET),
    )
    .await;
    assert_eq!((status, &again["duplicate"]), (200, &json!(true)));
    let echo = messenger_body(
        &page,
        json!({"sender": {"id": page}, "recipient": {"id": psid}, "timestamp": now() * 1000,
               "message": {"mid": "m_echo", "text": "Our own reply", "is_echo": true, "app_id": 1}}),
    );
    assert_eq!(
        messenger(&c, meta_request("messenger-webhooks-message.json", &echo, META_SECRET))
            .await
            .0,
        200
    );
    let opened = tickets(&c, &org).await;
    assert_eq!(opened.len(), 1);
    assert_eq!(
        thread(&c, &org, &opened[0].ticket_id).await.len(),
        1,
        "the echo is not a message"
    );

    let entry_id = reply_and_send(&c, &org, &opened[0].ticket_id, "Yes, tell us the new one.").await;
    let out = sent(&c, "messenger").await;
    let request = out
        .iter()
        .find(|s| s["body"]["message"]["text"] == "Yes, tell us the new one.")
        .expect("sent to Messenger");
    assert_eq!(request["body"]["recipient"]["id"], psid.as_str());
    assert_eq!(request["body"]["messaging_type"], "RESPONSE");
    assert_eq!(request["query"]["access_token"], META_TOKEN);
    let mid = request["id"].as_str().unwrap();
    let receipt = messenger_body(
        &page,
        json!({"sender": {"id": psid}, "recipient": {"id": page}, "delivery": {"mids": [mid], "watermark": now() * 1000}}),
    );
    assert_eq!(
        messenger(
            &c,
            meta_request("messenger-webhooks-message.json", &receipt, META_SECRET)
        )
        .await
        .0,
        200
    );
    assert_eq!(delivery(&c, &org, &entry_id).await["status"], "delivered");
}

// --- Slack ------------------------------------------------------------------------------------

const SLACK_SECRET: &str = "slack-signing-secret-for-tests";

fn slack_request(body: &str, secret: &str, timestamp: i64) -> FixtureRequest {
    let ts = timestamp.to_string();
    fixture("slack-webhooks-message.json")
        .header("x-slack-request-timestamp", &ts)
        .header("x-slack-signature", &sign(&["slack", secret, &ts, body]))
        .body(body.to_string())
}

fn slack_event(team: &str, event_id: &str, event: Value) -> String {
    json!({"token": "x", "team_id": team, "api_app_id": "A1", "type": "event_callback",
           "event_id": event_id, "event_time": now(), "event": event})
    .to_string()
}

async fn slack(c: &Channels, request: FixtureRequest) -> (u16, Value) {
    read(shared::inbound::slack::handle(&c.inbound, request.build()).await)
}

#[tokio::test]
async fn slack_threads_are_tickets_retries_land_once_and_replies_go_into_the_thread() {
    let c = channels("channels-slack").await;
    let org = new_org(&c.desk).await;
    let team = format!("T{}", unique_digits(9));
    connect(
        &c,
        &org,
        json!({"provider": "slack", "account_id": team, "secret": SLACK_SECRET, "access_token": SLACK_TOKEN}),
    )
    .await;
    let verification = json!({"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification"});
    let (status, answered) = slack(&c, slack_request(&verification.to_string(), SLACK_SECRET, now())).await;
    assert_eq!((status, &answered["challenge"]), (200, &verification["challenge"]));

    let top = slack_event(
        &team,
        "Ev1",
        json!({"type": "message", "channel": "C0SUPPORT1", "user": "U1", "text": "Our invoice is missing.", "ts": "100.1"}),
    );
    for (case, request) in [
        ("wrong secret", slack_request(&top, "another-secret", now())),
        ("stale", slack_request(&top, SLACK_SECRET, now() - 301)),
        ("flipped byte", {
            let signed = slack_request(&top, SLACK_SECRET, now());
            let (ts, sig) = (
                signed.header_value("x-slack-request-timestamp").to_string(),
                signed.header_value("x-slack-signature").to_string(),
            );
            fixture("slack-webhooks-message.json")
                .header("x-slack-request-timestamp", &ts)
                .header("x-slack-signature", &sig)
                .body(top.replace("missing", "mussing"))
        }),
    ] {
        assert_eq!(slack(&c, request).await.0, 401, "{case}");
    }
    assert!(tickets(&c, &org).await.is_empty(), "nothing stored");
    assert_eq!(slack(&c, slack_request(&top, SLACK_SECRET, now())).await.0, 200);
    // Slack's retry of the same event.
    let (status, retried) = slack(
        &c,
        slack_request(&top, SLACK_SECRET, now()).header("x-slack-retry-num", "1"),
    )
    .await;
    assert_eq!((status, &retried["duplicate"]), (200, &json!(true)));
    let in_thread = slack_event(
        &team,
        "Ev2",
        json!({"type": "message", "channel": "C0SUPPORT1", "user": "U1", "text": "It was due in March.", "ts": "100.2", "thread_ts": "100.1"}),
    );
    assert_eq!(slack(&c, slack_request(&in_thread, SLACK_SECRET, now())).await.0, 200);
    let bot = slack_event(
        &team,
        "Ev3",
        json!({"type": "message", "channel": "C0SUPPORT1", "bot_id": "B1", "text": "Bot says hi", "ts": "100.3", "thread_ts": "100.1"}),
    );
    assert_eq!(slack(&c, slack_request(&bot, SLACK_SECRET, now())).await.0, 200);
    let opened = tickets(&c, &org).await;
    assert_eq!(opened.len(), 1, "one ticket per thread");
    assert_eq!(
        thread(&c, &org, &opened[0].ticket_id).await.len(),
        2,
        "the bot's message is not stored"
    );
    let other = slack_event(
        &team,
        "Ev4",
        json!({"type": "message", "channel": "C0SUPPORT1", "user": "U2", "text": "Another question", "ts": "200.1"}),
    );
    assert_eq!(slack(&c, slack_request(&other, SLACK_SECRET, now())).await.0, 200);
    assert_eq!(tickets(&c, &org).await.len(), 2, "a new thread, a new ticket");

    let ticket = tickets(&c, &org)
        .await
        .into_iter()
        .find(|t| t.subject.starts_with("Our invoice"))
        .unwrap();
    let entry_id = reply_and_send(&c, &org, &ticket.ticket_id, "Sent it again.").await;
    let out = sent(&c, "slack").await;
    let request = out
        .iter()
        .find(|s| s["body"]["text"] == "Sent it again.")
        .expect("posted to Slack");
    assert_eq!(request["headers"]["authorization"], format!("Bearer {SLACK_TOKEN}"));
    assert_eq!(
        (
            request["body"]["channel"].as_str(),
            request["body"]["thread_ts"].as_str()
        ),
        (Some("C0SUPPORT1"), Some("100.1"))
    );
    assert_eq!(delivery(&c, &org, &entry_id).await["status"], "sent");
}

// --- SMS --------------------------------------------------------------------------------------

fn sms_request(params: &[(&str, &str)], auth_token: &str) -> FixtureRequest {
    let object: serde_json::Map<String, Value> = params.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    let signature = sign(&[
        "twilio",
        auth_token,
        &format!("{PUBLIC_BASE_URL}/api/webhooks/sms"),
        &Value::Object(object).to_string(),
    ]);
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter())
        .finish();
    fixture("sms-webhooks-message.json")
        .header("x-twilio-signature", &signature)
        .body(body)
}

async fn sms(c: &Channels, request: FixtureRequest) -> (u16, String) {
    let source = shared::inbound::sms::Sms {
        public_base_url: PUBLIC_BASE_URL.to_string(),
    };
    let response = shared::inbound::sms::handle(&c.inbound, &source, request.build()).await;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    let body = String::from_utf8_lossy(response.body().as_ref()).into_owned();
    if status == 200 {
        assert_eq!(content_type.as_deref(), Some("text/xml"));
    }
    (status, body)
}

#[tokio::test]
async fn sms_lands_answers_twiml_and_replies_go_out_through_twilio() {
    let c = channels("channels-sms").await;
    let org = new_org(&c.desk).await;
    let number = format!("+1500{}", unique_digits(7));
    connect(
        &c,
        &org,
        json!({"provider": "sms", "account_id": number, "secret": TWILIO_TOKEN, "account_sid": TWILIO_SID}),
    )
    .await;
    let customer = format!("+1415{}", unique_digits(7));
    let message = [
        ("MessageSid", "SM11111111111111111111111111111111"),
        ("AccountSid", TWILIO_SID),
        ("From", customer.as_str()),
        ("To", number.as_str()),
        ("Body", "Is my parcel lost?"),
        ("NumMedia", "0"),
    ];
    assert_eq!(sms(&c, sms_request(&message, "another-token")).await.0, 401);
    let signed = sms_request(&message, TWILIO_TOKEN);
    let flipped = fixture("sms-webhooks-message.json")
        .header("x-twilio-signature", signed.header_value("x-twilio-signature"))
        .body(signed.body_text().replace("lost", "last"));
    assert_eq!(sms(&c, flipped).await.0, 401);
    assert!(tickets(&c, &org).await.is_empty(), "nothing stored");
    let (status, answer) = sms(&c, sms_request(&message, TWILIO_TOKEN)).await;
    assert_eq!((status, answer.as_str()), (200, shared::inbound::sms::EMPTY_TWIML));
    // Twilio's retry of the same message.
    assert_eq!(sms(&c, sms_request(&message, TWILIO_TOKEN)).await.0, 200);
    let opened = tickets(&c, &org).await;
    assert_eq!(opened.len(), 1);
    assert_eq!(thread(&c, &org, &opened[0].ticket_id).await.len(), 1);
    let found = c
        .desk
        .store
        .customer_by_identity(&org.org_id, "phone", &customer)
        .await
        .unwrap();
    assert!(found.is_some(), "the customer, found by phone");

    let entry_id = reply_and_send(&c, &org, &opened[0].ticket_id, "No, it arrives tomorrow.").await;
    let out = sent(&c, "twilio").await;
    let request = out
        .iter()
        .find(|s| s["body"]["Body"] == "No, it arrives tomorrow.")
        .expect("sent to Twilio");
    assert_eq!(
        request["path"],
        format!("/2010-04-01/Accounts/{TWILIO_SID}/Messages.json")
    );
    assert_eq!(
        (request["body"]["To"].as_str(), request["body"]["From"].as_str()),
        (Some(customer.as_str()), Some(number.as_str()))
    );
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{TWILIO_SID}:{TWILIO_TOKEN}"));
    assert_eq!(request["headers"]["authorization"], format!("Basic {basic}"));
    // Twilio's status callbacks of the reply come to the SMS webhook, which applies them.
    assert_eq!(
        request["body"]["StatusCallback"],
        format!("{PUBLIC_BASE_URL}/api/webhooks/sms")
    );
    let sid = request["id"].as_str().unwrap();
    let callback = [
        ("MessageSid", sid),
        ("AccountSid", TWILIO_SID),
        ("From", number.as_str()),
        ("To", customer.as_str()),
        ("MessageStatus", "delivered"),
    ];
    assert_eq!(sms(&c, sms_request(&callback, TWILIO_TOKEN)).await.0, 200);
    assert_eq!(delivery(&c, &org, &entry_id).await["status"], "delivered");
}

// --- Dialpad ----------------------------------------------------------------------------------

const DIALPAD_SECRET: &str = "dialpad-webhook-secret-for-tests";

async fn dialpad(c: &Channels, account: &str, token: &str) -> (u16, Value) {
    let request = fixture("dialpad-webhooks-call.json")
        .query("account", account)
        .body(token);
    read(shared::inbound::dialpad::handle(&c.inbound, request.build()).await)
}

#[tokio::test]
async fn dialpad_voicemails_land_on_the_callers_phone_ticket() {
    let c = channels("channels-dialpad").await;
    let org = new_org(&c.desk).await;
    let account = format!("line-{}", unique_digits(8));
    connect(
        &c,
        &org,
        json!({"provider": "dialpad", "account_id": account, "secret": DIALPAD_SECRET}),
    )
    .await;
    let caller = format!("+1415{}", unique_digits(7));
    let call = json!({"call_id": 6543210987654321u64, "state": "voicemail", "direction": "inbound",
        "external_number": caller, "contact": {"name": "Ola Nordmann", "phone": caller},
        "voicemail_share_link": "https://dialpad.example/v/1",
        "transcription_text": "My parcel never arrived."});
    let token = sign(&["jwt", DIALPAD_SECRET, &call.to_string()]);
    assert_eq!(
        dialpad(&c, &account, &sign(&["jwt", "another-secret", &call.to_string()]))
            .await
            .0,
        401
    );
    let mut tampered = token.clone();
    tampered.insert(tampered.len() - 3, 'x');
    assert_eq!(dialpad(&c, &account, &tampered).await.0, 401);
    assert!(tickets(&c, &org).await.is_empty());
    let (status, accepted) = dialpad(&c, &account, &token).await;
    assert_eq!(status, 200, "{accepted}");
    assert_eq!(
        dialpad(&c, &account, &token).await.1["duplicate"],
        true,
        "Dialpad's retry lands once"
    );
    let ringing = json!({"call_id": 1, "state": "ringing", "external_number": caller});
    let (status, ignored) = dialpad(&c, &account, &sign(&["jwt", DIALPAD_SECRET, &ringing.to_string()])).await;
    assert_eq!((status, &ignored["ignored"]), (200, &json!(true)));
    let opened = tickets(&c, &org).await;
    assert_eq!(opened.len(), 1);
    assert_eq!(serde_json::to_value(opened[0].channel).unwrap(), "phone");
    let entries = thread(&c, &org, &opened[0].ticket_id).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].content_text, "Voicemail: My parcel never arrived.");
    assert_eq!(entries[0].author.name.as_deref(), Some("Ola Nordmann"));
}
