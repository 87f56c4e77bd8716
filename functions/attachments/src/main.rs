//! `/api/upload`, `/api/v1/attachments`, `/api/attachments/{id}/download`: files in S3.
use shared::api::attachments;
use shared::blob::FileStore;
use shared::runtime::{serve, start};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let (config, services) = start().await?;
    let files = FileStore::from_env(&config)?;
    serve(|request| attachments::handle(&services, &files, request)).await
}
