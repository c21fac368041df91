//! A plan: the changes an apply will make, each with the reason a person can read. Built by a
//! pure diff, rendered here as text or JSON, carried out by the target's apply.

use std::fmt::Write;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Plan {
    pub environment: String,
    pub changes: Vec<Change>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub kind: Kind,
    /// The name in the environment file (service or volume), or the network's Docker name.
    pub name: String,
    pub action: Action,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Network,
    Volume,
    Service,
    Connector,
    Bucket,
    #[serde(rename = "s3-object")]
    Object,
    CustomPlugin,
    WorkerConfiguration,
    Secret,
    LogGroup,
    SecurityGroup,
    Role,
    DbSubnetGroup,
    DbParameterGroup,
    DbCluster,
    DbInstance,
    EcsCluster,
    LoadBalancer,
    TaskDefinition,
    EcsService,
    MskConfiguration,
    MskCluster,
    SchemaLoad,
    /// A Debezium source's replication slot.
    Slot,
    /// A Debezium source's signal table.
    SignalTable,
    /// A CloudWatch alarm.
    Alarm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Create,
    Recreate,
    Update,
    Start,
    Remove,
    Unchanged,
}

impl Action {
    fn symbol(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Recreate => "~",
            Action::Update => "~",
            Action::Start => ">",
            Action::Remove => "-",
            Action::Unchanged => "=",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Recreate => "recreate",
            Action::Update => "update",
            Action::Start => "start",
            Action::Remove => "remove",
            Action::Unchanged => "unchanged",
        }
    }
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Network => "network",
            Kind::Volume => "volume",
            Kind::Service => "service",
            Kind::Connector => "connector",
            Kind::Bucket => "bucket",
            Kind::Object => "object",
            Kind::CustomPlugin => "plugin",
            Kind::WorkerConfiguration => "workers",
            Kind::Secret => "secret",
            Kind::LogGroup => "logs",
            Kind::SecurityGroup => "sg",
            Kind::Role => "role",
            Kind::DbSubnetGroup => "subnets",
            Kind::DbParameterGroup => "params",
            Kind::DbCluster => "aurora",
            Kind::DbInstance => "db",
            Kind::EcsCluster => "ecs",
            Kind::LoadBalancer => "alb",
            Kind::TaskDefinition => "task",
            Kind::EcsService => "ecs-svc",
            Kind::MskConfiguration => "mskconf",
            Kind::MskCluster => "msk",
            Kind::SchemaLoad => "schema",
            Kind::Slot => "slot",
            Kind::SignalTable => "signal",
            Kind::Alarm => "alarm",
        }
    }
}

impl Plan {
    /// True when applying would change nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.changes.iter().all(|c| c.action == Action::Unchanged)
    }

    /// One line per change (and per unchanged resource with `unchanged`), then the counts.
    pub(crate) fn render_text(&self, unchanged: bool) -> String {
        let mut out = String::new();
        if self.is_empty() {
            let _ = writeln!(
                out,
                "No changes: environment `{}` is up to date",
                self.environment
            );
            if !unchanged {
                return out;
            }
        } else {
            let _ = writeln!(out, "Plan for environment `{}`:", self.environment);
        }
        let width = self.changes.iter().map(|c| c.name.len()).max().unwrap_or(0);
        let shown = self
            .changes
            .iter()
            .filter(|c| unchanged || c.action != Action::Unchanged);
        for change in shown {
            let _ = writeln!(
                out,
                "  {} {:<7} {:<width$}  {}: {}",
                change.action.symbol(),
                change.kind.as_str(),
                change.name,
                change.action.verb(),
                change.reasons.join("; "),
            );
        }
        let count = |action: Action| self.changes.iter().filter(|c| c.action == action).count();
        let summary: Vec<String> = [
            (Action::Create, "to create"),
            (Action::Recreate, "to recreate"),
            (Action::Update, "to update"),
            (Action::Start, "to start"),
            (Action::Remove, "to remove"),
            (Action::Unchanged, "unchanged"),
        ]
        .into_iter()
        .filter(|(action, _)| count(*action) > 0)
        .map(|(action, label)| format!("{} {label}", count(action)))
        .collect();
        let _ = writeln!(out, "{}", summary.join(", "));
        out
    }
}

/// Moves each planned change into `changes` and returns the steps that carry them out, in order:
/// how a target's plan gathers the `(change, steps)` pairs of its resource kinds.
pub(crate) fn gather<S>(changes: &mut Vec<Change>, planned: Vec<(Change, Vec<S>)>) -> Vec<S> {
    let mut steps = Vec::new();
    for (change, more) in planned {
        changes.push(change);
        steps.extend(more);
    }
    steps
}

impl Change {
    pub fn new(
        kind: Kind,
        name: impl Into<String>,
        action: Action,
        reason: impl Into<String>,
    ) -> Self {
        Change {
            kind,
            name: name.into(),
            action,
            reasons: vec![reason.into()],
        }
    }
}
