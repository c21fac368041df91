//! `deploy`: environment files to running Kafka Connect CDC stacks.
//!
//! The flow is one direction: `config` loads and resolves a file into the `model`; a target
//! (`local` or `aws`) observes what exists, diffs it into a `plan`, and applies it. `plugins`
//! builds what both targets run; `output` is the only place that prints.

// An item its module does not export is not `pub`, so the compiler reports it when unused.
#![warn(unreachable_pub)]

pub mod aws;
pub mod cli;
pub mod config;
pub mod digest;
pub mod error;
pub(crate) mod http;
pub mod local;
pub mod model;
pub mod output;
pub mod plan;
pub mod plugins;
pub(crate) mod poll;
pub mod secrets;
pub mod signals;
pub mod slots;
pub mod verify;
