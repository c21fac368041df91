//! `connectors snapshot NAME [--table T …]`: a table read again on demand, without resetting the
//! connector (after a schema change, a table added to `table.include.list`, a lost slot). The
//! tool writes an `execute-snapshot` signal (incremental) into the source's signal table, through
//! the connector's own database settings; Debezium reads it from the WAL and emits every row of
//! the tables as `r` records while changes keep streaming (Debezium's "Incremental snapshots"
//! and "Sending signals to a Debezium connector"). The tool follows the tables' topics until a
//! snapshot record has arrived for every row the table had when the signal was sent.

use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use super::reach::addresses;
use super::signals::connect;
use super::verify::{kafka_bootstrap, port_of, rewrite_url, url_port};
use crate::error::Error;
use crate::model::Environment;
use crate::output::Printer;
use crate::signals::ident;
use crate::verify::avro;
use crate::verify::kafka::{Start, Tail};

/// A snapshot record: Debezium's `r`, in the flattened row (`__op`) or the envelope (`op`).
fn is_snapshot_record(value: &Value) -> bool {
    value["__op"] == "r" || value["op"] == "r"
}

/// What a snapshot on demand read: the signal's id, and each table's rows as they arrived.
pub(crate) struct Snapshotted {
    pub signal: String,
    pub tables: Vec<TableRead>,
    pub seconds: f64,
}

/// One table read again: its topic and the snapshot records counted in it.
#[derive(serde::Serialize)]
pub(crate) struct TableRead {
    pub table: String,
    pub topic: String,
    pub rows: i64,
}

/// Signals an incremental snapshot of the tables and follows their topics until every row
/// arrived as a snapshot record, within `timeout`.
pub(crate) async fn snapshot(
    env: &Environment,
    printer: &Printer,
    name: &str,
    tables: &[String],
    timeout: Duration,
) -> Result<Snapshotted, Error> {
    let connector = env.connector(name).map_err(Error::user)?;
    let signal = super::signals::of(connector).ok_or_else(|| {
        Error::user(format!(
            "connector {name} names no signal table: snapshots on demand need Debezium's signals"
        ))
        .with_hint("add `signal.data.collection: demo.debezium_signal` to its config: `connectors apply` makes the table and puts it in the publication")
    })?;
    let tables = crate::signals::snapshot_tables(connector, tables)?;
    let wanted: Vec<String> = tables.iter().map(|(s, t)| format!("{s}.{t}")).collect();
    let prefix = connector
        .config
        .get("topic.prefix")
        .cloned()
        .ok_or_else(|| {
            Error::user(format!(
                "connector {name} has no topic.prefix: its topics are unknown"
            ))
        })?;
    let registry = connector
        .config
        .get("value.converter.schema.registry.url")
        .cloned()
        .ok_or_else(|| {
            Error::user(format!(
                "connector {name}: value.converter.schema.registry.url is not set: its records cannot be read"
            ))
        })?;
    let bootstrap = env.references.get("kafka.bootstrap").ok_or_else(|| {
        Error::user("the environment defines no `kafka.bootstrap` reference: where to read from")
    })?;
    let ports = [
        port_of(bootstrap),
        url_port(&registry),
        signal.source.database.port.parse().ok(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let addresses = addresses(env, &ports).await?;
    let bootstrap = kafka_bootstrap(env, bootstrap, &addresses);
    let mut registry = avro::Registry::new(&rewrite_url(
        registry.split(',').next().unwrap_or_default().trim(),
        &addresses,
    ));
    let database = addresses.database(&signal.source.database);
    let db = connect(&database)
        .await
        .map_err(|e| Error::user(format!("cannot reach {name}'s database: {e}")))?;

    // Each table's rows now, and its topic read from its end before the signal goes.
    let mut followed = Vec::new();
    for (schema, table) in &tables {
        let rows: i64 = db
            .query_one(
                &format!("SELECT count(*) FROM {}.{}", ident(schema), ident(table)),
                &[],
            )
            .await
            .map_err(|e| Error::user(format!("cannot count {schema}.{table}: {e}")))?
            .get(0);
        let topic = format!("{prefix}.{schema}.{table}");
        let bootstrap = bootstrap.clone();
        let opened = topic.clone();
        let tail = tokio::task::spawn_blocking(move || Tail::open(&bootstrap, &opened, Start::End))
            .await
            .expect("the Kafka client task")
            .map_err(|e| Error::user(format!("cannot read {topic}: {e}")))?;
        followed.push((format!("{schema}.{table}"), topic, rows, tail));
    }

    let id = format!(
        "deploy-{}",
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    );
    let names: Vec<String> = tables.iter().map(|(s, t)| format!("{s}.{t}")).collect();
    db.batch_execute(&signal.snapshot_sql(&id, &names))
        .await
        .map_err(|e| {
            Error::user(format!(
                "cannot write the signal into {}: {e}",
                signal.name()
            ))
        })?;
    let started = Instant::now();
    printer.status(&format!(
        "  signal {id} sent through {}: incremental snapshot of {}",
        signal.name(),
        wanted.join(", ")
    ));

    let deadline = started + timeout;
    let mut rows_read = Vec::new();
    for (table, topic, rows, mut tail) in followed {
        let mut seen = 0i64;
        let found = tokio::task::block_in_place(|| {
            tail.until(deadline, |record| {
                let value = record
                    .value
                    .as_deref()
                    .and_then(|v| registry.decode(v).ok())
                    .map(|(_, v)| v)
                    .unwrap_or(Value::Null);
                if is_snapshot_record(&value) {
                    seen += 1;
                }
                seen >= rows
            })
        })
        .map_err(|e| Error::user(format!("cannot read {topic}: {e}")))?;
        if found.is_none() && seen < rows {
            return Err(Error::user(format!(
                "the snapshot of {table} did not finish within {}s: {seen} of {rows} rows read",
                timeout.as_secs()
            ))
            .with_hint("it may still be running: see the connector's log and status"));
        }
        printer.status(&format!(
            "  {table}: {seen} rows read as snapshot records ({:.1}s)",
            started.elapsed().as_secs_f64()
        ));
        rows_read.push(TableRead {
            table,
            topic,
            rows: seen,
        });
    }
    Ok(Snapshotted {
        signal: id,
        tables: rows_read,
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_signal_asks_for_an_incremental_snapshot_of_plain_tables() {
        assert!(is_snapshot_record(&json!({"__op": "r"})));
        assert!(!is_snapshot_record(&json!({"__op": "c"})));
    }
}
