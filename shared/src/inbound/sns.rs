//! Amazon SNS message signatures (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA, both
//! RSASSA-PKCS1-v1_5), as the SNS developer guide documents them.
//!
//! Anyone can post a message that claims to come from SNS, so a message is trusted only when its
//! signature verifies under a certificate fetched over https from an SNS host
//! (`sns.<region>.amazonaws.com[.cn]`): never a certificate the message carries, and never a URL
//! that merely contains an SNS host name. The string to sign is built from the message's raw
//! JSON string values: a re-serialized `Timestamp` can differ from the signed one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use serde_json::{Map, Value};
use url::{Host, Url};

use crate::error::error_chain;

/// Real signing certificates are about 2 KB; anything much larger is not one.
const MAX_CERTIFICATE_BYTES: usize = 64 * 1024;

/// Why an SNS message was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnsRefusal {
    /// Not an SNS message: a field is missing or of the wrong type, or an unknown Type.
    Malformed(String),
    /// SignatureVersion other than "1" or "2".
    UnsupportedSignatureVersion,
    /// SigningCertURL (or SubscribeURL) is not https on sns.<region>.amazonaws.com[.cn] with a .pem path.
    UntrustedCertificateUrl,
    /// The certificate could not be fetched or parsed.
    CertificateUnavailable(String),
    /// The signature does not match (an undecodable signature included).
    BadSignature,
}

impl std::fmt::Display for SnsRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SnsRefusal::Malformed(why) => write!(f, "Not an SNS message: {why}."),
            SnsRefusal::UnsupportedSignatureVersion => {
                f.write_str("The SNS SignatureVersion is not supported (only 1 and 2 are).")
            }
            SnsRefusal::UntrustedCertificateUrl => {
                f.write_str("The message names a certificate or subscribe URL outside Amazon SNS.")
            }
            SnsRefusal::CertificateUnavailable(why) => {
                write!(f, "The SNS signing certificate is unavailable: {why}.")
            }
            SnsRefusal::BadSignature => f.write_str("The SNS signature does not match the message."),
        }
    }
}

impl std::error::Error for SnsRefusal {}

/// Verifies SNS messages, fetching each signing certificate once per container (cached by URL).
///
/// Only certificates that parsed are cached, so a failed fetch is retried by the next message.
/// Two messages arriving together for a new certificate may both fetch it; that is harmless.
pub struct SnsVerifier {
    http: reqwest::Client,
    /// Certificate URL → the certificate's RSA public key (PKCS#1 `RSAPublicKey` DER, as ring
    /// takes it).
    keys: Mutex<HashMap<String, Arc<[u8]>>>,
}

impl SnsVerifier {
    pub fn new(http: reqwest::Client) -> Self {
        SnsVerifier {
            http,
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// The production client: https only, no redirects, 5 s timeout.
    pub fn https_client() -> reqwest::Client {
        Self::https_client_builder()
            .build()
            .expect("a TLS backend is compiled in")
    }

    /// The settings of [`SnsVerifier::https_client`], for tests to add their own trust root and
    /// name resolution while keeping the rest.
    pub fn https_client_builder() -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .https_only(true)
            // A redirect would fetch from a host that was never checked.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(5))
            .user_agent(concat!("Hookgate/", env!("CARGO_PKG_VERSION")))
    }

    /// Verifies a message given as the JSON object SNS sent (HTTPS body) or the `Sns` object of
    /// a Lambda SNS event record. Accepts both `SigningCertURL` (HTTPS) and `SigningCertUrl`
    /// (Lambda event), and `SubscribeURL`/`SubscribeUrl`.
    ///
    /// For a (un)subscription confirmation the `SubscribeURL` must pass [`trusted_sns_url`] too,
    /// so a caller may GET it once this returns `Ok`.
    pub async fn verify(&self, message: &Map<String, Value>) -> Result<(), SnsRefusal> {
        let algorithm: &'static dyn VerificationAlgorithm = match required(message, "SignatureVersion")? {
            "1" => &signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
            "2" => &signature::RSA_PKCS1_2048_8192_SHA256,
            _ => return Err(SnsRefusal::UnsupportedSignatureVersion),
        };
        let to_sign = string_to_sign(message)?;
        let signature = STANDARD
            .decode(required(message, "Signature")?)
            .map_err(|_| SnsRefusal::BadSignature)?;
        let cert_url = either_spelling(message, "SigningCertURL", "SigningCertUrl")?
            .ok_or_else(|| SnsRefusal::Malformed("SigningCertURL is missing".into()))?;
        let cert_url = parse_certificate_url(cert_url).ok_or(SnsRefusal::UntrustedCertificateUrl)?;
        if required(message, "Type")? != "Notification" {
            // string_to_sign has already required it for the confirmation types.
            let subscribe_url = either_spelling(message, "SubscribeURL", "SubscribeUrl")?.unwrap_or_default();
            if !trusted_sns_url(subscribe_url) {
                return Err(SnsRefusal::UntrustedCertificateUrl);
            }
        }
        let key = self.public_key(&cert_url).await?;
        UnparsedPublicKey::new(algorithm, &*key)
            .verify(to_sign.as_bytes(), &signature)
            .map_err(|_| SnsRefusal::BadSignature)
    }

    async fn public_key(&self, url: &Url) -> Result<Arc<[u8]>, SnsRefusal> {
        if let Some(key) = self.cache().get(url.as_str()) {
            return Ok(key.clone());
        }
        let pem = self.fetch(url).await?;
        let key: Arc<[u8]> = rsa_public_key(&pem)
            .map_err(|why| SnsRefusal::CertificateUnavailable(format!("{url}: {why}")))?
            .into();
        self.cache().insert(url.as_str().to_owned(), key.clone());
        tracing::info!(%url, "SNS signing certificate fetched");
        Ok(key)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<[u8]>>> {
        // The map is never left half-updated, so a panic elsewhere does not spoil it.
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn fetch(&self, url: &Url) -> Result<Vec<u8>, SnsRefusal> {
        let unavailable = |why: String| SnsRefusal::CertificateUnavailable(format!("{url}: {why}"));
        let mut response = self
            .http
            .get(url.clone())
            .send()
            .await
            .map_err(|e| unavailable(error_chain(&e)))?;
        if !response.status().is_success() {
            return Err(unavailable(format!("HTTP {}", response.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| unavailable(error_chain(&e)))? {
            if body.len() + chunk.len() > MAX_CERTIFICATE_BYTES {
                return Err(unavailable("larger than a certificate".into()));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// The RSA public key of a PEM certificate, in the PKCS#1 form ring verifies with.
pub fn rsa_public_key(pem: &[u8]) -> Result<Vec<u8>, &'static str> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem).map_err(|_| "not a PEM document")?;
    let certificate = pem.parse_x509().map_err(|_| "not an X.509 certificate")?;
    let key = certificate.public_key();
    if key.algorithm.algorithm != x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION {
        return Err("not an RSA key");
    }
    // The subjectPublicKey BIT STRING holds the PKCS#1 RSAPublicKey DER.
    Ok(key.subject_public_key.data.to_vec())
}

/// A string field that must be there.
fn required<'a>(message: &'a Map<String, Value>, name: &str) -> Result<&'a str, SnsRefusal> {
    match message.get(name) {
        Some(Value::String(value)) => Ok(value),
        None | Some(Value::Null) => Err(SnsRefusal::Malformed(format!("{name} is missing"))),
        Some(_) => Err(SnsRefusal::Malformed(format!("{name} is not a string"))),
    }
}

/// A string field that may be absent or null (Lambda events carry `"Subject": null`).
fn optional<'a>(message: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, SnsRefusal> {
    match message.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(SnsRefusal::Malformed(format!("{name} is not a string"))),
    }
}

/// A field spelled one way in HTTPS bodies and another in Lambda events; two different values
/// are refused rather than one of them picked.
fn either_spelling<'a>(
    message: &'a Map<String, Value>,
    https: &str,
    lambda: &str,
) -> Result<Option<&'a str>, SnsRefusal> {
    match (optional(message, https)?, optional(message, lambda)?) {
        (Some(a), Some(b)) if a != b => Err(SnsRefusal::Malformed(format!("{https} and {lambda} differ"))),
        (a, b) => Ok(a.or(b)),
    }
}

/// The documented string to sign ("Name\nValue\n" pairs; Subject only when present and not null).
pub fn string_to_sign(message: &Map<String, Value>) -> Result<String, SnsRefusal> {
    let names: &[&str] = match required(message, "Type")? {
        "Notification" => &["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"],
        "SubscriptionConfirmation" | "UnsubscribeConfirmation" => &[
            "Message",
            "MessageId",
            "SubscribeURL",
            "Timestamp",
            "Token",
            "TopicArn",
            "Type",
        ],
        _ => return Err(SnsRefusal::Malformed("unknown Type".into())),
    };
    let mut out = String::new();
    for &name in names {
        let value = match name {
            "Subject" => optional(message, name)?,
            "SubscribeURL" => Some(
                either_spelling(message, "SubscribeURL", "SubscribeUrl")?
                    .ok_or_else(|| SnsRefusal::Malformed("SubscribeURL is missing".into()))?,
            ),
            _ => Some(required(message, name)?),
        };
        if let Some(value) = value {
            out.push_str(name);
            out.push('\n');
            out.push_str(value);
            out.push('\n');
        }
    }
    Ok(out)
}

/// https, host sns.<region>.amazonaws.com or .amazonaws.com.cn, no port, no userinfo, no query/fragment, path ending .pem.
pub fn trusted_certificate_url(url: &str) -> bool {
    parse_certificate_url(url).is_some()
}

/// The same host rule for SubscribeURL (https on sns.<region>.amazonaws.com[.cn], any path/query allowed) — used before confirming a subscription.
pub fn trusted_sns_url(url: &str) -> bool {
    Url::parse(url).is_ok_and(|url| on_sns_host(&url))
}

/// The parsed URL is what gets fetched, so the URL checked and the URL fetched are one.
fn parse_certificate_url(url: &str) -> Option<Url> {
    Url::parse(url)
        .ok()
        .filter(|url| on_sns_host(url) && url.query().is_none() && url.path().ends_with(".pem"))
}

/// Compares the parsed host, never a substring: `sns.us-east-1.amazonaws.com.evil.example` and
/// `evil.example/sns.us-east-1.amazonaws.com/...` fail. An explicit `:443` is dropped by the
/// parser as the https default, which is harmless; any other port is refused.
fn on_sns_host(url: &Url) -> bool {
    url.scheme() == "https"
        && url.port().is_none()
        && url.username().is_empty()
        && url.password().is_none()
        && url.fragment().is_none()
        && matches!(url.host(), Some(Host::Domain(host)) if is_sns_host(host))
}

/// `sns.<region>.amazonaws.com` or `sns.<region>.amazonaws.com.cn`, the region one label of
/// lowercase letters, digits and dashes (the parser has lowercased the host).
fn is_sns_host(host: &str) -> bool {
    host.strip_prefix("sns.")
        .and_then(|rest| {
            rest.strip_suffix(".amazonaws.com")
                .or_else(|| rest.strip_suffix(".amazonaws.com.cn"))
        })
        .is_some_and(|region| {
            region.len() >= 3
                && region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().expect("an object").clone()
    }

    fn notification() -> Value {
        json!({
            "Type": "Notification",
            "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf357",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:sp-api",
            "Subject": "My subject",
            "Message": "line one\nline two",
            "Timestamp": "2024-05-02T00:54:06.000Z",
            "SignatureVersion": "1",
            "Signature": "AAAA",
            "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
            "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x"
        })
    }

    #[test]
    fn notification_with_subject() {
        assert_eq!(
            string_to_sign(&object(notification())).unwrap(),
            "Message\nline one\nline two\nMessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf357\nSubject\nMy subject\n\
             Timestamp\n2024-05-02T00:54:06.000Z\nTopicArn\narn:aws:sns:us-east-1:123456789012:sp-api\n\
             Type\nNotification\n"
        );
    }

    #[test]
    fn notification_without_subject_or_with_null_subject() {
        let expected = "Message\nline one\nline two\nMessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf357\n\
                        Timestamp\n2024-05-02T00:54:06.000Z\nTopicArn\narn:aws:sns:us-east-1:123456789012:sp-api\n\
                        Type\nNotification\n";
        let mut absent = object(notification());
        absent.remove("Subject");
        assert_eq!(string_to_sign(&absent).unwrap(), expected);
        let mut null = object(notification());
        null.insert("Subject".into(), Value::Null);
        assert_eq!(string_to_sign(&null).unwrap(), expected);
        // An empty Subject is still a Subject.
        let mut empty = object(notification());
        empty.insert("Subject".into(), json!(""));
        assert!(string_to_sign(&empty).unwrap().contains("Subject\n\nTimestamp"));
    }

    #[test]
    fn subscription_confirmation_in_either_spelling() {
        let message = json!({
            "Type": "SubscriptionConfirmation",
            "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
            "Token": "2336412f37fb",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
            "Message": "You have chosen to subscribe.",
            "SubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=2336412f37fb",
            "Timestamp": "2024-05-02T00:54:06.655Z"
        });
        let expected = "Message\nYou have chosen to subscribe.\nMessageId\n165545c9-2a5c-472c-8df2-7ff2be2b3b1b\n\
                        SubscribeURL\nhttps://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=2336412f37fb\n\
                        Timestamp\n2024-05-02T00:54:06.655Z\nToken\n2336412f37fb\n\
                        TopicArn\narn:aws:sns:us-east-1:123456789012:t\nType\nSubscriptionConfirmation\n";
        assert_eq!(string_to_sign(&object(message.clone())).unwrap(), expected);
        let mut lambda = object(message);
        let url = lambda.remove("SubscribeURL").unwrap();
        lambda.insert("SubscribeUrl".into(), url);
        assert_eq!(string_to_sign(&lambda).unwrap(), expected);
    }

    #[test]
    fn malformed_messages() {
        let mut missing = object(notification());
        missing.remove("MessageId");
        assert!(matches!(string_to_sign(&missing), Err(SnsRefusal::Malformed(_))));
        let mut number = object(notification());
        number.insert("Timestamp".into(), json!(1714611246));
        assert!(matches!(string_to_sign(&number), Err(SnsRefusal::Malformed(_))));
        let mut unknown = object(notification());
        unknown.insert("Type".into(), json!("Something"));
        assert!(matches!(string_to_sign(&unknown), Err(SnsRefusal::Malformed(_))));
    }

    #[test]
    fn certificate_url_rules() {
        for good in [
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem",
            "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem",
            "https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://SNS.US-EAST-1.amazonaws.com/SimpleNotificationService-abc.pem",
        ] {
            assert!(trusted_certificate_url(good), "{good}");
        }
        for bad in [
            "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://sns.us-east-1.amazonaws.com.evil.example/SimpleNotificationService-abc.pem",
            "https://evil.example/sns.us-east-1.amazonaws.com/x.pem",
            "https://evil.example/x.pem?sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com:8443/SimpleNotificationService-abc.pem",
            "https://evil@sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://evil:pw@sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.txt",
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem?x=1",
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem#x",
            "https://sns.us-east-1.amazonaws.com./SimpleNotificationService-abc.pem",
            "https://sns.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://sns.a.b.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://s3.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://54.239.0.1/SimpleNotificationService-abc.pem",
            "sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
            "",
        ] {
            assert!(!trusted_certificate_url(bad), "{bad}");
        }
    }

    #[test]
    fn subscribe_url_rules() {
        assert!(trusted_sns_url(
            "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-1:1:t&Token=x"
        ));
        assert!(trusted_sns_url(
            "https://sns.cn-north-1.amazonaws.com.cn/?Action=ConfirmSubscription"
        ));
        for bad in [
            "http://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
            "https://sns.us-east-1.amazonaws.com.evil.example/?Action=ConfirmSubscription",
            "https://evil.example/sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
            "https://sns.us-east-1.amazonaws.com:8443/?Action=ConfirmSubscription",
            "https://evil@sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
        ] {
            assert!(!trusted_sns_url(bad), "{bad}");
        }
    }

    #[tokio::test]
    async fn refusals_before_any_fetch() {
        let verifier = SnsVerifier::new(SnsVerifier::https_client());
        let mut version = object(notification());
        version.insert("SignatureVersion".into(), json!("3"));
        assert_eq!(
            verifier.verify(&version).await,
            Err(SnsRefusal::UnsupportedSignatureVersion)
        );
        let mut forged = object(notification());
        forged.insert(
            "SigningCertURL".into(),
            json!("https://sns.us-east-1.amazonaws.com.evil.example/x.pem"),
        );
        assert_eq!(verifier.verify(&forged).await, Err(SnsRefusal::UntrustedCertificateUrl));
        let mut ambiguous = object(notification());
        ambiguous.insert(
            "SigningCertUrl".into(),
            json!("https://sns.us-east-2.amazonaws.com/x.pem"),
        );
        assert!(matches!(
            verifier.verify(&ambiguous).await,
            Err(SnsRefusal::Malformed(_))
        ));
        let mut undecodable = object(notification());
        undecodable.insert("Signature".into(), json!("not base64!"));
        assert_eq!(verifier.verify(&undecodable).await, Err(SnsRefusal::BadSignature));
    }

    #[test]
    fn a_pem_that_is_not_a_certificate_is_refused() {
        assert!(rsa_public_key(b"<html>not found</html>").is_err());
        assert!(rsa_public_key(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").is_err());
    }
}
