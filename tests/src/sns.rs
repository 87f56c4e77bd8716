//! A stand-in for Amazon SNS's certificate host (tests/sns_test_ca.py): https with a certificate
//! from a test authority, a signing certificate of its own, `POST /_sign` to sign messages as
//! SNS does, and records of what was fetched. Clients from [`client`] trust only the test
//! authority and resolve the SNS host to the stand-in: the production fetch path, TLS on.

use std::net::SocketAddr;
use std::sync::OnceLock;

use serde_json::{Map, Value, json};
use shared::inbound::sns::SnsVerifier;

use crate::TlsStandIn;

pub const SNS_HOST: &str = "sns.us-east-1.amazonaws.com";
/// Hosts the stand-in's TLS certificate names too, so a forged URL would really be served.
pub const FORGED_HOSTS: [&str; 2] = ["sns.us-east-1.amazonaws.com.evil.example", "evil.example"];

/// The stand-in of this test binary, started on first use.
pub fn test_ca() -> &'static TlsStandIn {
    static CA: OnceLock<TlsStandIn> = OnceLock::new();
    CA.get_or_init(|| TlsStandIn::start("sns_test_ca.py", "sns-ca", ""))
}

/// The production client's settings, trusting only the test authority, with the SNS host (and
/// the forged hosts) resolved to the stand-in. One per test: each test has its own runtime.
pub fn client() -> reqwest::Client {
    let ca = test_ca();
    let server = SocketAddr::from(([127, 0, 0, 1], ca.port));
    let mut builder = SnsVerifier::https_client_builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca.ca_pem).expect("ca.pem is a certificate"))
        .resolve(SNS_HOST, server);
    for host in FORGED_HOSTS {
        builder = builder.resolve(host, server);
    }
    builder.build().expect("the client builds")
}

pub fn verifier() -> SnsVerifier {
    SnsVerifier::new(client())
}

pub fn cert_url(path: &str) -> String {
    format!("https://{SNS_HOST}/{path}")
}

/// `message` signed by the stand-in with `version`, naming `cert_url`.
pub async fn sign(message: &Value, version: &str, cert_url: &str) -> Map<String, Value> {
    let response = client()
        .post(format!("https://{SNS_HOST}/_sign"))
        .json(&json!({"message": message, "version": version, "cert_url": cert_url}))
        .send()
        .await
        .expect("the stand-in signs");
    assert!(response.status().is_success(), "{}", response.status());
    match response.json().await.expect("a JSON answer") {
        Value::Object(signed) => signed,
        other => panic!("not an object: {other}"),
    }
}
