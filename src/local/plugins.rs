//! Local parity for connector plugins: the services that name plugins get them built (or
//! reused) as the same ZIPs that go to AWS, extracted once per digest, and mounted read-only at
//! `<path>/<plugin>`. A new ZIP digest means a new mount source, so the service is recreated.
//! A plugin artifact without a checksum yet is downloaded, checked and recorded in the lock file
//! by its first build here, as by `deploy plugins build`.
//!
//! `plan` reads what is built already and downloads nothing (a plugin not built yet is known
//! after build); `up` builds first. Both hand the result to `spec::desired`, the one place the
//! mounts are made: the resolved model is never changed.

use std::collections::BTreeSet;

use super::spec::{BuiltPlugin, Plugins};
use crate::error::Error;
use crate::model::Environment;
use crate::output::Printer;
use crate::plugins::{self, PluginError};

/// Every plugin a service mounts, by name.
fn mounted(env: &Environment) -> Vec<String> {
    env.services
        .iter()
        .filter_map(|s| s.plugins.as_ref())
        .flat_map(|wanted| wanted.names.iter().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// For `plan`: the mounted plugins already built, and the MSK parity check against the
/// connectors' plugins already built.
pub(super) fn built(env: &Environment, options: &plugins::Options) -> Result<Plugins, Error> {
    let connectors: Vec<String> = env
        .connectors
        .iter()
        .filter_map(|c| c.plugin.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mounted = mounted(env);
    if connectors.is_empty() && mounted.is_empty() {
        return Ok(Plugins::new());
    }
    let Ok(definitions) = plugins::load_all(&options.plugins_dir) else {
        // `up` reports a broken plugin file; until then, nothing is built.
        return Ok(Plugins::new());
    };
    let outputs = plugins::current_outputs(&definitions, &connectors, options);
    plugins::check_parity(&env.connectors, &outputs)?;
    Ok(plugins::current_outputs(&definitions, &mounted, options)
        .iter()
        .map(|built| (built.name.clone(), folder(built, options)))
        .collect())
}

/// For `up`: builds (or reuses) every mounted plugin, downloading and recording what the lock
/// does not know, extracts each, and checks that what runs here runs on MSK Connect too.
pub(super) fn build(
    env: &Environment,
    options: &plugins::Options,
    printer: &Printer,
) -> Result<Plugins, Error> {
    let names = mounted(env);
    if names.is_empty() {
        return Ok(Plugins::new());
    }
    let definitions = plugins::load_all(&options.plugins_dir).map_err(PluginError::from)?;
    // All at once: their downloads run together, and each artifact is recorded once.
    let built =
        tokio::task::block_in_place(|| plugins::build(&definitions, &names, options, printer))?;
    // What runs here must run on MSK Connect too: each connector's classes in its plugin.
    plugins::check_parity(&env.connectors, &built)?;
    let mut mounts = Plugins::new();
    for plugin in &built {
        plugins::extracted(plugin, options)?;
        mounts.insert(plugin.name.clone(), folder(plugin, options));
    }
    Ok(mounts)
}

fn folder(built: &plugins::Built, options: &plugins::Options) -> BuiltPlugin {
    BuiltPlugin {
        sha256: built.sha256.clone(),
        folder: plugins::extracted_folder(built, options),
    }
}
