//! Operator tooling shared by the `hookgate-admin` CLI, the local stack and the tests.
//!
//! - [`template`]: reads the resources of `template.yaml`, the one definition of the stack.
//! - [`provision`]: creates those resources against an AWS endpoint (the local emulator), so
//!   the local stack cannot drift from what SAM deploys.
//! - [`bootstrap`]: creates an organization and its first `keys:manage` key.

pub mod bootstrap;
pub mod provision;
pub mod template;
