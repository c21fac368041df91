//! Environment files: load (YAML, includes, `${VAR}`), resolve into the model, JSON Schema.

pub mod error;
pub mod interpolate;
pub mod load;
pub mod msk_connect;
pub mod path;
pub mod raw;
pub mod resolve;
pub mod yaml;

use std::path::Path;

pub use error::ConfigError;

use crate::model::Environment;

/// Reads and resolves an environment file: the one entry point for the rest of the program.
pub fn environment(file: &Path) -> Result<Environment, ConfigError> {
    resolve::resolve(&load::load(file)?)
}

/// The JSON Schema of the environment file format, as checked in under `schema/`.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(raw::EnvironmentFile);
    serde_json::to_string_pretty(&schema).expect("a schema serializes") + "\n"
}
