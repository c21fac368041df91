//! `deploy`: environment files to running Kafka Connect CDC stacks.
//!
//! The flow is one direction: `config` loads and resolves a file into the `model`; a target
//! (`local`) observes what exists, diffs it into a `plan`, and applies it. `output` is the only
//! place that prints.

pub mod aws;
pub mod cli;
pub mod config;
pub mod connect;
pub mod error;
pub mod local;
pub mod model;
pub mod output;
pub mod plan;
pub mod plugins;
pub mod secrets;
pub mod verify;
