//! `GET`, `PUT /api/v1/widget`: the website widget's settings.
use shared::api::widget_settings;
use shared::runtime::{serve, start_with_secret_box};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let (services, secrets) = start_with_secret_box().await?;
    serve(|request| widget_settings::handle(&services, &secrets, request)).await
}
