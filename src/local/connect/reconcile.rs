//! Connectors as code: a pure plan of the definitions against what Connect has, with the typed
//! steps that carry it out (write, pause, resume, stop, delete, await). The apply validates
//! every connector it is to write first (nothing is written when one is invalid), then runs the
//! steps in order and decides nothing again: writes are the idempotent
//! `PUT /connectors/{name}/config`, and each await ends once the connector and all its tasks are
//! in their state, reporting a failed task's trace.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::client::{Client, ConnectError, Live, Status};
use super::keys;
use crate::error::Error;
use crate::local::{signals, slots};
use crate::model::{Connector, ConnectorState};
use crate::output::{Printer, Style};
use crate::plan::{Action, Change, Kind, Plan};
use crate::poll::Poll;
use crate::secrets::MASK;

/// Keys Connect adds to every configuration.
const ADDED_BY_CONNECT: [&str; 1] = ["name"];
/// What Connect shows instead of a password.
const HIDDEN: &str = "[hidden]";

/// One call (or wait) of a connector apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// `PUT /connectors/{name}/config`, after every connector to write was validated.
    Write {
        connector: Box<Connector>,
        created: bool,
    },
    /// `PUT /connectors/{name}/pause`.
    Pause(String),
    /// `PUT /connectors/{name}/resume`.
    Resume(String),
    /// `PUT /connectors/{name}/stop`.
    Stop(String),
    /// `DELETE /connectors/{name}`.
    Delete(String),
    /// Drops a replication slot its connector no longer uses, once nothing streams from it.
    DropSlot(slots::Drop),
    /// Makes a source's signal table (and puts it in its publication) before it is written.
    EnsureSignal(Box<signals::Ensure>),
    /// Until the connector is in its state, with all its tasks.
    Await {
        connector: Box<Connector>,
        after: After,
        /// It (or a task) was FAILED before: a FAILED status may still be that one.
        failed_before: bool,
    },
}

/// What an await must tell the status it sees from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum After {
    /// This apply's change of it (write, pause, resume or stop).
    Change,
    /// The Connect worker `up` started just now, which shows its predecessor's statuses until
    /// it rebalances.
    WorkerStart,
    /// Nothing: the status is read as it is.
    Nothing,
}

/// What the connectors' plan reads besides the definitions and Connect.
pub(crate) struct Context<'a> {
    pub prune: bool,
    /// `up` (re)starts the Connect worker.
    pub worker_started: bool,
    /// The sources' replication slots.
    pub slots: &'a slots::Observed,
    /// Keep every slot a removed or moved connector leaves (`--keep-slots`).
    pub keep_slots: bool,
    /// The sources' signal tables.
    pub signals: &'a signals::Observed,
}

/// The connectors' plan: each connector's and slot's change, and the steps in the order they
/// run (deletes, then each connector's write and state, then the awaits, then the slots the
/// connectors no longer use).
pub(crate) fn plan(
    environment: &str,
    desired: &[Connector],
    live: &BTreeMap<String, Live>,
    context: &Context<'_>,
) -> (Plan, Vec<Step>) {
    let Context {
        prune,
        worker_started,
        ..
    } = *context;
    let mut changes = Vec::new();
    let mut deletes = Vec::new();
    let mut writes = Vec::new();
    let mut awaits = Vec::new();
    let mut unchanged = Vec::new();
    for connector in desired {
        let have = live.get(&connector.name);
        let boxed = || Box::new(connector.clone());
        let failed_before = have.is_some_and(|l| l.status.failed().is_some());
        let mut reasons = Vec::new();
        let (action, write) = match have {
            None => (Action::Create, true),
            Some(have) => {
                reasons = changed_keys(connector, &have.config);
                (Action::Update, !reasons.is_empty())
            }
        };
        if write {
            writes.push(Step::Write {
                connector: boxed(),
                created: have.is_none(),
            });
        }
        // A configuration write keeps a paused or stopped connector so; a new one runs.
        let before = have.map_or("RUNNING", |l| l.status.state.as_str());
        let state = state_word(connector.state);
        let transition = match (connector.state, before) {
            (_, "FAILED") => None,
            (ConnectorState::Running, "PAUSED" | "STOPPED") => {
                Some(Step::Resume(connector.name.clone()))
            }
            (ConnectorState::Paused, s) if s != "PAUSED" => {
                Some(Step::Pause(connector.name.clone()))
            }
            (ConnectorState::Stopped, s) if s != "STOPPED" => {
                Some(Step::Stop(connector.name.clone()))
            }
            _ => None,
        };
        if let Some(step) = transition {
            if have.is_some() {
                reasons.push(format!("state {before} → {state}"));
            }
            writes.push(step);
        }
        if have.is_none() {
            reasons.push("not found".into());
        }
        if reasons.is_empty() {
            changes.push(Change::new(
                Kind::Connector,
                &connector.name,
                Action::Unchanged,
                "configuration and state unchanged",
            ));
            unchanged.push(Step::Await {
                connector: boxed(),
                after: if worker_started {
                    After::WorkerStart
                } else {
                    After::Nothing
                },
                failed_before: true,
            });
        } else {
            changes.push(Change {
                kind: Kind::Connector,
                name: connector.name.clone(),
                action,
                reasons,
            });
            awaits.push(Step::Await {
                connector: boxed(),
                after: After::Change,
                failed_before,
            });
        }
    }
    for name in live
        .keys()
        .filter(|n| !desired.iter().any(|c| &c.name == *n))
    {
        changes.push(if prune {
            deletes.push(Step::Delete(name.clone()));
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
    let deleted: std::collections::BTreeSet<String> = deletes
        .iter()
        .filter_map(|s| match s {
            Step::Delete(name) => Some(name.clone()),
            _ => None,
        })
        .collect();
    let mut drops = Vec::new();
    for (change, drop) in slots::plan(desired, live, &deleted, context.slots, context.keep_slots) {
        changes.push(change);
        drops.extend(drop.map(Step::DropSlot));
    }
    let mut ensures = Vec::new();
    for (change, ensure) in signals::plan(desired, context.signals) {
        changes.push(change);
        ensures.extend(ensure.map(|e| Step::EnsureSignal(Box::new(e))));
    }
    let plan = Plan {
        environment: environment.to_string(),
        changes,
    };
    let steps = deletes
        .into_iter()
        .chain(ensures)
        .chain(writes)
        .chain(awaits)
        .chain(unchanged)
        .chain(drops)
        .collect();
    (plan, steps)
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
        let message = error.to_string();
        match error {
            // The message names the transport's error; what is under it is shown beneath.
            ConnectError::Transport(unreachable) => Error::user(message)
                .with_hint("is the Connect service up? `deploy local status` shows it")
                .because(unreachable.source),
            ConnectError::Http { .. } => Error::user(message)
                .with_hint("`deploy local logs connect` shows what Connect says"),
        }
    }
}

/// Carries out a connector plan's steps: validation of every connector to write first, then
/// the steps in order. `worker_started`: when `up` (re)started the Connect worker. Blocking.
pub(crate) fn apply(
    client: &Client,
    steps: &[Step],
    waits: Waits,
    worker_started: Option<Instant>,
    printer: &Printer,
) -> Result<(), Error> {
    validate(client, steps)?;
    // When each connector was last changed: what its await tells the old status from.
    let mut changed: BTreeMap<&str, Instant> = BTreeMap::new();
    let mut unchanged = 0;
    for step in steps {
        match step {
            Step::Delete(name) => {
                client.delete(name)?;
                printer.status(&format!("  - connector {name} deleted"));
            }
            Step::Write { connector, created } => {
                client.put_config(&connector.name, &connector.config)?;
                changed.insert(&connector.name, Instant::now());
                printer.status(&format!(
                    "  {} connector {} {}",
                    if *created { "+" } else { "~" },
                    connector.name,
                    if *created { "created" } else { "updated" }
                ));
            }
            Step::Pause(name) | Step::Resume(name) | Step::Stop(name) => {
                match step {
                    Step::Pause(_) => client.pause(name)?,
                    Step::Resume(_) => client.resume(name)?,
                    _ => client.stop(name)?,
                }
                changed.entry(name).or_insert_with(Instant::now);
            }
            Step::EnsureSignal(ensure) => {
                tokio::runtime::Handle::current().block_on(signals::ensure(ensure))?;
                printer.status(&format!(
                    "  + signal table {} ready for {}",
                    ensure.signal.name(),
                    ensure.signal.connector
                ));
            }
            Step::DropSlot(drop) => {
                tokio::runtime::Handle::current().block_on(slots::remove(drop))?;
                printer.status(&format!(
                    "  - replication slot {} dropped from {}{}",
                    drop.slot,
                    drop.place,
                    drop.publication
                        .as_ref()
                        .map_or(String::new(), |p| format!(", with publication {p}"))
                ));
            }
            Step::Await {
                connector,
                after,
                failed_before,
            } => {
                let at = match after {
                    After::Change => changed.get(connector.name.as_str()).copied(),
                    After::WorkerStart => worker_started,
                    After::Nothing => None,
                };
                let since = at.map(|at| Since {
                    at,
                    failed_before: *failed_before,
                });
                let took = wait(client, connector, since, waits)?;
                if *after == After::Change {
                    printer.status(&format!(
                        "  {} connector {} {} in {:.1}s",
                        printer.paint(Style::Ok, "✓"),
                        connector.name,
                        state_word(connector.state).to_lowercase(),
                        took.as_secs_f64()
                    ));
                } else {
                    unchanged += 1;
                }
            }
        }
    }
    if unchanged > 0 {
        printer.status(&format!(
            "connectors: {unchanged} unchanged, in their state"
        ));
    }
    Ok(())
}

/// Every connector to write, validated with Connect before the first write: Connect's errors,
/// and the keys no class defines (which Connect itself would silently ignore).
fn validate(client: &Client, steps: &[Step]) -> Result<(), Error> {
    let mut invalid = Vec::new();
    let mut unknown = Vec::new();
    let mut classes = BTreeMap::new();
    for step in steps {
        let Step::Write { connector, .. } = step else {
            continue;
        };
        let validation = client.validate(&connector.name, &connector.config)?;
        for (key, message) in &validation.errors {
            invalid.push(format!("{}: {key}: {message}", connector.name));
        }
        for key in keys::unknown(client, connector, &validation, &mut classes)? {
            unknown.push(format!("{}: {key}", connector.name));
        }
    }
    if invalid.is_empty() && unknown.is_empty() {
        return Ok(());
    }
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
    Err(error)
}

/// How long after a configuration write (or a worker start) a status is not yet taken as the
/// new configuration's, unless a rebalance was seen: the real worker shows the old status until
/// its rebalance begins. A FAILED status is held longer, since reporting a stale failure
/// would stop an apply that is about to succeed.
const SETTLE: Duration = Duration::from_secs(1);
const SETTLE_FAILED: Duration = Duration::from_secs(30);

/// A write (or a worker start) whose outcome a wait must tell from the status shown before it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Since {
    pub at: Instant,
    /// The connector or a task was FAILED before: a FAILED status may still be that one.
    pub failed_before: bool,
}
/// How long to wait for a connector, and how long it must stay RUNNING after a write before it
/// counts as running (`connect.stable-for`): Debezium starts streaming after its task reports
/// RUNNING, and a task that cannot stream (a missing publication, say) fails seconds later
/// (seen on Debezium 3.6 with Kafka Connect 4.3: 4-6 s).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Waits {
    pub timeout: Duration,
    pub stable_for: Duration,
}

/// Waits until the connector is in its desired state and, when running, all its tasks run.
/// `written`: the write (or worker start) it follows. Until the status has changed from what was
/// first seen (a rebalance) or SETTLE has passed, a RUNNING status is not trusted; a FAILED one
/// is, unless the connector had failed before, then only once a status without the failure was
/// seen, or after SETTLE_FAILED.
pub(crate) fn wait(
    client: &Client,
    connector: &Connector,
    written: Option<Since>,
    waits: Waits,
) -> Result<Duration, Error> {
    let timeout = waits.timeout;
    let mut poll = Poll::doubling(
        timeout,
        Duration::from_millis(50),
        Duration::from_millis(500),
    );
    let want = state_word(connector.state);
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
                return Ok(poll.elapsed());
            }
        } else {
            running_since = None;
        }
        if !poll.sleep() {
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
    }
}

/// What a Java trace says: its first line and every `Caused by:` (the root cause last), or its
/// head when nothing caused it.
pub(crate) fn trace_summary(trace: Option<&str>) -> Vec<String> {
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
pub(crate) fn failed_text(name: &str, status: &Status) -> Option<(String, Vec<String>)> {
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

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Write { connector, created } => write!(
                f,
                "{} {}",
                if *created { "create" } else { "write" },
                connector.name
            ),
            Step::Pause(name) => write!(f, "pause {name}"),
            Step::Resume(name) => write!(f, "resume {name}"),
            Step::Stop(name) => write!(f, "stop {name}"),
            Step::Delete(name) => write!(f, "delete {name}"),
            Step::DropSlot(drop) => write!(f, "drop slot {} on {}", drop.slot, drop.place),
            Step::EnsureSignal(ensure) => write!(f, "signal table {}", ensure.signal.name()),
            Step::Await {
                connector,
                after,
                failed_before,
            } => write!(
                f,
                "await {} {} (after {after:?}{})",
                connector.name,
                state_word(connector.state),
                if *failed_before {
                    ", failed before"
                } else {
                    ""
                }
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::TaskStatus;

    fn connector(name: &str, state: ConnectorState, topic: &str) -> Connector {
        Connector {
            name: name.into(),
            plugin: None,
            state,
            config: BTreeMap::from([
                (
                    "connector.class".into(),
                    "org.apache.kafka.connect.tools.MockSourceConnector".into(),
                ),
                ("topic".into(), topic.into()),
                ("password".into(), "s3cret".into()),
            ]),
            secret_keys: ["password".to_string()].into(),
            secret_names: BTreeMap::new(),
            allow_unknown_keys: Default::default(),
            keep_slot: false,
        }
    }

    fn live(connector: &Connector, state: &str) -> Live {
        let mut config = connector.config.clone();
        config.insert("name".into(), connector.name.clone());
        Live {
            config,
            status: Status {
                state: state.into(),
                trace: None,
                tasks: vec![TaskStatus {
                    id: 0,
                    state: state.into(),
                    trace: None,
                }],
            },
        }
    }

    /// The plan with no source among the connectors (no slot to read).
    fn planned(
        desired: &[Connector],
        live: &BTreeMap<String, Live>,
        prune: bool,
        worker_started: bool,
    ) -> (Plan, Vec<Step>) {
        let context = Context {
            prune,
            worker_started,
            slots: &slots::Observed::default(),
            signals: &signals::Observed::default(),
            keep_slots: false,
        };
        plan("t", desired, live, &context)
    }

    fn shown(plan: &Plan, steps: &[Step]) -> String {
        let mut text = plan.render_text(true);
        for step in steps {
            text.push_str(&format!("step: {step}\n"));
        }
        text
    }

    #[test]
    fn from_nothing_each_connector_is_created_set_to_its_state_and_awaited() {
        let desired = [
            connector("a", ConnectorState::Running, "one"),
            connector("b", ConnectorState::Paused, "two"),
        ];
        let (plan, steps) = planned(&desired, &BTreeMap::new(), false, false);
        insta::assert_snapshot!(shown(&plan, &steps));
    }

    #[test]
    fn changed_keys_states_strays_and_a_restarted_worker() {
        let a = connector("a", ConnectorState::Running, "one");
        let b = connector("b", ConnectorState::Paused, "two");
        let c = connector("c", ConnectorState::Running, "three");
        let mut changed = a.clone();
        changed.config.insert("topic".into(), "other".into());
        changed
            .config
            .insert("password".into(), "n3w-s3cret".into());
        let live = BTreeMap::from([
            ("a".to_string(), live(&a, "RUNNING")),
            ("b".to_string(), live(&b, "RUNNING")),
            ("c".to_string(), live(&c, "FAILED")),
            ("stray".to_string(), live(&c, "RUNNING")),
        ]);
        let desired = [changed, b, c];
        let (kept, steps) = planned(&desired, &live, false, true);
        let (pruned, pruning) = planned(&desired, &live, true, false);
        insta::assert_snapshot!(format!(
            "{}\n--prune:\n{}",
            shown(&kept, &steps),
            shown(&pruned, &pruning)
        ));
        assert!(
            !kept.render_text(true).contains("s3cret"),
            "a secret value in the plan"
        );
    }

    #[test]
    fn right_after_an_apply_only_awaits_are_left() {
        let desired = [
            connector("a", ConnectorState::Running, "one"),
            connector("b", ConnectorState::Paused, "two"),
            connector("c", ConnectorState::Stopped, "three"),
        ];
        let live = BTreeMap::from([
            ("a".to_string(), live(&desired[0], "RUNNING")),
            ("b".to_string(), live(&desired[1], "PAUSED")),
            ("c".to_string(), live(&desired[2], "STOPPED")),
        ]);
        let (plan, steps) = planned(&desired, &live, true, false);
        assert!(plan.is_empty(), "{}", plan.render_text(true));
        assert!(
            steps.iter().all(|s| matches!(
                s,
                Step::Await {
                    after: After::Nothing,
                    ..
                }
            )),
            "{steps:?}"
        );
    }

    fn source(name: &str, slot: &str) -> Connector {
        let mut connector = connector(name, ConnectorState::Running, "unused");
        connector.config = BTreeMap::from([
            (
                "connector.class".into(),
                crate::slots::POSTGRES_SOURCE.into(),
            ),
            ("database.hostname".into(), "postgres".into()),
            ("database.dbname".into(), "main".into()),
            ("database.user".into(), "master".into()),
            ("database.password".into(), "s3cret".into()),
            ("slot.name".into(), slot.into()),
        ]);
        connector
    }

    fn slot(active: bool, retained: i64) -> Option<crate::slots::Slot> {
        Some(crate::slots::Slot {
            active,
            active_pid: active.then_some(4242),
            wal_status: Some("reserved".into()),
            retained: Some(retained),
            behind: Some(0),
        })
    }

    /// The slots of these names on `postgres:5432/main`, as read, and the database reached.
    fn observed(slots: &[(&str, Option<crate::slots::Slot>)]) -> slots::Observed {
        let database = crate::slots::Source::of("x", &source("x", "x").config)
            .expect("a source")
            .database;
        slots::Observed {
            slots: slots
                .iter()
                .map(|(name, slot)| ((database.place(), name.to_string()), Ok(slot.clone())))
                .collect(),
            // Another consumer's slot in the same database.
            unnamed: BTreeMap::from([(
                database.place(),
                vec![(
                    "replica_feed".to_string(),
                    slot(true, 5 << 20).expect("a slot"),
                )],
            )]),
            reached: BTreeMap::from([(database.place(), database)]),
        }
    }

    #[test]
    fn a_slot_follows_its_connector_and_is_kept_only_when_asked() {
        let orders = source("orders-source", "orders");
        let mut moved = source("audit-source", "audit_v2");
        let live = BTreeMap::from([
            ("orders-source".to_string(), live(&orders, "RUNNING")),
            (
                "old-source".to_string(),
                live(&source("old-source", "old"), "RUNNING"),
            ),
            (
                "audit-source".to_string(),
                live(&source("audit-source", "audit"), "RUNNING"),
            ),
        ]);
        let seen = observed(&[
            ("orders", slot(true, 1 << 20)),
            ("old", slot(true, 48 << 20)),
            ("audit", slot(true, 3 << 20)),
            ("audit_v2", None),
        ]);
        let mut text = String::new();
        for (what, keep_slots, keep_slot) in [
            ("--prune", false, false),
            ("--prune --keep-slots", true, false),
            ("--prune, audit-source with keep-slot", false, true),
        ] {
            moved.keep_slot = keep_slot;
            let desired = [orders.clone(), moved.clone()];
            let context = Context {
                prune: true,
                worker_started: false,
                slots: &seen,
                keep_slots,
                signals: &signals::Observed::default(),
            };
            let (plan, steps) = plan("t", &desired, &live, &context);
            text.push_str(&format!("{what}:\n{}\n", shown(&plan, &steps)));
        }
        insta::assert_snapshot!(text);
    }

    #[test]
    fn a_new_source_shows_the_slot_its_connector_makes_and_a_lost_one_says_what_to_do() {
        let orders = source("orders-source", "orders");
        let (plan_new, _) = plan(
            "t",
            std::slice::from_ref(&orders),
            &BTreeMap::new(),
            &Context {
                prune: false,
                worker_started: false,
                slots: &observed(&[("orders", None)]),
                keep_slots: false,
                signals: &signals::Observed::default(),
            },
        );
        let lost = crate::slots::Slot {
            wal_status: Some("lost".into()),
            ..slot(false, 0).expect("a slot")
        };
        let live = BTreeMap::from([("orders-source".to_string(), live(&orders, "RUNNING"))]);
        let (plan_lost, steps) = plan(
            "t",
            std::slice::from_ref(&orders),
            &live,
            &Context {
                prune: false,
                worker_started: false,
                slots: &observed(&[("orders", Some(lost))]),
                keep_slots: false,
                signals: &signals::Observed::default(),
            },
        );
        let (plan_missing, _) = plan(
            "t",
            std::slice::from_ref(&orders),
            &live,
            &Context {
                prune: false,
                worker_started: false,
                slots: &observed(&[("orders", None)]),
                keep_slots: false,
                signals: &signals::Observed::default(),
            },
        );
        assert!(!steps.iter().any(|s| matches!(s, Step::DropSlot(_))));
        insta::assert_snapshot!(format!(
            "{}\n{}\n{}",
            plan_new.render_text(true),
            plan_lost.render_text(true),
            plan_missing.render_text(true)
        ));
    }
}
