//! The local schema load: a service's `schema` files run with `psql` inside its container once it
//! is ready, as one transaction that stops at the first error, and recorded in the database
//! itself (`deploy.schema_load`: each file's name and digest) in that same transaction. So the
//! record lives and dies with the data: a new data volume loads the files again, a changed file
//! loads them all again (as the AWS target's load does, `aws/schema.rs`), and a failed or
//! interrupted load leaves nothing half-done.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;
use std::time::Instant;

use bollard::Docker;
use bollard::query_parameters::UploadToContainerOptionsBuilder;

use super::docker;
use crate::error::Error;
use crate::model::{Service, SqlFile};
use crate::plan::{Action, Change, Kind};

/// The table the load records itself in, in the database it loads.
const RECORD: &str = "deploy.schema_load";

/// What a database holds of the load, read before planning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Record {
    /// Each loaded file's digest by name; empty when nothing was loaded.
    Read(BTreeMap<String, String>),
    /// The container does not run, or its database does not answer yet: known once it does.
    Unknown,
}

/// One load: the files, and who runs them where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Load {
    pub user: String,
    pub database: String,
    pub files: Vec<SqlFile>,
}

impl Load {
    /// The official `postgres` image's contract: `POSTGRES_USER` (default `postgres`) owns
    /// `POSTGRES_DB` (default: the user's name), and its init scripts run as that user there.
    fn of(service: &Service) -> Self {
        let variable = |name: &str| {
            service
                .environment
                .iter()
                .find(|v| v.name == name && !v.value.is_empty())
                .map(|v| v.value.clone())
        };
        let user = variable("POSTGRES_USER").unwrap_or_else(|| "postgres".into());
        Load {
            database: variable("POSTGRES_DB").unwrap_or_else(|| user.clone()),
            user,
            files: service.schema.clone(),
        }
    }

    /// `name=digest` of every file, sorted by name (byte order): what a complete load records,
    /// as the driver compares it.
    fn wanted(&self) -> BTreeMap<String, String> {
        self.files
            .iter()
            .map(|f| (f.name.clone(), f.digest()))
            .collect()
    }

    fn names(&self) -> String {
        self.files
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The folder the files are copied to in the container, by their digests, so that two
    /// loads of different files never share one.
    fn folder(&self) -> String {
        let digests: String = self.files.iter().map(|f| f.digest()).collect();
        format!(
            "/tmp/deploy-schema-{}",
            crate::digest::short(digests.as_bytes())
        )
    }
}

/// Reads the record with `psql` in the running container.
pub(super) async fn observe(docker: &Docker, container: &str, service: &Service) -> Record {
    let load = Load::of(service);
    let query = format!("SELECT file || ' ' || digest FROM {RECORD}");
    let command = psql(&load, &["-At", "-v", "VERBOSITY=sqlstate", "-c", &query]);
    let Ok(done) = docker::exec(docker, container, &command, &environment(service)).await else {
        return Record::Unknown;
    };
    match done.code {
        Some(0) => Record::Read(
            done.stdout
                .lines()
                .filter_map(|l| l.split_once(' '))
                .map(|(file, digest)| (file.to_string(), digest.to_string()))
                .collect(),
        ),
        // undefined_table: the database answers and has no record.
        _ if done.output().contains("42P01") => Record::Read(BTreeMap::new()),
        _ => Record::Unknown,
    }
}

/// The load's part of the plan for a service that names `schema` files: the change shown, and
/// the load when one is due.
pub(super) fn plan(service: &Service, record: &Record) -> Option<(Change, Option<Load>)> {
    if service.schema.is_empty() {
        return None;
    }
    let load = Load::of(service);
    let names = load.names();
    let wanted = load.wanted();
    let change =
        |action, reason: String| Change::new(Kind::SchemaLoad, &service.name, action, reason);
    Some(match record {
        Record::Read(have) if *have == wanted => {
            (change(Action::Unchanged, format!("{names} loaded")), None)
        }
        Record::Read(have) if have.is_empty() => (
            change(Action::Create, format!("not loaded: runs {names}")),
            Some(load),
        ),
        Record::Read(have) => {
            let mut what: Vec<String> = wanted
                .iter()
                .filter(|(name, digest)| have.get(*name) != Some(digest))
                .map(|(name, _)| {
                    if have.contains_key(name) {
                        format!("{name} changed")
                    } else {
                        format!("{name} added")
                    }
                })
                .collect();
            what.extend(
                have.keys()
                    .filter(|name| !wanted.contains_key(*name))
                    .map(|name| format!("{name} no longer listed")),
            );
            (
                change(
                    Action::Update,
                    format!("{}: runs {names} again", what.join(", ")),
                ),
                Some(load),
            )
        }
        Record::Unknown => (
            change(
                Action::Create,
                format!(
                    "runs {names} once `{}` is ready, unless its data has them already",
                    service.name
                ),
            ),
            Some(load),
        ),
    })
}

/// What a load did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Loaded {
    Loaded,
    /// The record already named these files: the plan could not read it (the database was not
    /// running), and the load found it done.
    AlreadyThere,
}

/// Copies the files into the container and runs them there with `psql`, in one transaction
/// with the record, unless the record already names exactly these files.
pub(super) async fn load(
    docker: &Docker,
    container: &str,
    service: &Service,
    load: &Load,
) -> Result<(Loaded, std::time::Duration), Error> {
    let started = Instant::now();
    let folder = load.folder();
    let archive = archive(load, &folder).map_err(|e| Error::Internal(format!("tar: {e}")))?;
    let options = UploadToContainerOptionsBuilder::new().path("/tmp").build();
    docker
        .upload_to_container(container, Some(options), bollard::body_full(archive.into()))
        .await
        .map_err(|e| Error::docker(format!("copy the schema files into {container}"), e))?;
    let driver = format!("{folder}/load.sql");
    let command = psql(load, &["-1", "-v", "ON_ERROR_STOP=1", "-f", &driver]);
    let done = docker::exec(docker, container, &command, &environment(service))
        .await
        .map_err(|e| Error::docker(format!("run psql in {container}"), e));
    // The copies go whatever happened; an image without `rm` keeps them in its /tmp.
    let _ = docker::exec(
        docker,
        container,
        &["rm".into(), "-rf".into(), folder.clone()],
        &[],
    )
    .await;
    let done = done?;
    if done.code == Some(0) {
        let outcome = if done.stdout.contains("deploy: already loaded") {
            Loaded::AlreadyThere
        } else {
            Loaded::Loaded
        };
        return Ok((outcome, started.elapsed()));
    }
    // psql names the file and line of the statement that failed: name the user's file instead.
    let mut output = done.output();
    for (i, file) in load.files.iter().enumerate() {
        output = output.replace(&format!("{folder}/{i}.sql"), &shown(&file.path));
    }
    let details: Vec<String> = output
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("deploy: "))
        .map(str::to_string)
        .collect();
    let code = done.code.map_or("none".into(), |c| c.to_string());
    Err(Error::user(format!(
        "the schema load of `{}` failed (psql exit code {code}): nothing was committed",
        service.name
    ))
    .with_details(details)
    .with_hint("fix the file, then `deploy local up` runs the files again"))
}

/// A host path as the user wrote it relative to here, when it is under here.
fn shown(path: &Path) -> String {
    let here = std::env::current_dir().unwrap_or_default();
    path.strip_prefix(&here)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// `psql` as the load's user on its database, without the user's startup file.
fn psql(load: &Load, arguments: &[&str]) -> Vec<String> {
    let mut command: Vec<String> = ["psql", "-X", "-q", "-U", &load.user, "-d", &load.database]
        .map(String::from)
        .to_vec();
    command.extend(arguments.iter().map(|a| a.to_string()));
    command
}

/// The password for a database that asks for one on its socket, and no notices.
fn environment(service: &Service) -> Vec<String> {
    let mut env = vec!["PGOPTIONS=-c client_min_messages=warning".to_string()];
    if let Some(password) = service
        .environment
        .iter()
        .find(|v| v.name == "POSTGRES_PASSWORD")
    {
        env.push(format!("PGPASSWORD={}", password.value));
    }
    env
}

/// The driver `psql` runs: the record's table, the comparison with what is wanted, the files
/// (by `\i`, so an error names the file and line), and the new record.
fn driver(load: &Load, folder: &str) -> String {
    let wanted = load.wanted();
    let expected: Vec<String> = wanted.iter().map(|(f, d)| format!("{f}={d}")).collect();
    let mut script = String::new();
    let _ = writeln!(script, "CREATE SCHEMA IF NOT EXISTS deploy;");
    let _ = writeln!(
        script,
        "CREATE TABLE IF NOT EXISTS {RECORD} (file text PRIMARY KEY, digest text NOT NULL, loaded_at timestamptz NOT NULL DEFAULT now());"
    );
    let _ = writeln!(
        script,
        "SELECT coalesce((SELECT string_agg(file || '=' || digest, ' ' ORDER BY file COLLATE \"C\") FROM {RECORD}), '') IS DISTINCT FROM {} AS deploy_load \\gset",
        literal(&expected.join(" "))
    );
    let _ = writeln!(script, "\\if :deploy_load");
    for i in 0..load.files.len() {
        let _ = writeln!(script, "\\i {folder}/{i}.sql");
    }
    let _ = writeln!(script, "DELETE FROM {RECORD};");
    let rows: Vec<String> = wanted
        .iter()
        .map(|(f, d)| format!("({}, {})", literal(f), literal(d)))
        .collect();
    let _ = writeln!(
        script,
        "INSERT INTO {RECORD} (file, digest) VALUES {};",
        rows.join(", ")
    );
    let _ = writeln!(script, "\\echo deploy: loaded");
    let _ = writeln!(script, "\\else");
    let _ = writeln!(script, "\\echo deploy: already loaded");
    let _ = writeln!(script, "\\endif");
    script
}

/// An SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The files as `<i>.sql` and the driver, in a tar archive rooted at `/tmp`.
fn archive(load: &Load, folder: &str) -> std::io::Result<Vec<u8>> {
    let base = folder.trim_start_matches("/tmp/");
    let mut builder = tar::Builder::new(Vec::new());
    let mut add = |path: String, content: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, path, content)
    };
    for (i, file) in load.files.iter().enumerate() {
        add(format!("{base}/{i}.sql"), file.content.as_bytes())?;
    }
    add(format!("{base}/load.sql"), driver(load, folder).as_bytes())?;
    builder.into_inner()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn service(files: &[(&str, &str)]) -> Service {
        let env = crate::config::environment(Path::new("environments/local.yaml"))
            .expect("local.yaml is valid");
        let mut service = env.service("postgres").expect("postgres").clone();
        service.schema = files
            .iter()
            .map(|(name, content)| SqlFile {
                name: name.to_string(),
                path: PathBuf::from(format!("environments/sql/{name}")),
                content: content.to_string(),
            })
            .collect();
        service
    }

    fn shown(planned: Option<(Change, Option<Load>)>) -> String {
        let (change, load) = planned.expect("a change");
        format!(
            "{:?} {}: {}{}",
            change.action,
            change.name,
            change.reasons.join("; "),
            load.map_or(String::new(), |l| format!(
                " → load {} as {} on {}",
                l.names(),
                l.user,
                l.database
            ))
        )
    }

    #[test]
    fn the_load_follows_the_record_in_the_database() {
        let service = service(&[("00-a.sql", "select 1;"), ("01-b.sql", "select 2;")]);
        let wanted = Load::of(&service).wanted();
        let mut changed = wanted.clone();
        changed.insert("01-b.sql".into(), "0000000000000000".into());
        changed.insert("02-gone.sql".into(), "0000000000000000".into());
        let mut partial = wanted.clone();
        partial.remove("01-b.sql");
        let cases = [
            ("unknown", Record::Unknown),
            ("nothing recorded", Record::Read(BTreeMap::new())),
            ("recorded", Record::Read(wanted)),
            ("one changed, one dropped", Record::Read(changed)),
            ("one added", Record::Read(partial)),
        ];
        let text: String = cases
            .into_iter()
            .map(|(what, record)| format!("{what}: {}\n", shown(plan(&service, &record))))
            .collect();
        insta::assert_snapshot!(text);
        assert!(plan(&super::tests::service(&[]), &Record::Unknown).is_none());
    }

    #[test]
    fn the_driver_loads_in_order_and_records_in_the_same_transaction() {
        let service = service(&[("00-a.sql", "select 1;"), ("it's.sql", "select 2;")]);
        let load = Load::of(&service);
        insta::assert_snapshot!(driver(&load, "/tmp/deploy-schema-x"));
    }
}
