//! How the readiness probes reach a service from here (`local.probe`).
//!
//! On Linux with a local engine the host reaches every container at its address on the
//! environment's network, and that is where the probes go: the published port's proxy accepts a
//! TCP connection before the service does, so a TCP probe through it would pass too early. Where
//! container addresses are not reachable from the host (Docker Desktop on macOS, Windows or
//! Linux runs the engine in a VM; a rootless engine; a remote engine behind `DOCKER_HOST`), the
//! probes still have to be truthful:
//! - an HTTP probe goes through the published port: an HTTP answer, unlike a bare accept, cannot
//!   come from the port proxy alone;
//! - a TCP probe (and an HTTP probe of a port that is not published) runs inside the container
//!   (`docker exec`), to the container's own address on the network, as its peers connect.

use std::net::{IpAddr, SocketAddr};

use bollard::Docker;

use crate::model::{Check, PortMapping, ProbeRoute};

/// The route chosen for this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Route {
    /// From this machine to each container's network address.
    Network,
    /// HTTP through published ports (on `host` when they are published on every address or on
    /// loopback: the engine's machine), TCP from inside the container.
    Published { host: Option<String> },
    /// Every probe from inside the container.
    Inside,
}

/// One probe attempt's way to its service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Way {
    Direct(SocketAddr),
    /// An HTTP GET to a published port.
    Published(String, u16),
    /// From inside the container, to its address on the network.
    Inside(IpAddr),
    /// The check's own command, inside the container.
    Command,
}

/// The route for `setting`; `auto` asks the engine what it is.
pub(super) async fn decide(docker: &Docker, setting: ProbeRoute) -> Route {
    match setting {
        ProbeRoute::Network => Route::Network,
        ProbeRoute::Published => Route::Published {
            host: remote_host(&docker_host()),
        },
        ProbeRoute::Inside => Route::Inside,
        ProbeRoute::Auto => {
            if let Some(host) = remote_host(&docker_host()) {
                return Route::Published { host: Some(host) };
            }
            match docker.info().await {
                Ok(info) if isolated(&info) => Route::Published { host: None },
                _ => Route::Network,
            }
        }
    }
}

fn docker_host() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_default()
}

/// Whether the engine's containers live where this machine cannot route to them: Docker
/// Desktop (its `OperatingSystem` says so) or a rootless engine (a `name=rootless` security
/// option), as `docker info` reports them.
fn isolated(info: &bollard::models::SystemInfo) -> bool {
    let desktop = info
        .operating_system
        .as_deref()
        .is_some_and(|os| os.contains("Docker Desktop"));
    let rootless = info
        .security_options
        .iter()
        .flatten()
        .any(|o| o.contains("name=rootless"));
    desktop || rootless
}

/// The engine's machine, when `DOCKER_HOST` names another one (`tcp://host:2376`,
/// `ssh://user@host`).
fn remote_host(docker_host: &str) -> Option<String> {
    let rest = docker_host
        .strip_prefix("tcp://")
        .or_else(|| docker_host.strip_prefix("ssh://"))?;
    let authority = rest.split('/').next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => host.split(':').next()?,
    };
    let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    (!host.is_empty() && !loopback).then(|| host.to_string())
}

impl Route {
    /// Where a check goes, given the container's network address and published ports.
    pub(super) fn way(
        &self,
        check: &Check,
        ip: Option<IpAddr>,
        ports: &[PortMapping],
    ) -> Result<Way, String> {
        let need_ip = || {
            ip.ok_or_else(|| {
                "the container has no address on the environment's network".to_string()
            })
        };
        let port = match check {
            Check::Tcp(port) | Check::Http { port, .. } => *port,
            Check::Exec(_) => return Ok(Way::Command),
        };
        match (self, check) {
            (Route::Network, _) => Ok(Way::Direct(SocketAddr::new(need_ip()?, port))),
            (Route::Published { host }, Check::Http { .. }) => {
                match ports.iter().find(|p| p.container == port) {
                    Some(published) => Ok(self::published(published, host.as_deref())),
                    None => need_ip().map(Way::Inside),
                }
            }
            _ => need_ip().map(Way::Inside),
        }
    }

    /// For `-v`: how a service with this check is probed.
    pub(super) fn describe(&self, check: &Check, ports: &[PortMapping]) -> String {
        match (
            check,
            self.way(check, Some(IpAddr::from([0, 0, 0, 0])), ports),
        ) {
            (Check::Exec(command), _) => format!("`{}` inside the container", command.join(" ")),
            (Check::Tcp(port), Ok(Way::Direct(_))) => {
                format!("tcp to its network address, port {port}, from this machine")
            }
            (Check::Tcp(port), _) => {
                format!("tcp to its network address, port {port}, from inside the container")
            }
            (Check::Http { port, path }, Ok(Way::Direct(_))) => {
                format!("http to its network address, port {port}{path}, from this machine")
            }
            (Check::Http { path, .. }, Ok(Way::Published(host, port))) => {
                format!("http {host}:{port}{path}, through the published port")
            }
            (Check::Http { port, path }, _) => {
                format!("http to its network address, port {port}{path}, from inside the container")
            }
        }
    }
}

fn published(port: &PortMapping, engine: Option<&str>) -> Way {
    let (address, number) = port.reachable();
    let on_engine = port.address.is_unspecified() || port.address.is_loopback();
    match engine {
        Some(host) if on_engine => Way::Published(host.to_string(), number),
        _ => Way::Published(address, number),
    }
}

/// The shell script a TCP probe runs inside the container (`$1` address, `$2` port): bash's
/// `/dev/tcp`, else `nc -z`, else BusyBox's `nc … -e true` (its nc has no `-z`).
pub(super) const TCP_INSIDE: &str = r#"
if command -v bash >/dev/null 2>&1; then exec bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2"; fi
if nc -h 2>&1 | grep -q -- ' -z'; then exec nc -z -w 2 "$1" "$2"; fi
if command -v nc >/dev/null 2>&1; then exec nc -w 2 "$1" "$2" -e true; fi
echo "no bash or nc in the container to probe with" >&2; exit 127
"#;

/// The shell script an HTTP probe runs inside the container (`$1` address, `$2` port, `$3`
/// path): ready on a 2xx answer.
pub(super) const HTTP_INSIDE: &str = r#"
url="http://$1:$2$3"
if command -v curl >/dev/null 2>&1; then exec curl -fsS -o /dev/null --max-time 2 "$url"; fi
# No `-T`: BusyBox's wget crashes with it; the attempt is bounded by its caller.
if command -v wget >/dev/null 2>&1; then wget -q -O - "$url" >/dev/null; exit $?; fi
if command -v bash >/dev/null 2>&1; then
  exec bash -c 'exec 3<>"/dev/tcp/$0/$1" || exit 1
    printf "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" "$2" "$0" >&3
    read -r _ status _ <&3
    case "$status" in 2??) exit 0 ;; *) echo "status $status" >&2; exit 1 ;; esac' "$1" "$2" "$3"
fi
echo "no curl, wget or bash in the container to probe with" >&2; exit 127
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Protocol;

    #[test]
    fn a_remote_engine_is_known_by_docker_host() {
        assert_eq!(remote_host("tcp://10.0.0.5:2376"), Some("10.0.0.5".into()));
        assert_eq!(
            remote_host("ssh://me@build.example.com"),
            Some("build.example.com".into())
        );
        assert_eq!(
            remote_host("ssh://me@[2001:db8::1]:22"),
            Some("2001:db8::1".into())
        );
        assert_eq!(remote_host("tcp://127.0.0.1:2375"), None);
        assert_eq!(remote_host("tcp://localhost:2375"), None);
        assert_eq!(remote_host("unix:///var/run/docker.sock"), None);
        assert_eq!(remote_host(""), None);
    }

    #[test]
    fn tcp_never_goes_through_a_published_port() {
        let address = IpAddr::from([172, 18, 0, 2]);
        let ip = Some(address);
        let ports = [PortMapping {
            address: IpAddr::from([127, 0, 0, 1]),
            host: 18080,
            container: 8080,
            protocol: Protocol::Tcp,
        }];
        let http = Check::Http {
            port: 8080,
            path: "/health".into(),
        };
        let published = Route::Published { host: None };
        assert_eq!(
            published.way(&http, ip, &ports),
            Ok(Way::Published("127.0.0.1".into(), 18080))
        );
        assert_eq!(
            published.way(&Check::Tcp(8080), ip, &ports),
            Ok(Way::Inside(address))
        );
        // Not published: from inside.
        assert_eq!(published.way(&http, ip, &[]), Ok(Way::Inside(address)));
        // A remote engine's loopback is its own: the engine's host it is.
        let remote = Route::Published {
            host: Some("10.0.0.5".into()),
        };
        assert_eq!(
            remote.way(&http, ip, &ports),
            Ok(Way::Published("10.0.0.5".into(), 18080))
        );
        assert_eq!(
            Route::Network.way(&Check::Tcp(8080), ip, &ports),
            Ok(Way::Direct(SocketAddr::new(address, 8080)))
        );
        assert!(Route::Network.way(&Check::Tcp(8080), None, &ports).is_err());
        assert_eq!(
            published.describe(&http, &ports),
            "http 127.0.0.1:18080/health, through the published port"
        );
    }
}
