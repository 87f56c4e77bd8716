//! `/api/widget/*`: the website widget's public routes (config, sessions, messages, contact).
use shared::api::widget::{self, WidgetServices};
use shared::runtime::{aws_config, init_tracing, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let services = WidgetServices::from_env(&aws_config()?).await?;
    serve(|request| widget::handle(&services, request)).await
}
