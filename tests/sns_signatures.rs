//! Amazon SNS signatures through the production fetch path: a stand-in for SNS's certificate
//! host (tests/sns_test_ca.py) serves https with a certificate from a test authority, signs
//! messages with a signing certificate of its own (its string to sign written independently, in
//! Python), and counts the certificate fetches. The verifier's client is the production one,
//! TLS verification on, trusting only the test authority and resolving the SNS host to it.

use std::net::SocketAddr;

use harness::sns::{FORGED_HOSTS, SNS_HOST, cert_url, client, sign, test_ca, verifier};
use serde_json::{Map, Value, json};
use shared::inbound::sns::{SnsRefusal, SnsVerifier, trusted_sns_url};

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:sp-api";

/// How often the stand-in served the certificate at `path`.
async fn fetches(path: &str) -> u64 {
    let counts: Value = client()
        .get(format!("https://{SNS_HOST}/_fetches"))
        .send()
        .await
        .expect("the stand-in answers")
        .json()
        .await
        .expect("a JSON answer");
    counts[format!("/{path}")].as_u64().unwrap_or(0)
}

async fn all_fetched_paths() -> Vec<String> {
    let counts: Map<String, Value> = client()
        .get(format!("https://{SNS_HOST}/_fetches"))
        .send()
        .await
        .expect("the stand-in answers")
        .json()
        .await
        .expect("a JSON answer");
    counts.keys().cloned().collect()
}

fn unique(label: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("{label}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst))
}

/// A Notification with JSON escapes in its Message (the string to sign holds the unescaped
/// characters) and a Timestamp with zero milliseconds (which a re-serialized time would lose).
fn notification(subject: Option<&str>) -> Value {
    let mut message = json!({
        "Type": "Notification",
        "MessageId": unique("notification"),
        "TopicArn": TOPIC,
        "Message": "{\"NotificationType\":\"ORDER_CHANGE\"}\nsecond line\t« é » \\ \u{1F4E6}",
        "Timestamp": "2024-05-02T00:54:06.000Z",
        "UnsubscribeURL": format!("https://{SNS_HOST}/?Action=Unsubscribe&SubscriptionArn={TOPIC}:x"),
    });
    if let Some(subject) = subject {
        message["Subject"] = json!(subject);
    }
    message
}

fn confirmation(kind: &str, subscribe_host: &str) -> (Value, String) {
    let token = unique("token");
    let message = json!({
        "Type": kind,
        "MessageId": unique("confirmation"),
        "Token": token,
        "TopicArn": TOPIC,
        "Message": format!("You have chosen to subscribe to the topic {TOPIC}.\nTo confirm the subscription, visit the SubscribeURL included in this message."),
        "SubscribeURL": format!("https://{subscribe_host}/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token={token}"),
        "Timestamp": "2024-05-02T00:54:06.655Z",
    });
    (message, token)
}

#[tokio::test]
async fn signed_messages_verify_with_either_signature_version() {
    let verifier = verifier();
    let url = cert_url("SimpleNotificationService-test.pem");
    for version in ["1", "2"] {
        for subject in [Some("Order changed"), Some(""), None] {
            let signed = sign(&notification(subject), version, &url).await;
            assert_eq!(
                verifier.verify(&signed).await,
                Ok(()),
                "v{version}, subject {subject:?}"
            );
        }
        let (unsubscribed, _) = confirmation("UnsubscribeConfirmation", SNS_HOST);
        let signed = sign(&unsubscribed, version, &url).await;
        assert_eq!(
            verifier.verify(&signed).await,
            Ok(()),
            "v{version} UnsubscribeConfirmation"
        );
    }
}

#[tokio::test]
async fn a_verified_subscription_confirmation_is_confirmed() {
    let verifier = verifier();
    let (message, token) = confirmation("SubscriptionConfirmation", SNS_HOST);
    let signed = sign(&message, "1", &cert_url("SimpleNotificationService-test.pem")).await;
    assert_eq!(verifier.verify(&signed).await, Ok(()));

    // What a caller does next: check the SubscribeURL, then GET it.
    let subscribe_url = signed["SubscribeURL"].as_str().unwrap();
    assert!(trusted_sns_url(subscribe_url));
    let response = client().get(subscribe_url).send().await.expect("confirming");
    assert!(response.status().is_success());
    let confirmations: Vec<String> = client()
        .get(format!("https://{SNS_HOST}/_confirmations"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        confirmations
            .iter()
            .any(|path| path.starts_with("/?Action=ConfirmSubscription") && path.ends_with(&format!("Token={token}"))),
        "{confirmations:?}"
    );
}

#[tokio::test]
async fn tampered_messages_are_refused() {
    let verifier = verifier();
    let url = cert_url("SimpleNotificationService-test.pem");
    for version in ["1", "2"] {
        let signed = sign(&notification(Some("Order changed")), version, &url).await;
        assert_eq!(verifier.verify(&signed).await, Ok(()));

        let mut flipped = signed.clone();
        let mut bytes = signed["Message"].as_str().unwrap().as_bytes().to_vec();
        bytes[0] ^= 0x01;
        flipped["Message"] = json!(String::from_utf8(bytes).unwrap());
        assert_eq!(
            verifier.verify(&flipped).await,
            Err(SnsRefusal::BadSignature),
            "v{version}"
        );

        // The timestamp as a date library would write it back: the same instant, not the same text.
        let mut reformatted = signed.clone();
        reformatted["Timestamp"] = json!("2024-05-02T00:54:06Z");
        assert_eq!(verifier.verify(&reformatted).await, Err(SnsRefusal::BadSignature));

        let mut without_subject = signed.clone();
        without_subject.remove("Subject");
        assert_eq!(verifier.verify(&without_subject).await, Err(SnsRefusal::BadSignature));

        let mut other_version = signed.clone();
        other_version["SignatureVersion"] = json!(if version == "1" { "2" } else { "1" });
        assert_eq!(verifier.verify(&other_version).await, Err(SnsRefusal::BadSignature));

        let mut unsupported = signed.clone();
        unsupported["SignatureVersion"] = json!("3");
        assert_eq!(
            verifier.verify(&unsupported).await,
            Err(SnsRefusal::UnsupportedSignatureVersion)
        );
    }
}

#[tokio::test]
async fn forged_urls_are_refused_before_any_request() {
    let port = test_ca().port;
    let verifier = verifier();
    let forged = [
        "https://sns.us-east-1.amazonaws.com.evil.example/forged-host.pem".to_string(),
        "https://evil.example/forged-evil.pem".to_string(),
        "https://evil.example/sns.us-east-1.amazonaws.com/forged-in-path.pem".to_string(),
        format!("https://{SNS_HOST}:{port}/forged-port.pem"),
        format!("https://sns@{SNS_HOST}/forged-userinfo.pem"),
        format!("https://{SNS_HOST}/forged-query.pem?x=1"),
        format!("http://{SNS_HOST}/forged-http.pem"),
        format!("https://{SNS_HOST}/forged-not-pem.txt"),
    ];
    for url in &forged {
        let signed = sign(&notification(None), "2", url).await;
        assert_eq!(
            verifier.verify(&signed).await,
            Err(SnsRefusal::UntrustedCertificateUrl),
            "{url}"
        );
    }
    // The same message in a forged SubscribeURL, with a good certificate URL.
    let (message, _) = confirmation("SubscriptionConfirmation", FORGED_HOSTS[0]);
    let signed = sign(&message, "1", &cert_url("SimpleNotificationService-test.pem")).await;
    assert_eq!(verifier.verify(&signed).await, Err(SnsRefusal::UntrustedCertificateUrl));

    // Nothing was fetched for them, though the stand-in would have served some of them: the
    // control fetch shows the forged host resolves to it and passes TLS.
    let control = client()
        .get("https://sns.us-east-1.amazonaws.com.evil.example/control-host.pem")
        .send()
        .await
        .expect("the forged host is served");
    assert!(control.status().is_success());
    let fetched = all_fetched_paths().await;
    assert!(fetched.iter().any(|path| path == "/control-host.pem"), "{fetched:?}");
    assert!(!fetched.iter().any(|path| path.starts_with("/forged-")), "{fetched:?}");
}

#[tokio::test]
async fn the_lambda_event_spelling_verifies_the_same_message() {
    let verifier = verifier();
    for (version, subject) in [("1", None), ("2", None), ("1", Some("Order changed"))] {
        let signed = sign(
            &notification(subject),
            version,
            &cert_url("SimpleNotificationService-test.pem"),
        )
        .await;
        let mut sns = signed.clone();
        let cert = sns.remove("SigningCertURL").unwrap();
        sns.insert("SigningCertUrl".into(), cert);
        let unsubscribe = sns.remove("UnsubscribeURL").unwrap();
        sns.insert("UnsubscribeUrl".into(), unsubscribe);
        if subject.is_none() {
            sns.insert("Subject".into(), Value::Null);
        }
        sns.insert(
            "MessageAttributes".into(),
            json!({"type": {"Type": "String", "Value": "ORDER_CHANGE"}}),
        );
        // As Lambda passes it: the record's `Sns` object, read back from the event's text.
        let event = json!({"Records": [{
            "EventSource": "aws:sns",
            "EventVersion": "1.0",
            "EventSubscriptionArn": format!("{TOPIC}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55"),
            "Sns": sns,
        }]})
        .to_string();
        let event: Value = serde_json::from_str(&event).unwrap();
        let record = event["Records"][0]["Sns"].as_object().unwrap();
        assert_eq!(verifier.verify(record).await, Ok(()), "v{version}, subject {subject:?}");
    }
}

#[tokio::test]
async fn the_certificate_is_fetched_once_per_verifier() {
    let path = "SimpleNotificationService-cached.pem";
    let url = cert_url(path);
    let mut messages = Vec::new();
    for version in ["1", "2"] {
        messages.push(sign(&notification(None), version, &url).await);
        messages.push(sign(&notification(Some("Order changed")), version, &url).await);
        messages.push(sign(&confirmation("SubscriptionConfirmation", SNS_HOST).0, version, &url).await);
    }
    let verifier = verifier();
    for _ in 0..5 {
        for message in &messages {
            assert_eq!(verifier.verify(message).await, Ok(()));
        }
    }
    let mut tampered = messages[0].clone();
    tampered["MessageId"] = json!("another id");
    assert_eq!(verifier.verify(&tampered).await, Err(SnsRefusal::BadSignature));
    assert_eq!(fetches(path).await, 1);

    // Another container fetches it again.
    let another = SnsVerifier::new(client());
    assert_eq!(another.verify(&messages[0]).await, Ok(()));
    assert_eq!(fetches(path).await, 2);
}

#[tokio::test]
async fn an_unavailable_certificate_is_refused_and_not_cached() {
    let verifier = verifier();
    for path in ["missing-cert.pem", "broken-cert.pem"] {
        let signed = sign(&notification(None), "1", &cert_url(path)).await;
        for _ in 0..2 {
            let refusal = verifier.verify(&signed).await;
            assert!(
                matches!(refusal, Err(SnsRefusal::CertificateUnavailable(_))),
                "{path}: {refusal:?}"
            );
        }
        assert_eq!(fetches(path).await, 2, "{path}");
    }
}

#[tokio::test]
async fn a_certificate_host_outside_the_trusted_roots_is_refused() {
    // The production client (public roots only) sent to the stand-in: TLS fails, so no
    // certificate is fetched and nothing is verified.
    let server = SocketAddr::from(([127, 0, 0, 1], test_ca().port));
    let production = SnsVerifier::https_client_builder()
        .resolve(SNS_HOST, server)
        .build()
        .unwrap();
    let path = "SimpleNotificationService-untrusted-tls.pem";
    let signed = sign(&notification(None), "2", &cert_url(path)).await;
    let refusal = SnsVerifier::new(production).verify(&signed).await;
    assert!(
        matches!(&refusal, Err(SnsRefusal::CertificateUnavailable(why)) if why.contains("certificate")),
        "{refusal:?}"
    );
    assert_eq!(fetches(path).await, 0);
}
