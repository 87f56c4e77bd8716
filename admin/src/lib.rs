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
//! - [`queues`]: what those tools ask of SQS beyond what the functions do.
//!
//! It speaks to AWS through the functions' client (`shared::aws`), as they do; only the tests
//! link the AWS SDK, to read what the functions wrote through an independent client.

pub mod activation;
pub mod billing;
pub mod bootstrap;
pub mod demo_runtime;
pub mod poller;
pub mod provision;
pub mod queues;
pub mod schedule;
pub mod template;
