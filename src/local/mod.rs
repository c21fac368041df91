//! The local target: the environment's services as containers on the Docker Engine.

mod apply;
mod connect;
pub(crate) mod connectors;
mod docker;
mod images;
mod observe;
pub(crate) mod offsets;
mod parity;
mod plugins;
mod ports;
mod probe;
mod program;
mod reach;
mod route;
mod schema;
mod signals;
mod slots;
pub(crate) mod snapshot;
mod spec;
pub(crate) mod verify;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::{
    ListNetworksOptionsBuilder, LogsOptionsBuilder, RemoveVolumeOptions,
};
use futures::StreamExt;
use futures::future::{join_all, try_join_all};

use crate::error::Error;
use crate::model::Environment;
use crate::output::Printer;
use crate::plan::Plan;

/// Observes and plans: the program `up` would carry out with these plugins.
async fn observe_and_plan(
    docker: &Docker,
    env: &Environment,
    plugins: &spec::Plugins,
) -> Result<(observe::Observed, program::Program), Error> {
    let desired = spec::desired(env, plugins);
    let observed = observe::observe(docker, env).await?;
    let program = program::plan(env, &desired, &observed)?;
    Ok((observed, program))
}

/// What `up` would change. It downloads nothing: plugins not built yet are known after build.
pub(crate) async fn plan(
    env: &Environment,
    plugin_options: &crate::plugins::Options,
    printer: &Printer,
) -> Result<Plan, Error> {
    let plugins = plugins::built(env, plugin_options)?;
    parity::warn(env, printer);
    let docker = docker::connect().await?;
    let (_, program) = observe_and_plan(&docker, env, &plugins).await?;
    Ok(program.plan)
}

/// What `up` did: the plan it carried out, and where each service answers.
pub(crate) struct Up {
    pub plan: Plan,
    /// Each service's published addresses.
    pub endpoints: BTreeMap<String, Vec<String>>,
}

/// Builds the plugins, carries out the plan, waits for every service to be ready, and brings
/// the connectors in line.
pub(crate) async fn up(
    env: &Environment,
    plugin_options: &crate::plugins::Options,
    printer: &Printer,
    keep_slots: bool,
) -> Result<Up, Error> {
    let started = Instant::now();
    let plugins = plugins::build(env, plugin_options, printer)?;
    parity::warn(env, printer);
    let docker = docker::connect().await?;
    images::pull_always(&docker, env, printer).await?;
    let (observed, program) = observe_and_plan(&docker, env, &plugins).await?;
    let plan = &program.plan;
    if !plan.is_empty() {
        printer.status(plan.render_text(false).trim_end());
        // Everything that can refuse is checked before the first change.
        ports::check_free(&docker, env, &observed, &program).await?;
        images::pull_all(&docker, program.pulls.iter().map(String::as_str), printer).await?;
    }
    let route = route::decide(&docker, env.probe).await;
    printer.debug(&format!("probes: {route:?}"));
    // With nothing to change this only probes every service: running is not ready, and a run
    // interrupted while it probed leaves services starting.
    apply::apply(&docker, env, &program, &route, printer).await?;
    if plan.is_empty() {
        printer.status(&format!(
            "environment `{}` is up to date: {} services running ({}ms)",
            env.name,
            env.services.len(),
            started.elapsed().as_millis()
        ));
    } else {
        printer.status(&format!(
            "environment `{}` is up ({:.1}s)",
            env.name,
            started.elapsed().as_secs_f64()
        ));
    }
    // A Connect worker started just now shows its predecessor's statuses until it rebalances.
    let connect_started = env
        .connect
        .as_ref()
        .and_then(|c| program.starts(&c.service).then(Instant::now));
    connectors::converge(env, printer, connect_started, keep_slots).await?;
    Ok(Up {
        endpoints: apply::endpoints(env),
        plan: program.plan,
    })
}

/// Removes the environment's containers and networks, and its volumes only with `volumes`.
/// Returns the containers removed.
pub(crate) async fn down(
    env: &Environment,
    printer: &Printer,
    volumes: bool,
) -> Result<Vec<String>, Error> {
    let docker = docker::connect().await?;
    let containers = observe::containers(&docker, &env.name, &env.network).await?;
    try_join_all(containers.iter().map(|c| async {
        apply::remove_container(&docker, &c.id).await?;
        printer.status(&format!("  - {} removed", c.name));
        Ok::<_, Error>(())
    }))
    .await?;
    let filter = observe::label_filter(&env.name);
    let networks = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::new().filters(&filter).build(),
        ))
        .await
        .map_err(|e| Error::docker("list networks", e))?;
    // By id: an interrupted run can leave two networks of one name.
    for network in &networks {
        let (Some(id), name) = (&network.id, network.name.as_deref().unwrap_or_default()) else {
            continue;
        };
        match docker.remove_network(id).await {
            Ok(()) => printer.status(&format!("  - network {name} removed")),
            Err(e) if docker::is_not_found(&e) => {}
            Err(e) => return Err(Error::docker(format!("remove network {name}"), e)),
        }
    }
    let kept = observe::observe_volumes(&docker, &env.name).await?;
    if volumes {
        let docker = &docker;
        try_join_all(kept.iter().map(|v| async move {
            match docker.remove_volume(v, None::<RemoveVolumeOptions>).await {
                Ok(()) => {
                    printer.status(&format!("  - volume {v} removed"));
                    Ok(())
                }
                Err(e) if docker::is_not_found(&e) => Ok(()),
                Err(e) => Err(Error::docker(format!("remove volume {v}"), e)),
            }
        }))
        .await?;
    } else if !kept.is_empty() {
        printer.status(&format!(
            "kept {} volume(s) with the environment's data: {} (remove them with `down --volumes`)",
            kept.len(),
            kept.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(containers.into_iter().map(|c| c.name).collect())
}

/// One service as `local status` shows it.
#[derive(serde::Serialize)]
pub(crate) struct ServiceStatus {
    pub name: String,
    pub state: String,
    pub ready: bool,
    /// "yes", or what the probe saw.
    pub readiness: String,
    pub addresses: Vec<String>,
    pub image: String,
    /// Mounted connector plugins and their ZIP digests: the digests `aws plan` shows.
    pub plugins: std::collections::BTreeMap<String, String>,
}

/// Each service's container and whether it is ready, probed once.
pub(crate) async fn status(env: &Environment) -> Result<Vec<ServiceStatus>, Error> {
    let docker = docker::connect().await?;
    let containers = observe::containers(&docker, &env.name, &env.network).await?;
    let route = &route::decide(&docker, env.probe).await;
    Ok(join_all(env.services.iter().map(|service| {
        let container = containers.iter().find(|c| c.service == service.name);
        let docker = &docker;
        async move {
            let (state, readiness) = match container {
                None => ("absent".to_string(), "no".to_string()),
                Some(c) if !c.running => (c.status.clone(), "no".into()),
                Some(c) => {
                    let readiness = match &service.ready {
                        None => "yes".to_string(),
                        Some(probe) => {
                            let check = probe::check_once(
                                docker,
                                &c.id,
                                c.ip,
                                &probe.check,
                                route,
                                &service.ports,
                            );
                            match tokio::time::timeout(Duration::from_secs(2), check).await {
                                Ok(Ok(())) => "yes".into(),
                                Ok(Err(seen)) => format!("no ({seen})"),
                                Err(_) => "no (probe timed out)".into(),
                            }
                        }
                    };
                    (c.status.clone(), readiness)
                }
            };
            ServiceStatus {
                name: service.name.clone(),
                state,
                ready: readiness == "yes",
                readiness,
                addresses: service
                    .ports
                    .iter()
                    .map(|p| format!("{}:{}", p.address, p.host))
                    .collect(),
                image: service.image.clone(),
                plugins: container.map(|c| c.plugins.clone()).unwrap_or_default(),
            }
        }
    }))
    .await)
}

/// Streams the named services' logs, each chunk to `out` with its service's name; with
/// `follow`, until the containers stop.
pub(crate) async fn logs(
    env: &Environment,
    services: &[&str],
    follow: bool,
    tail: Option<usize>,
    mut out: impl FnMut(&str, &str),
) -> Result<(), Error> {
    let docker = docker::connect().await?;
    let running = observe::containers(&docker, &env.name, &env.network).await?;
    let by_service: HashMap<&str, &str> = running
        .iter()
        .map(|c| (c.service.as_str(), c.id.as_str()))
        .collect();
    let streams = services.iter().filter_map(|name| {
        let id = by_service.get(name)?;
        let mut options = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .follow(follow);
        if let Some(tail) = tail {
            options = options.tail(&tail.to_string());
        }
        let name = name.to_string();
        Some(
            docker
                .logs(id, Some(options.build()))
                .map(move |chunk| (name.clone(), chunk)),
        )
    });
    let mut merged = futures::stream::select_all(streams.map(Box::pin));
    while let Some((name, chunk)) = merged.next().await {
        let chunk = chunk.map_err(|e| Error::docker(format!("logs of {name}"), e))?;
        out(&name, &chunk.to_string());
    }
    Ok(())
}
