//! The website widget against the emulator: settings through `widget-settings`, and a visitor's
//! session, messages, an agent's reply and the history through the public `widget` routes, with
//! CORS, the identity hash, duplicates and limits; time moves on an injected clock.

use std::sync::{Arc, Mutex};

use harness::{FixtureRequest, OwnQueue, fixture, new_key, new_org, read, services};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use shared::api::widget::WidgetServices;
use shared::clock::Clock;
use shared::runtime::Services;
use time::{Duration, OffsetDateTime};

/// A clock the test moves.
struct MovableClock(Mutex<OffsetDateTime>);

impl Clock for MovableClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

impl MovableClock {
    fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

struct Widget {
    services: WidgetServices,
    clock: Arc<MovableClock>,
    queue: OwnQueue,
}

async fn widget(name: &str, per_client: u32) -> Widget {
    let queue = OwnQueue::new(name).await;
    // Early in a minute, so that a test's requests share the minute their limits count in.
    let start = OffsetDateTime::now_utc()
        .replace_second(5)
        .unwrap()
        .replace_nanosecond(0)
        .unwrap();
    let clock = Arc::new(MovableClock(Mutex::new(start)));
    let desk = services().await;
    let services = WidgetServices {
        store: desk.store.clone(),
        publisher: queue.publisher(),
        files: harness::file_store(),
        secrets: harness::secret_box().await,
        clock: clock.clone(),
        per_client_per_minute: per_client,
        per_widget_per_minute: 10_000,
    };
    Widget { services, clock, queue }
}

async fn settings(services: &Services, request: FixtureRequest) -> (u16, Value) {
    let secrets = harness::secret_box().await;
    read(shared::api::widget_settings::handle(services, &secrets, request.build()).await)
}

fn put_settings(key: &str, body: Value) -> FixtureRequest {
    fixture("widget-settings-update.json").key(key).body(body.to_string())
}

/// A public widget request from `origin`.
fn public(fixture_name: &str, origin: &str, body: Value) -> FixtureRequest {
    fixture(fixture_name).header("origin", origin).body(body.to_string())
}

async fn call(widget: &Widget, request: FixtureRequest) -> (u16, Value, lambda_http::Response<lambda_http::Body>) {
    let response = shared::api::widget::handle(&widget.services, request.build()).await;
    let headers = response.headers().clone();
    let (status, body) = read(response);
    let mut echo = lambda_http::Response::new(lambda_http::Body::Empty);
    *echo.headers_mut() = headers;
    (status, body, echo)
}

fn history(token: &str) -> FixtureRequest {
    fixture("widget-message.json")
        .method("GET", "/api/widget/message")
        .without_query()
        .query("sessionToken", token)
        .header("origin", "https://shop.example.com")
}

/// The deliveries of `org_id`'s events queued so far.
async fn events(queue: &OwnQueue, org_id: &str) -> Vec<Value> {
    queue
        .drain()
        .await
        .into_iter()
        .filter(|m| m["org_id"] == org_id)
        .collect()
}

#[tokio::test]
async fn settings_make_a_public_key_and_keep_the_identity_secret_sealed() {
    let services = services().await;
    let org = new_org(&services).await;
    let get = fixture("widget-settings-update.json")
        .key(&org.admin_key)
        .method("GET", "/api/v1/widget");
    let (status, first) = settings(&services, get).await;
    assert_eq!(status, 200, "{first}");
    let key = first["widget"]["publicKey"].as_str().unwrap().to_string();
    assert!(key.starts_with(&format!("hg_pub_{}_", org.org_id)));
    assert_eq!(first["widget"]["theme"]["position"], "bottom-right");

    let change =
        json!({"allowedDomains": ["shop.example.com", "*.example.org"], "identitySecret": "s3cret-s3cret-s3cret"});
    let (status, changed) = settings(&services, put_settings(&org.admin_key, change)).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["widget"]["publicKey"], key.as_str(), "the key stays");
    assert_eq!(changed["widget"]["identitySecretSet"], true);
    assert!(!changed.to_string().contains("s3cret"), "the secret is never shown");
    let stored = services.store.get_widget_settings(&org.org_id).await.unwrap().unwrap();
    assert!(
        !stored.identity_secret_sealed.unwrap().contains("s3cret"),
        "stored sealed"
    );

    for bad in [
        json!({"allowedDomains": ["https://shop.example.com"]}),
        json!({"allowedDomains": ["*"]}),
        json!({"theme": {"primaryColor": "blue", "headerText": "Hi", "position": "bottom-right"}}),
        json!({"identitySecret": "short"}),
        json!({"colour": "blue"}),
    ] {
        let (status, refused) = settings(&services, put_settings(&org.admin_key, bad.clone())).await;
        assert_eq!(status, 422, "{bad}: {refused}");
    }
    let agent = new_key(&services, &org, &["tickets:write"], 100).await;
    let (status, _) = settings(&services, put_settings(&agent, json!({}))).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_visitor_chats_duplicates_collapse_and_the_agent_reply_shows_in_the_history() {
    let desk = services().await;
    let org = new_org(&desk).await;
    harness::subscribe(
        &desk,
        &org,
        &[
            "chat.session.created",
            "chat.message.received",
            "chat.message.sent",
            "ticket.created",
            "reply.sent",
        ],
    )
    .await;
    let w = widget("widget-chat", 1000).await;
    let change = json!({"allowedDomains": ["shop.example.com"]});
    let (_, configured) = settings(&desk, put_settings(&org.admin_key, change)).await;
    let key = configured["widget"]["publicKey"].as_str().unwrap().to_string();
    let origin = "https://shop.example.com";

    let config = fixture("widget-init.json")
        .method("GET", "/api/widget/config")
        .without_query()
        .query("apiKey", &key)
        .header("origin", origin);
    let (status, shown, headers) = call(&w, config).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["config"]["formFields"][1]["name"], "email");
    assert_eq!(headers.headers()["access-control-allow-origin"], origin);
    assert_eq!(headers.headers()["vary"], "Origin");
    assert!(headers.headers().get("access-control-allow-credentials").is_none());

    let init = json!({"apiKey": key, "visitorId": "visitor-42",
        "metadata": {"page_url": "https://shop.example.com/p/1", "email": "Max@Example.com", "name": "Max"}});
    let (status, session, _) = call(
        &w,
        public("widget-init.json", origin, init).header("cloudfront-viewer-country", "DE"),
    )
    .await;
    assert_eq!(status, 200, "{session}");
    let token = session["sessionToken"].as_str().unwrap().to_string();

    let send = |text: &str| {
        public(
            "widget-message.json",
            origin,
            json!({"sessionToken": token, "message": text}),
        )
    };
    let (status, first, _) = call(&w, send("Where is my order 4521?")).await;
    assert_eq!(status, 200, "{first}");
    // The same text twice at once, and once more within 30 s: one message, the same ids.
    let (a, b) = tokio::join!(call(&w, send("Hello?")), call(&w, send("Hello?")));
    assert_eq!((a.0, b.0), (200, 200));
    assert_eq!(a.1, b.1, "the same ids back");
    w.clock.advance(Duration::seconds(20));
    let (_, again, _) = call(&w, send("Hello?")).await;
    assert_eq!(again, a.1);
    assert_eq!(first["ticketId"], a.1["ticketId"], "one ticket per session");
    // After the window the same text is a new message.
    w.clock.advance(Duration::seconds(31));
    let (_, later, _) = call(&w, send("Hello?")).await;
    assert_ne!(later["conversationId"], a.1["conversationId"]);

    // A new session whose first message is sent twice at once: one ticket, one message.
    let init = json!({"apiKey": key, "visitorId": "visitor-43"});
    let (_, other, _) = call(&w, public("widget-init.json", origin, init)).await;
    let other_token = other["sessionToken"].as_str().unwrap().to_string();
    let send_other = || {
        public(
            "widget-message.json",
            origin,
            json!({"sessionToken": other_token, "message": "Hi!"}),
        )
    };
    let (c, d) = tokio::join!(call(&w, send_other()), call(&w, send_other()));
    assert_eq!((c.0, d.0), (200, 200), "{} {}", c.1, d.1);
    assert_eq!(c.1, d.1);
    let opened = desk
        .store
        .get_ticket(&org.org_id, c.1["ticketId"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(opened.message_count, 1);

    let ticket_id = first["ticketId"].as_str().unwrap();
    let ticket = desk.store.get_ticket(&org.org_id, ticket_id).await.unwrap().unwrap();
    assert_eq!(ticket.channel, shared::store::tickets::Channel::Widget);
    assert_eq!(ticket.customer_email.as_deref(), Some("max@example.com"));
    assert_eq!(ticket.message_count, 3);

    // An agent replies, and adds a note the visitor never sees.
    let publisher = w.queue.publisher();
    for (text, internal) in [("It ships today.", false), ("Checked the warehouse.", true)] {
        let body = json!({"author": {"type": "agent", "name": "Ana"}, "content_text": text, "internal": internal});
        let request = fixture("tickets-create.json")
            .key(&org.admin_key)
            .method("POST", &format!("/api/v1/tickets/{ticket_id}/conversations"))
            .path_parameter("id", ticket_id)
            .body(body.to_string());
        let (status, _) =
            read(shared::api::tickets::handle(&desk, &publisher, &harness::reply_queue().await, request.build()).await);
        assert_eq!(status, 201);
    }
    let (status, shown, _) = call(&w, history(&token)).await;
    assert_eq!(status, 200, "{shown}");
    let texts: Vec<&str> = shown["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content_text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        ["Where is my order 4521?", "Hello?", "Hello?", "It ships today."]
    );
    assert_eq!(
        shown["messages"][3]["author"],
        json!({"name": "Ana", "avatar_url": null, "role": "agent"})
    );

    let delivered = events(&w.queue, &org.org_id).await;
    let published: Vec<&str> = delivered.iter().map(|m| m["event"].as_str().unwrap()).collect();
    let count = |name: &str| published.iter().filter(|e| **e == name).count();
    assert_eq!(count("chat.session.created"), 2);
    assert_eq!(count("chat.message.received"), 4, "{published:?}");
    assert_eq!(count("ticket.created"), 2);
    assert_eq!(count("chat.message.sent"), 1);
    assert_eq!(count("reply.sent"), 1);

    // Seed 003's payloads: the session named by an id that is not its token, the same in all
    // its events.
    let data = |event: &str| -> Vec<&Value> {
        delivered
            .iter()
            .filter(|m| m["event"] == event)
            .map(|m| &m["data"])
            .collect()
    };
    let created = data("chat.session.created");
    let session_id = created
        .iter()
        .find(|d| d["visitorId"] == "visitor-42")
        .map(|d| d["sessionId"].as_str().unwrap())
        .unwrap();
    assert!(session_id.starts_with("ses_"), "{session_id}");
    assert!(created.iter().all(|d| d["storeId"] == org.org_id.as_str()));
    let secret = token.rsplit('_').next().unwrap();
    for received in data("chat.message.received") {
        assert_eq!(received["storeId"], org.org_id.as_str());
        assert_eq!(received["products"], json!([]));
        assert!(received["message"].is_string());
        if received["visitorId"] == "visitor-42" {
            assert_eq!(received["sessionId"], session_id);
        } else {
            assert_ne!(received["sessionId"], session_id, "another session");
        }
    }
    for event in &delivered {
        assert!(
            !event.to_string().contains(secret),
            "no event carries the session token"
        );
    }
}

#[tokio::test]
async fn a_foreign_origin_is_refused_with_nothing_stored_and_preflights_are_answered() {
    let desk = services().await;
    let org = new_org(&desk).await;
    let w = widget("widget-cors", 1000).await;
    let (_, configured) = settings(
        &desk,
        put_settings(&org.admin_key, json!({"allowedDomains": ["*.example.com"]})),
    )
    .await;
    let key = configured["widget"]["publicKey"].as_str().unwrap().to_string();

    for origin in ["https://shop.example.com", "https://evil.test"] {
        let preflight = fixture("widget-init.json")
            .method("OPTIONS", "/api/widget/init")
            .header("origin", origin);
        let (status, _, headers) = call(&w, preflight).await;
        assert_eq!(status, 204);
        assert_eq!(headers.headers()["access-control-allow-methods"], "GET, POST, OPTIONS");
    }
    let contact = |origin: &str| {
        public(
            "widget-contact.json",
            origin,
            json!({"apiKey": key, "email": "eve@example.com", "message": "Hi"}),
        )
    };
    let (status, refused, headers) = call(&w, contact("https://evil.test")).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (403, Some("ORIGIN_NOT_ALLOWED"))
    );
    assert!(headers.headers().get("access-control-allow-origin").is_none());
    assert!(
        desk.store
            .get_customer(&org.org_id, "eve@example.com")
            .await
            .unwrap()
            .is_none(),
        "nothing stored"
    );
    let (status, refused, _) = call(&w, contact("https://example.com")).await;
    assert_eq!(status, 403, "the wildcard is for subdomains: {refused}");

    let (status, done, headers) = call(&w, contact("https://eu.shop.example.com")).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        done["message"],
        "Thank you for contacting us. We will get back to you soon."
    );
    assert!(done["ticketNumber"].as_u64().unwrap() >= 1);
    assert_eq!(
        headers.headers()["access-control-allow-origin"],
        "https://eu.shop.example.com"
    );
    assert!(
        desk.store
            .get_customer(&org.org_id, "eve@example.com")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_verifying_widget_requires_the_visitors_identity_hash_and_limits_each_address() {
    let desk = services().await;
    let org = new_org(&desk).await;
    let w = widget("widget-identity", 5).await;
    let secret = "merchant-identity-secret-1";
    let (_, configured) = settings(&desk, put_settings(&org.admin_key, json!({"identitySecret": secret}))).await;
    let key = configured["widget"]["publicKey"].as_str().unwrap().to_string();
    let init = |visitor: &str, hash: Option<&str>| {
        let body = json!({"apiKey": key, "visitorId": visitor, "identifierHash": hash});
        // An address of this test's own: the per-address count is shared by the whole table.
        fixture("widget-init.json")
            .header("origin", "https://shop.example.com")
            .client_ip("198.51.100.77")
            .body(body.to_string())
    };
    // The merchant's server computes it, as the widget's documentation says.
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(b"visitor-7");
    let hash = hex::encode(mac.finalize().into_bytes());

    let (status, _, _) = call(&w, init("visitor-7", None)).await;
    assert_eq!(status, 401);
    let (status, _, _) = call(&w, init("visitor-8", Some(&hash))).await;
    assert_eq!(status, 401, "another visitor's hash");
    let (status, session, _) = call(&w, init("visitor-7", Some(&hash.to_uppercase()))).await;
    assert_eq!(status, 200, "{session}");

    // 5 requests a minute from one address (refused ones count): the 6th is refused until the
    // next minute, with the seconds to wait.
    for _ in 0..2 {
        let (status, _, _) = call(&w, init("visitor-7", Some(&hash))).await;
        assert_eq!(status, 200);
    }
    let (status, limited, headers) = call(&w, init("visitor-7", Some(&hash))).await;
    assert_eq!((status, limited["error"]["code"].as_str()), (429, Some("RATE_LIMITED")));
    assert_eq!(headers.headers()["retry-after"], "55");
    w.clock.advance(Duration::seconds(61));
    let (status, _, _) = call(&w, init("visitor-7", Some(&hash))).await;
    assert_eq!(status, 200);

    let (status, bad, _) = call(&w, history("ws_nope")).await;
    assert_eq!((status, bad["error"]["code"].as_str()), (401, Some("UNAUTHORIZED")));
}

#[tokio::test]
async fn a_visitor_sends_a_file_with_a_message_when_the_widget_takes_files() {
    let desk = services().await;
    let org = new_org(&desk).await;
    let w = widget("widget-files", 1000).await;
    let (_, configured) = settings(&desk, put_settings(&org.admin_key, json!({}))).await;
    let key = configured["widget"]["publicKey"].as_str().unwrap().to_string();
    let origin = "https://shop.example.com";
    let (_, session, _) = call(&w, public("widget-init.json", origin, json!({"apiKey": key}))).await;
    let token = session["sessionToken"].as_str().unwrap().to_string();

    let boundary = "----visitorBoundary";
    let form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"sessionToken\"\r\n\r\n{token}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"parcel.jpg\"\r\n\
         Content-Type: image/jpeg\r\n\r\nJPEGBYTES\r\n--{boundary}--\r\n"
    );
    let upload = || {
        fixture("widget-upload.json")
            .header("origin", origin)
            .header("content-type", &format!("multipart/form-data; boundary={boundary}"))
            .binary_body(form.as_bytes())
    };
    let (status, refused, _) = call(&w, upload()).await;
    assert_eq!(status, 403, "uploads are off by default: {refused}");

    settings(&desk, put_settings(&org.admin_key, json!({"allowFileUploads": true}))).await;
    let (status, uploaded, _) = call(&w, upload()).await;
    assert_eq!(status, 201, "{uploaded}");
    assert_eq!(
        (uploaded["filename"].as_str(), uploaded["size"].as_u64()),
        (Some("parcel.jpg"), Some(9))
    );
    let id = uploaded["id"].as_str().unwrap();

    let message = json!({"sessionToken": token, "message": "Here is the damage.", "attachments": [id]});
    let (status, sent, _) = call(&w, public("widget-message.json", origin, message)).await;
    assert_eq!(status, 200, "{sent}");
    let (_, shown, _) = call(&w, history(&token)).await;
    assert_eq!(shown["messages"][0]["attachments"][0]["id"], id);
    assert_eq!(shown["messages"][0]["attachments"][0]["type"], "image/jpeg");
    // The history's file downloads through the session, byte for byte.
    let file = |token: &str, id: &str| {
        fixture("widget-message.json")
            .method("GET", &format!("/api/widget/files/{id}"))
            .path_parameter("id", id)
            .without_query()
            .query("sessionToken", token)
            .header("origin", origin)
    };
    let (status, link, _) = call(&w, file(&token, id)).await;
    assert_eq!(status, 200, "{link}");
    assert_eq!(
        (link["filename"].as_str(), link["mimeType"].as_str()),
        (Some("parcel.jpg"), Some("image/jpeg"))
    );
    let bytes = reqwest::get(link["url"].as_str().unwrap())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.as_ref(), b"JPEGBYTES");
    // Another visitor's session does not reach it, nor does this one reach what it was not shown.
    let (_, other, _) = call(&w, public("widget-init.json", origin, json!({"apiKey": key}))).await;
    let other = other["sessionToken"].as_str().unwrap();
    assert_eq!(call(&w, file(other, id)).await.0, 404);
    assert_eq!(call(&w, file(&token, "att_01NOTSHOWN")).await.0, 404);
    assert_eq!(call(&w, file("ws_nope", id)).await.0, 401);

    // Another organization's file is not this visitor's to send.
    let message = json!({"sessionToken": token, "message": "And this.", "attachments": ["att_01NOTMINE"]});
    let (status, _, _) = call(&w, public("widget-message.json", origin, message)).await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn a_widgets_limit_counts_what_its_sessions_ask_too() {
    let desk = services().await;
    let org = new_org(&desk).await;
    let mut w = widget("widget-key-limit", 1000).await;
    w.services.per_widget_per_minute = 4;
    let (_, configured) = settings(&desk, put_settings(&org.admin_key, json!({}))).await;
    let key = configured["widget"]["publicKey"].as_str().unwrap().to_string();
    let origin = "https://shop.example.com";
    let message = |token: &str| {
        public(
            "widget-message.json",
            origin,
            json!({"sessionToken": token, "message": "Anyone there?"}),
        )
    };
    let file = |token: &str| {
        fixture("widget-message.json")
            .method("GET", "/api/widget/files/att_01NOTSHOWN")
            .path_parameter("id", "att_01NOTSHOWN")
            .without_query()
            .query("sessionToken", token)
            .header("origin", origin)
    };

    // Four requests of the widget's visitors this minute, by key or by session token.
    let (status, session, _) = call(&w, public("widget-init.json", origin, json!({"apiKey": key}))).await;
    assert_eq!(status, 200, "{session}");
    let token = session["sessionToken"].as_str().unwrap().to_string();
    assert_eq!(call(&w, message(&token)).await.0, 200);
    assert_eq!(call(&w, history(&token)).await.0, 200);
    assert_eq!(call(&w, file(&token)).await.0, 404);
    // The fifth, whichever route, waits for the next minute.
    for request in [message(&token), history(&token), file(&token)] {
        let (status, limited, headers) = call(&w, request).await;
        assert_eq!((status, limited["error"]["code"].as_str()), (429, Some("RATE_LIMITED")));
        assert_eq!(headers.headers()["retry-after"], "55");
        assert_eq!(headers.headers()["access-control-expose-headers"], "Retry-After");
    }
    w.clock.advance(Duration::seconds(60));
    assert_eq!(call(&w, history(&token)).await.0, 200);
}

#[tokio::test]
async fn preflights_naming_the_widget_and_pages_over_http_are_refused_to_foreign_origins() {
    let desk = services().await;
    let org = new_org(&desk).await;
    let w = widget("widget-preflight", 1000).await;
    let (_, configured) = settings(
        &desk,
        put_settings(
            &org.admin_key,
            json!({"allowedDomains": ["shop.example.com", "localhost"]}),
        ),
    )
    .await;
    let key = configured["widget"]["publicKey"].as_str().unwrap().to_string();
    let allowed = "https://shop.example.com";
    let (_, session, _) = call(&w, public("widget-init.json", allowed, json!({"apiKey": key}))).await;
    let token = session["sessionToken"].as_str().unwrap().to_string();

    let preflight = |path: &str, query: (&str, &str), origin: &str| {
        fixture("widget-init.json")
            .method("OPTIONS", path)
            .without_query()
            .query(query.0, query.1)
            .header("origin", origin)
    };
    // The query names the widget: its allowed domains decide.
    for (path, query) in [
        ("/api/widget/config", ("apiKey", key.as_str())),
        ("/api/widget/message", ("sessionToken", token.as_str())),
    ] {
        let (status, _, headers) = call(&w, preflight(path, query, allowed)).await;
        assert_eq!(status, 204, "{path}");
        assert_eq!(headers.headers()["access-control-allow-origin"], allowed);
        for foreign in ["https://evil.test", "http://shop.example.com"] {
            let (status, refused, headers) = call(&w, preflight(path, query, foreign)).await;
            assert_eq!(
                (status, refused["error"]["code"].as_str()),
                (403, Some("ORIGIN_NOT_ALLOWED")),
                "{path} from {foreign}"
            );
            assert!(headers.headers().get("access-control-allow-origin").is_none());
            assert!(headers.headers().get("access-control-allow-methods").is_none());
        }
    }
    // A preflight of a request with the key in its body cannot tell; the request itself is
    // refused, and the page reads nothing of the answer.
    let (status, _, headers) = call(
        &w,
        fixture("widget-init.json")
            .method("OPTIONS", "/api/widget/init")
            .header("origin", "https://evil.test"),
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(headers.headers()["access-control-allow-origin"], "https://evil.test");
    for foreign in ["https://evil.test", "http://shop.example.com"] {
        let (status, refused, headers) = call(&w, public("widget-init.json", foreign, json!({"apiKey": key}))).await;
        assert_eq!(
            (status, refused["error"]["code"].as_str()),
            (403, Some("ORIGIN_NOT_ALLOWED")),
            "{foreign}"
        );
        assert!(headers.headers().get("access-control-allow-origin").is_none());
    }
    // A page on the merchant's own machine may be served over http.
    let (status, local, headers) = call(
        &w,
        public("widget-init.json", "http://localhost:3000", json!({"apiKey": key})),
    )
    .await;
    assert_eq!(status, 200, "{local}");
    assert_eq!(
        headers.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    // A page reads how long a 429 asks it to wait.
    assert_eq!(headers.headers()["access-control-expose-headers"], "Retry-After");
}

/// A session of a widget that names no domains, and its token.
async fn session_of(w: &Widget, desk: &Services, org: &harness::Org) -> String {
    let (_, configured) = settings(desk, put_settings(&org.admin_key, json!({}))).await;
    let key = configured["widget"]["publicKey"].as_str().unwrap();
    let (status, session, _) = call(
        w,
        public("widget-init.json", "https://shop.example.com", json!({"apiKey": key})),
    )
    .await;
    assert_eq!(status, 200, "{session}");
    session["sessionToken"].as_str().unwrap().to_string()
}

fn message(token: &str, text: &str) -> FixtureRequest {
    public(
        "widget-message.json",
        "https://shop.example.com",
        json!({"sessionToken": token, "message": text}),
    )
}

/// The ticket a message answered went to, with that message on it.
async fn stored_message(desk: &Services, org: &harness::Org, sent: &Value) -> shared::store::tickets::Ticket {
    let ticket_id = sent["ticketId"].as_str().unwrap();
    let ticket = desk.store.get_ticket(&org.org_id, ticket_id).await.unwrap();
    let ticket = ticket.unwrap_or_else(|| panic!("the answered ticket {ticket_id} is stored"));
    let entries = desk.store.list_entries(&org.org_id, ticket_id).await.unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e.entry_id == sent["conversationId"].as_str().unwrap()),
        "the answered message is stored: {sent}"
    );
    ticket
}

#[tokio::test]
async fn a_ticket_whose_opening_failed_is_opened_anew_and_a_refused_message_can_be_sent_again() {
    let desk = services().await;
    let org = new_org(&desk).await;
    let w = widget("widget-failed-open", 1000).await;
    let token = session_of(&w, &desk, &org).await;
    let secret = token.rsplit('_').next().unwrap();
    // Another message of the session claimed a ticket 25 s ago, and its opening failed.
    let ghost = shared::desk::new_ticket_id();
    let claimed_at = w.clock.now().unix_timestamp() - 25;
    let claimed = desk
        .store
        .claim_session_ticket(&org.org_id, secret, &ghost, None, claimed_at)
        .await
        .unwrap();
    assert!(claimed);

    // Within the opening's time the message waits for it, in vain: refused, nothing stored.
    let (status, refused, _) = call(&w, message(&token, "Is anyone there?")).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (409, Some("CONFLICT")));
    // Later (within the 30 s in which the same text is the same message), the session opens a
    // ticket of its own, and the message sent again is stored on it.
    w.clock.advance(Duration::seconds(6));
    let (status, sent, _) = call(&w, message(&token, "Is anyone there?")).await;
    assert_eq!(status, 200, "{sent}");
    assert_ne!(sent["ticketId"], ghost.as_str());
    let ticket = stored_message(&desk, &org, &sent).await;
    assert_eq!(ticket.message_count, 1);
    let (status, next, _) = call(&w, message(&token, "Hello?")).await;
    assert_eq!((status, &next["ticketId"]), (200, &sent["ticketId"]));
}

#[tokio::test]
async fn a_message_after_the_ticket_is_closed_opens_a_new_one() {
    let desk = services().await;
    let org = new_org(&desk).await;
    let w = widget("widget-closed", 1000).await;
    let token = session_of(&w, &desk, &org).await;
    let (status, first, _) = call(&w, message(&token, "My parcel is late.")).await;
    assert_eq!(status, 200, "{first}");
    let first_ticket = first["ticketId"].as_str().unwrap();
    let close = fixture("tickets-create.json")
        .key(&org.admin_key)
        .method("PATCH", &format!("/api/v1/tickets/{first_ticket}"))
        .path_parameter("id", first_ticket)
        .body(json!({"status": "closed"}).to_string());
    let publisher = w.queue.publisher();
    let (status, closed) =
        read(shared::api::tickets::handle(&desk, &publisher, &harness::reply_queue().await, close.build()).await);
    assert_eq!(status, 200, "{closed}");

    let (status, again, _) = call(&w, message(&token, "It never came.")).await;
    assert_eq!(status, 200, "{again}");
    assert_ne!(again["ticketId"], first["ticketId"], "a new ticket");
    let ticket = stored_message(&desk, &org, &again).await;
    assert_eq!(
        (ticket.channel, ticket.message_count),
        (shared::store::tickets::Channel::Widget, 1)
    );
    let (_, shown, _) = call(&w, history(&token)).await;
    assert_eq!(shown["messages"][0]["content_text"], "It never came.");
}
