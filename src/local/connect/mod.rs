//! Kafka Connect as the local target talks to it: the REST client and the reconcile of
//! connector definitions (MSK Connect has no REST API: `aws::connectors` uses its own API).

pub mod client;
pub mod keys;
pub mod reconcile;
