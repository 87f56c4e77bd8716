//! S3's client: what the desk asks of its files' bucket (`PutObject`, `HeadObject`, presigned
//! `GetObject` URLs) over S3's REST protocol, each object addressed in the bucket's URL.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use hyper::Method;
use hyper::header::CONTENT_LENGTH;

use super::{AwsClient, AwsError, S3 as SERVICE, uri_encode};

/// Handle on one bucket, built once per container and cloned freely.
#[derive(Clone, Debug)]
pub struct S3(AwsClient);

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
        .map(Self)
    }

    /// The client underneath, for what S3 signs outside a request (a presigned POST's policy).
    pub fn client(&self) -> &AwsClient {
        &self.0
    }

    /// Stores `body` under `key` with its `content_type`, replacing what was there.
    pub async fn put_object(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), AwsError> {
        let headers = [("content-type", content_type)];
        self.0
            .rest(&Method::PUT, &object_path(key), &headers, Bytes::from(body))
            .await?;
        Ok(())
    }

    /// The size of the object under `key`, or `None` when there is none.
    pub async fn object_size(&self, key: &str) -> Result<Option<u64>, AwsError> {
        match self.0.rest(&Method::HEAD, &object_path(key), &[], Bytes::new()).await {
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
        self.0
            .presigned_url(&Method::GET, &object_path(key), parameters, now, expires_in)
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

    #[test]
    fn object_keys_are_encoded_segment_by_segment() {
        assert_eq!(
            object_path("attachments/org_1/att 2/Q3 report+ü.pdf"),
            "/attachments/org_1/att%202/Q3%20report%2B%C3%BC.pdf"
        );
    }
}
