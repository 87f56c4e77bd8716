//! Files of the desk's tickets and entries: checked, stored in the attachments bucket, recorded.
//! The upload routes, the widget and the email doors all store a file this one way.

use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::blob::FileStore;
use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::ids::new_ulid;
use crate::store::Store;
use crate::store::attachments::Attachment;

/// The largest attachment (seed 002: 10 MB).
pub const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;
const MAX_FILENAME_CHARS: usize = 255;

pub fn too_large() -> ApiError {
    ApiError::bad_request(format!("File too large (>{} MB)", MAX_FILE_BYTES / (1024 * 1024)))
}

pub fn check_filename(name: &str) -> Result<(), ApiError> {
    let bad = name.trim().is_empty()
        || name.chars().count() > MAX_FILENAME_CHARS
        || name.chars().any(|c| c.is_control() || c == '/' || c == '\\');
    if bad {
        return Err(ApiError::invalid_input(
            "filename",
            format!("filename is 1 to {MAX_FILENAME_CHARS} characters, without / \\ or control characters"),
        ));
    }
    Ok(())
}

pub fn check_content_type(content_type: &str) -> Result<(), ApiError> {
    let well_formed = content_type.len() <= 127
        && content_type.split_once('/').is_some_and(|(kind, sub)| {
            let token = |s: &str| {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
            };
            token(kind) && token(sub)
        });
    if !well_formed {
        return Err(ApiError::invalid_input(
            "type",
            "type is a MIME type such as application/pdf",
        ));
    }
    Ok(())
}

pub fn new_attachment(
    org_id: &str,
    now: &str,
    filename: &str,
    content_type: &str,
    size: u64,
    status: &str,
) -> Attachment {
    let id = format!("att_{}", new_ulid());
    let object_key = format!("attachments/{org_id}/{id}/{}", filename.trim());
    Attachment {
        id,
        filename: filename.trim().to_string(),
        content_type: content_type.to_string(),
        size,
        ticket_id: None,
        conversation_id: None,
        status: status.into(),
        created_at: now.to_string(),
        object_key,
    }
}

/// A file sent in a form: its name, MIME type and bytes.
#[derive(Debug, Clone)]
pub struct FormFile {
    pub filename: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

/// Checks a form's file and stores it (the file first: a record never names a file that is not
/// there); answers the attachment, linked to the ticket and conversation given.
pub async fn store_file(
    store: &Store,
    files: &FileStore,
    org_id: &str,
    now: &str,
    file: Option<FormFile>,
    links: (Option<String>, Option<String>),
) -> Result<Attachment, ApiError> {
    let Some(file) = file else {
        return Err(ApiError::bad_request("No file provided").with_details(serde_json::json!({"field": "file"})));
    };
    check_filename(&file.filename)?;
    check_content_type(&file.content_type)?;
    if file.data.is_empty() {
        return Err(ApiError::bad_request("No file provided: the file is empty")
            .with_details(serde_json::json!({"field": "file"})));
    }
    let size = file.data.len() as u64;
    let mut attachment = new_attachment(org_id, now, &file.filename, &file.content_type, size, "stored");
    (attachment.ticket_id, attachment.conversation_id) = links;
    files.put(&attachment.object_key, file.data, &file.content_type).await?;
    store.put_attachment(org_id, &attachment).await?;
    Ok(attachment)
}

/// How long a download link is valid.
pub const DOWNLOAD_VALID_FOR: Duration = Duration::from_secs(3600);

/// A download link (seed 002's answer to `GET /api/attachments/{id}/download`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Download {
    /// Valid for 1 hour; the file is saved under its name.
    pub url: String,
    pub filename: String,
    pub mime_type: String,
    pub expires_at: String,
}

/// A presigned link to `attachment`'s file. A presigned upload went straight to storage: until
/// the file is there the link is refused (409); once it is, the record says so.
pub async fn download_link(
    store: &Store,
    files: &FileStore,
    org_id: &str,
    mut attachment: Attachment,
    now: OffsetDateTime,
) -> Result<Download, ApiError> {
    if attachment.status == "pending" {
        let Some(size) = files.size(&attachment.object_key).await? else {
            return Err(ApiError::conflict("the file has not been uploaded yet"));
        };
        attachment.size = size;
        attachment.status = "stored".into();
        store.put_attachment(org_id, &attachment).await?;
    }
    let url = files.presigned_get(
        &attachment.object_key,
        &attachment.filename,
        &attachment.content_type,
        now,
        DOWNLOAD_VALID_FOR,
    )?;
    Ok(Download {
        url,
        filename: attachment.filename,
        mime_type: attachment.content_type,
        expires_at: rfc3339(now + DOWNLOAD_VALID_FOR),
    })
}
