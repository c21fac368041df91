//! The marker row: inserted into a captured table with the source connector's own database
//! settings, found again in the topic by its primary key, removed afterwards. Columns that need
//! a value (NOT NULL, no default) get one of their type; a text column carries the marker.

use tokio_postgres::{Client, NoTls};

/// Where and as whom the source connector reads the database. No `Debug`: it holds the password.
#[derive(Clone)]
pub struct Database {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub dbname: String,
}

/// A row inserted for the check.
#[derive(Debug, Clone)]
pub struct Marker {
    pub schema: String,
    pub table: String,
    /// The primary key, column → value as text.
    pub key: Vec<(String, String)>,
    /// The text written into the row, to recognise it in the record.
    pub text: String,
}

pub async fn connect(db: &Database) -> Result<Client, String> {
    let mut config = tokio_postgres::Config::new();
    config
        .host(&db.host)
        .port(db.port)
        .user(&db.user)
        .password(&db.password)
        .dbname(&db.dbname)
        .connect_timeout(std::time::Duration::from_secs(5));
    let (client, connection) = config.connect(NoTls).await.map_err(|e| {
        format!(
            "cannot connect to {}@{}:{}/{}: {}",
            db.user,
            db.host,
            db.port,
            db.dbname,
            message(&e)
        )
    })?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// PostgreSQL's own message (tokio-postgres shows only "db error" for a server error).
fn message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => e.to_string(),
    }
}

fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// A value of the column's type for a NOT NULL column without a default.
fn value_for(data_type: &str, text: &str) -> Option<String> {
    let literal = |s: &str| format!("'{}'", s.replace('\'', "''"));
    Some(match data_type {
        "text" | "character varying" | "character" | "citext" => literal(text),
        "smallint" | "integer" | "bigint" | "numeric" | "real" | "double precision" => "0".into(),
        "boolean" => "false".into(),
        "json" | "jsonb" => literal("{}"),
        "uuid" => "gen_random_uuid()".into(),
        "date" => "current_date".into(),
        "timestamp without time zone" | "timestamp with time zone" => "now()".into(),
        "time without time zone" | "time with time zone" => "current_time".into(),
        "bytea" => literal(""),
        _ => return None,
    })
}

/// Inserts the marker row into `schema.table` and returns how to recognise it.
pub async fn insert(
    client: &Client,
    schema: &str,
    table: &str,
    text: &str,
) -> Result<Marker, String> {
    let name = format!("{schema}.{table}");
    let columns = client
        .query(
            "SELECT column_name::text, data_type::text, is_nullable = 'YES', column_default IS NOT NULL OR is_identity = 'YES' \
             FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
            &[&schema, &table],
        )
        .await
        .map_err(|e| format!("cannot read the columns of {name}: {}", message(&e)))?;
    if columns.is_empty() {
        return Err(format!(
            "table {name} does not exist or is not visible to this user"
        ));
    }
    let key: Vec<String> = client
        .query(
            "SELECT a.attname::text FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
             WHERE i.indrelid = ($1 || '.' || $2)::regclass AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)",
            &[&quote(schema), &quote(table)],
        )
        .await
        .map_err(|e| format!("cannot read the primary key of {name}: {}", message(&e)))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if key.is_empty() {
        return Err(format!(
            "table {name} has no primary key: the marker row could not be found again in the topic"
        ));
    }
    let mut names = Vec::new();
    let mut values = Vec::new();
    let mut carries_text = false;
    for row in &columns {
        let (column, data_type, nullable, defaulted): (String, String, bool, bool) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        let is_text = matches!(data_type.as_str(), "text" | "character varying");
        // Columns that need a value, and the first text column, which carries the marker.
        let required = !nullable && !defaulted;
        let carrier = is_text && !carries_text && !key.contains(&column);
        if !required && !carrier {
            continue;
        }
        let value = value_for(&data_type, text).ok_or_else(|| {
            format!(
                "cannot make a marker row for {name}: column {column} ({data_type}) needs a value and has no default"
            )
        })?;
        carries_text |= is_text;
        names.push(quote(&column));
        values.push(value);
    }
    let returning: Vec<String> = key.iter().map(|k| format!("{}::text", quote(k))).collect();
    let sql = if names.is_empty() {
        format!(
            "INSERT INTO {}.{} DEFAULT VALUES RETURNING {}",
            quote(schema),
            quote(table),
            returning.join(", ")
        )
    } else {
        format!(
            "INSERT INTO {}.{} ({}) VALUES ({}) RETURNING {}",
            quote(schema),
            quote(table),
            names.join(", "),
            values.join(", "),
            returning.join(", ")
        )
    };
    let row = client
        .query_one(&sql, &[])
        .await
        .map_err(|e| format!("cannot insert the marker row into {name}: {}", message(&e)))?;
    Ok(Marker {
        schema: schema.into(),
        table: table.into(),
        key: key
            .iter()
            .enumerate()
            .map(|(i, k)| (k.clone(), row.get::<_, String>(i)))
            .collect(),
        text: if carries_text {
            text.into()
        } else {
            String::new()
        },
    })
}

/// Deletes the marker row again.
pub async fn remove(client: &Client, marker: &Marker) -> Result<(), String> {
    let condition: Vec<String> = marker
        .key
        .iter()
        .enumerate()
        .map(|(i, (k, _))| format!("{}::text = ${}", quote(k), i + 1))
        .collect();
    let sql = format!(
        "DELETE FROM {}.{} WHERE {}",
        quote(&marker.schema),
        quote(&marker.table),
        condition.join(" AND ")
    );
    let values: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = marker
        .key
        .iter()
        .map(|(_, v)| v as &(dyn tokio_postgres::types::ToSql + Sync))
        .collect();
    client
        .execute(&sql, &values)
        .await
        .map(drop)
        .map_err(|e| format!("cannot remove the marker row: {}", message(&e)))
}
