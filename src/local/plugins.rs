//! Local parity for connector plugins: the services that name plugins get them built (or
//! reused) as the same ZIPs that go to AWS, extracted once per digest, and mounted read-only at
//! `<path>/<plugin>`. A new ZIP digest means a new mount source, so the service is recreated.
//! A plugin artifact without a checksum yet is downloaded, checked and recorded in the lock file
//! by its first build here, as by `deploy plugins build`.

use std::collections::BTreeSet;

use crate::error::Error;
use crate::model::{Environment, Mount, MountSource};
use crate::output::Printer;
use crate::plugins::{self, PluginError, definition};

/// For `local plan`: the MSK parity check of `attach`, against the plugins already built (a plan
/// downloads nothing; `up` builds and checks the rest).
pub fn check_built(env: &Environment, options: &plugins::Options) -> Result<(), Error> {
    let names: Vec<String> = env
        .connectors
        .iter()
        .filter_map(|c| c.plugin.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    let Ok(definitions) = definition::load_all(&options.plugins_dir) else {
        return Ok(()); // `up` reports a broken plugin file
    };
    let built = plugins::current_outputs(&definitions, &names, options);
    plugins::parity::check(&env.connectors, &built)
}

pub fn attach(
    env: &mut Environment,
    options: &plugins::Options,
    printer: &Printer,
) -> Result<(), Error> {
    if env.services.iter().all(|s| s.plugins.is_none()) {
        return Ok(());
    }
    let names: Vec<String> = env
        .services
        .iter()
        .filter_map(|s| s.plugins.as_ref())
        .flat_map(|wanted| wanted.names.iter().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let definitions = definition::load_all(&options.plugins_dir).map_err(PluginError::from)?;
    // All at once: their downloads run together, and each artifact is recorded once.
    let built =
        tokio::task::block_in_place(|| plugins::build(&definitions, &names, options, printer))?;
    for service in &mut env.services {
        let Some(wanted) = &mut service.plugins else {
            continue;
        };
        for name in &wanted.names {
            let built = built
                .iter()
                .find(|b| &b.name == name)
                .expect("every named plugin is built");
            let folder = plugins::extracted(built, options)?;
            service.mounts.push(Mount {
                source: MountSource::Bind(folder.join(&built.name)),
                target: format!("{}/{}", wanted.path, built.name),
                read_only: true,
            });
            wanted
                .digests
                .insert(built.name.clone(), built.sha256.clone());
        }
    }
    // What runs here must run on MSK Connect too: each connector's classes in its plugin.
    plugins::parity::check(&env.connectors, &built)
}
