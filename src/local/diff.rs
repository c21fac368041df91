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
