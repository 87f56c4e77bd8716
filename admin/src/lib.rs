//! Operator tooling shared by the `hookgate-admin` CLI, the local stack and the tests.
//!
//! - [`template`]: reads the resources of `template.yaml`, the one definition of the stack.
//! - [`provision`]: creates those resources against an AWS endpoint (the local emulator), so
//!   the local stack cannot drift from what SAM deploys.
//! - [`bootstrap`]: creates an organization and its first `keys:manage` key.
//! - [`billing`]: connects Hookgate's own Stripe account to an organization (plans).
//! - [`poller`]: the local stand-in for Lambda's SQS event source mapping.
//! - [`activation`]: the operator's activation codes.
//! - [`schedule`]: the local stand-in for an EventBridge schedule.
//! - [`demo_runtime`]: a demo of the agent and workflow runtime, reporting on executions.
//!
//! This tool and the tests speak to AWS through the SDK (the functions do not, see
//! `shared::aws`): [`sdk_loader`] is its configuration.

pub mod activation;
pub mod billing;
pub mod bootstrap;
pub mod demo_runtime;
pub mod poller;
pub mod provision;
pub mod schedule;
pub mod template;

/// The SDK's configuration loader with its HTTPS client on rustls with ring (the TLS provider
/// the functions use; the SDK's default, aws-lc, is a second C library to build), trusting
/// AWS's roots only, as the functions' client does.
pub fn sdk_loader() -> aws_config::ConfigLoader {
    use aws_smithy_http_client::tls;
    let roots = tls::TrustStore::empty().with_pem_certificate(shared::aws::AWS_ROOTS);
    let context = tls::TlsContext::builder()
        .with_trust_store(roots)
        .build()
        .expect("AWS's root certificates are well-formed PEM");
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .tls_context(context)
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(https)
}
