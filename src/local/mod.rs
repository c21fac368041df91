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

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::{
    ListNetworksOptionsBuilder, LogsOptionsBuilder, RemoveVolumeOptions,
};
use futures::StreamExt;
use futures::future::{join_all, try_join_all};
use serde_json::json;

use crate::error::{Error, exit};
use crate::model::Environment;
use crate::output::{Outcome, Printer, Report, Style};

/// Observes and plans: the program `up` would carry out with these plugins.
async fn plan(
    docker: &Docker,
    env: &Environment,
    plugins: &spec::Plugins,
) -> Result<(observe::Observed, program::Program), Error> {
    let desired = spec::desired(env, plugins);
    let observed = observe::observe(docker, env).await?;
    let program = program::plan(env, &desired, &observed)?;
    Ok((observed, program))
}

pub(crate) async fn plan_command(
    env: &Environment,
    plugin_options: &crate::plugins::Options,
    printer: &Printer,
    detailed_exitcode: bool,
) -> Result<Outcome, Error> {
    // A plan downloads nothing: plugins not built yet are known after build.
    let plugins = plugins::built(env, plugin_options)?;
    parity::warn(env, printer);
    let docker = docker::connect().await?;
    let (_, program) = plan(&docker, env, &plugins).await?;
    let code = if detailed_exitcode && !program.plan.is_empty() {
        exit::CHANGES
    } else {
        exit::SUCCESS
    };
    Ok(Outcome::with(code, program.plan.report()))
}

pub(crate) async fn up(
    env: &Environment,
    plugin_options: &crate::plugins::Options,
    printer: &Printer,
    keep_slots: bool,
) -> Result<Outcome, Error> {
    let started = Instant::now();
    let plugins = plugins::build(env, plugin_options, printer)?;
    parity::warn(env, printer);
    let docker = docker::connect().await?;
    images::pull_always(&docker, env, printer).await?;
    let (observed, program) = plan(&docker, env, &plugins).await?;
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
    let endpoints = apply::endpoints(env);
    let width = endpoints.keys().map(String::len).max().unwrap_or(0);
    let mut text = String::new();
    for (service, addresses) in endpoints.iter().filter(|(_, a)| !a.is_empty()) {
        text.push_str(&format!("{service:<width$}  {}\n", addresses.join(", ")));
    }
    let json = json!({
        "environment": env.name,
        "changed": !plan.is_empty(),
        "plan": plan,
        "endpoints": endpoints,
    });
    Ok(Outcome::with(exit::SUCCESS, Report::new(text, json)))
}

pub(crate) async fn down(
    env: &Environment,
    printer: &Printer,
    volumes: bool,
) -> Result<Outcome, Error> {
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
    printer.status(&format!("environment `{}` is down", env.name));
    Ok(Outcome::with(
        exit::SUCCESS,
        Report::json_only(json!({
            "environment": env.name,
            "removed_containers": containers.iter().map(|c| &c.name).collect::<Vec<_>>(),
            "volumes_removed": volumes,
        })),
    ))
}

/// One service in `local status`.
#[derive(serde::Serialize)]
struct StatusRow {
    name: String,
    state: String,
    ready: bool,
    /// "yes", or what the probe saw.
    readiness: String,
    addresses: Vec<String>,
    image: String,
    /// Mounted connector plugins and their ZIP digests: the digests `aws plan` shows.
    plugins: std::collections::BTreeMap<String, String>,
}

pub(crate) async fn status(env: &Environment, printer: &Printer) -> Result<Outcome, Error> {
    let docker = docker::connect().await?;
    let containers = observe::containers(&docker, &env.name, &env.network).await?;
    let route = &route::decide(&docker, env.probe).await;
    let rows: Vec<StatusRow> = join_all(env.services.iter().map(|service| {
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
            StatusRow {
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
    .await;
    let text = {
        let mut table = vec![
            ["SERVICE", "STATE", "READY", "ADDRESSES", "IMAGE"]
                .map(String::from)
                .to_vec(),
        ];
        for row in &rows {
            table.push(vec![
                row.name.clone(),
                row.state.clone(),
                row.readiness.clone(),
                row.addresses.join(","),
                row.image.clone(),
            ]);
        }
        let mut text = crate::output::table(&table);
        for row in rows.iter().filter(|r| !r.plugins.is_empty()) {
            text.push_str(&format!("\nplugins mounted in {}:\n", row.name));
            for (plugin, digest) in &row.plugins {
                text.push_str(&format!("  {plugin}  {digest}\n"));
            }
        }
        text
    };
    if rows.iter().any(|r| !r.ready) {
        printer.status(&printer.paint(
            Style::Warn,
            "not every service is ready; `deploy local up` converges",
        ));
    }
    Ok(Outcome::with(
        exit::SUCCESS,
        Report::new(text, json!({ "environment": env.name, "services": rows })),
    ))
}

pub(crate) async fn logs(
    env: &Environment,
    printer: &Printer,
    service: Option<&str>,
    follow: bool,
    tail: Option<usize>,
) -> Result<Outcome, Error> {
    let names: Vec<&str> = match service {
        Some(name) => {
            if env.service(name).is_none() {
                let names: Vec<&str> = env.services.iter().map(|s| s.name.as_str()).collect();
                return Err(Error::user(format!(
                    "environment `{}` has no service `{name}`",
                    env.name
                ))
                .with_hint(format!("services: {}", names.join(", "))));
            }
            vec![name]
        }
        None => env.services.iter().map(|s| s.name.as_str()).collect(),
    };
    let docker = docker::connect().await?;
    let running = observe::containers(&docker, &env.name, &env.network).await?;
    let by_service: HashMap<&str, &str> = running
        .iter()
        .map(|c| (c.service.as_str(), c.id.as_str()))
        .collect();
    let width = names.iter().map(|n| n.len()).max().unwrap_or(0);
    let prefix = names.len() > 1;
    let streams = names.iter().filter_map(|name| {
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
        let text = chunk.to_string();
        if prefix {
            let mut out = String::new();
            for line in text.lines() {
                out.push_str(&format!("{name:<width$} | {line}\n"));
            }
            printer.data(&out);
        } else {
            printer.data(&text);
        }
    }
    Ok(Outcome::code(exit::SUCCESS))
}
