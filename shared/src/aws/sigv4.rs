//! SigV4 (AWS's Signature Version 4) of a JSON- or query-protocol request, put together piece by
//! piece.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

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
    let mut string_to_sign = ["AWS4-HMAC-SHA256\n", &amz_date, "\n", &scope, "\n"].concat();
    push_hex(&mut string_to_sign, &Sha256::digest(canonical_request.as_bytes()));
    let secret = ["AWS4", input.credentials.secret_access_key()].concat();
    let mut key = hmac(secret.as_bytes(), date.as_bytes());
    for part in [input.region, input.service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
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
    push_hex(&mut authorization, &hmac(&key, string_to_sign.as_bytes()));
    Signed {
        authorization,
        amz_date,
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

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
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
        let identity = credentials.clone().into();
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
                    let (name, content_type) = (service.signing_name, service.protocol.content_type());
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
