//! `services:`: ports, mounts, readiness probes, and the services in dependency order.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{DEFAULT_TIMEOUT, check_name, parse_duration, sql_files};
use crate::config::error::{ConfigError, suggest};
use crate::config::load::Loaded;
use crate::config::path::KeyPath;
use crate::config::raw::{PortFile, ReadyFile, ServiceFile};
use crate::model::{
    Check, EnvVar, Mount, MountSource, PluginMounts, PortMapping, Probe, Protocol, Service,
};

const DEFAULT_INTERVAL: Duration = Duration::from_millis(250);

pub(super) fn resolve_service(
    loaded: &Loaded,
    path: &KeyPath,
    name: &str,
    raw: &ServiceFile,
    publish_address: IpAddr,
) -> Result<Service, ConfigError> {
    check_name(loaded, path, name, "service name")?;
    if raw.image.trim().is_empty() || raw.image.contains(char::is_whitespace) {
        return Err(loaded.error(
            &path.key("image"),
            format!("`{}` is not an image reference", raw.image),
        ));
    }
    for (key, list) in [("command", &raw.command), ("entrypoint", &raw.entrypoint)] {
        if list.as_ref().is_some_and(Vec::is_empty) {
            return Err(loaded
                .error(&path.key(key), format!("`{key}` is empty"))
                .with_hint(format!("leave `{key}` out to keep the image's own")));
        }
    }
    let environment = raw
        .environment
        .iter()
        .map(|(key, value)| {
            let value_path = path.key("environment").key(key);
            if key.is_empty() || key.contains('=') {
                return Err(loaded.error(&value_path, format!("`{key}` is not a variable name")));
            }
            Ok(EnvVar {
                name: key.clone(),
                value: value.0.clone(),
                secret: loaded.secret_paths.contains(&value_path.to_string()),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ports = raw
        .ports
        .iter()
        .enumerate()
        .map(|(i, port)| parse_port(loaded, &path.key("ports").index(i), port, publish_address))
        .collect::<Result<Vec<_>, _>>()?;
    let mounts = raw
        .volumes
        .iter()
        .enumerate()
        .map(|(i, text)| parse_mount(loaded, &path.key("volumes").index(i), text))
        .collect::<Result<Vec<_>, _>>()?;
    let ready = raw
        .ready
        .as_ref()
        .map(|ready| parse_probe(loaded, &path.key("ready"), ready))
        .transpose()?;
    let plugins = match &raw.plugins {
        None => None,
        Some(file) => {
            if !file.path.starts_with('/') {
                return Err(loaded.error(
                    &path.key("plugins").key("path"),
                    "the plugin path must be absolute",
                ));
            }
            if file.names.is_empty() {
                return Err(loaded
                    .error(&path.key("plugins").key("use"), "no plugins named")
                    .with_hint("leave `plugins` out, or name plugins from plugins/"));
            }
            Some(PluginMounts {
                path: file.path.trim_end_matches('/').to_string(),
                names: file.names.clone(),
            })
        }
    };
    for (i, dependency) in raw.depends_on.iter().enumerate() {
        let dep_path = path.key("depends-on").index(i);
        if !loaded.raw.services.contains_key(dependency) {
            let error = loaded.error(&dep_path, format!("no service named `{dependency}`"));
            return Err(
                match suggest(dependency, loaded.raw.services.keys().map(String::as_str)) {
                    Some(best) => error.with_hint(format!("did you mean `{best}`?")),
                    None => error,
                },
            );
        }
        if dependency == name {
            return Err(loaded.error(&dep_path, "a service cannot depend on itself"));
        }
    }
    Ok(Service {
        name: name.to_string(),
        image: raw.image.clone(),
        pull: raw.pull,
        command: raw.command.clone(),
        entrypoint: raw.entrypoint.clone(),
        environment,
        ports,
        mounts,
        depends_on: raw.depends_on.clone(),
        ready,
        plugins,
        schema: sql_files(loaded, &path.key("schema"), &raw.schema)?,
    })
}

fn parse_port(
    loaded: &Loaded,
    path: &KeyPath,
    port: &PortFile,
    default_address: IpAddr,
) -> Result<PortMapping, ConfigError> {
    let invalid = |message: String| {
        loaded
            .error(path, message)
            .with_hint("write \"HOST:CONTAINER\", \"ADDRESS:HOST:CONTAINER\" or add \"/udp\", e.g. \"5432:5432\"")
    };
    let number = |text: &str| -> Result<u16, ConfigError> {
        match text.parse::<u32>() {
            Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
            Ok(n) => Err(invalid(format!("port {n} is out of range (1-65535)"))),
            Err(_) => Err(invalid(format!("`{text}` is not a port number"))),
        }
    };
    let protocol_of = |text: Option<&str>| match text {
        None | Some("tcp") => Ok(Protocol::Tcp),
        Some("udp") => Ok(Protocol::Udp),
        Some(other) => Err(invalid(format!("unknown protocol `{other}`"))),
    };
    let address_of = |text: Option<&str>| match text {
        None => Ok(default_address),
        Some(a) => a
            .trim_matches(['[', ']'])
            .parse()
            .map_err(|_| invalid(format!("`{a}` is not an IP address"))),
    };
    match port {
        PortFile::Long(long) => Ok(PortMapping {
            address: address_of(long.address.as_deref())?,
            host: number(&long.published.to_string())?,
            container: number(&long.target.to_string())?,
            protocol: protocol_of(long.protocol.as_deref())?,
        }),
        PortFile::Short(text) => {
            let (mapping, protocol) = match text.split_once('/') {
                Some((m, p)) => (m, Some(p)),
                None => (text.as_str(), None),
            };
            let (address, rest) = match mapping.rsplitn(3, ':').collect::<Vec<_>>().as_slice() {
                [container, host, address] => (Some(*address), (*host, *container)),
                [container, host] => (None, (*host, *container)),
                _ => {
                    return Err(invalid(format!(
                        "`{text}` needs both a host and a container port"
                    )));
                }
            };
            Ok(PortMapping {
                address: address_of(address)?,
                host: number(rest.0)?,
                container: number(rest.1)?,
                protocol: protocol_of(protocol)?,
            })
        }
    }
}

fn parse_mount(loaded: &Loaded, path: &KeyPath, text: &str) -> Result<Mount, ConfigError> {
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, read_only) = match parts.as_slice() {
        [source, target] => (*source, *target, false),
        [source, target, "ro"] => (*source, *target, true),
        [source, target, "rw"] => (*source, *target, false),
        [_, _, mode] => {
            return Err(loaded
                .error(path, format!("unknown mount mode `{mode}`"))
                .with_hint("use `ro` or `rw`"));
        }
        _ => {
            return Err(loaded
                .error(path, format!("`{text}` is not a mount"))
                .with_hint("write \"VOLUME:/path\" or \"./host-dir:/path[:ro]\""));
        }
    };
    if !target.starts_with('/') {
        return Err(loaded.error(
            path,
            format!("mount target `{target}` is not an absolute path"),
        ));
    }
    let source = if source.starts_with(['.', '/', '~']) {
        let base = loaded.file_of(path);
        let host = expand_home(source).unwrap_or_else(|| {
            base.parent()
                .unwrap_or(Path::new("."))
                .join(source.trim_start_matches("./"))
        });
        let host = host.canonicalize().map_err(|e| {
            loaded.error(
                path,
                format!("host path `{}` cannot be mounted: {e}", host.display()),
            )
        })?;
        MountSource::Bind(host)
    } else {
        if !loaded.raw.volumes.contains_key(source) {
            let error = loaded.error(path, format!("volume `{source}` is not declared"));
            return Err(match suggest(source, loaded.raw.volumes.keys().map(String::as_str)) {
                Some(best) => error.with_hint(format!("did you mean `{best}`?")),
                None => error.with_hint(format!(
                    "declare it under the top-level `volumes:` key, or write `./{source}` for a host directory"
                )),
            });
        }
        MountSource::Volume(source.to_string())
    };
    Ok(Mount {
        source,
        target: target.to_string(),
        read_only,
    })
}

fn expand_home(source: &str) -> Option<PathBuf> {
    let rest = source.strip_prefix("~/")?;
    Some(PathBuf::from(std::env::var_os("HOME")?).join(rest))
}

fn parse_probe(loaded: &Loaded, path: &KeyPath, raw: &ReadyFile) -> Result<Probe, ConfigError> {
    let mut checks = Vec::new();
    if let Some(port) = raw.tcp {
        checks.push(Check::Tcp(port));
    }
    if let Some(http) = &raw.http {
        if !http.path.starts_with('/') {
            return Err(loaded.error(
                &path.key("http").key("path"),
                "the path must start with `/`",
            ));
        }
        checks.push(Check::Http {
            port: http.port,
            path: http.path.clone(),
        });
    }
    if let Some(command) = &raw.exec {
        if command.is_empty() {
            return Err(loaded.error(&path.key("exec"), "the command is empty"));
        }
        checks.push(Check::Exec(command.clone()));
    }
    if checks.len() != 1 {
        return Err(loaded
            .error(
                path,
                format!(
                    "a probe needs exactly one of `tcp`, `http`, `exec`; found {}",
                    checks.len()
                ),
            )
            .with_hint("for example `ready: { tcp: 5432 }`"));
    }
    let duration = |key: &str, text: &Option<String>, default: Duration| match text {
        None => Ok(default),
        Some(text) => parse_duration(text).ok_or_else(|| {
            loaded
                .error(&path.key(key), format!("`{text}` is not a duration"))
                .with_hint("write a number with a unit: `250ms`, `5s`, `2m`")
        }),
    };
    Ok(Probe {
        check: checks.remove(0),
        interval: duration("interval", &raw.interval, DEFAULT_INTERVAL)?,
        timeout: duration("timeout", &raw.timeout, DEFAULT_TIMEOUT)?,
    })
}

/// Two services cannot publish the same host port.
pub(super) fn check_ports_unique(loaded: &Loaded, services: &[Service]) -> Result<(), ConfigError> {
    let mut seen: BTreeMap<(u16, Protocol), &str> = BTreeMap::new();
    for service in services {
        for (i, port) in service.ports.iter().enumerate() {
            if let Some(owner) = seen.insert((port.host, port.protocol), &service.name) {
                let path = KeyPath::root()
                    .key("services")
                    .key(&service.name)
                    .key("ports")
                    .index(i);
                return Err(loaded.error(
                    &path,
                    format!("host port {} is already published by `{owner}`", port.host),
                ));
            }
        }
    }
    Ok(())
}

/// Orders services so that each comes after its dependencies; a cycle is an error that names it.
pub(super) fn dependency_order(
    loaded: &Loaded,
    services: Vec<Service>,
) -> Result<Vec<Service>, ConfigError> {
    let mut ordered: Vec<Service> = Vec::with_capacity(services.len());
    let mut placed: BTreeSet<String> = BTreeSet::new();
    let mut pending = services;
    while !pending.is_empty() {
        let (ready, waiting): (Vec<Service>, Vec<Service>) = pending
            .into_iter()
            .partition(|s| s.depends_on.iter().all(|d| placed.contains(d)));
        if ready.is_empty() {
            return Err(cycle_error(loaded, &waiting));
        }
        placed.extend(ready.iter().map(|s| s.name.clone()));
        ordered.extend(ready);
        pending = waiting;
    }
    Ok(ordered)
}

fn cycle_error(loaded: &Loaded, waiting: &[Service]) -> ConfigError {
    // Follow the first unplaced dependency from the first waiting service until a name repeats.
    let by_name: BTreeMap<&str, &Service> = waiting.iter().map(|s| (s.name.as_str(), s)).collect();
    let mut chain: Vec<&str> = vec![waiting[0].name.as_str()];
    loop {
        let current = by_name[chain.last().copied().unwrap_or_default()];
        let next = current
            .depends_on
            .iter()
            .find(|d| by_name.contains_key(d.as_str()))
            .map(String::as_str)
            .unwrap_or_default();
        if let Some(start) = chain.iter().position(|n| *n == next) {
            let cycle: Vec<&str> = chain[start..].iter().copied().chain([next]).collect();
            let first = chain[start];
            let index = by_name[first]
                .depends_on
                .iter()
                .position(|d| d == chain.get(start + 1).copied().unwrap_or(first))
                .unwrap_or(0);
            let path = KeyPath::root()
                .key("services")
                .key(first)
                .key("depends-on")
                .index(index);
            return loaded.error(&path, format!("dependency cycle: {}", cycle.join(" → ")));
        }
        chain.push(next);
    }
}
