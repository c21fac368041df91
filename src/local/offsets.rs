//! A connector's offsets on the local worker (KIP-875: `GET`, `PATCH` and `DELETE
//! /connectors/{name}/offsets`, Kafka Connect 3.6 and later): shown with what they mean, reset or
//! set. Changing them needs the connector STOPPED, so a reset or a set stops it, changes them and
//! brings it back to its `state:`, waiting as `apply` does.

use std::time::Instant;

use serde_json::Value;

use super::connect::client::Client;
use super::connect::reconcile;
use super::connectors::{blocking, client, waits};
use crate::error::Error;
use crate::model::{Connector, ConnectorState, Environment};
use crate::output::Printer;

/// What a reset or a set does to the offsets.
pub(crate) enum Change {
    Reset,
    /// The offsets to write, as `GET …/offsets` gives them (`{"offsets": [...]}`).
    Set(Value),
}

/// The worker must have the offsets API (Kafka Connect 3.6, KIP-875).
async fn offsets_api(client: &Client) -> Result<(), Error> {
    let version = blocking(|| client.version()).await?;
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    if (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) < (3, 6) {
        return Err(Error::user(format!(
            "Kafka Connect {version} has no offsets API: it came with 3.6 (KIP-875)"
        ))
        .with_hint("run a Kafka Connect 3.6 or later worker"));
    }
    Ok(())
}

/// A PostgreSQL LSN as PostgreSQL writes it: `16/B374D848`.
fn lsn(value: u64) -> String {
    format!("{:X}/{:X}", value >> 32, value & 0xFFFF_FFFF)
}

/// What one offset means, for the connectors whose offsets people read.
fn meaning(partition: &Value, offset: &Value) -> String {
    if let Some(position) = offset["lsn"].as_u64() {
        let mut text = format!("LSN {}", lsn(position));
        if offset["snapshot"].as_bool() == Some(true)
            || offset["last_snapshot_record"].as_bool() == Some(false)
        {
            text.push_str(": its snapshot is in progress; it resumes it");
        } else {
            text.push_str(": it streams the changes committed after this position");
        }
        if let Some(tx) = offset["txId"].as_u64() {
            text.push_str(&format!(" (last transaction {tx})"));
        }
        return text;
    }
    if let (Some(topic), Some(number), Some(next)) = (
        partition["kafka_topic"].as_str(),
        partition["kafka_partition"].as_u64(),
        offset["kafka_offset"].as_u64(),
    ) {
        return format!("{topic} partition {number}: it reads from offset {next} on");
    }
    offset.to_string()
}

/// One of a connector's offsets as Connect gives it (`{"partition": …, "offset": …}`), with
/// what it means.
pub(crate) struct Offset {
    pub entry: Value,
    pub meaning: String,
}

/// The connector's offsets, each with what it means.
pub(crate) async fn show(env: &Environment, name: &str) -> Result<Vec<Offset>, Error> {
    env.connector(name).map_err(Error::user)?;
    let client = client(env).await?;
    offsets_api(&client).await?;
    let value = blocking(|| client.offsets(name)).await?;
    Ok(value["offsets"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|entry| Offset {
            meaning: meaning(&entry["partition"], &entry["offset"]),
            entry,
        })
        .collect())
}

/// What follows a reset, in the connector's terms.
fn after_reset(connector: &Connector) -> String {
    match connector.config.get("connector.class").map(String::as_str) {
        Some(crate::slots::POSTGRES_SOURCE) => format!(
            "{} snapshots again as its snapshot.mode says ({}), then streams from its slot",
            connector.name,
            connector
                .config
                .get("snapshot.mode")
                .map_or("initial", String::as_str)
        ),
        _ => format!(
            "{} starts again without a position: a source as its configuration says, a sink from its consumer's auto.offset.reset",
            connector.name
        ),
    }
}

/// A change of a connector's offsets, checked against Connect and ready to ask about.
pub(crate) struct Prepared<'a> {
    connector: &'a Connector,
    client: Client,
    change: Change,
    /// The connector or one of its tasks had FAILED before the change.
    failed_before: bool,
}

impl Prepared<'_> {
    /// What the change does, as a question.
    pub(crate) fn question(&self) -> String {
        let name = &self.connector.name;
        match &self.change {
            Change::Reset => format!(
                "Reset the offsets of {name}? It stops, forgets its position, and {}.",
                after_reset(self.connector)
            ),
            Change::Set(_) => {
                format!("Set the offsets of {name}? It stops, and resumes from them.")
            }
        }
    }
}

/// Checks that the worker has the offsets API and the connector runs there.
pub(crate) async fn prepare<'a>(
    env: &'a Environment,
    name: &str,
    change: Change,
) -> Result<Prepared<'a>, Error> {
    let connector = env.connector(name).map_err(Error::user)?;
    let client = client(env).await?;
    offsets_api(&client).await?;
    let Some(status) = blocking(|| client.status(name)).await? else {
        return Err(
            Error::user(format!("connector {name} is not in Kafka Connect"))
                .with_hint("create it with `deploy local connectors apply`"),
        );
    };
    Ok(Prepared {
        connector,
        client,
        change,
        failed_before: status.failed().is_some(),
    })
}

/// `connectors offsets reset|set NAME`: stop, change the offsets, back to its `state:`.
pub(crate) async fn change(
    env: &Environment,
    prepared: Prepared<'_>,
    printer: &Printer,
) -> Result<(), Error> {
    let Prepared {
        connector,
        client,
        change,
        failed_before,
    } = prepared;
    let name = &connector.name;
    let waits = waits(env);
    // Altering offsets needs the connector STOPPED (KIP-875).
    let stopped = Connector {
        state: ConnectorState::Stopped,
        ..connector.clone()
    };
    let at = Instant::now();
    blocking(|| client.stop(name)).await?;
    let since = reconcile::Since { at, failed_before };
    tokio::task::block_in_place(|| reconcile::wait(&client, &stopped, Some(since), waits))?;
    printer.status(&format!("  stopped {name}"));
    let said = match &change {
        Change::Reset => blocking(|| client.delete_offsets(name)).await?,
        Change::Set(offsets) => blocking(|| client.alter_offsets(name, offsets)).await?,
    };
    printer.status(&format!("  {said}"));
    let at = Instant::now();
    match connector.state {
        ConnectorState::Running => blocking(|| client.resume(name)).await?,
        ConnectorState::Paused => blocking(|| client.pause(name)).await?,
        ConnectorState::Stopped => {}
    }
    let since = reconcile::Since {
        at,
        failed_before: false,
    };
    tokio::task::block_in_place(|| reconcile::wait(&client, connector, Some(since), waits))?;
    printer.status(&format!(
        "  {name} is {} again",
        match connector.state {
            ConnectorState::Running => "running",
            ConnectorState::Paused => "paused",
            ConnectorState::Stopped => "stopped",
        }
    ));
    if matches!(change, Change::Reset) {
        printer.status(&format!("  {}", after_reset(connector)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn offsets_read_in_their_connectors_terms() {
        assert_eq!(lsn(0x16_B374_D848), "16/B374D848");
        let debezium = json!({"lsn": 0x0001_05A0_2B28_u64, "txId": 771, "ts_usec": 1});
        assert_eq!(
            meaning(&json!({"server": "ord"}), &debezium),
            "LSN 1/5A02B28: it streams the changes committed after this position (last transaction 771)"
        );
        let snapshot = json!({"lsn": 24_u64, "snapshot": true, "last_snapshot_record": false});
        assert!(meaning(&json!({}), &snapshot).contains("snapshot is in progress"));
        assert_eq!(
            meaning(
                &json!({"kafka_topic": "ord.demo.orders", "kafka_partition": 0}),
                &json!({"kafka_offset": 42})
            ),
            "ord.demo.orders partition 0: it reads from offset 42 on"
        );
    }
}
