//! Attachments: files of a ticket or conversation, kept in S3 under the organization's prefix.
//!
//! | item        | PK                               | SK           |
//! |-------------|----------------------------------|--------------|
//! | attachment  | `ORG#<org>#ATTACHMENT#<id>`      | `ATTACHMENT` |
//!
//! The object key is `attachments/<org>/<id>/<file name>`: an attachment is found only through
//! its organization's item, so one organization never reads another's file.

use serde::{Deserialize, Serialize};

use super::{PK, SK, Store, StoreError, entity_item, org_prefix, s};

/// An attachment as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attachment {
    pub id: String,
    pub filename: String,
    /// The MIME type.
    #[serde(rename = "type")]
    pub content_type: String,
    /// Bytes (for a presigned upload, the size announced until the file is there).
    pub size: u64,
    #[serde(rename = "ticketId")]
    pub ticket_id: Option<String>,
    #[serde(rename = "conversationId")]
    pub conversation_id: Option<String>,
    /// `stored`, or `pending` until a presigned upload has put the file.
    pub status: String,
    #[serde(rename = "createdAt")]
    pub created_at: String,
    #[serde(skip)]
    pub object_key: String,
}

/// An attachment as an entry of the thread shows it; download it by its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttachmentRef {
    pub id: String,
    pub filename: String,
    #[serde(rename = "type")]
    pub content_type: String,
    pub size: u64,
}

impl From<Attachment> for AttachmentRef {
    fn from(attachment: Attachment) -> Self {
        Self {
            id: attachment.id,
            filename: attachment.filename,
            content_type: attachment.content_type,
            size: attachment.size,
        }
    }
}

fn attachment_pk(org_id: &str, id: &str) -> String {
    format!("{}#ATTACHMENT#{id}", org_prefix(org_id))
}

impl Store {
    pub async fn put_attachment(&self, org_id: &str, attachment: &Attachment) -> Result<(), StoreError> {
        let mut item = entity_item(attachment)?;
        item.insert(PK.into(), s(attachment_pk(org_id, &attachment.id)));
        item.insert(SK.into(), s("ATTACHMENT"));
        item.insert("object_key".into(), s(&attachment.object_key));
        self.put_item(item).await
    }

    pub async fn get_attachment(&self, org_id: &str, id: &str) -> Result<Option<Attachment>, StoreError> {
        let Some(item) = self.get_item(attachment_pk(org_id, id), "ATTACHMENT").await? else {
            return Ok(None);
        };
        let object_key = super::get_s(&item, "object_key").unwrap_or_default().to_string();
        let attachment: Attachment = serde_dynamo::from_item(item)
            .map_err(|e| StoreError::Unavailable(format!("unreadable attachment: {e}")))?;
        Ok(Some(Attachment {
            object_key,
            ..attachment
        }))
    }
}
