//! S3's client: what the desk asks of its files' bucket (`PutObject`, `HeadObject`, presigned
//! `GetObject` URLs and POST policies) over S3's REST protocol, each object addressed in the
//! bucket's URL.

use std::time::{Duration, SystemTime};

use base64::Engine;
use bytes::Bytes;
use hyper::Method;
use hyper::header::CONTENT_LENGTH;
use serde_json::{Map, Value, json};

use super::{AwsClient, AwsError, S3 as SERVICE, uri_encode};

/// Handle on one bucket, built once per container and cloned freely.
#[derive(Clone, Debug)]
pub struct S3 {
    client: AwsClient,
    bucket: String,
    path_style: bool,
}

impl S3 {
    /// The bucket `bucket` through the AWS configuration's endpoint (`AWS_ENDPOINT_URL_S3` or
    /// `AWS_ENDPOINT_URL`), region and credentials; addressed as `<endpoint>/<bucket>` with
    /// `path_style` (an S3-compatible endpoint such as the local emulator), else as
    /// `<bucket>.s3.<region>.amazonaws.com`.
    pub fn from_config(config: &crate::aws::AwsConfig, bucket: &str, path_style: bool) -> Result<Self, String> {
        AwsClient::from_config_at(SERVICE, config, |endpoint, region| match (path_style, endpoint) {
            (true, Some(endpoint)) => format!("{}/{bucket}", endpoint.trim_end_matches('/')),
            (true, None) => format!("https://s3.{region}.amazonaws.com/{bucket}"),
            (false, Some(endpoint)) => match endpoint.split_once("://") {
                Some((scheme, host)) => format!("{scheme}://{bucket}.{}", host.trim_end_matches('/')),
                None => format!("https://{bucket}.{}", endpoint.trim_end_matches('/')),
            },
            (false, None) => format!("https://{bucket}.s3.{region}.amazonaws.com"),
        })
        .map(|client| Self {
            client,
            bucket: bucket.to_string(),
            path_style,
        })
    }

    /// Where a browser POSTs an upload: the bucket's URL, `<endpoint>/<bucket>` path-style,
    /// else `https://<bucket>.s3.<region>.amazonaws.com/` (`<bucket>.<endpoint's host>/` through
    /// an endpoint of the configuration's).
    pub fn post_url(&self) -> String {
        let url = self.client.url();
        if self.path_style { url } else { url + "/" }
    }

    /// The client underneath, for what else there is to ask of the bucket (creating it).
    pub fn client(&self) -> &AwsClient {
        &self.client
    }

    /// Stores `body` under `key` with its `content_type`, replacing what was there.
    pub async fn put_object(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), AwsError> {
        let headers = [("content-type", content_type)];
        self.client
            .rest(&Method::PUT, &object_path(key), &headers, Bytes::from(body))
            .await?;
        Ok(())
    }

    /// The size of the object under `key`, or `None` when there is none.
    pub async fn object_size(&self, key: &str) -> Result<Option<u64>, AwsError> {
        match self
            .client
            .rest(&Method::HEAD, &object_path(key), &[], Bytes::new())
            .await
        {
            Ok((headers, _)) => Ok(Some(
                headers
                    .get(CONTENT_LENGTH)
                    .and_then(|length| length.to_str().ok()?.parse().ok())
                    .unwrap_or(0),
            )),
            Err(error) if error.status == Some(404) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// A URL that downloads the object under `key` until `expires_in` after `now` (at most
    /// seven days), with `parameters` that S3 applies to its answer
    /// (`response-content-disposition`, `response-content-type`).
    pub fn presigned_get(
        &self,
        key: &str,
        parameters: &[(&str, &str)],
        now: SystemTime,
        expires_in: Duration,
    ) -> Result<String, AwsError> {
        self.client
            .presigned_url(&Method::GET, &object_path(key), parameters, now, expires_in)
    }

    /// The form fields of a browser upload (a POST to the bucket's URL) of one object under
    /// exactly `key`, of 1 to `max_bytes` bytes of `content_type`, until `expiration` (RFC
    /// 3339), signed at `now`: the key, the type and the signer's fields, the policy that binds
    /// them to the bucket and the size, and its signature, as AWS's recipe (SigV4 of a POST
    /// policy) has them. The form sends them all before the `file`, which goes last.
    pub fn presigned_post(
        &self,
        key: &str,
        content_type: &str,
        max_bytes: u64,
        now: SystemTime,
        expiration: &str,
    ) -> Map<String, Value> {
        let signer = self.client.signer();
        let mut fields = Map::new();
        fields.insert("key".into(), json!(key));
        fields.insert("Content-Type".into(), json!(content_type));
        for (name, value) in signer.post_policy_fields(now) {
            fields.insert(name.into(), Value::String(value));
        }
        let mut conditions = vec![
            json!({"bucket": self.bucket}),
            json!(["content-length-range", 1, max_bytes]),
        ];
        conditions.extend(fields.iter().map(|(name, value)| json!({ name: value })));
        let policy = json!({"expiration": expiration, "conditions": conditions});
        let policy = base64::engine::general_purpose::STANDARD.encode(policy.to_string());
        let signature = signer.sign_post_policy(&policy, now);
        fields.insert("policy".into(), Value::String(policy));
        fields.insert("x-amz-signature".into(), Value::String(signature));
        fields
    }
}

/// The path of the object `key` below the bucket: each of its `/`-separated segments
/// URI-encoded once, as S3 signs them.
fn object_path(key: &str) -> String {
    key.split('/')
        .fold(String::with_capacity(key.len() + 8), |mut path, segment| {
            path.push('/');
            path.push_str(&uri_encode(segment));
            path
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::{AWS_ROOTS, AwsConfig, Credentials, tls_trusting};

    fn bucket_at(endpoint: Option<&str>, path_style: bool, session_token: Option<&str>) -> S3 {
        let config = AwsConfig {
            region: "eu-west-1".into(),
            endpoint: endpoint.map(str::to_string),
            credentials: Credentials::new(
                "AKIDEXAMPLE",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                session_token.map(str::to_string),
            ),
            tls: tls_trusting(AWS_ROOTS).unwrap(),
        };
        S3::from_config(&config, "hookgate-files", path_style).unwrap()
    }

    fn bucket(session_token: Option<&str>) -> S3 {
        bucket_at(None, false, session_token)
    }

    #[test]
    fn an_upload_posts_to_the_bucket_s_url_in_either_addressing_style() {
        let cases = [
            (None, false, "https://hookgate-files.s3.eu-west-1.amazonaws.com/"),
            (None, true, "https://s3.eu-west-1.amazonaws.com/hookgate-files"),
            (
                Some("http://127.0.0.1:5000/"),
                true,
                "http://127.0.0.1:5000/hookgate-files",
            ),
            (
                Some("https://files.example.com"),
                false,
                "https://hookgate-files.files.example.com/",
            ),
        ];
        for (endpoint, path_style, url) in cases {
            assert_eq!(
                bucket_at(endpoint, path_style, None).post_url(),
                url,
                "{endpoint:?} {path_style}"
            );
        }
    }

    /// The policy binds every field the form sends besides itself and its signature, and is
    /// signed as AWS's recipe says: with the day's key for S3 in the region, as AWS's own
    /// SigV4 implementation (`aws-sigv4`) derives that key and signs.
    #[test]
    fn a_post_policy_binds_its_fields_and_is_signed_as_aws_signs_it() {
        use aws_sigv4::sign::v4::{calculate_signature, generate_signing_key};
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_582_245); // 2026-01-05T03:04:05Z
        for token in [None, Some("FQoGZXIvYXdzEXAMPLE+token/==")] {
            let fields = bucket(token).presigned_post(
                "attachments/org_1/att 2/report.pdf",
                "application/pdf",
                10 * 1024 * 1024,
                now,
                "2026-01-05T03:19:05Z",
            );
            let field = |name: &str| fields[name].as_str().unwrap();
            assert_eq!(field("x-amz-algorithm"), "AWS4-HMAC-SHA256");
            assert_eq!(
                field("x-amz-credential"),
                "AKIDEXAMPLE/20260105/eu-west-1/s3/aws4_request"
            );
            assert_eq!(field("x-amz-date"), "20260105T030405Z");
            assert_eq!(fields.get("x-amz-security-token").and_then(Value::as_str), token);

            let policy = base64::engine::general_purpose::STANDARD
                .decode(field("policy"))
                .unwrap();
            let policy: Value = serde_json::from_slice(&policy).unwrap();
            assert_eq!(policy["expiration"], "2026-01-05T03:19:05Z");
            let conditions = policy["conditions"].as_array().unwrap();
            assert!(conditions.contains(&json!({"bucket": "hookgate-files"})), "{policy}");
            assert!(
                conditions.contains(&json!(["content-length-range", 1, 10 * 1024 * 1024])),
                "{policy}"
            );
            for (name, value) in fields
                .iter()
                .filter(|(name, _)| !["policy", "x-amz-signature"].contains(&name.as_str()))
            {
                assert!(
                    conditions.contains(&json!({ name: value })),
                    "{name} is not bound: {policy}"
                );
            }
            assert_eq!(conditions.len(), fields.len(), "nothing else is bound: {policy}");

            let key = generate_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", now, "eu-west-1", "s3");
            assert_eq!(
                field("x-amz-signature"),
                calculate_signature(key, field("policy").as_bytes())
            );
        }
    }

    #[test]
    fn object_keys_are_encoded_segment_by_segment() {
        assert_eq!(
            object_path("attachments/org_1/att 2/Q3 report+ü.pdf"),
            "/attachments/org_1/att%202/Q3%20report%2B%C3%BC.pdf"
        );
    }
}
