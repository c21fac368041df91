//! `deploy local verify`: the stack does CDC. Every defined connector and its tasks run; a marker
//! row inserted with the source connector's own database settings arrives in the connector's
//! topic as Confluent-framed Avro that decodes with the registry's schema; the topic's key and
//! value subjects exist; the marker row is removed again. Bounded by one deadline.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use super::connect::client::Live;
use super::connect::reconcile::failed_text;
use super::reach::{Addresses, addresses};
use super::slots;
use super::{connectors, docker, probe};
use crate::error::Error;
use crate::model::{Connector, Environment};
use crate::verify::kafka::{Start, Tail};
use crate::verify::marker::{self, Database, Marker};
use crate::verify::{Report, avro};

const POSTGRES_SOURCE: &str = "io.debezium.connector.postgresql.PostgresConnector";

pub(crate) fn port_of(address: &str) -> Option<u16> {
    address.rsplit_once(':')?.1.parse().ok()
}

/// `scheme://host:port/path` split, the port defaulted by the scheme.
fn url_parts(url: &str) -> Option<(&str, String, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let authority = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:{}", if scheme == "https" { 443 } else { 80 })
    };
    Some((scheme, authority, path))
}

pub(crate) fn url_port(url: &str) -> Option<u16> {
    port_of(&url_parts(url)?.1)
}

/// `http://host:port/path` with its host and port rewritten.
pub(crate) fn rewrite_url(url: &str, addresses: &Addresses) -> String {
    match url_parts(url) {
        Some((scheme, authority, path)) => {
            format!("{scheme}://{}{path}", addresses.rewrite(&authority))
        }
        None => url.to_string(),
    }
}

/// Where the broker is reached from here. A broker advertises, on each listener, addresses for
/// the clients of that listener: containers use the in-network one (`kafka:29092`), the host a
/// published one (`localhost:9092` on the local stack). So the host bootstraps through the
/// Kafka service's published port when the in-network port is not published itself.
pub(crate) fn kafka_bootstrap(env: &Environment, bootstrap: &str, addresses: &Addresses) -> String {
    let first = bootstrap.split(',').next().unwrap_or_default().trim();
    let Some((host, port)) = first.rsplit_once(':') else {
        return first.to_string();
    };
    let published = env.service(host).and_then(|s| {
        let port: u16 = port.parse().ok()?;
        let (address, port) = s
            .ports
            .iter()
            .find(|p| p.container == port)
            .or(s.ports.first())?
            .reachable();
        Some(format!("{address}:{port}"))
    });
    published.unwrap_or_else(|| addresses.rewrite(first))
}

/// The connector's tasks and itself RUNNING, or what is wrong.
fn connector_state(connector: &Connector, live: Option<&Live>) -> Result<String, String> {
    let Some(live) = live else {
        return Err(format!(
            "connector {} is not registered: `deploy local up` registers it",
            connector.name
        ));
    };
    let status = &live.status;
    if let Some((what, trace)) = failed_text(&connector.name, status) {
        return Err(format!("{what}\n{}", trace.join("\n")));
    }
    if !status.runs() {
        return Err(format!(
            "connector {} is {} ({})",
            connector.name,
            status.state,
            status.tasks_text()
        ));
    }
    Ok(format!(
        "{} RUNNING, {} task(s) RUNNING",
        connector.name,
        status.tasks.len()
    ))
}

/// What the check reads from the source connector's definition.
struct Source {
    database: Database,
    schema: String,
    table: String,
    topic: String,
    registry: String,
}

fn source(env: &Environment) -> Result<Source, String> {
    let connector = env
        .connectors
        .iter()
        .find(|c| c.config.get("connector.class").map(String::as_str) == Some(POSTGRES_SOURCE))
        .ok_or_else(|| {
            format!("no {POSTGRES_SOURCE} connector is defined: nothing to verify CDC through")
        })?;
    let get = |key: &str| {
        connector
            .config
            .get(key)
            .cloned()
            .ok_or_else(|| format!("connector {}: `{key}` is not set", connector.name))
    };
    let tables = get("table.include.list")?;
    let first = tables.split(',').next().unwrap_or_default().trim();
    let (schema, table) = first
        .split_once('.')
        .filter(|(s, t)| {
            let plain = |x: &str| x.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            plain(s) && plain(t) && !s.is_empty() && !t.is_empty()
        })
        .ok_or_else(|| {
            format!(
                "connector {}: table.include.list starts with `{first}`, not a plain schema.table to insert the marker row into",
                connector.name
            )
        })?;
    let registry = connector
        .config
        .get("value.converter.schema.registry.url")
        .cloned()
        .ok_or_else(|| {
            format!(
                "connector {}: value.converter.schema.registry.url is not set: its records are not in the registry",
                connector.name
            )
        })?;
    Ok(Source {
        database: Database {
            host: get("database.hostname")?,
            port: get("database.port")?.parse().map_err(|_| {
                format!("connector {}: database.port is not a port", connector.name)
            })?,
            user: get("database.user")?,
            password: get("database.password")?,
            dbname: get("database.dbname")?,
        },
        topic: format!("{}.{schema}.{table}", get("topic.prefix")?),
        schema: schema.into(),
        table: table.into(),
        registry: registry.split(',').next().unwrap_or_default().trim().into(),
    })
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The record's key names the marker row.
fn is_marker(key: &Value, marker: &Marker) -> bool {
    marker
        .key
        .iter()
        .all(|(column, value)| key.get(column).is_some_and(|v| text_of(v) == *value))
}

/// Runs every step within `timeout`; a failing step fails the report, not the call.
pub(crate) async fn run(env: &Environment, timeout: Duration) -> Result<Report, Error> {
    let deadline = Instant::now() + timeout;
    let mut report = Report::new(&env.name);

    // Every defined connector and its tasks run.
    let started = Instant::now();
    let client = connectors::client(env).await?;
    let live = tokio::task::block_in_place(|| client.list()).map_err(Error::from)?;
    for connector in &env.connectors {
        let state = connector_state(connector, live.get(&connector.name));
        report.step(&format!("connector {}", connector.name), started, state);
    }
    for (name, reason) in &env.skipped_connectors {
        report.step(
            &format!("connector {name}"),
            started,
            Ok(format!("skipped: {reason}")),
        );
    }
    // Each source's slot: there, not lost, not holding back more WAL than allowed.
    let started = Instant::now();
    let sources = slots::sources(&env.connectors, &BTreeMap::new());
    let reached = super::reach::databases(env, sources.iter().map(|s| &s.database)).await;
    let observed = slots::observe(&sources, &reached).await;
    let limit = env
        .connect
        .as_ref()
        .map_or(u64::MAX, |c| c.max_retained_wal);
    for source in &sources {
        let read = observed
            .slots
            .get(&(source.database.place(), source.slot.clone()))
            .cloned()
            .unwrap_or_else(|| Err("not read".into()));
        report.step(
            &format!("slot {}", source.slot),
            started,
            crate::slots::judge(source, read, limit, "connect.max-retained-wal"),
        );
    }
    if !report.ok {
        return Ok(report);
    }

    let started = Instant::now();
    let source = match source(env) {
        Ok(found) => found,
        Err(e) => {
            report.step("source", started, Err(e));
            return Ok(report);
        }
    };
    let Some(bootstrap) = env.references.get("kafka.bootstrap") else {
        report.step(
            "source",
            started,
            Err("the environment defines no `kafka.bootstrap` reference: where to read the topic from".into()),
        );
        return Ok(report);
    };
    let ports: BTreeSet<u16> = [
        port_of(bootstrap),
        Some(source.database.port),
        url_port(&source.registry),
    ]
    .into_iter()
    .flatten()
    .collect();
    let addresses = addresses(env, &ports).await?;
    let bootstrap = kafka_bootstrap(env, bootstrap, &addresses);
    let mut database = source.database.clone();
    let reached = addresses.rewrite(&format!("{}:{}", database.host, database.port));
    if let Some((host, port)) = reached.rsplit_once(':') {
        database.host = host.into();
        database.port = port.parse().unwrap_or(database.port);
    }
    let mut registry = avro::Registry::new(&rewrite_url(&source.registry, &addresses));

    // Reading starts at the topic's end, before the marker is written.
    let topic = source.topic.clone();
    let tail = tokio::task::spawn_blocking(move || Tail::open(&bootstrap, &topic, Start::End))
        .await
        .expect("the Kafka client task");
    let mut tail = match tail {
        Ok(t) => t,
        Err(e) => {
            report.step("kafka", started, Err(e));
            return Ok(report);
        }
    };

    let started = Instant::now();
    let db = match marker::connect(&database).await {
        Ok(db) => db,
        Err(e) => {
            report.step("marker row", started, Err(e));
            return Ok(report);
        }
    };
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let text = format!("deploy-verify-{nanos}");
    let marker = match marker::insert(&db, &source.schema, &source.table, &text).await {
        Ok(m) => m,
        Err(e) => {
            report.step("marker row", started, Err(e));
            return Ok(report);
        }
    };
    let key: Vec<String> = marker.key.iter().map(|(k, v)| format!("{k}={v}")).collect();
    report.step(
        "marker row",
        started,
        Ok(format!(
            "inserted into {}.{} ({})",
            source.schema,
            source.table,
            key.join(", ")
        )),
    );

    let result = follow(
        env,
        &mut report,
        &mut tail,
        &mut registry,
        &source,
        &marker,
        deadline,
    )
    .await;
    let started = Instant::now();
    let removed = marker::remove(&db, &marker).await.map(|()| {
        format!(
            "deleted from {}.{} ({})",
            source.schema,
            source.table,
            key.join(", ")
        )
    });
    report.step("marker removed", started, removed);
    result.map(|()| report)
}

/// The last warnings and errors of the Connect worker: what a RUNNING connector that delivers
/// nothing says (Debezium retries a lost or refused database connection without failing).
async fn worker_warnings(env: &Environment) -> Vec<String> {
    let Some(connect) = &env.connect else {
        return Vec::new();
    };
    let Ok(docker) = docker::connect().await else {
        return Vec::new();
    };
    let lines = probe::last_logs(&docker, &env.scoped(&connect.service), 400).await;
    let warnings: Vec<String> = lines
        .into_iter()
        .filter(|l| l.contains(" ERROR ") || l.contains(" WARN "))
        .collect();
    warnings[warnings.len().saturating_sub(3)..].to_vec()
}

/// The marker's record, decoded, and the subjects.
async fn follow(
    env: &Environment,
    report: &mut Report,
    tail: &mut Tail,
    registry: &mut avro::Registry,
    source: &Source,
    marker: &Marker,
    deadline: Instant,
) -> Result<(), Error> {
    let started = Instant::now();
    let mut last_error = None;
    let found = tokio::task::block_in_place(|| {
        tail.until(deadline, |record| {
            let Some(key) = &record.key else {
                return false;
            };
            match registry.decode(key) {
                Ok((_, key)) => is_marker(&key, marker),
                Err(e) => {
                    last_error = Some(e);
                    false
                }
            }
        })
    });
    let record = match found {
        Ok(Some(record)) => record,
        Ok(None) => {
            let warnings = worker_warnings(env).await;
            report.step(
                "record",
                started,
                Err(format!(
                    "no record of the marker row in {} within the deadline{}{}",
                    source.topic,
                    last_error
                        .map(|e| format!("; last record not readable: {e}"))
                        .unwrap_or_default(),
                    if warnings.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "; the Connect worker's last warnings:\n{}",
                            warnings.join("\n")
                        )
                    }
                )),
            );
            return Ok(());
        }
        Err(e) => {
            report.step("record", started, Err(e));
            return Ok(());
        }
    };
    report.step(
        "record",
        started,
        Ok(format!(
            "{} partition {} offset {}",
            source.topic, record.partition, record.offset
        )),
    );

    let started = Instant::now();
    let decoded = match &record.value {
        None => Err("the marker's record has no value (a tombstone)".to_string()),
        Some(bytes) => registry.decode(bytes).and_then(|(id, value)| {
            let fields: Vec<String> = value
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            let carries = marker.text.is_empty()
                || value
                    .as_object()
                    .is_some_and(|o| o.values().any(|v| text_of(v) == marker.text));
            if carries {
                Ok(format!(
                    "Avro, schema id {id} from the registry: {}",
                    fields.join(", ")
                ))
            } else {
                Err(format!(
                    "the record decoded with schema {id} does not carry the marker `{}`: {value}",
                    marker.text
                ))
            }
        }),
    };
    if !report.step("decoded", started, decoded) {
        return Ok(());
    }

    let started = Instant::now();
    let mut subjects = Vec::new();
    let mut missing = Vec::new();
    for subject in [
        format!("{}-key", source.topic),
        format!("{}-value", source.topic),
    ] {
        match registry.versions(&subject) {
            Ok(Some(versions)) => subjects.push(format!(
                "{subject} (version{} {})",
                if versions.len() == 1 { "" } else { "s" },
                versions
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Ok(None) => missing.push(subject),
            Err(e) => missing.push(format!("{subject}: {e}")),
        }
    }
    report.step(
        "subjects",
        started,
        if missing.is_empty() {
            Ok(subjects.join("; "))
        } else {
            Err(format!("not registered: {}", missing.join("; ")))
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> Environment {
        crate::config::environment(std::path::Path::new("environments/local.yaml"))
            .expect("local.yaml is valid")
    }

    #[test]
    fn the_source_connector_says_where_to_write_and_read() {
        let found = source(&local()).expect("orders-source is a Debezium source");
        assert_eq!(
            (
                found.schema.as_str(),
                found.table.as_str(),
                found.topic.as_str()
            ),
            ("demo", "orders", "ord.demo.orders")
        );
        assert_eq!(
            (found.database.host.as_str(), found.database.port),
            ("postgres", 5432)
        );
        assert_eq!(found.registry, "http://registry:8080/apis/ccompat/v7");

        let mut env = local();
        env.connectors[0]
            .config
            .insert("table.include.list".into(), "demo\\.order.*".into());
        assert!(
            source(&env)
                .err()
                .expect("refused")
                .contains("not a plain schema.table")
        );
        env.connectors.clear();
        assert!(
            source(&env)
                .err()
                .expect("refused")
                .contains("nothing to verify CDC through")
        );
    }

    #[test]
    fn in_network_addresses_become_reachable_ones() {
        let env = local();
        let addresses = Addresses(
            [(
                ("registry".to_string(), "8080".to_string()),
                ("127.0.0.1".to_string(), "9090".to_string()),
            )]
            .into_iter()
            .collect(),
        );
        assert_eq!(
            rewrite_url("http://registry:8080/apis/ccompat/v7", &addresses),
            "http://127.0.0.1:9090/apis/ccompat/v7"
        );
        assert_eq!(url_port("https://example.org/x"), Some(443));
        // The broker is reached through the Kafka service's published host listener.
        assert_eq!(
            kafka_bootstrap(&env, "kafka:29092", &addresses),
            "127.0.0.1:9092"
        );
        assert_eq!(
            kafka_bootstrap(&env, "elsewhere:9092", &addresses),
            "elsewhere:9092"
        );
    }

    #[test]
    fn the_marker_is_known_by_its_key() {
        let marker = Marker {
            schema: "demo".into(),
            table: "orders".into(),
            key: vec![("order_id".into(), "5".into())],
            text: "deploy-verify-1".into(),
        };
        assert!(is_marker(&serde_json::json!({"order_id": 5}), &marker));
        assert!(!is_marker(&serde_json::json!({"order_id": 6}), &marker));
        assert!(!is_marker(&serde_json::json!({"id": 5}), &marker));
    }
}
