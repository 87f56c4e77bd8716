//! `GET`, `PUT /api/v1/widget`: the website widget's settings.
use shared::api::widget_settings;
use shared::crypto::SecretBox;
use shared::runtime::{serve, start};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let (config, services) = start().await?;
    let secrets = SecretBox::from_env(&config).await?;
    serve(|request| widget_settings::handle(&services, &secrets, request)).await
}
