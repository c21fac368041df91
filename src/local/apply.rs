//! Carrying out a local program: the setup (replaced containers and those no service wants
//! removed, network and volumes made) side by side, then every service's steps, each service
//! starting as soon as what it depends on has finished its own. Nothing is compared here: the
//! program says what to do.

use std::collections::{BTreeMap, HashMap};

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, Mount as DockerMount, MountType,
    NetworkCreateRequest, NetworkingConfig, PortBinding, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use futures::future::{join_all, try_join_all};
use tokio::sync::watch;

use super::docker::{is_conflict, is_not_found, is_not_modified};
use super::observe;
use super::probe::{self, LOG_TAIL, NotReady};
use super::program::{Program, ServiceSteps, Setup, Step};
use super::route::Route;
use super::schema::{self, Loaded};
use super::spec::{self, Desired};
use crate::error::Error;
use crate::model::{Environment, MountSource};
use crate::output::{Printer, Style};
use crate::plan::Action;

/// Seconds a container gets to stop before it is killed.
pub(super) const STOP_TIMEOUT: i32 = 10;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Pending,
    Ready,
    Failed,
}

pub(super) async fn apply(
    docker: &Docker,
    env: &Environment,
    program: &Program,
    route: &Route,
    printer: &Printer,
) -> Result<(), Error> {
    let started = std::time::Instant::now();
    try_join_all(
        program
            .setup
            .iter()
            .map(|step| setup(docker, env, step, printer)),
    )
    .await?;
    printer.debug(&format!(
        "network and volumes ready after {}ms",
        started.elapsed().as_millis()
    ));

    let channels: HashMap<&str, (watch::Sender<State>, watch::Receiver<State>)> = program
        .services
        .iter()
        .map(|s| {
            (
                s.desired.service.name.as_str(),
                watch::channel(State::Pending),
            )
        })
        .collect();
    let results = join_all(program.services.iter().map(|planned| {
        let channels = &channels;
        async move {
            let name = planned.desired.service.name.as_str();
            let readiness = Readiness { channels, route };
            let result = service(docker, env, planned, &readiness, printer).await;
            let state = if result.is_ok() {
                State::Ready
            } else {
                State::Failed
            };
            channels[name].0.send_replace(state);
            result
        }
    }))
    .await;
    // Report the first real failure; services skipped because of it follow from it.
    let mut errors = results.into_iter().filter_map(Result::err);
    match errors.next() {
        Some(first) => Err(first),
        None => Ok(()),
    }
}

async fn setup(
    docker: &Docker,
    env: &Environment,
    step: &Setup,
    printer: &Printer,
) -> Result<(), Error> {
    match step {
        Setup::RemoveContainer { id, name } => {
            remove_container(docker, id).await?;
            printer.status(&format!("  - {name} removed (not in the environment file)"));
        }
        Setup::ReplaceContainer { id, name } => {
            remove_container(docker, id).await?;
            printer.debug(&format!("{name} ({id:.12}) removed"));
        }
        Setup::CreateNetwork => {
            create_network(docker, env).await?;
            remove_duplicate_networks(docker, env, printer).await?;
        }
        Setup::RemoveNetwork { id } => remove_network(docker, env, id, printer).await?,
        Setup::CreateVolume { name } => create_volume(docker, env, name).await?,
    }
    Ok(())
}

/// How a service hears that its dependencies are ready, and how its own readiness is probed.
struct Readiness<'a> {
    channels: &'a HashMap<&'a str, (watch::Sender<State>, watch::Receiver<State>)>,
    route: &'a Route,
}

async fn service(
    docker: &Docker,
    env: &Environment,
    planned: &ServiceSteps,
    readiness: &Readiness<'_>,
    printer: &Printer,
) -> Result<(), Error> {
    let want = &planned.desired;
    let name = &want.service.name;
    for step in &planned.steps {
        match step {
            // The container is (re)created at once; only starting it waits for its dependencies.
            Step::Create => create_container(docker, env, want).await?,
            Step::Start => {
                dependencies(want, readiness, printer).await?;
                match docker
                    .start_container(
                        &want.container,
                        None::<bollard::query_parameters::StartContainerOptions>,
                    )
                    .await
                {
                    Ok(()) => {}
                    Err(e) if is_not_modified(&e) => {}
                    Err(e) => return Err(start_error(docker, want, e).await),
                }
                printer.debug(&format!("{name} started"));
                if let Some(ready) = &want.service.ready {
                    printer.debug(&format!(
                        "{name} probed by {}",
                        readiness.route.describe(&ready.check, &want.service.ports)
                    ));
                }
            }
            Step::AwaitReady => await_ready(docker, env, planned, readiness.route, printer).await?,
            Step::LoadSchema(load) => {
                match schema::load(docker, &want.container, &want.service, load).await {
                    Ok((Loaded::Loaded, took)) => printer.status(&format!(
                        "  {} {name} schema loaded: {} ({:.1}s)",
                        printer.paint(Style::Ok, "✓"),
                        load.files
                            .iter()
                            .map(|f| f.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                        took.as_secs_f64()
                    )),
                    Ok((Loaded::AlreadyThere, _)) => {
                        printer.debug(&format!("{name}: its data has the schema files already"));
                    }
                    Err(error) => {
                        printer.status(&format!(
                            "  {} {name} schema load failed",
                            printer.paint(Style::Bad, "✗")
                        ));
                        return Err(error);
                    }
                }
            }
        }
    }
    Ok(())
}

/// Waits until every service `want` depends on has finished its steps; fails when one failed.
async fn dependencies(
    want: &Desired,
    readiness: &Readiness<'_>,
    printer: &Printer,
) -> Result<(), Error> {
    let name = &want.service.name;
    for dependency in &want.service.depends_on {
        let mut receiver = readiness.channels[dependency.as_str()].1.clone();
        let state = *receiver
            .wait_for(|s| *s != State::Pending)
            .await
            .map_err(|_| Error::Internal("dependency channel closed".into()))?;
        if state == State::Failed {
            printer.status(&format!(
                "  {} {name} not started: `{dependency}` failed",
                printer.paint(Style::Warn, "!")
            ));
            return Err(Error::user(format!(
                "service `{name}` was not started because `{dependency}` failed"
            )));
        }
    }
    Ok(())
}

/// The service's probe until it passes (at once for a service that is up), saying so for one
/// this program made or started.
async fn await_ready(
    docker: &Docker,
    env: &Environment,
    planned: &ServiceSteps,
    route: &Route,
    printer: &Printer,
) -> Result<(), Error> {
    let want = &planned.desired;
    let name = &want.service.name;
    match wait_ready(docker, env, want, route).await {
        Ok(took) => {
            let verb = match planned.action {
                Action::Create => "created",
                Action::Recreate => "recreated",
                Action::Start => "started",
                _ => return Ok(()),
            };
            printer.status(&format!(
                "  {} {name} {verb}, ready in {:.1}s",
                printer.paint(Style::Ok, "✓"),
                took.as_secs_f64()
            ));
            Ok(())
        }
        Err(failure) => {
            let error = not_ready_error(docker, want, failure).await;
            printer.status(&format!(
                "  {} {name} failed: {error}",
                printer.paint(Style::Bad, "✗")
            ));
            Err(error)
        }
    }
}

/// The service's probe until it passes, the way `route` says.
async fn wait_ready(
    docker: &Docker,
    env: &Environment,
    want: &Desired,
    route: &Route,
) -> Result<std::time::Duration, NotReady> {
    let service = &want.service;
    probe::wait_ready(
        docker,
        &want.container,
        &env.network,
        service.ready.as_ref(),
        route,
        &service.ports,
    )
    .await
}

async fn not_ready_error(docker: &Docker, want: &Desired, failure: NotReady) -> Error {
    let name = &want.service.name;
    let message = match failure {
        NotReady::Exited(code) => {
            format!("service `{name}` exited with code {code} before it was ready")
        }
        NotReady::TimedOut(last) => {
            let probe = want.service.ready.as_ref();
            format!(
                "service `{name}` was not ready after {}s ({}); last attempt: {last}",
                probe.map_or(0, |p| p.timeout.as_secs()),
                probe.map_or(String::new(), |p| p.check.to_string()),
            )
        }
        NotReady::Docker(e) => {
            return Error::docker(format!("inspect container {}", want.container), e);
        }
    };
    let logs = probe::last_logs(docker, &want.container, LOG_TAIL).await;
    Error::user(message)
        .with_details(logs)
        .with_hint(format!("see the whole log with `deploy local logs {name}`"))
}

async fn start_error(docker: &Docker, want: &Desired, error: bollard::errors::Error) -> Error {
    let logs = probe::last_logs(docker, &want.container, LOG_TAIL).await;
    Error::user(format!(
        "service `{}` could not start: {error}",
        want.service.name
    ))
    .with_details(logs)
}

pub(super) async fn create_network(docker: &Docker, env: &Environment) -> Result<(), Error> {
    let request = NetworkCreateRequest {
        name: env.network.clone(),
        driver: Some("bridge".into()),
        labels: Some(spec::owner_labels(env).into_iter().collect()),
        ..Default::default()
    };
    match docker.create_network(request).await {
        Ok(_) => Ok(()),
        Err(e) if is_conflict(&e) => Ok(()),
        Err(e) => Err(Error::docker(format!("create network {}", env.network), e)),
    }
}

/// Keeps the oldest of the environment's networks of its name (see `observe::networks`): a
/// create the engine was still carrying out for an interrupted run may have finished meanwhile.
async fn remove_duplicate_networks(
    docker: &Docker,
    env: &Environment,
    printer: &Printer,
) -> Result<(), Error> {
    for id in observe::networks(docker, env).await?.iter().skip(1) {
        remove_network(docker, env, id, printer).await?;
    }
    Ok(())
}

async fn remove_network(
    docker: &Docker,
    env: &Environment,
    id: &str,
    printer: &Printer,
) -> Result<(), Error> {
    match docker.remove_network(id).await {
        Ok(()) => {
            printer.status(&format!(
                "  - a second network {} removed (left by an interrupted run)",
                env.network
            ));
            Ok(())
        }
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(Error::docker(format!("remove network {id}"), e)),
    }
}

/// Creates a named volume (by its Docker name), labelled as the environment's.
async fn create_volume(docker: &Docker, env: &Environment, name: &str) -> Result<(), Error> {
    let request = VolumeCreateRequest {
        name: Some(name.to_string()),
        labels: Some(spec::owner_labels(env).into_iter().collect()),
        ..Default::default()
    };
    docker
        .create_volume(request)
        .await
        .map(drop)
        .map_err(|e| Error::docker(format!("create volume {name}"), e))
}

async fn create_container(docker: &Docker, env: &Environment, want: &Desired) -> Result<(), Error> {
    let service = &want.service;
    let mut port_bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for port in &service.ports {
        port_bindings
            .entry(format!("{}/{}", port.container, port.protocol.as_str()))
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: Some(port.address.to_string()),
                host_port: Some(port.host.to_string()),
            });
    }
    let mounts = want
        .mounts
        .iter()
        .map(|m| {
            let (typ, source) = match &m.source {
                MountSource::Volume(name) => (MountType::VOLUME, env.scoped(name)),
                MountSource::Bind(path) => (MountType::BIND, path.display().to_string()),
            };
            DockerMount {
                target: Some(m.target.clone()),
                source: Some(source),
                typ: Some(typ),
                read_only: Some(m.read_only),
                ..Default::default()
            }
        })
        .collect();
    let body = ContainerCreateBody {
        image: Some(service.image.clone()),
        hostname: Some(service.name.clone()),
        cmd: service.command.clone(),
        entrypoint: service.entrypoint.clone(),
        env: Some(
            service
                .environment
                .iter()
                .map(|v| format!("{}={}", v.name, v.value))
                .collect(),
        ),
        labels: Some(spec::labels(env, want).into_iter().collect()),
        exposed_ports: Some(port_bindings.keys().cloned().collect()),
        host_config: Some(HostConfig {
            port_bindings: Some(port_bindings),
            mounts: Some(mounts),
            network_mode: Some(env.network.clone()),
            ..Default::default()
        }),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                env.network.clone(),
                EndpointSettings {
                    aliases: Some(vec![service.name.clone()]),
                    ..Default::default()
                },
            )])),
        }),
        ..Default::default()
    };
    let options = CreateContainerOptionsBuilder::new()
        .name(&want.container)
        .build();
    match docker.create_container(Some(options), body).await {
        Ok(_) => Ok(()),
        Err(e) if is_conflict(&e) => Err(Error::user(format!(
            "a container named `{}` already exists and is not managed by environment `{}`",
            want.container, env.name
        ))
        .with_hint(format!(
            "remove or rename it (`docker rm -f {}`), or rename the environment",
            want.container
        ))),
        Err(e) => Err(Error::docker(
            format!("create container {}", want.container),
            e,
        )),
    }
}

/// Stops (with a grace period) and removes a container with its anonymous volumes (those an
/// image's `VOLUME` gives every path no mount covers: unlabelled, nothing would find them
/// again); one that is already gone is fine. Named volumes are never removed with it.
pub(super) async fn remove_container(docker: &Docker, id: &str) -> Result<(), Error> {
    let stop = StopContainerOptionsBuilder::new().t(STOP_TIMEOUT).build();
    match docker.stop_container(id, Some(stop)).await {
        Ok(()) => {}
        Err(e) if is_not_found(&e) || is_not_modified(&e) => {}
        Err(e) => return Err(Error::docker("stop container", e)),
    }
    let remove = RemoveContainerOptionsBuilder::new()
        .force(true)
        .v(true)
        .build();
    match docker.remove_container(id, Some(remove)).await {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) || is_conflict(&e) => Ok(()),
        Err(e) => Err(Error::docker("remove container", e)),
    }
}

/// Published addresses per service, for the summary after `up` and for `status`.
pub(super) fn endpoints(env: &Environment) -> BTreeMap<String, Vec<String>> {
    env.services
        .iter()
        .map(|s| {
            let addresses = s
                .ports
                .iter()
                .map(|p| {
                    format!(
                        "{}:{}{}",
                        p.address,
                        p.host,
                        if p.protocol.as_str() == "udp" {
                            "/udp"
                        } else {
                            ""
                        }
                    )
                })
                .collect();
            (s.name.clone(), addresses)
        })
        .collect()
}
