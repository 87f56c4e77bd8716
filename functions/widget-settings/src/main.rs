//! `GET`, `PUT /api/v1/widget`: the website widget's settings.
use shared::api::widget_settings;
use shared::crypto::SecretBox;
use shared::runtime::{serve, start_with};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let (services, secrets) = start_with(|config| async move { SecretBox::from_env(&config).await }).await?;
    serve(|request| widget_settings::handle(&services, &secrets, request)).await
}
