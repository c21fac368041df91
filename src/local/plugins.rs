//! Local parity for connector plugins: the services that name plugins get them built (or
//! reused) as the same ZIPs that go to AWS, extracted once per digest, and mounted read-only at
//! `<path>/<plugin>`. A new ZIP digest means a new mount source, so the service is recreated.

use crate::error::Error;
use crate::model::{Environment, Mount, MountSource};
use crate::output::Printer;
use crate::plugins::{self, definition};

pub fn attach(env: &mut Environment, printer: &Printer) -> Result<(), Error> {
    if env.services.iter().all(|s| s.plugins.is_none()) {
        return Ok(());
    }
    let definitions =
        definition::load_all(&definition::plugins_dir()).map_err(plugins::PluginError::from)?;
    let options = plugins::Options::new(false);
    for service in &mut env.services {
        let Some(wanted) = &mut service.plugins else {
            continue;
        };
        let built = tokio::task::block_in_place(|| {
            plugins::build(&definitions, &wanted.names, &options, printer)
        })
        .map_err(|e| {
            Error::from(e).with_hint(format!("service `{}` mounts these plugins", service.name))
        })?;
        for plugin in built {
            let folder = plugins::extracted(&plugin, &options)?;
            service.mounts.push(Mount {
                source: MountSource::Bind(folder.join(&plugin.name)),
                target: format!("{}/{}", wanted.path, plugin.name),
                read_only: true,
            });
            wanted.digests.insert(plugin.name, plugin.sha256);
        }
    }
    Ok(())
}
