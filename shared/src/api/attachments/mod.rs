//! `attachments`: files of tickets and conversations, kept in S3 (scope `tickets:write`;
//! downloads also with `tickets:read`).
//!
//! - `POST /api/upload`: multipart (`file`, `conversationId`, `ticketId`), answered as seed 002
//!   shows. Lambda takes at most 6 MB per request, so this route carries files up to that.
//! - `POST /api/v1/attachments`: a presigned POST for files up to the seed's 10 MB, sent straight
//!   to S3; its policy caps the size, names the object key and the type, and expires in 1 hour.
//! - `GET /api/attachments/{id}/download`: a presigned GET valid for 1 hour, saving the file
//!   under its name (`Content-Disposition: attachment`); another organization's attachment is
//!   not found.

use std::time::Duration;

use lambda_http::http::{Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Scope;
use crate::blob::{FileStore, PresignedPost};
use crate::clock::rfc3339;
use crate::desk::files::{
    Download, FormFile, MAX_FILE_BYTES, check_content_type, check_filename, download_link, new_attachment, store_file,
    too_large,
};
use crate::error::{ApiError, ErrorBody};
use crate::http::{Call, Route, Validate, json_response, ok, serve_routes};
use crate::runtime::Services;
use crate::store::attachments::Attachment;

/// How long a presigned download or upload is valid.
const PRESIGNED_FOR: Duration = Duration::from_secs(3600);

#[derive(Clone, Copy)]
pub enum AttachmentRoute {
    Upload,
    PresignUpload,
    Download,
}

/// `attachments`' routes.
pub const ROUTES: [Route<AttachmentRoute>; 3] = [
    Route::new(
        Method::POST,
        "/api/upload",
        Scope::TicketsWrite,
        AttachmentRoute::Upload,
    ),
    Route::new(
        Method::POST,
        "/api/v1/attachments",
        Scope::TicketsWrite,
        AttachmentRoute::PresignUpload,
    ),
    Route::new(
        Method::GET,
        "/api/attachments/{id}/download",
        Scope::TicketsRead,
        AttachmentRoute::Download,
    ),
];

/// What `POST /api/upload` answers (seed 002), with the ids it was associated with.
#[derive(Serialize, ToSchema)]
pub struct UploadedFile {
    pub id: String,
    pub filename: String,
    /// Where to get the file: this API's download route, which answers a presigned URL (not for
    /// a widget visitor's file, which the visitor sees in the history).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub size: u64,
    /// The MIME type.
    #[serde(rename = "type")]
    pub content_type: String,
    #[serde(rename = "ticketId")]
    pub ticket_id: Option<String>,
    #[serde(rename = "conversationId")]
    pub conversation_id: Option<String>,
}

/// Body of `POST /api/v1/attachments`: the file to come.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PresignRequest {
    /// 1 to 255 characters, without `/`, `\\` or control characters.
    #[schema(min_length = 1, max_length = 255, pattern = r"^[^/\\\x00-\x1f\x7f-\x9f]+$")]
    pub filename: String,
    /// The MIME type (default `application/octet-stream`); the upload must send the same.
    #[serde(rename = "type")]
    #[schema(max_length = 127, pattern = "^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+$")]
    pub content_type: Option<String>,
    /// The file's size in bytes, 1 to 10 MB; the policy refuses a larger upload.
    #[schema(minimum = 1, maximum = 10485760)]
    pub size: u64,
    #[serde(rename = "ticketId")]
    pub ticket_id: Option<String>,
    #[serde(rename = "conversationId")]
    pub conversation_id: Option<String>,
}

impl Validate for PresignRequest {
    fn validate(&self) -> Result<(), ApiError> {
        check_filename(&self.filename)?;
        if let Some(content_type) = &self.content_type {
            check_content_type(content_type)?;
        }
        if self.size == 0 || self.size > MAX_FILE_BYTES {
            return Err(too_large().with_details(serde_json::json!({"field": "size", "limitBytes": MAX_FILE_BYTES})));
        }
        Ok(())
    }
}

#[derive(Serialize, ToSchema)]
pub struct PresignedUpload {
    pub success: bool,
    pub attachment: Attachment,
    /// POST a multipart form to `upload.url` with `upload.fields`, then the file as `file`.
    pub upload: PresignedPost,
}

pub async fn handle(services: &Services, files: &FileStore, request: Request) -> Response<Body> {
    serve_routes(services, &request, &ROUTES, |route, call| async move {
        match route {
            AttachmentRoute::Upload => upload(call, files).await,
            AttachmentRoute::PresignUpload => presign_upload(call, files).await,
            AttachmentRoute::Download => download(call, files).await,
        }
    })
    .await
}

/// Checks that the ticket and conversation entry named belong to the caller's organization.
async fn check_links(call: &Call<'_>, ticket_id: Option<&str>, conversation_id: Option<&str>) -> Result<(), ApiError> {
    if let Some(ticket_id) = ticket_id
        && call.store().get_ticket(call.org_id(), ticket_id).await?.is_none()
    {
        return Err(ApiError::not_found("no ticket with this ticketId"));
    }
    if let Some(entry_id) = conversation_id {
        let entry = call.store().get_entry(call.org_id(), entry_id).await?;
        match entry {
            None => return Err(ApiError::not_found("no conversation with this conversationId")),
            Some(entry) if ticket_id.is_some_and(|ticket| ticket != entry.ticket_id) => {
                return Err(ApiError::invalid_input(
                    "conversationId",
                    "the conversation is not on the ticket named",
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The parts of an upload form.
#[derive(Default)]
pub struct UploadForm {
    pub file: Option<FormFile>,
    pub ticket_id: Option<String>,
    pub conversation_id: Option<String>,
    /// The widget's session, when a visitor uploads.
    pub session_token: Option<String>,
}

/// Reads the multipart body, refusing a file over [`MAX_FILE_BYTES`].
pub async fn read_form(request: &Request) -> Result<UploadForm, ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let boundary = multer::parse_boundary(content_type).map_err(|_| {
        ApiError::bad_request("send the file as multipart/form-data with a boundary")
            .with_details(serde_json::json!({"field": "file"}))
    })?;
    let body = request.body().to_vec();
    let stream = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let limits = multer::SizeLimit::new()
        .per_field(MAX_FILE_BYTES)
        .whole_stream(MAX_FILE_BYTES + 64 * 1024);
    let mut multipart =
        multer::Multipart::with_constraints(stream, boundary, multer::Constraints::new().size_limit(limits));
    let mut form = UploadForm::default();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(multer::Error::FieldSizeExceeded { .. } | multer::Error::StreamSizeExceeded { .. }) => {
                return Err(too_large());
            }
            Err(error) => return Err(ApiError::bad_request(format!("unreadable multipart body: {error}"))),
        };
        let name = field.name().unwrap_or_default().to_string();
        let filename = field.file_name().map(str::to_string);
        let content_type = field.content_type().map(|m| m.essence_str().to_string());
        let data = match field.bytes().await {
            Ok(data) => data.to_vec(),
            Err(multer::Error::FieldSizeExceeded { .. } | multer::Error::StreamSizeExceeded { .. }) => {
                return Err(too_large());
            }
            Err(error) => return Err(ApiError::bad_request(format!("unreadable multipart body: {error}"))),
        };
        let text = || {
            String::from_utf8(data.clone())
                .ok()
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
        };
        match name.as_str() {
            "file" => {
                form.file = Some(FormFile {
                    filename: filename.unwrap_or_else(|| "file".into()),
                    content_type: content_type.unwrap_or_else(|| "application/octet-stream".into()),
                    data,
                });
            }
            "ticketId" => form.ticket_id = text(),
            "conversationId" => form.conversation_id = text(),
            // Taken as sent: a blank token names no session (401), it is not a missing one.
            "sessionToken" => form.session_token = String::from_utf8(data).ok(),
            _ => {}
        }
    }
    Ok(form)
}

/// The URL of an attachment's download route on the host the request came to (by the scheme
/// it came with, when a proxy says; API Gateway serves HTTPS).
fn download_url(request: &Request, id: &str) -> String {
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
    let host = header(header::HOST.as_str()).unwrap_or("localhost");
    let scheme = header("x-forwarded-proto").filter(|p| *p == "http").unwrap_or("https");
    format!("{scheme}://{host}/api/attachments/{id}/download")
}

/// The multipart form of `POST /api/upload`.
#[derive(ToSchema)]
#[allow(dead_code)] // describes the form for the OpenAPI document only
pub struct UploadRequest {
    /// Up to 10 MB; a Lambda request carries at most 6 MB, so larger files go through
    /// `POST /api/v1/attachments`.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    #[schema(rename = "ticketId")]
    ticket_id: Option<String>,
    #[schema(rename = "conversationId")]
    conversation_id: Option<String>,
}

/// Upload a file (multipart) and attach it to a ticket or conversation.
#[utoipa::path(post, path = "/api/upload", operation_id = "attachments_upload", tag = "Support desk",
    request_body(content = UploadRequest, content_type = "multipart/form-data"),
    security(("apiKey" = []), ("bearer" = [])),
    responses((status = 201, body = UploadedFile),
        (status = 400, description = "No file provided, or file too large (>10MB)", body = ErrorBody),
        (status = "4XX", body = ErrorBody)))]
pub async fn upload(call: Call<'_>, files: &FileStore) -> Result<Response<Body>, ApiError> {
    let form = read_form(call.request).await?;
    if form.file.is_some() {
        check_links(&call, form.ticket_id.as_deref(), form.conversation_id.as_deref()).await?;
    }
    let now = rfc3339(call.now());
    let links = (form.ticket_id, form.conversation_id);
    let attachment = store_file(call.store(), files, call.org_id(), &now, form.file, links).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &UploadedFile {
            url: Some(download_url(call.request, &attachment.id)),
            id: attachment.id,
            filename: attachment.filename,
            size: attachment.size,
            content_type: attachment.content_type,
            ticket_id: attachment.ticket_id,
            conversation_id: attachment.conversation_id,
        },
    ))
}

/// Get a presigned POST to upload a file of up to 10 MB straight to storage.
#[utoipa::path(post, path = "/api/v1/attachments", operation_id = "attachments_presign_upload", tag = "Support desk",
    request_body = PresignRequest, security(("apiKey" = []), ("bearer" = [])),
    responses((status = 201, body = PresignedUpload), (status = "4XX", body = ErrorBody)))]
pub async fn presign_upload(call: Call<'_>, files: &FileStore) -> Result<Response<Body>, ApiError> {
    let body: PresignRequest = call.validated_body()?;
    check_links(&call, body.ticket_id.as_deref(), body.conversation_id.as_deref()).await?;
    let content_type = body.content_type.unwrap_or_else(|| "application/octet-stream".into());
    let now = rfc3339(call.now());
    let mut attachment = new_attachment(call.org_id(), &now, &body.filename, &content_type, body.size, "pending");
    attachment.ticket_id = body.ticket_id;
    attachment.conversation_id = body.conversation_id;
    let upload = files.presigned_post(
        &attachment.object_key,
        &content_type,
        MAX_FILE_BYTES,
        call.now(),
        PRESIGNED_FOR,
    );
    call.store().put_attachment(call.org_id(), &attachment).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &PresignedUpload {
            success: true,
            attachment,
            upload,
        },
    ))
}

/// A signed URL that downloads the attachment for 1 hour.
#[utoipa::path(get, path = "/api/attachments/{id}/download", operation_id = "attachments_download", tag = "Support desk",
    params(("id" = String, Path, description = "The attachment's id")), security(("apiKey" = []), ("bearer" = [])),
    responses((status = 200, body = Download),
        (status = 409, description = "A presigned upload has not put the file yet", body = ErrorBody),
        (status = "4XX", body = ErrorBody)))]
pub async fn download(call: Call<'_>, files: &FileStore) -> Result<Response<Body>, ApiError> {
    let id = call.path("id")?;
    let attachment = call
        .store()
        .get_attachment(call.org_id(), &id)
        .await?
        .ok_or_else(|| ApiError::not_found("no attachment with this id"))?;
    ok(&download_link(call.store(), files, call.org_id(), attachment, call.now()).await?)
}
