//! `GET` and `POST /api/csat`: customers rate an AI reply with its token (public, CORS open).
use shared::api::csat::{self, CsatServices};
use shared::runtime::{aws_config, init_tracing, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let services = CsatServices::from_env(&aws_config()?)?;
    serve(|request| csat::handle(&services, request)).await
}
