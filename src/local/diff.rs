//! The local plan as a pure function of what the file asks for and what the engine has.

use std::collections::BTreeSet;

use super::observe::Observed;
use super::spec::Desired;
use crate::model::Environment;
use crate::plan::{Action, Change, Kind, Plan};

pub fn diff(env: &Environment, desired: &[Desired], observed: &Observed) -> Plan {
    let mut changes = Vec::new();
    changes.push(if observed.network {
        Change::new(Kind::Network, &env.network, Action::Unchanged, "exists")
    } else {
        Change::new(Kind::Network, &env.network, Action::Create, "not found")
    });
    for volume in &env.volumes {
        changes.push(if observed.volumes.contains(&env.scoped(volume)) {
            Change::new(Kind::Volume, volume, Action::Unchanged, "exists")
        } else {
            Change::new(Kind::Volume, volume, Action::Create, "not found")
        });
    }

    // Services come in dependency order, so a dependency's action is known before its dependents'.
    let mut replaced: BTreeSet<&str> = BTreeSet::new();
    for want in desired {
        let name = want.service.name.as_str();
        let existing: Vec<_> = observed
            .containers
            .iter()
            .filter(|c| c.service == name)
            .collect();
        let change = match existing.first() {
            None => Change::new(Kind::Service, name, Action::Create, "not found"),
            Some(have) => {
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
                    Change {
                        kind: Kind::Service,
                        name: name.to_string(),
                        action: Action::Recreate,
                        reasons,
                    }
                } else if !have.running {
                    Change::new(
                        Kind::Service,
                        name,
                        Action::Start,
                        format!("container is {}", have.state),
                    )
                } else {
                    Change::new(
                        Kind::Service,
                        name,
                        Action::Unchanged,
                        "running, configuration unchanged",
                    )
                }
            }
        };
        if matches!(change.action, Action::Create | Action::Recreate) {
            replaced.insert(name);
        }
        changes.push(change);
    }

    let wanted: BTreeSet<&str> = desired.iter().map(|d| d.service.name.as_str()).collect();
    for orphan in observed
        .containers
        .iter()
        .filter(|c| !wanted.contains(c.service.as_str()))
    {
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
    Plan {
        environment: env.name.clone(),
        changes,
    }
}

/// What differs between the desired configuration and the container's labels, in words.
fn changed_parts(want: &Desired, have: &super::observe::ObservedContainer) -> Vec<String> {
    if want.hash == have.hash {
        return Vec::new();
    }
    if have.parts.is_empty() {
        return vec!["configuration changed".into()];
    }
    want.parts
        .iter()
        .filter(|(part, hash)| have.parts.get(*part) != Some(*hash))
        .map(|(part, _)| match part.as_str() {
            "image" if !have.image.is_empty() => {
                format!("image changed: {} → {}", have.image, want.service.image)
            }
            part => format!("{part} changed"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;
    use crate::local::observe::ObservedContainer;
    use crate::local::spec;

    fn local() -> Environment {
        crate::config::environment(Path::new("environments/local.yaml"))
            .expect("local.yaml is valid")
    }

    /// What the engine holds right after a successful `up` of `env`.
    fn applied(env: &Environment) -> Observed {
        let containers = spec::desired(env)
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
                plugins: BTreeMap::new(),
            })
            .collect();
        Observed {
            containers,
            network: true,
            volumes: env.volumes.iter().map(|v| env.scoped(v)).collect(),
            images: env
                .services
                .iter()
                .map(|s| (s.image.clone(), Some(format!("sha256:{}", s.image))))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    fn plan_for(env: &Environment, observed: &Observed) -> Plan {
        diff(env, &spec::desired(env), observed)
    }

    #[test]
    fn from_nothing_everything_is_created_in_dependency_order() {
        let env = local();
        let plan = plan_for(&env, &Observed::default());
        insta::assert_snapshot!(plan.render_text(false));
    }

    #[test]
    fn right_after_apply_the_plan_is_empty() {
        let env = local();
        let plan = plan_for(&env, &applied(&env));
        assert!(plan.is_empty(), "{}", plan.render_text(false));
        insta::assert_snapshot!(plan.render_text(false), @"No changes: environment `local` is up to date\n");
    }

    #[test]
    fn a_changed_setting_recreates_the_service_and_its_dependents_only() {
        let env = local();
        let observed = applied(&env);
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
        insta::assert_snapshot!(plan_for(&changed, &observed).render_text(false));
    }

    #[test]
    fn image_tag_changes_and_pulled_images_are_named() {
        let env = local();
        let mut observed = applied(&env);
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
        insta::assert_snapshot!(plan_for(&changed, &observed).render_text(false));
    }

    #[test]
    fn stopped_containers_start_and_orphans_are_removed() {
        let env = local();
        let mut observed = applied(&env);
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
        observed.containers.push(orphan);
        observed.volumes.clear();
        let plan = plan_for(&env, &observed);
        insta::assert_snapshot!(plan.render_text(true));
        insta::assert_json_snapshot!(
            plan.changes
                .iter()
                .filter(|c| c.action != Action::Unchanged)
                .collect::<Vec<_>>()
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
            spec::desired(env)
                .into_iter()
                .map(|d| d.hash)
                .collect::<Vec<_>>()
        };
        assert_eq!(hashes(&env), hashes(&other));
    }
}
