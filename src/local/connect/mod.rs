//! Kafka Connect as the local target talks to it: the REST client and the reconcile of
//! connector definitions (MSK Connect has no REST API: `aws::connectors` uses its own API).

pub(super) mod client;
pub(super) mod keys;
pub(super) mod reconcile;
