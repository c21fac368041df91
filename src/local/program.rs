//! The local plan as a program: a pure function of what the file asks for (`spec::Desired`) and
//! what the engine has (`observe::Observed`) that returns the changes shown *and* the typed
//! steps carrying them out. `apply` runs those steps and decides nothing again, so the plan `up`
//! shows is what it does, and the plan right after it is empty.

use std::collections::BTreeSet;
use std::fmt;

use super::observe::Observed;
use super::schema::{self, Load, Record};
use super::spec::Desired;
use crate::error::Error;
use crate::model::{Environment, PullPolicy};
use crate::plan::{Action, Change, Kind, Plan};

/// What `up` carries out.
#[derive(Debug, Clone)]
pub(super) struct Program {
    pub plan: Plan,
    /// Images to pull before anything changes: missing images of containers to be made.
    pub pulls: Vec<String>,
    /// Run first, side by side: the containers to be replaced and those no service wants
    /// removed, the network and the volumes made. A replaced container is gone before any
    /// service starts: an old dependent still running would reach the new service it depends
    /// on (an old Connect worker recreated the new broker's internal topics with the broker's
    /// defaults, and the new worker refused them).
    pub setup: Vec<Setup>,
    /// Every service's steps, in dependency order. A service's `Start` waits until what it
    /// depends on has finished its own steps.
    pub services: Vec<ServiceSteps>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Setup {
    /// Stop and remove a container no service of the file wants (with its anonymous volumes).
    RemoveContainer { id: String, name: String },
    /// Stop and remove a container that is replaced, or one of two of a service.
    ReplaceContainer { id: String, name: String },
    /// Create the network, then keep the oldest of its name (see `observe::networks`).
    CreateNetwork,
    /// Remove a second network of the environment's name, left by an interrupted run.
    RemoveNetwork { id: String },
    /// Create a named volume, by its Docker name.
    CreateVolume { name: String },
}

/// One service's steps, with the container they are about.
#[derive(Debug, Clone)]
pub(super) struct ServiceSteps {
    pub desired: Desired,
    /// The service's change, for what `up` says of it.
    pub action: Action,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    /// Create the container from the desired configuration (it is not started yet).
    Create,
    /// Start it, once every dependency has finished its steps.
    Start,
    /// Its readiness probe until it passes (at once for a service that is up).
    AwaitReady,
    /// Run its SQL files in it, once it is ready.
    LoadSchema(Load),
}

impl Program {
    /// True when `service`'s container is started by this program (a new or restarted worker).
    pub(super) fn starts(&self, service: &str) -> bool {
        self.services
            .iter()
            .any(|s| s.desired.service.name == service && s.steps.contains(&Step::Start))
    }
}

/// The plan of the whole environment. Refuses before anything changes what `up` could not do
/// (a missing image whose pull policy is `never`).
pub(super) fn plan(
    env: &Environment,
    desired: &[Desired],
    observed: &Observed,
) -> Result<Program, Error> {
    let mut changes = Vec::new();
    let mut setup = Vec::new();

    let network = if observed.networks.is_empty() {
        setup.push(Setup::CreateNetwork);
        Change::new(Kind::Network, &env.network, Action::Create, "not found")
    } else {
        Change::new(Kind::Network, &env.network, Action::Unchanged, "exists")
    };
    changes.push(network);
    for id in observed.networks.iter().skip(1) {
        setup.push(Setup::RemoveNetwork { id: id.clone() });
        changes.push(Change::new(
            Kind::Network,
            &env.network,
            Action::Remove,
            format!("a second network of this name ({id:.12}), left by an interrupted run"),
        ));
    }
    for volume in &env.volumes {
        let name = env.scoped(volume);
        changes.push(if observed.volumes.contains(&name) {
            Change::new(Kind::Volume, volume, Action::Unchanged, "exists")
        } else {
            setup.push(Setup::CreateVolume { name });
            Change::new(Kind::Volume, volume, Action::Create, "not found")
        });
    }

    // Services come in dependency order, so a dependency's action is known before its dependents'.
    let mut replaced: BTreeSet<&str> = BTreeSet::new();
    let mut services = Vec::new();
    let mut pulls = BTreeSet::new();
    let mut loads = Vec::new();
    for want in desired {
        let (change, removed, steps) = service(want, observed, &replaced);
        setup.extend(removed);
        if matches!(change.action, Action::Create | Action::Recreate) {
            replaced.insert(&want.service.name);
            if let Some(image) = pull(want, observed)? {
                pulls.insert(image);
            }
        }
        let action = change.action;
        changes.push(change);
        let mut steps = steps;
        // A database read before a recreate or a start may not be the one that runs after it.
        let record = match action {
            Action::Unchanged => observed
                .schema
                .get(&want.service.name)
                .cloned()
                .unwrap_or(Record::Unknown),
            _ => Record::Unknown,
        };
        if let Some((change, load)) = schema::plan(&want.service, &record) {
            loads.push(change);
            steps.extend(load.map(Step::LoadSchema));
        }
        services.push(ServiceSteps {
            desired: want.clone(),
            action,
            steps,
        });
    }
    changes.extend(loads);

    let wanted: BTreeSet<&str> = desired.iter().map(|d| d.service.name.as_str()).collect();
    for orphan in observed
        .containers
        .iter()
        .filter(|c| !wanted.contains(c.service.as_str()))
    {
        setup.push(Setup::RemoveContainer {
            id: orphan.id.clone(),
            name: orphan.name.clone(),
        });
        changes.push(Change::new(
            Kind::Service,
            if orphan.service.is_empty() {
                &orphan.name
            } else {
                &orphan.service
            },
            Action::Remove,
            "not in the environment file",
        ));
    }
    Ok(Program {
        plan: Plan {
            environment: env.name.clone(),
            changes,
        },
        pulls: pulls.into_iter().collect(),
        setup,
        services,
    })
}

/// The image a container to be made needs pulled first, by its service's pull policy (`always`
/// images are pulled before the plan, so what they bring is in it).
fn pull(want: &Desired, observed: &Observed) -> Result<Option<String>, Error> {
    let service = &want.service;
    let present = observed
        .images
        .get(&service.image)
        .is_some_and(Option::is_some);
    match service.pull {
        _ if present => Ok(None),
        PullPolicy::Never => Err(Error::user(format!(
            "image `{}` of service `{}` is not present and its pull policy is `never`",
            service.image, service.name
        ))
        .with_hint("build or load the image, or set `pull: missing`")),
        PullPolicy::Missing | PullPolicy::Always => Ok(Some(service.image.clone())),
    }
}

/// One service's change, the containers it replaces, and its steps. `replaced`: the services
/// made anew before it in this plan.
fn service(
    want: &Desired,
    observed: &Observed,
    replaced: &BTreeSet<&str>,
) -> (Change, Vec<Setup>, Vec<Step>) {
    let name = want.service.name.as_str();
    let existing: Vec<_> = observed
        .containers
        .iter()
        .filter(|c| c.service == name)
        .collect();
    let Some(have) = existing.first() else {
        let mut reason = "not found".to_string();
        if !want.unbuilt().is_empty() {
            reason.push_str(&format!(
                "; plugin {} known after build",
                want.unbuilt().join(", ")
            ));
        }
        return (
            Change::new(Kind::Service, name, Action::Create, reason),
            Vec::new(),
            vec![Step::Create, Step::Start, Step::AwaitReady],
        );
    };
    let mut reasons = changed_parts(want, have);
    let local_image = observed.images.get(&want.service.image).cloned().flatten();
    if reasons.is_empty() && local_image.is_some_and(|id| id != have.image_id) {
        reasons.push(format!("image `{}` was updated", want.service.image));
    }
    if existing.len() > 1 {
        reasons.push(format!("{} containers found, one wanted", existing.len()));
    }
    for dependency in &want.service.depends_on {
        if replaced.contains(dependency.as_str()) {
            reasons.push(format!("depends on `{dependency}`, which is replaced"));
        }
    }
    if !reasons.is_empty() {
        let removed = existing
            .iter()
            .map(|c| Setup::ReplaceContainer {
                id: c.id.clone(),
                name: c.name.clone(),
            })
            .collect();
        return (
            Change {
                kind: Kind::Service,
                name: name.to_string(),
                action: Action::Recreate,
                reasons,
            },
            removed,
            vec![Step::Create, Step::Start, Step::AwaitReady],
        );
    }
    if !have.running {
        return (
            Change::new(
                Kind::Service,
                name,
                Action::Start,
                format!("container is {}", have.state),
            ),
            Vec::new(),
            vec![Step::Start, Step::AwaitReady],
        );
    }
    (
        Change::new(
            Kind::Service,
            name,
            Action::Unchanged,
            "running, configuration unchanged",
        ),
        Vec::new(),
        vec![Step::AwaitReady],
    )
}

/// What differs between the desired configuration and the container's labels, in words.
fn changed_parts(want: &Desired, have: &super::observe::ObservedContainer) -> Vec<String> {
    if want.hash == have.hash {
        return Vec::new();
    }
    if have.parts.is_empty() {
        return vec!["configuration changed".into()];
    }
    let unbuilt = want.unbuilt();
    want.parts
        .iter()
        .filter(|(part, hash)| have.parts.get(*part) != Some(*hash))
        .map(|(part, _)| match part.as_str() {
            "image" if !have.image.is_empty() => {
                format!("image changed: {} → {}", have.image, want.service.image)
            }
            // A mount from a ZIP not built yet: whether it differs is known after build.
            "volumes" if !unbuilt.is_empty() => {
                let mounted: Vec<String> = unbuilt
                    .iter()
                    .map(|p| match have.plugins.get(*p) {
                        Some(digest) => format!("{p} (mounted now: {:.19}…)", digest),
                        None => p.to_string(),
                    })
                    .collect();
                format!(
                    "volumes changed: plugin {} known after build",
                    mounted.join(", ")
                )
            }
            part => format!("{part} changed"),
        })
        .collect()
}

impl fmt::Display for Setup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Setup::RemoveContainer { name, .. } => write!(f, "remove container {name}"),
            Setup::ReplaceContainer { id, .. } => write!(f, "remove replaced container {id}"),
            Setup::CreateNetwork => write!(f, "create network"),
            Setup::RemoveNetwork { id } => write!(f, "remove network {id}"),
            Setup::CreateVolume { name } => write!(f, "create volume {name}"),
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Create => write!(f, "create"),
            Step::Start => write!(f, "start"),
            Step::AwaitReady => write!(f, "await ready"),
            Step::LoadSchema(load) => write!(
                f,
                "load {} as {} on {}",
                load.files
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                load.user,
                load.database
            ),
        }
    }
}

impl fmt::Display for Program {
    /// The changes, then every step: what the snapshot tests read.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.plan.render_text(false))?;
        if !self.pulls.is_empty() {
            writeln!(f, "pull: {}", self.pulls.join(", "))?;
        }
        for step in &self.setup {
            writeln!(f, "setup: {step}")?;
        }
        for service in &self.services {
            let steps: Vec<String> = service.steps.iter().map(ToString::to_string).collect();
            writeln!(f, "{}: {}", service.desired.service.name, steps.join(" → "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::local::observe::ObservedContainer;
    use crate::local::spec::{self, BuiltPlugin, Plugins};

    fn local() -> Environment {
        crate::config::environment(Path::new("environments/local.yaml"))
            .expect("local.yaml is valid")
    }

    /// The plugins local.yaml's Connect mounts, built with these digests.
    fn built(digest: &str) -> Plugins {
        ["confluent-s3", "debezium-postgres"]
            .into_iter()
            .map(|name| {
                (
                    name.to_string(),
                    BuiltPlugin {
                        sha256: format!("{digest}{name}"),
                        folder: PathBuf::from(format!("/cache/extracted/{digest}/{name}")),
                    },
                )
            })
            .collect()
    }

    /// What the engine holds right after a successful `up` of `env` with `plugins`.
    fn applied(env: &Environment, plugins: &Plugins) -> Observed {
        let containers = spec::desired(env, plugins)
            .into_iter()
            .map(|d| ObservedContainer {
                id: format!("id-{}", d.service.name),
                name: d.container.clone(),
                service: d.service.name.clone(),
                hash: d.hash.clone(),
                parts: d.parts.clone(),
                image: d.service.image.clone(),
                image_id: format!("sha256:{}", d.service.image),
                running: true,
                state: "running".into(),
                status: "Up 1 minute".into(),
                ip: None,
                ports: Vec::new(),
                plugins: d
                    .plugins
                    .iter()
                    .filter_map(|(n, d)| Some((n.clone(), format!("sha256:{}", d.as_ref()?))))
                    .collect(),
            })
            .collect();
        Observed {
            containers,
            networks: vec!["network-id".into()],
            volumes: env.volumes.iter().map(|v| env.scoped(v)).collect(),
            images: env
                .services
                .iter()
                .map(|s| (s.image.clone(), Some(format!("sha256:{}", s.image))))
                .collect::<BTreeMap<_, _>>(),
            schema: env
                .services
                .iter()
                .filter(|s| !s.schema.is_empty())
                .map(|s| {
                    let files = s.schema.iter().map(|f| (f.name.clone(), f.digest()));
                    (s.name.clone(), Record::Read(files.collect()))
                })
                .collect(),
        }
    }

    fn program(env: &Environment, plugins: &Plugins, observed: &Observed) -> Program {
        plan(env, &spec::desired(env, plugins), observed).expect("a plan")
    }

    #[test]
    fn from_nothing_everything_is_made_in_dependency_order_and_the_schema_loaded() {
        let env = local();
        let mut observed = Observed {
            images: applied(&env, &built("a")).images,
            ..Observed::default()
        };
        observed.images.insert("postgres:17".into(), None);
        insta::assert_snapshot!(program(&env, &built("a"), &observed).to_string());
    }

    #[test]
    fn right_after_up_the_plan_is_empty_and_up_only_probes() {
        let env = local();
        let plugins = built("a");
        let program = program(&env, &plugins, &applied(&env, &plugins));
        assert!(program.plan.is_empty(), "{program}");
        insta::assert_snapshot!(program.to_string());
    }

    #[test]
    fn a_plan_reads_the_plugins_built_and_shows_those_not_built_as_known_after_build() {
        let env = local();
        let observed = applied(&env, &built("a"));
        // What `up` built: the same mounts, so nothing to do.
        assert!(program(&env, &built("a"), &observed).plan.is_empty());
        // Not built here (a new machine, a cleared cache): known after build.
        let mut some = built("a");
        some.remove("debezium-postgres");
        insta::assert_snapshot!(program(&env, &some, &observed).to_string());
        // Built with new content: a new mount, so Connect is made again.
        let connect = program(&env, &built("b"), &observed);
        let change = connect
            .plan
            .changes
            .iter()
            .find(|c| c.name == "connect")
            .expect("connect");
        assert_eq!(change.action, Action::Recreate);
        assert_eq!(change.reasons, vec!["volumes changed"]);
        assert!(connect.starts("connect"));
    }

    #[test]
    fn a_changed_setting_recreates_the_service_and_its_dependents_only() {
        let env = local();
        let plugins = built("a");
        let observed = applied(&env, &plugins);
        let mut changed = env.clone();
        let kafka = changed
            .services
            .iter_mut()
            .find(|s| s.name == "kafka")
            .expect("kafka");
        kafka.environment.push(crate::model::EnvVar {
            name: "KAFKA_HEAP_OPTS".into(),
            value: "-Xmx1g".into(),
            secret: false,
        });
        insta::assert_snapshot!(program(&changed, &plugins, &observed).to_string());
    }

    #[test]
    fn image_tag_changes_and_pulled_images_are_named() {
        let env = local();
        let plugins = built("a");
        let mut observed = applied(&env, &plugins);
        observed
            .images
            .insert("postgres:17".into(), Some("sha256:newer".into()));
        let mut changed = env.clone();
        changed
            .services
            .iter_mut()
            .find(|s| s.name == "kafka-ui")
            .expect("ui")
            .image = "ghcr.io/kafbat/kafka-ui:v1.6.0".into();
        insta::assert_snapshot!(program(&changed, &plugins, &observed).to_string());
    }

    #[test]
    fn stopped_containers_start_duplicates_go_and_orphans_are_removed() {
        let env = local();
        let plugins = built("a");
        let mut observed = applied(&env, &plugins);
        let connect = observed
            .containers
            .iter_mut()
            .find(|c| c.service == "connect")
            .expect("connect");
        connect.running = false;
        connect.state = "exited".into();
        let mut orphan = observed.containers[0].clone();
        orphan.service = "voluble".into();
        orphan.name = "local-voluble".into();
        orphan.id = "id-voluble".into();
        observed.containers.push(orphan);
        let mut twin = observed.containers[1].clone();
        twin.id = format!("{}-twin", twin.id);
        observed.containers.push(twin);
        observed.volumes.clear();
        observed.networks.push("second-network-id".into());
        let program = program(&env, &plugins, &observed);
        insta::assert_snapshot!(program.to_string());
        insta::assert_json_snapshot!(
            program
                .plan
                .changes
                .iter()
                .filter(|c| c.action != Action::Unchanged)
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_changed_sql_file_loads_again_on_the_running_database() {
        let env = local();
        let plugins = built("a");
        let mut observed = applied(&env, &plugins);
        observed.schema.insert(
            "postgres".into(),
            Record::Read(BTreeMap::from([
                ("00-registry.sql".into(), "0000000000000000".into()),
                (
                    "01-demo.sql".into(),
                    env.service("postgres").expect("pg").schema[1].digest(),
                ),
            ])),
        );
        insta::assert_snapshot!(program(&env, &plugins, &observed).to_string());
    }

    #[test]
    fn a_missing_image_that_may_not_be_pulled_is_refused_by_the_plan() {
        let mut env = local();
        env.services
            .iter_mut()
            .find(|s| s.name == "kafka-ui")
            .expect("ui")
            .pull = PullPolicy::Never;
        let error = plan(
            &env,
            &spec::desired(&env, &built("a")),
            &Observed::default(),
        )
        .expect_err("refused");
        assert!(
            error
                .to_string()
                .contains("image `ghcr.io/kafbat/kafka-ui:v1.5.0` of service `kafka-ui` is not present and its pull policy is `never`"),
            "{error}"
        );
    }

    #[test]
    fn a_secret_value_does_not_reach_the_hashes() {
        let env = local();
        let mut other = env.clone();
        for var in other
            .services
            .iter_mut()
            .flat_map(|s| s.environment.iter_mut())
            .filter(|v| v.secret)
        {
            var.value = "another".into();
        }
        other.secrets = crate::secrets::Secrets::new(vec!["another".into()]);
        let hashes = |env: &Environment| {
            spec::desired(env, &built("a"))
                .into_iter()
                .map(|d| d.hash)
                .collect::<Vec<_>>()
        };
        assert_eq!(hashes(&env), hashes(&other));
    }
}
