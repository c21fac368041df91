//! Kafka Connect: the REST client and the reconcile of connector definitions.

pub mod client;
pub mod keys;
pub mod reconcile;
