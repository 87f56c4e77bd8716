//! Provider webhooks through their handlers against the emulator, with the signed samples
//! under `events/` (tests/fixtures/generate_provider_events.py: Stripe's own library, Shopify's
//! documented recipe) at the instant they were signed, and SNS messages signed by a test
//! certificate authority whose certificate the handler fetches over https as in production.

use std::sync::Arc;

use base64::Engine as _;
use harness::{
    FixtureRequest, Org, alerts_queue, fixture, inbound_services, items_of, new_org, read, services, wait_for_alert,
};
use serde_json::{Value, json};
use shared::clock::FixedClock;
use shared::inbound::amazon::{self, AmazonServices};
use shared::inbound::sns::SnsVerifier;
use shared::inbound::{InboundServices, shopify, stripe};
use time::OffsetDateTime;
use time::macros::datetime;

/// When the samples were signed.
const SIGNED_AT: OffsetDateTime = datetime!(2026-03-12 10:30:00 UTC);
const SHOPIFY_SECRET: &str = "hookgate-sample-shopify-app-secret";
const STRIPE_SECRET: &str = "whsec_hookgate_sample_endpoint_secret";

async fn at(instant: OffsetDateTime) -> InboundServices {
    inbound_services(Arc::new(FixedClock(instant))).await
}

/// Connects a provider account to `org` through the integrations handler; returns its id.
async fn connect(org: &Org, body: Value) -> String {
    let services = services().await;
    let request = fixture("integrations-create.json")
        .key(&org.admin_key)
        .body(body.to_string())
        .build();
    let (status, created) =
        read(shared::api::integrations::handle(&services, &harness::secret_box().await, request).await);
    assert_eq!(status, 201, "{created}");
    assert!(
        !created.to_string().contains("secret\":\""),
        "the secret is never returned: {created}"
    );
    created["integration"]["id"].as_str().unwrap().to_string()
}

async fn integrations_call(org: &Org, method: &str, path: &str, id: &str, request_id: Option<&str>) -> (u16, Value) {
    let mut request = fixture("integrations-create.json")
        .key(&org.admin_key)
        .method(method, path)
        .path_parameter("id", id)
        .body("");
    if let Some(request_id) = request_id {
        request = request.path_parameter("request_id", request_id);
    }
    read(shared::api::integrations::handle(&services().await, &harness::secret_box().await, request.build()).await)
}

fn shopify_signed(request: FixtureRequest, secret: &str) -> FixtureRequest {
    let mac = shared::crypto::hmac_sha256(secret.as_bytes(), &[request.body_text().as_bytes()]);
    let signature = base64::engine::general_purpose::STANDARD.encode(mac);
    request.header("x-shopify-hmac-sha256", &signature)
}

/// The sample with one byte of its body changed, signature kept.
fn flipped(request: FixtureRequest) -> FixtureRequest {
    let body = request
        .body_text()
        .replacen("1Z999", "1Z998", 1)
        .replacen("professional", "professionaL", 1);
    assert_ne!(body, request.body_text());
    request.body(body)
}

/// The delivery message queued for `endpoint` (the fan-out of an accepted webhook).
async fn published_to(endpoint: &str) -> Value {
    let config = harness::sdk_config(&harness::emulator().endpoint).await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    for _ in 0..20 {
        let received = sqs
            .receive_message()
            .queue_url(&harness::emulator().queue_urls[harness::DELIVERY_QUEUE])
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
        let found = received
            .messages()
            .iter()
            .filter_map(|m| serde_json::from_str::<Value>(m.body()?).ok())
            .find(|m| m["endpoint_id"] == endpoint);
        if let Some(message) = found {
            return message;
        }
    }
    panic!("nothing was published to {endpoint}");
}

async fn shopify_call(services: &InboundServices, request: FixtureRequest) -> (u16, Value) {
    read(shopify::handle(services, request.build()).await)
}

async fn order(org: &Org, number: &str) -> Option<Value> {
    let found = services()
        .await
        .store
        .order_with_events(&org.org_id, number, 10)
        .await
        .unwrap();
    found.order.map(|o| Value::Object(o.fields))
}

async fn customer(org: &Org, email: &str) -> Option<Value> {
    let found = services().await.store.get_customer(&org.org_id, email).await.unwrap();
    found.map(|c| Value::Object(c.fields))
}

#[tokio::test]
async fn shopify_orders_customers_and_compliance_webhooks() {
    let org = new_org(&services().await).await;
    let integration = connect(
        &org,
        json!({"provider": "shopify", "shop_domain": "hookgate-demo.myshopify.com", "secret": SHOPIFY_SECRET}),
    )
    .await;
    // A shop routes to one organization only.
    let other = new_org(&services().await).await;
    let again = fixture("integrations-create.json").key(&other.admin_key).build();
    let (status, conflict) =
        read(shared::api::integrations::handle(&services().await, &harness::secret_box().await, again).await);
    assert_eq!(
        (status, &conflict["error"]["code"]),
        (409, &json!("CONFLICT")),
        "{conflict}"
    );
    let subscriber = harness::subscribe(&services().await, &org, &["shopify.order.fulfilled"]).await;
    let services = at(SIGNED_AT).await;
    let sample = || fixture("shopify-webhooks-orders-fulfilled.json");

    // Refused without storing anything: a flipped byte, another secret, a stale timestamp, an
    // unknown shop.
    let before = items_of(&harness::services().await, &org.org_id).await;
    let stale = at(SIGNED_AT + time::Duration::hours(7)).await;
    let refusals = [
        ("flipped byte", shopify_call(&services, flipped(sample())).await),
        (
            "wrong secret",
            shopify_call(&services, shopify_signed(sample(), "another-secret")).await,
        ),
        ("stale", shopify_call(&stale, sample()).await),
        (
            "unknown shop",
            shopify_call(
                &services,
                sample().header("x-shopify-shop-domain", "other.myshopify.com"),
            )
            .await,
        ),
    ];
    for (case, (status, body)) in refusals {
        assert_eq!(status, 401, "{case}: {body}");
        assert_eq!(body["error"]["code"], "UNAUTHORIZED", "{case}");
    }
    assert_eq!(
        items_of(&harness::services().await, &org.org_id).await,
        before,
        "nothing stored"
    );

    // The sample verifies; the order and its customer land where /api/webhook puts them.
    let (status, accepted) = shopify_call(&services, sample()).await;
    assert_eq!((status, &accepted["duplicate"]), (200, &json!(false)), "{accepted}");
    let stored = order(&org, "1001").await.expect("the order is stored under its number");
    assert_eq!(stored["status"], "shipped");
    assert_eq!(stored["tracking_number"], "1Z999AA10123456784");
    assert_eq!(stored["carrier"], "UPS");
    assert_eq!(stored["customer_email"], "jane@example.com");
    assert_eq!(stored["ordered_at"], "2026-03-10T14:12:33.000Z");
    let page = harness::services()
        .await
        .store
        .customer_page(&org.org_id, "jane@example.com", 10, None)
        .await
        .unwrap();
    assert_eq!(page.customer.unwrap().fields["name"], "Jane Doe");
    assert_eq!(page.orders.len(), 1, "the customer context lists the order");

    // An order webhook replayed to the compliance endpoint as shop/redact erases nothing.
    let replayed = sample()
        .method("POST", "/api/webhooks/shopify/gdpr")
        .header("x-shopify-topic", "shop/redact");
    assert_eq!(shopify_call(&services, replayed).await.0, 401);
    assert!(order(&org, "1001").await.is_some());

    let published = published_to(&subscriber).await;
    assert_eq!(published["event"], "shopify.order.fulfilled");
    assert_eq!(published["data"]["order_number"], "1001");

    // Shopify's redelivery is answered, not processed again.
    let items = items_of(&harness::services().await, &org.org_id).await;
    let (status, again) = shopify_call(&services, sample()).await;
    assert_eq!((status, &again["duplicate"]), (200, &json!(true)), "{again}");
    assert_eq!(items_of(&harness::services().await, &org.org_id).await, items);

    let (status, _) = shopify_call(&services, fixture("shopify-webhooks-customers-create.json")).await;
    assert_eq!(status, 200);
    assert_eq!(customer(&org, "jane@example.com").await.unwrap()["tags"], "vip");

    // A data request produces a report the merchant fetches.
    let (status, _) = shopify_call(&services, fixture("shopify-webhooks-gdpr-data-request.json")).await;
    assert_eq!(status, 200);
    let path = format!("/api/v1/integrations/{integration}/data-requests/9999");
    let (status, report) = integrations_call(&org, "GET", &path, &integration, Some("9999")).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["report"]["customer"]["email"], "jane@example.com");
    assert_eq!(report["report"]["orders"][0]["order"]["order_number"], "1001");

    // customers/redact erases the customer and their orders.
    let (status, _) = shopify_call(&services, fixture("shopify-webhooks-gdpr-customers-redact.json")).await;
    assert_eq!(status, 200);
    assert_eq!(customer(&org, "jane@example.com").await, None);
    assert_eq!(order(&org, "1001").await, None);
    let path = format!("/api/v1/integrations/{integration}/data-requests/9999");
    let (status, _) = integrations_call(&org, "GET", &path, &integration, Some("9999")).await;
    assert_eq!(status, 404, "the report held the customer's data too");

    // shop/redact erases everything the shop's webhooks wrote, e.g. a later order.
    let later = sample()
        .body(
            sample()
                .body_text()
                .replace("#1001", "#1002")
                .replace("jane@example.com", "max@example.com"),
        )
        .header("x-shopify-event-id", "later-order");
    let (status, _) = shopify_call(&services, shopify_signed(later, SHOPIFY_SECRET)).await;
    assert_eq!(status, 200);
    assert!(order(&org, "1002").await.is_some());
    let (status, _) = shopify_call(&services, fixture("shopify-webhooks-gdpr-shop-redact.json")).await;
    assert_eq!(status, 200);
    assert_eq!(order(&org, "1002").await, None);
    assert_eq!(customer(&org, "max@example.com").await, None);

    // Disconnected: the shop's webhooks are refused.
    let path = format!("/api/v1/integrations/{integration}");
    assert_eq!(
        integrations_call(&org, "DELETE", &path, &integration, None).await.0,
        200
    );
    let fresh = sample().header("x-shopify-event-id", "after-disconnect");
    assert_eq!(shopify_call(&services, fresh).await.0, 401);
}

async fn stripe_call(services: &InboundServices, request: FixtureRequest) -> (u16, Value) {
    read(stripe::handle(services, request.build()).await)
}

#[tokio::test]
async fn stripe_billing_events_set_the_plan_record_invoices_and_alert_on_failed_payments() {
    // A merchant's own Stripe account: its subscription events are recorded, never its plan.
    let merchant = new_org(&services().await).await;
    connect(
        &merchant,
        json!({"provider": "stripe", "account_id": "acct_1HookgateDemo", "secret": STRIPE_SECRET}),
    )
    .await;
    let services = at(SIGNED_AT).await;
    let sample = || fixture("stripe-webhooks-subscription-created.json");
    let (status, _) = stripe_call(&services, sample()).await;
    assert_eq!(status, 200);
    // A Connect event names its account in the body: routed there without `?account=`, its
    // signature still checked against that account's secret (here: the same event again).
    let (status, routed) = stripe_call(&services, sample().without_query()).await;
    assert_eq!((status, &routed["duplicate"]), (200, &json!(true)), "{routed}");
    let unchanged = harness::services()
        .await
        .store
        .get_organization(&merchant.org_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(unchanged.plan, "free", "a merchant cannot choose its own plan");
    let recorded = harness::services()
        .await
        .store
        .get_other(&merchant.org_id, "stripe_event", "evt_1QxYz2AbCdEfGh")
        .await
        .unwrap();
    assert!(recorded.is_some());
    let integrations = harness::services()
        .await
        .store
        .list_integrations(&merchant.org_id)
        .await
        .unwrap();
    harness::services()
        .await
        .store
        .delete_integration(&integrations[0])
        .await
        .unwrap();

    // Hookgate's own billing account for the organization, connected by the operator.
    let org = new_org(&harness::services().await).await;
    admin::billing::connect_billing(
        &harness::services().await.store,
        &harness::secret_box().await,
        &org.org_id,
        "acct_1HookgateDemo",
        STRIPE_SECRET,
    )
    .await
    .unwrap();
    let header = sample().header_value("stripe-signature").to_string();
    let timestamp = header.split(',').next().unwrap().to_string();
    let wrong = hex::encode(shared::crypto::hmac_sha256(
        b"whsec_another",
        &[
            format!("{}.", &timestamp[2..]).as_bytes(),
            sample().body_text().as_bytes(),
        ],
    ));
    let before = items_of(&harness::services().await, &org.org_id).await;
    let refusals = [
        ("flipped byte", stripe_call(&services, flipped(sample())).await),
        (
            "wrong secret",
            stripe_call(
                &services,
                sample().header("stripe-signature", &format!("{timestamp},v1={wrong}")),
            )
            .await,
        ),
        (
            "stale",
            stripe_call(&at(SIGNED_AT + time::Duration::seconds(301)).await, sample()).await,
        ),
        (
            "unknown account",
            stripe_call(&services, sample().query("account", "acct_unknown")).await,
        ),
    ];
    for (case, (status, body)) in refusals {
        assert_eq!(status, 401, "{case}: {body}");
    }
    assert_eq!(
        items_of(&harness::services().await, &org.org_id).await,
        before,
        "nothing stored"
    );

    // The sample verifies (also beside a rotated-out signature), and sets the plan and trial.
    let rotating = sample().header(
        "stripe-signature",
        &format!("{timestamp},v1={wrong},{}", &header[timestamp.len() + 1..]),
    );
    let (status, accepted) = stripe_call(&services, rotating).await;
    assert_eq!((status, &accepted["duplicate"]), (200, &json!(false)), "{accepted}");
    let organization = harness::services()
        .await
        .store
        .get_organization(&org.org_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(organization.plan, "professional");
    assert_eq!(organization.subscription_status.as_deref(), Some("trialing"));
    assert_eq!(organization.trial_ends_at.as_deref(), Some("2026-03-25T10:30:00.000Z"));
    let (status, again) = stripe_call(&services, sample()).await;
    assert_eq!((status, &again["duplicate"]), (200, &json!(true)));

    // A failed payment is recorded and alerts the operators.
    let (sqs, alerts) = alerts_queue("alerts-for-stripe").await;
    let (status, _) = stripe_call(&services, fixture("stripe-webhooks-invoice-payment-failed.json")).await;
    assert_eq!(status, 200);
    let recorded = harness::services()
        .await
        .store
        .get_other(&org.org_id, "stripe_event", "evt_1QxYz9FailedInvoice")
        .await
        .unwrap();
    assert_eq!(recorded.unwrap()["type"], "invoice.payment_failed");
    wait_for_alert(&sqs, &alerts, "stripe.payment_failed", "evt_1QxYz9FailedInvoice").await;
}

fn amazon_services(inbound: InboundServices) -> AmazonServices {
    let http = harness::sns::client();
    AmazonServices {
        inbound,
        verifier: SnsVerifier::new(http.clone()),
        http,
    }
}

/// The sample notification's SNS message for `topic`, signed now by the test authority.
async fn signed_notification(topic: &str, message_id: &str, cert_url: &str) -> serde_json::Map<String, Value> {
    let sample: Value = serde_json::from_str(fixture("amazon-webhooks-notification.json").body_text()).unwrap();
    let message = json!({
        "Type": "Notification", "MessageId": message_id, "TopicArn": topic, "Message": sample["Message"],
        "Timestamp": shared::clock::rfc3339(OffsetDateTime::now_utc()),
        "UnsubscribeURL": sample["UnsubscribeURL"],
    });
    harness::sns::sign(&message, "2", cert_url).await
}

async fn https_door(services: &AmazonServices, message: &serde_json::Map<String, Value>) -> (u16, Value) {
    let request = fixture("amazon-webhooks-notification.json").body(Value::Object(message.clone()).to_string());
    read(amazon::handle(services, request.build()).await)
}

#[tokio::test]
async fn amazon_notifications_through_either_door_land_the_same() {
    let harness_services = services().await;
    let (https_org, native_org) = (new_org(&harness_services).await, new_org(&harness_services).await);
    let topic = |org: &Org| format!("arn:aws:sns:us-east-1:123456789012:sp-api-{}", org.org_id);
    for org in [&https_org, &native_org] {
        connect(
            org,
            json!({"provider": "amazon", "seller_id": "A3TH9S8BH6GOGM", "topic_arns": [topic(org)]}),
        )
        .await;
    }
    let services = amazon_services(inbound_services(Arc::new(shared::clock::SystemClock)).await);
    let cert_url = harness::sns::cert_url("SimpleNotificationService-test.pem");

    // Over HTTPS.
    let message = signed_notification(&topic(&https_org), "msg-https-1", &cert_url).await;
    let (status, accepted) = https_door(&services, &message).await;
    assert_eq!((status, &accepted["duplicate"]), (200, &json!(false)), "{accepted}");
    let (status, again) = https_door(&services, &message).await;
    assert_eq!(
        (status, &again["duplicate"]),
        (200, &json!(true)),
        "SNS redelivery is not processed again"
    );

    // Natively: the same notification in the Lambda event's spelling.
    let signed = signed_notification(&topic(&native_org), "msg-native-1", &cert_url).await;
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(harness::repo_root().join("events/amazon-notifications-sns.json")).unwrap(),
    )
    .unwrap();
    let sns = event["Records"][0]["Sns"].as_object_mut().unwrap();
    for (name, value) in &signed {
        let name = match name.as_str() {
            "SigningCertURL" => "SigningCertUrl",
            "UnsubscribeURL" => "UnsubscribeUrl",
            other => other,
        };
        sns.insert(name.to_string(), value.clone());
    }
    sns.remove("SigningCertURL");
    amazon::handle_sns_event(&services, event).await.unwrap();

    let number = "903-8868176-2219830";
    let by_https = harness_services
        .store
        .order_with_events(&https_org.org_id, number, 10)
        .await
        .unwrap();
    let natively = harness_services
        .store
        .order_with_events(&native_org.org_id, number, 10)
        .await
        .unwrap();
    let fields = by_https.order.clone().expect("the order is stored").fields;
    assert_eq!(fields["status"], "shipped");
    assert_eq!(fields["channel"], "amazon");
    assert_eq!(
        fields["items"],
        json!([{"sku": "SERUM-30ML", "qty": 1, "status": "Shipped"}])
    );
    assert_eq!(
        Some(fields),
        natively.order.map(|o| o.fields),
        "both doors store the same order"
    );
    assert_eq!(by_https.events.len(), 1);
    assert_eq!(by_https.events[0].event, "amazon.order_change");
    assert_eq!(natively.events.len(), 1);

    // Refused, nothing stored: a forged certificate host, an unexpected topic, a flipped byte.
    let before = items_of(&harness_services, &https_org.org_id).await;
    let forged = signed_notification(
        &topic(&https_org),
        "msg-forged",
        "https://sns.us-east-1.amazonaws.com.evil.example/SimpleNotificationService-test.pem",
    )
    .await;
    let unexpected = signed_notification(
        "arn:aws:sns:us-east-1:123456789012:not-connected",
        "msg-other",
        &cert_url,
    )
    .await;
    let mut tampered = signed_notification(&topic(&https_org), "msg-tampered", &cert_url).await;
    let text = tampered["Message"].as_str().unwrap().replace("Shipped", "Shippe_");
    tampered.insert("Message".into(), json!(text));
    for (case, message) in [
        ("forged certificate host", forged),
        ("unexpected topic", unexpected),
        ("flipped byte", tampered),
    ] {
        let (status, body) = https_door(&services, &message).await;
        assert_eq!(status, 401, "{case}: {body}");
    }
    assert_eq!(items_of(&harness_services, &https_org.org_id).await, before);

    // A subscription is confirmed by fetching its SubscribeURL, once the signature checked out.
    let token = format!("token-{}", https_org.org_id);
    let confirmation = json!({
        "Type": "SubscriptionConfirmation", "MessageId": "msg-confirm", "Token": token, "TopicArn": topic(&https_org),
        "Message": "You have chosen to subscribe to the topic.",
        "SubscribeURL": format!("https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={}&Token={token}", topic(&https_org)),
        "Timestamp": shared::clock::rfc3339(OffsetDateTime::now_utc()),
    });
    let signed = harness::sns::sign(&confirmation, "1", &cert_url).await;
    let (status, confirmed) = https_door(&services, &signed).await;
    assert_eq!((status, &confirmed["confirmed"]), (200, &json!(true)), "{confirmed}");
    let seen: Value = harness::sns::client()
        .get("https://sns.us-east-1.amazonaws.com/_confirmations")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(seen.to_string().contains(&token), "{seen}");
}
