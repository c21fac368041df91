//! Connectors as code: the plan is a pure diff of the definitions against what Connect has; the
//! apply validates every changed connector first (nothing is written when one is invalid),
//! writes with the idempotent `PUT /connectors/{name}/config`, sets the desired state, and waits
//! until each connector and all its tasks are there, reporting a failed task's trace.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::client::{Client, ConnectError, Live, Status};
use super::keys;
use crate::error::Error;
use crate::model::{Connector, ConnectorState};
use crate::output::{Printer, Style};
use crate::plan::{Action, Change, Kind, Plan};
use crate::secrets::MASK;

/// Keys Connect adds to every configuration.
const ADDED_BY_CONNECT: [&str; 1] = ["name"];
/// What Connect shows instead of a password.
const HIDDEN: &str = "[hidden]";

pub fn diff(
    environment: &str,
    desired: &[Connector],
    live: &BTreeMap<String, Live>,
    prune: bool,
) -> Plan {
    let mut changes = Vec::new();
    for connector in desired {
        let change = match live.get(&connector.name) {
            None => Change::new(
                Kind::Connector,
                &connector.name,
                Action::Create,
                "not found",
            ),
            Some(have) => {
                let mut reasons = changed_keys(connector, &have.config);
                let state = state_word(connector.state);
                if have.status.state != state && have.status.state != "FAILED" {
                    reasons.push(format!("state {} → {state}", have.status.state));
                }
                if reasons.is_empty() {
                    Change::new(
                        Kind::Connector,
                        &connector.name,
                        Action::Unchanged,
                        "configuration and state unchanged",
                    )
                } else {
                    Change {
                        kind: Kind::Connector,
                        name: connector.name.clone(),
                        action: Action::Update,
                        reasons,
                    }
                }
            }
        };
        changes.push(change);
    }
    for name in live
        .keys()
        .filter(|n| !desired.iter().any(|c| &c.name == *n))
    {
        changes.push(if prune {
            Change::new(
                Kind::Connector,
                name,
                Action::Remove,
                "not in the environment file",
            )
        } else {
            Change::new(
                Kind::Connector,
                name,
                Action::Unchanged,
                "not in the environment file; kept (--prune deletes it)",
            )
        });
    }
    Plan {
        environment: environment.to_string(),
        changes,
    }
}

/// `key: old → new` for every difference; secret values masked.
fn changed_keys(connector: &Connector, live: &BTreeMap<String, String>) -> Vec<String> {
    let show = |key: &str, value: Option<&String>| match value {
        None => "(unset)".to_string(),
        Some(_) if connector.secret_keys.contains(key) => MASK.to_string(),
        Some(v) => v.clone(),
    };
    let mut reasons = Vec::new();
    for (key, want) in &connector.config {
        let have = live.get(key);
        if have.is_some_and(|h| h == want || h == HIDDEN) {
            continue;
        }
        reasons.push(format!(
            "{key}: {} → {}",
            show(key, have),
            show(key, Some(want))
        ));
    }
    for key in live.keys() {
        if !connector.config.contains_key(key) && !ADDED_BY_CONNECT.contains(&key.as_str()) {
            reasons.push(format!("{key}: {} → (unset)", show(key, live.get(key))));
        }
    }
    reasons
}

fn state_word(state: ConnectorState) -> &'static str {
    match state {
        ConnectorState::Running => "RUNNING",
        ConnectorState::Paused => "PAUSED",
        ConnectorState::Stopped => "STOPPED",
    }
}

impl From<ConnectError> for Error {
    fn from(error: ConnectError) -> Self {
        let hint = match &error {
            ConnectError::Transport(..) => {
                "is the Connect service up? `deploy local status` shows it"
            }
            ConnectError::Http { .. } => "`deploy local logs connect` shows what Connect says",
        };
        Error::user(error.to_string()).with_hint(hint)
    }
}

/// Carries out a connector plan, then waits until every desired connector is in its state.
/// `worker_started`: when the Connect worker was (re)started, so that the statuses it shows
/// before its first rebalance are not taken for its own. Blocking.
pub fn apply(
    client: &Client,
    desired: &[Connector],
    live: &BTreeMap<String, Live>,
    plan: &Plan,
    waits: Waits,
    worker_started: Option<Instant>,
    printer: &Printer,
) -> Result<(), Error> {
    let writes: Vec<&Connector> = desired
        .iter()
        .filter(|c| {
            matches!(
                plan.action_of(Kind::Connector, &c.name),
                Some(Action::Create | Action::Update)
            )
        })
        .collect();
    // Every changed connector is validated before the first write: Connect's errors, and the
    // keys no class defines (which Connect itself would silently ignore).
    let mut invalid = Vec::new();
    let mut unknown = Vec::new();
    let mut classes = BTreeMap::new();
    for connector in &writes {
        let validation = client.validate(&connector.name, &connector.config)?;
        for (key, message) in &validation.errors {
            invalid.push(format!("{}: {key}: {message}", connector.name));
        }
        for key in keys::unknown(client, connector, &validation, &mut classes)? {
            unknown.push(format!("{}: {key}", connector.name));
        }
    }
    if !invalid.is_empty() || !unknown.is_empty() {
        let refused = format!(
            "Kafka Connect refused the configuration of {} key(s)",
            invalid.len()
        );
        let undefined = format!("{} key(s) no class of the connector defines", unknown.len());
        let summary = match (invalid.is_empty(), unknown.is_empty()) {
            (false, true) => refused,
            (true, false) => format!("refusing {undefined}"),
            _ => format!("{refused}, and {undefined}"),
        };
        let mut error = Error::user(format!("{summary}; nothing was changed"))
            .with_details(invalid.into_iter().chain(unknown.iter().cloned()).collect());
        if !unknown.is_empty() {
            error = error.with_hint(
                "a key that is meant although no class defines it goes under the connector's `allow-unknown-keys`",
            );
        }
        return Err(error);
    }
    for change in plan
        .changes
        .iter()
        .filter(|c| c.kind == Kind::Connector && c.action == Action::Remove)
    {
        client.delete(&change.name)?;
        printer.status(&format!("  - connector {} deleted", change.name));
    }
    let mut written = Vec::new();
    for connector in &writes {
        let created = client.put_config(&connector.name, &connector.config)?;
        written.push(Instant::now());
        // The state as observed for the plan: right after a write, the status Connect shows is
        // the old one or none at all, until its rebalance. A configuration write keeps a paused
        // or stopped connector so.
        let before = live
            .get(&connector.name)
            .map_or("RUNNING", |l| l.status.state.as_str());
        match (connector.state, before) {
            (ConnectorState::Running, "PAUSED" | "STOPPED") => client.resume(&connector.name)?,
            (ConnectorState::Paused, s) if s != "PAUSED" => client.pause(&connector.name)?,
            (ConnectorState::Stopped, s) if s != "STOPPED" => client.stop(&connector.name)?,
            _ => {}
        }
        printer.status(&format!(
            "  {} connector {} {}",
            if created { "+" } else { "~" },
            connector.name,
            if created { "created" } else { "updated" }
        ));
    }
    for (connector, at) in writes.iter().zip(written) {
        // A failure seen after the write is the new configuration's, unless it failed before.
        let failed_before = live
            .get(&connector.name)
            .is_some_and(|l| l.status.failed().is_some());
        let since = Since { at, failed_before };
        let took = wait(client, connector, Some(since), waits)?;
        printer.status(&format!(
            "  {} connector {} {} in {:.1}s",
            printer.paint(Style::Ok, "✓"),
            connector.name,
            state_word(connector.state).to_lowercase(),
            took.as_secs_f64()
        ));
    }
    // The others were not written: they are read, and waited on only after a worker restart.
    let unchanged: Vec<&Connector> = desired
        .iter()
        .filter(|c| !writes.iter().any(|w| w.name == c.name))
        .collect();
    for connector in &unchanged {
        // A worker started just now may show its predecessor's failures.
        let since = worker_started.map(|at| Since {
            at,
            failed_before: true,
        });
        wait(client, connector, since, waits)?;
    }
    if !unchanged.is_empty() {
        printer.status(&format!(
            "connectors: {} unchanged, in their state",
            unchanged.len()
        ));
    }
    Ok(())
}

/// How long after a configuration write (or a worker start) a status is not yet taken as the
/// new configuration's, unless a rebalance was seen: the real worker shows the old status until
/// its rebalance begins. A FAILED status is held longer, since reporting a stale failure
/// would stop an apply that is about to succeed.
const SETTLE: Duration = Duration::from_secs(1);
const SETTLE_FAILED: Duration = Duration::from_secs(30);

/// A write (or a worker start) whose outcome a wait must tell from the status shown before it.
#[derive(Debug, Clone, Copy)]
pub struct Since {
    pub at: Instant,
    /// The connector or a task was FAILED before: a FAILED status may still be that one.
    pub failed_before: bool,
}
/// How long to wait for a connector, and how long it must stay RUNNING after a write before it
/// counts as running (`connect.stable-for`): Debezium starts streaming after its task reports
/// RUNNING, and a task that cannot stream (a missing publication, say) fails seconds later
/// (seen on Debezium 3.6 with Kafka Connect 4.3: 4-6 s).
#[derive(Debug, Clone, Copy)]
pub struct Waits {
    pub timeout: Duration,
    pub stable_for: Duration,
}

/// Waits until the connector is in its desired state and, when running, all its tasks run.
/// `written`: the write (or worker start) it follows. Until the status has changed from what was
/// first seen (a rebalance) or SETTLE has passed, a RUNNING status is not trusted; a FAILED one
/// is, unless the connector had failed before, then only once a status without the failure was
/// seen, or after SETTLE_FAILED.
pub fn wait(
    client: &Client,
    connector: &Connector,
    written: Option<Since>,
    waits: Waits,
) -> Result<Duration, Error> {
    let timeout = waits.timeout;
    let started = Instant::now();
    let want = state_word(connector.state);
    let mut pause = Duration::from_millis(50);
    let mut rebalanced = written.is_none();
    let mut cleared = false;
    let mut first: Option<Status> = None;
    let mut running_since: Option<Instant> = None;
    loop {
        // No status yet: the worker has not finished the rebalance after the write.
        let status = client.status(&connector.name)?.unwrap_or_else(|| Status {
            state: "UNASSIGNED".into(),
            ..Status::default()
        });
        let seen = first.get_or_insert_with(|| status.clone());
        rebalanced |= *seen != status || status.state == "UNASSIGNED";
        // After a rebalance the worker can show the old task's FAILED state (and trace) again
        // before the new task starts (seen on Connect 4.3): a failure counts as new once a
        // status without it has been seen.
        cleared |= failure(&connector.name, &status).is_none();
        let since = written.map(|w| w.at.elapsed());
        let stale_failure_possible = written.is_some_and(|w| w.failed_before) && !cleared;
        if let Some(failure) = failure(&connector.name, &status)
            && (!stale_failure_possible || since.is_none_or(|s| s >= SETTLE_FAILED))
        {
            return Err(failure);
        }
        let there = match connector.state {
            ConnectorState::Running => status.runs(),
            ConnectorState::Paused => {
                status.state == want && status.tasks.iter().all(|t| t.state == "PAUSED")
            }
            ConnectorState::Stopped => status.state == want,
        };
        let settled = rebalanced || since.is_none_or(|s| s >= SETTLE);
        if there && settled {
            // Only a change to a running connector must prove it keeps running.
            let no_hold = connector.state != ConnectorState::Running || written.is_none();
            let since = *running_since.get_or_insert_with(Instant::now);
            if no_hold || since.elapsed() >= waits.stable_for {
                return Ok(started.elapsed());
            }
        } else {
            running_since = None;
        }
        if started.elapsed() > timeout {
            return Err(Error::user(format!(
                "connector `{}` is not {want} after {}s: connector {}, {}",
                connector.name,
                timeout.as_secs(),
                status.state,
                status.tasks_text()
            ))
            .with_hint(format!(
                "`deploy local connectors status` and `deploy local logs {}`",
                "connect"
            )));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

/// What a Java trace says: its first line and every `Caused by:` (the root cause last), or its
/// head when nothing caused it.
pub fn trace_summary(trace: Option<&str>) -> Vec<String> {
    let Some(trace) = trace else {
        return vec!["(no trace)".into()];
    };
    let mut lines = trace.lines();
    let mut summary: Vec<String> = lines.next().into_iter().map(str::to_string).collect();
    let causes: Vec<String> = lines
        .clone()
        .filter(|l| l.trim_start().starts_with("Caused by:"))
        .map(|l| l.trim().to_string())
        .collect();
    if causes.is_empty() {
        summary.extend(lines.take(5).map(str::to_string));
    } else {
        summary.extend(causes.into_iter().rev().take(4).rev());
    }
    summary
}

/// What failed, as a person reads it: `connector `NAME` FAILED` or `connector `NAME`: task N
/// FAILED`, and the trace's summary.
pub fn failed_text(name: &str, status: &Status) -> Option<(String, Vec<String>)> {
    let failed = status.failed()?;
    let what = match failed.task {
        None => format!("connector `{name}` FAILED"),
        Some(task) => format!("connector `{name}`: task {task} FAILED"),
    };
    Some((what, trace_summary(failed.trace)))
}

/// A FAILED connector or task, with the summary of its trace.
fn failure(name: &str, status: &Status) -> Option<Error> {
    let (what, trace) = failed_text(name, status)?;
    let hint = match status.failed()?.task {
        None => format!("fix the configuration, then `deploy local connectors restart {name}`"),
        Some(_) => {
            format!("fix the cause, then `deploy local connectors restart {name} --failed-only`")
        }
    };
    Some(Error::user(what).with_details(trace).with_hint(hint))
}
