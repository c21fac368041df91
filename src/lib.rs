//! `deploy`: environment files to running Kafka Connect CDC stacks.
//!
//! The flow is one direction: `commands` runs what the arguments (`cli`) name; `config` loads
//! and resolves a file into the `model`; a target (`local` or `aws`) observes what exists, diffs
//! it into a `plan`, and applies it. `plugins` builds what both targets run; `output` is the only
//! place that prints. Only what the binary, the tests and the benchmarks use is `pub`.

// An item its module does not export is not `pub`, so the compiler reports it when unused.
#![warn(unreachable_pub)]

pub mod aws;
pub mod cli;
pub mod commands;
pub(crate) mod config;
pub(crate) mod digest;
pub mod error;
pub(crate) mod http;
pub(crate) mod local;
pub(crate) mod model;
pub mod output;
pub(crate) mod plan;
pub mod plugins;
pub(crate) mod poll;
pub(crate) mod secrets;
pub(crate) mod signals;
pub(crate) mod slots;
pub(crate) mod status;
pub mod verify;
