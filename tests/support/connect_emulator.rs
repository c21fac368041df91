//! A stateful Kafka Connect REST emulator for the reconcile tests, following the Kafka Connect
//! REST API reference and the real worker's answers (validation from keys recorded from it,
//! `connect-keys.json`) for the endpoints `deploy` uses: status codes (201 on create, 200 on
//! update, 202 on pause/resume/restart, 204 on stop/delete), `{"error_code", "message"}` error
//! bodies, 409 while "rebalancing", connector and task states with traces. It can be told to
//! answer 409 for a while, to start tasks late, and (through the config key
//! `emulator.fail-task`) to fail a task with a given trace.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::rest;

/// How long a new connector has no status, and an updated one shows UNASSIGNED: the real
/// worker writes both only after a rebalance (seen on Kafka Connect 4.3: seconds).
const REBALANCE: Duration = Duration::from_millis(300);

/// The connector classes the emulated worker has, with the keys each requires. The real worker
/// of the tests has the Debezium PostgreSQL connector; Kafka's own MockSourceConnector is there
/// for connectors that only need to run; the S3 sink, which cannot be installed here, for the
/// shared sink definition.
const PLUGINS: [(&str, &str, &[&str]); 3] = [
    (
        "io.debezium.connector.postgresql.PostgresConnector",
        "source",
        &["database.hostname", "database.dbname", "topic.prefix"],
    ),
    (
        "io.confluent.connect.s3.S3SinkConnector",
        "sink",
        &["s3.bucket.name", "topics"],
    ),
    (
        "org.apache.kafka.connect.tools.MockSourceConnector",
        "source",
        &[],
    ),
];

/// The keys the real worker (Kafka Connect 4.3 with Debezium 3.6.3) lists in its validation and
/// answers for each class: recorded from it, not guessed (see its `recorded`).
fn recorded() -> &'static Value {
    static KEYS: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        serde_json::from_str(include_str!("connect-keys.json")).expect("connect-keys.json")
    })
}

fn names(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// A class's own keys (`GET /connector-plugins/{class}/config`); `None` for a class the worker
/// does not have. MockSourceConnector's `config()` is an empty ConfigDef.
fn class_keys(class: &str) -> Option<Vec<String>> {
    if class == "org.apache.kafka.connect.tools.MockSourceConnector" {
        return Some(Vec::new());
    }
    let keys = names(recorded()["classes"].get(class)?);
    Some(keys.into_iter().map(str::to_string).collect())
}

#[derive(Clone)]
struct Connector {
    config: BTreeMap<String, String>,
    state: String,
    tasks: Vec<String>,
    started: Instant,
    /// When the configuration was last written, and whether that created the connector.
    written: Option<(Instant, bool)>,
}

#[derive(Default)]
struct State {
    connectors: BTreeMap<String, Connector>,
    /// Answer 409 to this many more writes.
    conflicts: usize,
    /// Tasks show UNASSIGNED for this long after a (re)configuration.
    task_delay: Duration,
    /// How long after a configuration write the status lags (see REBALANCE).
    rebalance: Duration,
    /// Every request as `METHOD path`.
    log: Vec<String>,
}

#[derive(Clone)]
pub struct Emulator {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl Emulator {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a test port");
        Self::serve(listener)
    }

    pub fn serve(listener: TcpListener) -> Self {
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let state = Arc::new(Mutex::new(State {
            rebalance: REBALANCE,
            ..State::default()
        }));
        let shared = state.clone();
        rest::serve(
            listener,
            "application/json",
            Arc::new(move |method, target, body| {
                let mut state = shared.lock().expect("lock");
                state.log.push(format!("{method} {target}"));
                route(&mut state, method, target, body)
            }),
        );
        Emulator { url, state }
    }

    pub fn conflict_next(&self, writes: usize) {
        self.state.lock().expect("lock").conflicts = writes;
    }

    /// How long after a write the status lags (404 after a create, UNASSIGNED after an update).
    pub fn set_rebalance(&self, rebalance: Duration) {
        self.state.lock().expect("lock").rebalance = rebalance;
    }

    pub fn delay_tasks(&self, delay: Duration) {
        self.state.lock().expect("lock").task_delay = delay;
    }

    /// The requests so far that change something (PUT, POST, DELETE), validation excluded.
    pub fn writes(&self) -> Vec<String> {
        self.state
            .lock()
            .expect("lock")
            .log
            .iter()
            .filter(|r| !r.starts_with("GET") && !r.contains("/config/validate"))
            .cloned()
            .collect()
    }

    pub fn log(&self) -> Vec<String> {
        self.state.lock().expect("lock").log.clone()
    }

    pub fn config(&self, name: &str) -> Option<BTreeMap<String, String>> {
        self.state
            .lock()
            .expect("lock")
            .connectors
            .get(name)
            .map(|c| c.config.clone())
    }

    /// Adds a connector behind the tool's back (an unmanaged one).
    pub fn insert(&self, name: &str, class: &str) {
        let config = BTreeMap::from([
            ("connector.class".to_string(), class.to_string()),
            ("name".to_string(), name.to_string()),
        ]);
        let connector = configure(config);
        self.state
            .lock()
            .expect("lock")
            .connectors
            .insert(name.to_string(), connector);
    }
}

fn configure(config: BTreeMap<String, String>) -> Connector {
    let count: usize = config
        .get("tasks.max")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    Connector {
        tasks: vec!["RUNNING".into(); count],
        config,
        state: "RUNNING".into(),
        started: Instant::now(),
        written: None,
    }
}

fn error(code: u16, message: &str) -> (u16, Value) {
    (code, json!({"error_code": code, "message": message}))
}

/// `None` while a new connector has no status yet.
fn status(
    name: &str,
    connector: &Connector,
    delay: Duration,
    rebalance: Duration,
) -> Option<Value> {
    let rebalancing = connector.written.filter(|(at, _)| at.elapsed() < rebalance);
    match rebalancing {
        Some((_, true)) => return None,
        Some((_, false)) => {
            let tasks: Vec<Value> = (0..connector.tasks.len())
                .map(|id| json!({"id": id, "state": "UNASSIGNED", "worker_id": "emulator:8083"}))
                .collect();
            return Some(json!({
                "name": name,
                "connector": {"state": "UNASSIGNED", "worker_id": "emulator:8083"},
                "tasks": tasks,
                "type": kind_of(connector),
            }));
        }
        None => {}
    }
    let waiting = connector.started.elapsed() < delay;
    let fail = connector.config.get("emulator.fail-task");
    let tasks: Vec<Value> = connector
        .tasks
        .iter()
        .enumerate()
        .map(|(id, state)| {
            let state = if waiting && state == "RUNNING" { "UNASSIGNED" } else { state.as_str() };
            match fail {
                Some(trace) if id == 0 && state == "RUNNING" => {
                    json!({"id": id, "state": "FAILED", "worker_id": "emulator:8083", "trace": trace})
                }
                _ => json!({"id": id, "state": state, "worker_id": "emulator:8083"}),
            }
        })
        .collect();
    Some(json!({
        "name": name,
        "connector": {"state": connector.state, "worker_id": "emulator:8083"},
        "tasks": tasks,
        "type": kind_of(connector),
    }))
}

fn kind_of(connector: &Connector) -> &'static str {
    PLUGINS
        .iter()
        .find(|p| Some(&p.0.to_string()) == connector.config.get("connector.class"))
        .map_or("unknown", |p| p.1)
}

fn info(name: &str, connector: &Connector) -> Value {
    let tasks: Vec<Value> = (0..connector.tasks.len())
        .map(|t| json!({"connector": name, "task": t}))
        .collect();
    json!({"name": name, "config": connector.config, "tasks": tasks, "type": "source"})
}

/// Validation as the real worker answers it: 200 with the errors inside; `configs` lists the keys
/// Connect defines for every source connector, the connector class's own (whose `value.value` is
/// always null), and those of each transformation, predicate and converter the configuration
/// names (with their values). A key no class defines is silently left out.
fn validate(class: &str, config: &BTreeMap<String, String>) -> (u16, Value) {
    let Some((_, _, required)) = PLUGINS.iter().find(|p| p.0 == class) else {
        return error(
            500,
            &format!(
                "Failed to find any class that implements Connector and which name matches {class}"
            ),
        );
    };
    // The S3 sink's keys were never seen from a worker here: it lists what it is given, and so
    // judges no key of its own.
    let own = class_keys(class).unwrap_or_else(|| config.keys().cloned().collect());
    // (key, whether validation shows its value)
    let mut listed: Vec<(String, bool)> = names(&recorded()["source-connector"])
        .into_iter()
        .map(|k| (k.to_string(), true))
        .collect();
    listed.extend(own.into_iter().map(|k| (k, false)));
    for family in ["transforms", "predicates"] {
        let aliases = config.get(family).map(String::as_str).unwrap_or_default();
        for alias in aliases.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            let prefix = format!("{family}.{alias}.");
            for key in names(&recorded()["alias"][family]) {
                listed.push((format!("{prefix}{key}"), true));
            }
            let plugged = config.get(&format!("{prefix}type"));
            for key in plugged.and_then(|c| class_keys(c)).unwrap_or_default() {
                listed.push((format!("{prefix}{key}"), true));
            }
        }
    }
    for converter in ["key.converter", "value.converter", "header.converter"] {
        let plugged = config.get(converter);
        for key in plugged.and_then(|c| class_keys(c)).unwrap_or_default() {
            listed.push((format!("{converter}.{key}"), true));
        }
    }
    let mut configs = Vec::new();
    let mut count = 0;
    for (key, shown) in listed {
        let value = config.get(&key);
        let mut errors = Vec::new();
        if value.is_none() && (required.contains(&key.as_str()) || key == "name") {
            errors.push(format!(
                "Missing required configuration \"{key}\" which has no default value."
            ));
        }
        if value.is_some_and(|v| v == "invalid") {
            errors.push(format!("Invalid value invalid for configuration {key}"));
        }
        count += errors.len();
        configs.push(json!({
            "definition": {"name": key},
            "value": {
                "name": key,
                "value": if shown { json!(value) } else { Value::Null },
                "recommended_values": [],
                "errors": errors,
                "visible": true,
            },
        }));
    }
    (
        200,
        json!({"name": class, "error_count": count, "groups": ["Common"], "configs": configs}),
    )
}

fn route(state: &mut State, method: &str, target: &str, body: &str) -> (u16, Value) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let write = method != "GET" && !path.ends_with("/config/validate");
    if write && state.conflicts > 0 {
        state.conflicts -= 1;
        return error(
            409,
            "Cannot complete request because of a conflicting operation (e.g. worker rebalance)",
        );
    }
    let (delay, rebalance) = (state.task_delay, state.rebalance);
    let not_found = |name: &str| error(404, &format!("Connector {name} not found"));
    match (method, parts.as_slice()) {
        ("GET", [""]) => (
            200,
            json!({"version": "3.9.2", "commit": "emulator", "kafka_cluster_id": "emulator"}),
        ),
        ("GET", ["connector-plugins"]) => (
            200,
            Value::Array(
                PLUGINS
                    .iter()
                    .map(|p| json!({"class": p.0, "type": p.1, "version": "emulated"}))
                    .collect(),
            ),
        ),
        ("GET", ["connector-plugins", class, "config"]) => match class_keys(class) {
            Some(keys) => (
                200,
                Value::Array(keys.iter().map(|k| json!({"name": k})).collect()),
            ),
            None => error(
                404,
                &format!(
                    "Failed to find any class that implements Connector and which name matches {class}"
                ),
            ),
        },
        ("PUT", ["connector-plugins", class, "config", "validate"]) => {
            let config: BTreeMap<String, String> = serde_json::from_str(body).unwrap_or_default();
            validate(class, &config)
        }
        ("GET", ["connectors"]) => {
            let expand: Vec<&str> = query
                .split('&')
                .filter_map(|kv| kv.strip_prefix("expand="))
                .collect();
            if expand.is_empty() {
                return (200, json!(state.connectors.keys().collect::<Vec<_>>()));
            }
            let mut out = serde_json::Map::new();
            for (name, connector) in &state.connectors {
                // A connector whose status is not written yet is not listed yet either.
                let Some(status) = status(name, connector, delay, rebalance) else {
                    continue;
                };
                let mut entry = serde_json::Map::new();
                if expand.contains(&"info") {
                    entry.insert("info".into(), info(name, connector));
                }
                if expand.contains(&"status") {
                    entry.insert("status".into(), status);
                }
                out.insert(name.clone(), Value::Object(entry));
            }
            (200, Value::Object(out))
        }
        ("GET", ["connectors", name]) => match state.connectors.get(*name) {
            Some(c) => (200, info(name, c)),
            None => not_found(name),
        },
        ("GET", ["connectors", name, "config"]) => match state.connectors.get(*name) {
            Some(c) => (200, json!(c.config)),
            None => not_found(name),
        },
        ("GET", ["connectors", name, "status"]) => match state.connectors.get(*name) {
            Some(c) => match status(name, c, delay, rebalance) {
                Some(status) => (200, status),
                None => error(404, &format!("No status found for connector {name}")),
            },
            None => not_found(name),
        },
        ("PUT", ["connectors", name, "config"]) => {
            let Ok(mut config) = serde_json::from_str::<BTreeMap<String, String>>(body) else {
                return error(
                    400,
                    "Cannot deserialize the configuration: values must be strings",
                );
            };
            // As the real worker: the name comes from the path, then the whole is validated.
            config.insert("name".into(), name.to_string());
            let class = config.get("connector.class").cloned().unwrap_or_default();
            let (_, validation) = validate(&class, &config);
            if validation["error_count"].as_u64().unwrap_or(1) > 0 {
                return error(
                    400,
                    &format!(
                        "Connector configuration is invalid and contains {} error(s)",
                        validation["error_count"]
                    ),
                );
            }
            let existed = state.connectors.get(*name).cloned();
            let mut connector = configure(config);
            // A paused or stopped connector keeps its state across a configuration change.
            if let Some(old) = existed.as_ref().filter(|o| o.state != "RUNNING") {
                connector.state = old.state.clone();
                connector.tasks = old.tasks.clone();
            }
            connector.written = Some((Instant::now(), existed.is_none()));
            let body = info(name, &connector);
            state.connectors.insert(name.to_string(), connector);
            (if existed.is_some() { 200 } else { 201 }, body)
        }
        ("PUT", ["connectors", name, action @ ("pause" | "resume" | "stop")]) => {
            let Some(connector) = state.connectors.get_mut(*name) else {
                return not_found(name);
            };
            let count: usize = connector
                .config
                .get("tasks.max")
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            match *action {
                "pause" => {
                    connector.state = "PAUSED".into();
                    connector.tasks = vec!["PAUSED".into(); count];
                    (202, Value::Null)
                }
                "resume" => {
                    connector.state = "RUNNING".into();
                    connector.tasks = vec!["RUNNING".into(); count];
                    connector.started = Instant::now();
                    (202, Value::Null)
                }
                _ => {
                    connector.state = "STOPPED".into();
                    connector.tasks = Vec::new();
                    (204, Value::Null)
                }
            }
        }
        ("POST", ["connectors", name, "restart"]) => {
            let Some(connector) = state.connectors.get_mut(*name) else {
                return not_found(name);
            };
            connector.started = Instant::now();
            (202, Value::Null)
        }
        ("DELETE", ["connectors", name]) => match state.connectors.remove(*name) {
            Some(_) => (204, Value::Null),
            None => not_found(name),
        },
        _ => error(404, &format!("HTTP 404 Not Found: {method} {path}")),
    }
}
