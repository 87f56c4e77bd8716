//! Attachments against the emulator's S3: a multipart upload and a presigned POST each come back
//! byte for byte through the presigned download; too large, missing and foreign are refused.

use base64::Engine;
use harness::{FixtureRequest, fixture, new_org, read, sdk_config, services};
use serde_json::{Value, json};
use shared::blob::FileStore;
use shared::desk::files::MAX_FILE_BYTES;
use shared::runtime::Services;

const BOUNDARY: &str = "----hookgateTestBoundary7MA4YWxkTrZu0gW";

async fn files() -> FileStore {
    harness::file_store()
}

async fn call(services: &Services, files: &FileStore, request: FixtureRequest) -> (u16, Value) {
    read(shared::api::attachments::handle(services, files, request.build()).await)
}

/// A multipart form with `fields` and then, when given, the file.
fn form(fields: &[(&str, &str)], file: Option<(&str, &str, &[u8])>) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").bytes(),
        );
    }
    if let Some((filename, content_type, bytes)) = file {
        body.extend(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n"
            )
            .bytes(),
        );
        body.extend(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{BOUNDARY}--\r\n").bytes());
    body
}

fn upload(key: &str, body: &[u8]) -> FixtureRequest {
    fixture("attachments-upload.json")
        .key(key)
        .header("content-type", &format!("multipart/form-data; boundary={BOUNDARY}"))
        .binary_body(body)
}

fn download(key: &str, id: &str) -> FixtureRequest {
    fixture("attachments-download.json")
        .key(key)
        .method("GET", &format!("/api/attachments/{id}/download"))
        .path_parameter("id", id)
}

/// Bytes that are not text: every byte value, many times over.
fn binary(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 256) as u8).collect()
}

async fn fetch(url: &str) -> (u16, Option<String>, Vec<u8>) {
    let response = reqwest::get(url).await.expect("download");
    let disposition = response
        .headers()
        .get("content-disposition")
        .map(|v| v.to_str().unwrap().to_string());
    (
        response.status().as_u16(),
        disposition,
        response.bytes().await.unwrap().to_vec(),
    )
}

async fn objects_of(org_id: &str) -> usize {
    let config = sdk_config(&harness::emulator().endpoint).await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let listed = s3
        .list_objects_v2()
        .bucket(harness::ATTACHMENTS_BUCKET)
        .prefix(format!("attachments/{org_id}/"))
        .send()
        .await
        .unwrap();
    listed.contents().len()
}

/// A new ticket of the key's organization; its id.
async fn open_ticket(services: &Services, key: &str) -> String {
    let body = json!({"subject": "Broken headphones", "customer_email": "max@example.com"}).to_string();
    let (status, ticket) = read(
        shared::api::tickets::handle(
            services,
            &harness::publisher().await,
            &harness::reply_queue().await,
            fixture("tickets-create.json").key(key).body(body).build(),
        )
        .await,
    );
    assert_eq!(status, 201, "{ticket}");
    ticket["ticket"]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_multipart_upload_comes_back_byte_for_byte_and_only_to_its_organization() {
    let (services, files) = (services().await, files().await);
    let org = new_org(&services).await;
    let ticket_id = open_ticket(&services, &org.admin_key).await;
    let ticket_id = ticket_id.as_str();
    let bytes = binary(300 * 1024);

    let body = form(
        &[("ticketId", ticket_id)],
        Some(("Foto Kopfhörer.jpg", "image/jpeg", &bytes)),
    );
    let (status, uploaded) = call(&services, &files, upload(&org.admin_key, &body)).await;
    assert_eq!(status, 201, "{uploaded}");
    assert_eq!(uploaded["filename"], "Foto Kopfhörer.jpg");
    assert_eq!(
        (uploaded["size"].as_u64(), uploaded["type"].as_str()),
        (Some(bytes.len() as u64), Some("image/jpeg"))
    );
    assert_eq!(uploaded["ticketId"], ticket_id);
    let id = uploaded["id"].as_str().unwrap();
    assert!(
        uploaded["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/api/attachments/{id}/download"))
    );

    let (status, link) = call(&services, &files, download(&org.admin_key, id)).await;
    assert_eq!(status, 200, "{link}");
    assert_eq!(
        (link["filename"].as_str(), link["mimeType"].as_str()),
        (Some("Foto Kopfhörer.jpg"), Some("image/jpeg"))
    );
    let url = link["url"].as_str().unwrap();
    assert!(url.contains("X-Amz-Expires=3600"), "valid for one hour: {url}");
    let (status, disposition, fetched) = fetch(url).await;
    assert_eq!(status, 200);
    assert_eq!(fetched, bytes, "byte for byte");
    assert!(
        disposition.unwrap().starts_with("attachment; filename="),
        "saved, not shown"
    );

    let other = new_org(&services).await;
    let (status, hidden) = call(&services, &files, download(&other.admin_key, id)).await;
    assert_eq!((status, hidden["error"]["code"].as_str()), (404, Some("NOT_FOUND")));

    // Nor can it upload onto this organization's ticket.
    let onto_theirs = form(
        &[("ticketId", ticket_id)],
        Some(("x.bin", "application/octet-stream", &binary(10))),
    );
    let (status, refused) = call(&services, &files, upload(&other.admin_key, &onto_theirs)).await;
    assert_eq!(status, 404, "another organization's ticket: {refused}");

    // A reply carries it in the thread; a foreign or unknown attachment is refused.
    let entry = |key: &str, ticket_id: &str, attachments: Value| {
        let body = json!({"author": {"type": "agent"}, "content_text": "See the photo.", "attachments": attachments});
        fixture("tickets-create.json")
            .key(key)
            .method("POST", &format!("/api/v1/tickets/{ticket_id}/conversations"))
            .path_parameter("id", ticket_id)
            .body(body.to_string())
            .build()
    };
    let publisher = harness::publisher().await;
    let others_ticket = open_ticket(&services, &other.admin_key).await;
    let (status, refused) = read(
        shared::api::tickets::handle(
            &services,
            &publisher,
            &harness::reply_queue().await,
            entry(&other.admin_key, &others_ticket, json!([id])),
        )
        .await,
    );
    assert_eq!(
        (status, refused["error"]["details"]["field"].as_str()),
        (422, Some("attachments")),
        "another organization's attachment: {refused}"
    );
    let (status, added) = read(
        shared::api::tickets::handle(
            &services,
            &publisher,
            &harness::reply_queue().await,
            entry(&org.admin_key, ticket_id, json!([id])),
        )
        .await,
    );
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["conversation"]["attachments"][0]["id"], id);
    assert_eq!(
        added["conversation"]["attachments"][0]["filename"],
        "Foto Kopfhörer.jpg"
    );
    let (status, refused) = read(
        shared::api::tickets::handle(
            &services,
            &publisher,
            &harness::reply_queue().await,
            entry(&org.admin_key, ticket_id, json!(["att_NOPE"])),
        )
        .await,
    );
    assert_eq!(
        (status, refused["error"]["details"]["field"].as_str()),
        (422, Some("attachments"))
    );
}

#[tokio::test]
async fn too_large_missing_or_misdirected_files_are_refused_with_nothing_stored() {
    let (services, files) = (services().await, files().await);
    let org = new_org(&services).await;

    let over = binary(MAX_FILE_BYTES as usize + 1);
    let (status, refused) = call(
        &services,
        &files,
        upload(
            &org.admin_key,
            &form(&[], Some(("big.bin", "application/octet-stream", &over))),
        ),
    )
    .await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (400, Some("BAD_REQUEST")),
        "{refused}"
    );
    assert!(refused["error"]["message"].as_str().unwrap().contains("File too large"));

    let (status, missing) = call(
        &services,
        &files,
        upload(&org.admin_key, &form(&[("ticketId", "x")], None)),
    )
    .await;
    assert_eq!(
        (status, missing["error"]["message"].as_str()),
        (400, Some("No file provided")),
        "{missing}"
    );

    let small = binary(10);
    let body = form(
        &[("ticketId", "tkt_NOPE")],
        Some(("a.bin", "application/octet-stream", &small)),
    );
    let (status, _) = call(&services, &files, upload(&org.admin_key, &body)).await;
    assert_eq!(status, 404, "a ticket of no one's");

    let not_multipart = fixture("attachments-upload.json")
        .key(&org.admin_key)
        .header("content-type", "application/json")
        .body("{}");
    let (status, _) = call(&services, &files, not_multipart).await;
    assert_eq!(status, 400);

    let presign = |size: u64| {
        fixture("attachments-upload.json")
            .key(&org.admin_key)
            .method("POST", "/api/v1/attachments")
            .header("content-type", "application/json")
            .body(json!({"filename": "big.mov", "type": "video/quicktime", "size": size}).to_string())
    };
    let (status, refused) = call(&services, &files, presign(MAX_FILE_BYTES + 1)).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (400, Some("BAD_REQUEST")),
        "{refused}"
    );
    assert_eq!(objects_of(&org.org_id).await, 0, "nothing reached storage");
}

#[tokio::test]
async fn a_presigned_post_is_capped_at_ten_megabytes_and_its_upload_downloads_byte_for_byte() {
    let (services, files) = (services().await, files().await);
    let org = new_org(&services).await;
    let bytes = binary(64 * 1024);
    let request = fixture("attachments-upload.json")
        .key(&org.admin_key)
        .method("POST", "/api/v1/attachments")
        .header("content-type", "application/json")
        .body(json!({"filename": "invoice.pdf", "type": "application/pdf", "size": bytes.len()}).to_string());
    let (status, presigned) = call(&services, &files, request).await;
    assert_eq!(status, 201, "{presigned}");
    let id = presigned["attachment"]["id"].as_str().unwrap();
    assert_eq!(presigned["attachment"]["status"], "pending");
    let fields = presigned["upload"]["fields"].as_object().unwrap();

    // The policy caps the size at 10 MB and binds the key, type and credential.
    let policy = base64::engine::general_purpose::STANDARD
        .decode(fields["policy"].as_str().unwrap())
        .unwrap();
    let policy: Value = serde_json::from_slice(&policy).unwrap();
    let conditions = policy["conditions"].as_array().unwrap();
    assert!(
        conditions.contains(&json!(["content-length-range", 1, MAX_FILE_BYTES])),
        "{policy}"
    );
    assert!(conditions.contains(&json!({"key": fields["key"]})), "{policy}");
    assert!(
        conditions.contains(&json!({"Content-Type": "application/pdf"})),
        "{policy}"
    );
    assert!(
        conditions.contains(&json!({"bucket": harness::ATTACHMENTS_BUCKET})),
        "{policy}"
    );
    assert_eq!(fields["x-amz-signature"].as_str().unwrap().len(), 64);

    // Before the upload there is nothing to download.
    let (status, _) = call(&services, &files, download(&org.admin_key, id)).await;
    assert_eq!(status, 409);

    // The client posts the form, the file last, as a browser would.
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{}\r\n",
                value.as_str().unwrap()
            )
            .bytes(),
        );
    }
    body.extend(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"invoice.pdf\"\r\nContent-Type: application/pdf\r\n\r\n").bytes());
    body.extend(&bytes);
    body.extend(format!("\r\n--{BOUNDARY}--\r\n").bytes());
    let posted = reqwest::Client::new()
        .post(presigned["upload"]["url"].as_str().unwrap())
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(posted.status().is_success(), "{}", posted.status());

    let (status, link) = call(&services, &files, download(&org.admin_key, id)).await;
    assert_eq!(status, 200, "{link}");
    let (_, _, fetched) = fetch(link["url"].as_str().unwrap()).await;
    assert_eq!(fetched, bytes);
}
