//! Local parity for connector plugins: the services that name plugins get them built (or
//! reused) as the same ZIPs that go to AWS, extracted once per digest, and mounted read-only at
//! `<path>/<plugin>`. A new ZIP digest means a new mount source, so the service is recreated.
//!
//! A plugin whose artifacts have no checksum yet cannot be built: it is not mounted, and the
//! connectors that need it are skipped with the reason, so the rest of the stack still comes up.

use std::collections::BTreeSet;

use crate::error::Error;
use crate::model::{Environment, Mount, MountSource};
use crate::output::{Printer, Style};
use crate::plugins::{self, PluginError, definition};

/// For `local plan`: the MSK parity check of `attach`, against the plugins already built (a plan
/// downloads nothing; `up` builds and checks the rest).
pub fn check_built(env: &Environment) -> Result<(), Error> {
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
    let Ok(definitions) = definition::load_all(&definition::plugins_dir()) else {
        return Ok(()); // `up` reports a broken plugin file
    };
    let built = plugins::current_outputs(&definitions, &names, &plugins::Options::new(false));
    plugins::parity::check(&env.connectors, &built)
}

pub fn attach(env: &mut Environment, printer: &Printer) -> Result<(), Error> {
    if env.services.iter().all(|s| s.plugins.is_none()) {
        return Ok(());
    }
    let definitions =
        definition::load_all(&definition::plugins_dir()).map_err(PluginError::from)?;
    let options = plugins::Options::new(false);
    let mut unavailable = BTreeSet::new();
    let mut mounted = Vec::new();
    for service in &mut env.services {
        let Some(wanted) = &mut service.plugins else {
            continue;
        };
        for name in wanted.names.clone() {
            let built = tokio::task::block_in_place(|| {
                plugins::build(&definitions, std::slice::from_ref(&name), &options, printer)
            });
            let built = match built {
                Ok(mut built) => built.remove(0),
                Err(PluginError::Unpinned(_)) => {
                    printer.status(&format!(
                        "  {} plugin {name} not mounted in {}: its artifacts have no checksum yet (`deploy plugins pin`)",
                        printer.paint(Style::Warn, "!"),
                        service.name
                    ));
                    unavailable.insert(name);
                    continue;
                }
                Err(e) => {
                    return Err(Error::from(e)
                        .with_hint(format!("service `{}` mounts this plugin", service.name)));
                }
            };
            let folder = plugins::extracted(&built, &options)?;
            service.mounts.push(Mount {
                source: MountSource::Bind(folder.join(&built.name)),
                target: format!("{}/{}", wanted.path, built.name),
                read_only: true,
            });
            wanted
                .digests
                .insert(built.name.clone(), built.sha256.clone());
            mounted.push(built);
        }
    }
    let (kept, skipped): (Vec<_>, Vec<_>) = std::mem::take(&mut env.connectors)
        .into_iter()
        .partition(|c| c.plugin.as_ref().is_none_or(|p| !unavailable.contains(p)));
    env.connectors = kept;
    for connector in skipped {
        let plugin = connector.plugin.unwrap_or_default();
        env.skipped_connectors.push((
            connector.name,
            format!("its plugin `{plugin}` is not mounted (no checksum yet)"),
        ));
    }
    // What runs here must run on MSK Connect too: each connector's classes in its plugin.
    plugins::parity::check(&env.connectors, &mounted)
}
