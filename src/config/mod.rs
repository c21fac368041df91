//! Environment files: load (YAML, includes, `${VAR}`), resolve into the model, JSON Schema.

// The YAML reading, its errors and key paths serve the plugin files too.
pub(crate) mod error;
mod interpolate;
pub(crate) mod load;
pub(crate) mod mark;
pub(crate) mod msk_connect;
pub(crate) mod path;
mod raw;
mod resolve;
pub(crate) mod yaml;

use std::path::Path;

pub(crate) use error::ConfigError;
pub(crate) use load::read_text;

use crate::model::Environment;

/// Reads and resolves an environment file: the one entry point for the rest of the program.
pub(crate) fn environment(file: &Path) -> Result<Environment, ConfigError> {
    resolve::resolve(&load::load(file)?)
}

/// An environment file read with the given variables instead of the process's (the pure tests'
/// fixtures).
#[cfg(test)]
pub(crate) fn environment_with(
    file: &Path,
    variables: interpolate::Variables,
) -> Result<Environment, ConfigError> {
    resolve::resolve(&load::load_with(file, variables)?)
}

#[cfg(test)]
pub(crate) use interpolate::Variables;

/// The JSON Schema of the environment file format, as checked in under `schema/`.
pub(crate) fn json_schema() -> String {
    let schema = schemars::schema_for!(raw::EnvironmentFile);
    serde_json::to_string_pretty(&schema).expect("a schema serializes") + "\n"
}
