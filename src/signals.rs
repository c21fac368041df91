//! A Debezium PostgreSQL source's signal table (the source channel, `signal.data.collection`):
//! which table a connector names, and the SQL that makes it and sends a signal through it. The
//! table has the structure Debezium requires (three text columns in this order: `id`, `type`,
//! `data`; Debezium's "Sending signals to a Debezium connector") and, when the user's SQL owns
//! the publication (`publication.autocreate.mode: disabled`), must be in it: Debezium reads a
//! signal from the WAL like any captured change. The targets run the SQL their own way.

use std::collections::BTreeMap;

use crate::slots::Source;

pub(crate) const SIGNAL_COLLECTION: &str = "signal.data.collection";

/// A source's signal table, as its configuration names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Signal {
    pub connector: String,
    pub schema: String,
    pub table: String,
    /// The publication to add it to: the user's (`publication.autocreate.mode: disabled`);
    /// `None` when Debezium makes the publication itself.
    pub publication: Option<String>,
    /// The source's database (its slot's), as its configuration names it.
    pub source: Source,
}

impl Signal {
    /// The signal table of a Debezium PostgreSQL source that names one.
    pub(crate) fn of(connector: &str, config: &BTreeMap<String, String>) -> Option<Signal> {
        let source = Source::of(connector, config)?;
        let (schema, table) = config.get(SIGNAL_COLLECTION)?.split_once('.')?;
        let disabled = config
            .get("publication.autocreate.mode")
            .is_some_and(|m| m == "disabled");
        Some(Signal {
            connector: connector.to_string(),
            schema: schema.into(),
            table: table.into(),
            publication: disabled.then(|| {
                config
                    .get("publication.name")
                    .cloned()
                    .unwrap_or_else(|| "dbz_publication".into())
            }),
            source,
        })
    }

    /// `schema.table`.
    pub(crate) fn name(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }

    /// `"schema"."table"`.
    pub(crate) fn quoted(&self) -> String {
        format!("{}.{}", ident(&self.schema), ident(&self.table))
    }

    /// Makes the table when missing, and puts it in its publication when that exists and it is
    /// not in it yet (a connector without its publication fails anyway: Debezium says so).
    pub(crate) fn ensure_sql(&self) -> String {
        let mut sql = format!(
            "CREATE TABLE IF NOT EXISTS {} (id varchar(42) PRIMARY KEY, type varchar(32) NOT NULL, data varchar(2048));\n",
            self.quoted()
        );
        if let Some(publication) = &self.publication {
            sql.push_str(&format!(
                "DO $$ BEGIN\n  IF EXISTS (SELECT 1 FROM pg_publication WHERE pubname = {pub_lit})\n     AND NOT EXISTS (SELECT 1 FROM pg_publication_tables WHERE pubname = {pub_lit} AND schemaname = {schema} AND tablename = {table}) THEN\n    ALTER PUBLICATION {pub_ident} ADD TABLE {quoted};\n  END IF;\nEND $$;\n",
                pub_lit = literal(publication),
                schema = literal(&self.schema),
                table = literal(&self.table),
                pub_ident = ident(publication),
                quoted = self.quoted(),
            ));
        }
        sql
    }

    /// An incremental snapshot of `tables` (`schema.table`), as a signal row.
    pub(crate) fn snapshot_sql(&self, id: &str, tables: &[String]) -> String {
        format!(
            "INSERT INTO {} (id, type, data) VALUES ({}, 'execute-snapshot', {});\n",
            self.quoted(),
            literal(id),
            literal(&snapshot_data(tables))
        )
    }
}

/// The data of an `execute-snapshot` signal: an incremental snapshot of `tables`.
pub(crate) fn snapshot_data(tables: &[String]) -> String {
    serde_json::json!({"data-collections": tables, "type": "incremental"}).to_string()
}

/// The tables a snapshot of `connector` reads: those given, else its `table.include.list`; each
/// a plain `schema.table`.
pub(crate) fn snapshot_tables(
    connector: &crate::model::Connector,
    given: &[String],
) -> Result<Vec<(String, String)>, crate::error::Error> {
    use crate::error::Error;
    let wanted: Vec<String> = if given.is_empty() {
        connector
            .config
            .get("table.include.list")
            .map(|l| l.split(',').map(|t| t.trim().to_string()).collect())
            .unwrap_or_default()
    } else {
        given.to_vec()
    };
    if wanted.is_empty() {
        return Err(Error::user(format!(
            "connector {} has no table.include.list: name the tables with --table",
            connector.name
        )));
    }
    wanted
        .iter()
        .map(|t| {
            plain_table(t).ok_or_else(|| {
                Error::user(format!("`{t}` is not a plain schema.table"))
                    .with_hint("name tables as in table.include.list: `demo.orders`")
            })
        })
        .collect()
}

/// A `schema.table` of plain identifiers, as tables are named for a snapshot.
pub(crate) fn plain_table(text: &str) -> Option<(String, String)> {
    let (schema, table) = text.trim().split_once('.')?;
    let plain = |x: &str| !x.is_empty() && x.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    (plain(schema) && plain(table)).then(|| (schema.to_string(), table.to_string()))
}

/// `"name"`, quoted for SQL.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'`, quoted for SQL.
pub(crate) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_source_names_its_signal_table_and_its_sql_quotes_every_name() {
        let shipped = crate::config::environment(std::path::Path::new("environments/local.yaml"))
            .expect("local.yaml");
        let signal = shipped
            .connectors
            .iter()
            .find_map(|c| Signal::of(&c.name, &c.config))
            .expect("orders-source names a signal table");
        assert_eq!(signal.name(), "demo.debezium_signal");
        assert_eq!(signal.publication.as_deref(), Some("cdc_publication"));
        let sql = signal.ensure_sql();
        assert!(sql.starts_with(
            "CREATE TABLE IF NOT EXISTS \"demo\".\"debezium_signal\" (id varchar(42) PRIMARY KEY"
        ));
        assert!(sql.contains(
            "ALTER PUBLICATION \"cdc_publication\" ADD TABLE \"demo\".\"debezium_signal\";"
        ));
        assert_eq!(
            plain_table(" demo.orders"),
            Some(("demo".into(), "orders".into()))
        );
        assert_eq!(plain_table("demo.orders; DROP"), None);
        assert_eq!(
            signal.snapshot_sql("it's", &["demo.orders".into()]),
            "INSERT INTO \"demo\".\"debezium_signal\" (id, type, data) VALUES ('it''s', 'execute-snapshot', '{\"data-collections\":[\"demo.orders\"],\"type\":\"incremental\"}');\n"
        );
    }
}
