//! File storage in S3: objects written by the functions, presigned POSTs for browsers and other
//! clients to upload directly (past Lambda's 6 MB request limit), presigned GETs to download.
//!
//! [`FileStore::presigned_post`] follows AWS's documented recipe (Signature Version 4 of a POST
//! policy, [`S3::presigned_post`]): the policy names the bucket, the object key, the size range
//! and the credential, and is signed with the date-scoped signing key.

use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;

use crate::aws::AwsConfig;
use crate::aws::s3::S3;
use crate::error::ApiError;

/// The bucket and how to reach it.
#[derive(Clone)]
pub struct FileStore {
    s3: S3,
}

/// A presigned POST: the URL, and the form fields to send before the file (`file` last).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PresignedPost {
    pub url: String,
    #[schema(value_type = Object)]
    pub fields: serde_json::Map<String, serde_json::Value>,
    pub expires_at: String,
}

fn storage_failure<E: std::fmt::Debug>(doing: &'static str) -> impl FnOnce(E) -> ApiError {
    move |error| {
        tracing::error!(?error, doing, "file storage failed");
        ApiError::internal()
    }
}

impl FileStore {
    /// The bucket `bucket`, addressed as `<endpoint>/<bucket>/<key>` with `path_style` (an
    /// S3-compatible endpoint such as the local emulator), else as
    /// `<bucket>.s3.<region>.amazonaws.com/<key>`.
    pub fn new(config: &AwsConfig, bucket: impl Into<String>, path_style: bool) -> Result<Self, String> {
        Ok(Self {
            s3: S3::from_config(config, &bucket.into(), path_style)?,
        })
    }

    /// `ATTACHMENTS_BUCKET`, and `S3_FORCE_PATH_STYLE` (`true` for S3-compatible endpoints).
    pub fn from_env(config: &AwsConfig) -> Result<Self, crate::runtime::Error> {
        let bucket = crate::runtime::required_env("ATTACHMENTS_BUCKET")?;
        let path_style = crate::runtime::env_or("S3_FORCE_PATH_STYLE", false)?;
        Ok(Self::new(config, bucket, path_style)?)
    }

    pub async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), ApiError> {
        self.s3
            .put_object(key, bytes, content_type)
            .await
            .map_err(storage_failure("storing a file"))
    }

    /// The object's size, or `None` when there is no object under `key`.
    pub async fn size(&self, key: &str) -> Result<Option<u64>, ApiError> {
        self.s3
            .object_size(key)
            .await
            .map_err(storage_failure("reading a file's size"))
    }

    /// A URL that downloads the object from `now` until `now + expires_in`, saved as
    /// `filename`.
    pub fn presigned_get(
        &self,
        key: &str,
        filename: &str,
        content_type: &str,
        now: OffsetDateTime,
        expires_in: Duration,
    ) -> Result<String, ApiError> {
        let disposition = content_disposition(filename);
        let parameters = [
            ("response-content-disposition", disposition.as_str()),
            ("response-content-type", content_type),
        ];
        self.s3
            .presigned_get(key, &parameters, now.into(), expires_in)
            .map_err(storage_failure("presigning a download"))
    }

    /// A POST that uploads one object under exactly `key`, of 1 to `max_bytes` bytes, with
    /// `content_type`, until `now + expires_in`.
    pub fn presigned_post(
        &self,
        key: &str,
        content_type: &str,
        max_bytes: u64,
        now: OffsetDateTime,
        expires_in: Duration,
    ) -> PresignedPost {
        let expires_at = crate::clock::rfc3339(now + expires_in);
        let fields = self
            .s3
            .presigned_post(key, content_type, max_bytes, now.into(), &expires_at);
        PresignedPost {
            url: self.s3.post_url(),
            fields,
            expires_at,
        }
    }
}

/// `attachment; filename="..."` with the name's unsafe characters replaced, and the exact name
/// as RFC 6266's `filename*`.
pub fn content_disposition(filename: &str) -> String {
    let plain: String = filename
        .chars()
        .map(|c| {
            let safe = (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ';
            if safe { c } else { '_' }
        })
        .collect();
    let encoded = percent_encoding::utf8_percent_encode(filename, percent_encoding::NON_ALPHANUMERIC);
    format!("attachment; filename=\"{plain}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disposition_always_downloads_and_keeps_the_name() {
        assert_eq!(
            content_disposition("report.pdf"),
            "attachment; filename=\"report.pdf\"; filename*=UTF-8''report%2Epdf"
        );
        let tricky = content_disposition("a\"b\r\nc ü.txt");
        assert!(tricky.starts_with("attachment; filename=\"a_b__c _.txt\""), "{tricky}");
        assert!(!tricky.contains('\n'));
    }
}
