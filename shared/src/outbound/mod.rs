//! Outbound events: an event that happened is fanned out as one SQS message per endpoint that
//! subscribes to it and whose conditions its data satisfies. The delivery worker does the rest.
//!
//! An endpoint with `batch_settings` gets no message per event: the event is buffered in the
//! store and a [`message::FlushMessage`] is queued when the buffer opens (delayed by `max_wait_seconds`)
//! and when it fills (at once). The worker's flush turns the buffer into batch deliveries, which
//! are then signed, retried and dead-lettered like any other.
//!
//! Nothing here imports an entry module (`api`, `inbound`, `worker`): they all build on it.

pub mod alerts;
pub mod catalog;
pub mod fanout;
pub mod jobs;
pub mod matching;
pub mod message;
pub mod queue;
pub mod replies;
pub mod schedule;
pub mod signing;
pub mod ssrf;

pub use alerts::Alerts;
pub use fanout::{EndpointCache, Publisher, publish};
pub use jobs::JobQueue;
pub use message::{BATCH_EVENT, BatchedEvent, DeliveryMessage, FlushMessage, FlushTarget, QueueMessage};
pub use queue::DeliveryQueue;
pub use replies::{ReplyMessage, ReplyQueue};
