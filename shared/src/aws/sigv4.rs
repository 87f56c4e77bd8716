//! SigV4 (AWS's Signature Version 4) of a JSON- or query-protocol request, put together piece by
//! piece.

use std::time::SystemTime;

use sha2::{Digest, Sha256};

use super::{Credentials, uri_encode};
use crate::crypto::hmac_sha256;

/// One request as SigV4 signs it.
pub(super) struct SigningInput<'a> {
    pub service: &'a str,
    pub content_type: &'a str,
    pub host: &'a str,
    pub region: &'a str,
    /// `X-Amz-Target`, which the JSON protocol sends and the query protocol does not.
    pub target: Option<&'a str>,
    pub body: &'a [u8],
    pub credentials: &'a Credentials,
}

pub(super) struct Signed {
    pub amz_date: String,
    pub authorization: String,
}

/// SigV4 of a request of `service`: `POST /` with the headers [`super::AwsClient`] sends, all signed.
/// The unit test checks it against AWS's own signer (`aws-sigv4`). Its strings are put
/// together piece by piece: with `format!` they were most of the signing's own instructions.
pub(super) fn sign(input: &SigningInput<'_>, now: SystemTime) -> Signed {
    let amz_date = amz_date(now);
    let date = &amz_date[..8];
    let token = input.credentials.session_token();
    let signed_headers = match (token, input.target) {
        (Some(_), Some(_)) => "content-type;host;x-amz-date;x-amz-security-token;x-amz-target",
        (None, Some(_)) => "content-type;host;x-amz-date;x-amz-target",
        (Some(_), None) => "content-type;host;x-amz-date;x-amz-security-token",
        (None, None) => "content-type;host;x-amz-date",
    };
    let mut canonical_request = String::with_capacity(512);
    canonical_request.extend(["POST\n/\n\ncontent-type:", input.content_type, "\nhost:", input.host]);
    canonical_request.extend(["\nx-amz-date:", &amz_date, "\n"]);
    if let Some(token) = token {
        canonical_request.extend(["x-amz-security-token:", token.trim(), "\n"]);
    }
    if let Some(target) = input.target {
        canonical_request.extend(["x-amz-target:", target, "\n"]);
    }
    canonical_request.extend(["\n", signed_headers, "\n"]);
    push_hex(&mut canonical_request, &Sha256::digest(input.body));
    let scope = [date, "/", input.region, "/", input.service, "/aws4_request"].concat();
    let key = signing_key(input.credentials.secret_access_key(), date, input.region, input.service);
    let mut authorization = [
        "AWS4-HMAC-SHA256 Credential=",
        input.credentials.access_key_id(),
        "/",
        &scope,
        ", SignedHeaders=",
        signed_headers,
        ", Signature=",
    ]
    .concat();
    push_signature(&mut authorization, &key, &amz_date, &scope, &canonical_request);
    Signed {
        authorization,
        amz_date,
    }
}

/// `now` as SigV4 writes it: `20260105T030405Z`.
fn amz_date(now: SystemTime) -> String {
    let now = time::OffsetDateTime::from(now);
    let mut amz_date = String::with_capacity(16);
    push_digits(&mut amz_date, now.year().unsigned_abs().into(), 4);
    push_digits(&mut amz_date, u8::from(now.month()).into(), 2);
    push_digits(&mut amz_date, now.day().into(), 2);
    amz_date.push('T');
    for part in [now.hour(), now.minute(), now.second()] {
        push_digits(&mut amz_date, part.into(), 2);
    }
    amz_date.push('Z');
    amz_date
}

/// The key that signs a day's requests to `service` in `region` (`date` is `YYYYMMDD`), and
/// S3's POST policies.
fn signing_key(secret_access_key: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let secret = ["AWS4", secret_access_key].concat();
    let mut key = hmac_sha256(secret.as_bytes(), &[date.as_bytes()]);
    for part in [region, service, "aws4_request"] {
        key = hmac_sha256(&key, &[part.as_bytes()]);
    }
    key
}

/// Appends the signature, in hex, of `canonical_request` made at `amz_date` within `scope`.
fn push_signature(out: &mut String, key: &[u8; 32], amz_date: &str, scope: &str, canonical_request: &str) {
    let mut string_to_sign = ["AWS4-HMAC-SHA256\n", amz_date, "\n", scope, "\n"].concat();
    push_hex(&mut string_to_sign, &Sha256::digest(canonical_request.as_bytes()));
    push_hex(out, &hmac_sha256(key, &[string_to_sign.as_bytes()]));
}

/// A REST request as SigV4 signs it (S3's): its method, its path and query already
/// URI-encoded, and the headers to sign besides `host`, `x-amz-date` and the session token.
pub(super) struct RestRequest<'a> {
    pub method: &'a str,
    /// The path as sent, each segment URI-encoded once (S3 does not encode it twice).
    pub path: &'a str,
    /// Query parameters as sent, names and values URI-encoded ([`uri_encode`]).
    pub query: Vec<(String, String)>,
    /// Lowercase names, with their values.
    pub headers: Vec<(&'a str, &'a str)>,
    /// The payload's SHA-256 in hex, or `UNSIGNED-PAYLOAD`.
    pub payload_hash: &'a str,
}

/// Who signs a REST request, and for which endpoint.
pub(super) struct RestSigner<'a> {
    pub host: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub credentials: &'a Credentials,
}

/// A REST request's canonical form at a time, and what its signature is made with.
struct Canonical {
    amz_date: String,
    scope: String,
    signed_headers: String,
    /// The canonical query, which a presigned URL sends as it is.
    query: String,
    request: String,
}

impl RestSigner<'_> {
    /// SigV4 of `request` in its headers: the `authorization`, `x-amz-date` and session token
    /// headers to send. The unit test checks it against AWS's own signer.
    pub(super) fn sign_in_headers(&self, request: RestRequest<'_>, now: SystemTime) -> Vec<(&'static str, String)> {
        let canonical = self.canonical(request, now, None);
        let mut authorization = [
            "AWS4-HMAC-SHA256 Credential=",
            self.credentials.access_key_id(),
            "/",
            &canonical.scope,
            ", SignedHeaders=",
            &canonical.signed_headers,
            ", Signature=",
        ]
        .concat();
        self.push_signature(&mut authorization, &canonical);
        let token = self.credentials.session_token();
        let mut added = vec![("authorization", authorization), ("x-amz-date", canonical.amz_date)];
        added.extend(token.map(|token| ("x-amz-security-token", token.to_string())));
        added
    }

    /// SigV4 of `request` in its query, valid for `expires_in_seconds`: the whole query string
    /// of a presigned URL (the request's own parameters and the signature's). The unit test
    /// checks it against AWS's own signer.
    pub(super) fn presign(&self, request: RestRequest<'_>, now: SystemTime, expires_in_seconds: u64) -> String {
        let canonical = self.canonical(request, now, Some(expires_in_seconds));
        let mut query = [canonical.query.as_str(), "&X-Amz-Signature="].concat();
        self.push_signature(&mut query, &canonical);
        query
    }

    /// The canonical request: with the signature in the headers (`presigned_for` is `None`),
    /// `x-amz-date` and the session token are signed headers; in the query, they and the
    /// signature's other parameters are query parameters.
    fn canonical(&self, mut request: RestRequest<'_>, now: SystemTime, presigned_for: Option<u64>) -> Canonical {
        let amz_date = amz_date(now);
        let scope = self.scope(&amz_date);
        let token = self.credentials.session_token();
        let mut headers = request.headers.clone();
        headers.push(("host", self.host));
        if presigned_for.is_none() {
            headers.push(("x-amz-date", &amz_date));
            headers.extend(token.map(|token| ("x-amz-security-token", token)));
        }
        headers.sort_unstable();
        let signed_headers = headers.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(";");
        if let Some(expires_in_seconds) = presigned_for {
            let credential = [self.credentials.access_key_id(), "/", &scope].concat();
            request.query.extend([
                ("X-Amz-Algorithm".into(), "AWS4-HMAC-SHA256".into()),
                ("X-Amz-Credential".into(), uri_encode(&credential)),
                ("X-Amz-Date".into(), amz_date.clone()),
                ("X-Amz-Expires".into(), expires_in_seconds.to_string()),
                ("X-Amz-SignedHeaders".into(), uri_encode(&signed_headers)),
            ]);
            if let Some(token) = token {
                request.query.push(("X-Amz-Security-Token".into(), uri_encode(token)));
            }
        }
        request.query.sort_unstable();
        let query = request
            .query
            .iter()
            .map(|(name, value)| [name.as_str(), "=", value.as_str()].concat())
            .collect::<Vec<_>>()
            .join("&");
        let mut canonical_request = [request.method, "\n", request.path, "\n", &query, "\n"].concat();
        for (name, value) in &headers {
            canonical_request.extend([*name, ":", value.trim(), "\n"]);
        }
        canonical_request.extend(["\n", &signed_headers, "\n", request.payload_hash]);
        Canonical {
            amz_date,
            scope,
            signed_headers,
            query,
            request: canonical_request,
        }
    }

    /// The form fields that name the signer of a POST policy made at `now` (S3's browser
    /// uploads): `x-amz-algorithm`, `x-amz-credential`, `x-amz-date` and, with temporary
    /// credentials, `x-amz-security-token`. The policy lists each among its conditions, and
    /// [`Self::sign_post_policy`] signs it at the same `now`.
    pub(super) fn post_policy_fields(&self, now: SystemTime) -> Vec<(&'static str, String)> {
        let amz_date = amz_date(now);
        let scope = self.scope(&amz_date);
        let mut fields = vec![
            ("x-amz-algorithm", "AWS4-HMAC-SHA256".to_string()),
            (
                "x-amz-credential",
                [self.credentials.access_key_id(), "/", &scope].concat(),
            ),
            ("x-amz-date", amz_date),
        ];
        let token = self.credentials.session_token();
        fields.extend(token.map(|token| ("x-amz-security-token", token.to_string())));
        fields
    }

    /// The `x-amz-signature` of a POST policy (its base64, as the form sends it) whose fields
    /// were made at `now`: the policy itself is what is signed, with that day's key.
    pub(super) fn sign_post_policy(&self, policy: &str, now: SystemTime) -> String {
        let mut signature = String::with_capacity(64);
        push_hex(
            &mut signature,
            &hmac_sha256(&self.key(&amz_date(now)), &[policy.as_bytes()]),
        );
        signature
    }

    fn push_signature(&self, out: &mut String, canonical: &Canonical) {
        let key = self.key(&canonical.amz_date);
        push_signature(out, &key, &canonical.amz_date, &canonical.scope, &canonical.request);
    }

    /// The credential scope of a signature made at `amz_date`: `YYYYMMDD/region/service/aws4_request`.
    fn scope(&self, amz_date: &str) -> String {
        [&amz_date[..8], "/", self.region, "/", self.service, "/aws4_request"].concat()
    }

    /// The key that signs on `amz_date`'s day.
    fn key(&self, amz_date: &str) -> [u8; 32] {
        signing_key(
            self.credentials.secret_access_key(),
            &amz_date[..8],
            self.region,
            self.service,
        )
    }
}

/// `value` in decimal, padded with zeros to `width` digits (1 to 20), without `format!`'s
/// machinery.
pub fn push_digits(out: &mut String, value: u64, width: usize) {
    let (mut digits, mut at, mut rest) = ([b'0'; 20], 20, value);
    while rest > 0 {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    out.extend(
        digits[at.min(20 - width.min(20))..]
            .iter()
            .map(|&digit| char::from(digit)),
    );
}

/// `bytes` in lowercase hexadecimal.
fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn credentials(token: Option<&str>) -> Credentials {
        Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            token.map(str::to_string),
        )
    }

    /// The same credentials as AWS's signer takes them.
    fn theirs(credentials: &Credentials) -> aws_credential_types::Credentials {
        aws_credential_types::Credentials::new(
            credentials.access_key_id(),
            credentials.secret_access_key(),
            credentials.session_token().map(str::to_string),
            None,
            "test",
        )
    }

    /// The same request signed by AWS's own SigV4 implementation.
    fn signed_by_aws(
        service: &str,
        content_type: &str,
        host: &str,
        target: Option<&str>,
        body: &[u8],
        credentials: &Credentials,
        now: SystemTime,
    ) -> String {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign as aws_sign};
        use aws_sigv4::sign::v4::SigningParams;
        let identity = theirs(credentials).into();
        let params = SigningParams::builder()
            .identity(&identity)
            .region("eu-west-1")
            .name(service)
            .time(now)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let mut headers = vec![("content-type", content_type), ("host", host)];
        headers.extend(target.map(|target| ("x-amz-target", target)));
        let request = SignableRequest::new(
            "POST",
            format!("http://{host}/"),
            headers.into_iter(),
            SignableBody::Bytes(body),
        )
        .unwrap();
        let (instructions, _) = aws_sign(request, &params).unwrap().into_parts();
        let (headers, _) = instructions.into_parts();
        headers
            .iter()
            .find(|header| header.name() == "authorization")
            .map(|header| header.value().to_string())
            .unwrap()
    }

    #[test]
    fn signatures_match_aws_own_signer() {
        use super::super::{DYNAMODB, SECRETS_MANAGER, SNS, SQS};
        let requests = [
            (
                DYNAMODB,
                Some("DynamoDB_20120810.GetItem"),
                &br#"{"TableName":"hookgate","Key":{"PK":{"S":"ORG#o"},"SK":{"S":"ORG"}}}"#[..],
            ),
            (
                SQS,
                Some("AmazonSQS.SendMessage"),
                br#"{"QueueUrl":"https://sqs.eu-west-1.amazonaws.com/1/q","MessageBody":"{}"}"#,
            ),
            (
                SECRETS_MANAGER,
                Some("secretsmanager.GetSecretValue"),
                br#"{"SecretId":"hookgate/pepper"}"#,
            ),
            (
                SNS,
                None,
                b"Action=Publish&Version=2010-03-31&TopicArn=arn%3Aaws%3Asns%3Aeu-west-1%3A1%3Aalerts&Message=%7B%7D",
            ),
        ];
        // 2025-11-24T16:00:00Z, and a time whose every part is one digit: 2026-01-05T03:04:05Z.
        for (seconds, amz_date) in [(1_764_000_000, "20251124T160000Z"), (1_767_582_245, "20260105T030405Z")] {
            let now = SystemTime::UNIX_EPOCH + Duration::from_secs(seconds);
            for token in [None, Some("FwoGZXIvYXdzEXAMPLETOKEN")] {
                for (service, target, body) in requests {
                    let content_type = match service.protocol {
                        super::super::Protocol::Json { content_type, .. } => content_type,
                        _ => super::super::FORM,
                    };
                    let name = service.signing_name;
                    for host in [&format!("{name}.eu-west-1.amazonaws.com"), "127.0.0.1:5100"] {
                        let credentials = credentials(token);
                        let ours = sign(
                            &SigningInput {
                                service: name,
                                content_type,
                                host,
                                region: "eu-west-1",
                                target,
                                body,
                                credentials: &credentials,
                            },
                            now,
                        );
                        assert_eq!(
                            ours.authorization,
                            signed_by_aws(name, content_type, host, target, body, &credentials, now)
                        );
                        assert_eq!(ours.amz_date, amz_date);
                    }
                }
            }
        }
    }

    /// An S3 request signed by AWS's own signer as S3 wants it: the path encoded once, not
    /// normalized, the payload's hash in `x-amz-content-sha256` (or `UNSIGNED-PAYLOAD` in the
    /// query). Answers the headers or the query parameters it adds.
    fn s3_signed_by_aws(
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        credentials: &Credentials,
        now: SystemTime,
        expires_in: Option<Duration>,
    ) -> Vec<(String, String)> {
        use aws_sigv4::http_request::{
            PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation as Location,
            SigningSettings, UriPathNormalizationMode, sign as aws_sign,
        };
        use aws_sigv4::sign::v4::SigningParams;
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        if let Some(expires_in) = expires_in {
            settings.signature_location = Location::QueryParams;
            settings.expires_in = Some(expires_in);
        } else {
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        }
        let identity = theirs(credentials).into();
        let params = SigningParams::builder()
            .identity(&identity)
            .region("eu-west-1")
            .name("s3")
            .time(now)
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let body = body.map_or(SignableBody::UnsignedPayload, SignableBody::Bytes);
        let request = SignableRequest::new(method, url, headers.iter().copied(), body).unwrap();
        let (instructions, _) = aws_sign(request, &params).unwrap().into_parts();
        let (headers, params) = instructions.into_parts();
        headers
            .iter()
            .map(|header| (header.name().to_string(), header.value().to_string()))
            .chain(
                params
                    .into_iter()
                    .map(|(name, value)| (name.to_string(), value.to_string())),
            )
            .collect()
    }

    #[test]
    fn s3_signatures_match_aws_own_signer_in_headers_and_in_presigned_urls() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_582_245);
        let host = "127.0.0.1:5005";
        // A key as the desk writes them: a file name with a space, an accent and a `+`.
        let path = [
            "/hookgate-attachments/attachments/org_1/att_2/",
            &uri_encode("Q3 report+ü.pdf"),
        ]
        .concat();
        let url = format!("http://{host}{path}");
        for token in [None, Some("FwoGZXIvYXdzEXAMPLETOKEN")] {
            let credentials = credentials(token);
            let body = b"%PDF-1.7 bytes";
            let hash = hex::encode(Sha256::digest(body));
            let put = RestRequest {
                method: "PUT",
                path: &path,
                query: Vec::new(),
                headers: vec![("content-type", "application/pdf"), ("x-amz-content-sha256", &hash)],
                payload_hash: &hash,
            };
            let signer = RestSigner {
                host,
                service: "s3",
                region: "eu-west-1",
                credentials: &credentials,
            };
            let ours = signer.sign_in_headers(put, now);
            let theirs = s3_signed_by_aws(
                "PUT",
                &url,
                &[("content-type", "application/pdf"), ("host", host)],
                Some(body),
                &credentials,
                now,
                None,
            );
            let authorization = |headers: &[(String, String)]| {
                headers
                    .iter()
                    .find(|(name, _)| name == "authorization")
                    .map(|(_, value)| value.clone())
            };
            let ours: Vec<(String, String)> = ours
                .into_iter()
                .map(|(name, value)| (name.to_string(), value))
                .collect();
            assert_eq!(authorization(&ours), authorization(&theirs));

            let disposition = "attachment; filename=\"Q3 report+u.pdf\"; filename*=UTF-8''Q3%20report%2B%C3%BC.pdf";
            let get = RestRequest {
                method: "GET",
                path: &path,
                query: vec![
                    ("response-content-disposition".into(), uri_encode(disposition)),
                    ("response-content-type".into(), uri_encode("application/pdf")),
                ],
                headers: Vec::new(),
                payload_hash: "UNSIGNED-PAYLOAD",
            };
            let query = signer.presign(get, now, 900);
            let url_with_parameters = format!(
                "{url}?response-content-disposition={}&response-content-type={}",
                uri_encode(disposition),
                uri_encode("application/pdf")
            );
            let theirs = s3_signed_by_aws(
                "GET",
                &url_with_parameters,
                &[("host", host)],
                None,
                &credentials,
                now,
                Some(Duration::from_secs(900)),
            );
            let signature = theirs.iter().find(|(name, _)| name == "X-Amz-Signature").unwrap();
            assert!(
                query.ends_with(&format!("&X-Amz-Signature={}", signature.1)),
                "{query} against {theirs:?}"
            );
            assert!(query.contains("X-Amz-Expires=900"), "{query}");
            assert_eq!(query.contains("X-Amz-Security-Token="), token.is_some());
        }
    }

    #[test]
    fn digits_are_padded_and_hex_is_lowercase() {
        let mut out = String::new();
        push_digits(&mut out, 7, 2);
        push_digits(&mut out, 0, 2);
        push_digits(&mut out, 2026, 4);
        push_digits(&mut out, 12345, 2);
        push_digits(&mut out, u64::MAX, 1);
        push_hex(&mut out, &[0x00, 0x9f, 0xa0, 0xff]);
        assert_eq!(out, "070020261234518446744073709551615009fa0ff");
    }
}
