//! The real CDC pipeline of this machine, run by `deploy` from `environments/local.yaml` with only
//! images, host ports and the plugins' source swapped (tests/environments/real.yaml): the real
//! Kafka Connect 4.3 runtime with nothing but the plugin ZIP `deploy` builds from the real
//! Debezium 3.6.3 and Confluent Avro converter jars, the real PostgreSQL, the Tansu broker and
//! the tests' Confluent-API registry. One stack for the whole story: a Connect worker takes
//! seconds to start and rebalance.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use deploy::verify::avro::Registry;
use deploy::verify::kafka::{Start, Tail};
use support::{Stack, assert_contains, docker, http, real_plugins};

const CONNECT: &str = "http://127.0.0.1:61603";
const KAFKA: &str = "127.0.0.1:61602";
const REGISTRY: &str = "http://127.0.0.1:61605/apis/ccompat/v7";
const TOPIC: &str = "ord.demo.orders";

/// An environment file on top of real.yaml that changes the source connector.
fn overlay(dir: &Path, name: &str, connector: &str) -> PathBuf {
    let path = dir.join(format!("{name}.yaml"));
    let base = support::root().join("tests/environments/real.yaml");
    std::fs::write(
        &path,
        format!(
            "version: 1\ninclude: [{}]\nname: ${{DEPLOY_TEST_NAME}}\ntarget: local\nconnectors:\n  orders-source:\n{connector}",
            base.display()
        ),
    )
    .expect("overlay file");
    path
}

/// The requests that change something that Connect logged (its REST request log).
fn connect_writes(stack: &Stack) -> usize {
    let output = std::process::Command::new("docker")
        .args(["logs", &stack.container("connect")])
        .output()
        .expect("docker logs");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&output.stderr).lines())
        .filter(|l| {
            [
                "\"PUT /connectors",
                "\"POST /connectors",
                "\"DELETE /connectors",
            ]
            .iter()
            .any(|w| l.contains(w))
        })
        .count()
}

fn get(url: &str) -> Value {
    let body = ureq::get(url)
        .call()
        .expect("answers")
        .into_body()
        .read_to_string()
        .expect("body");
    serde_json::from_str(&body).expect("JSON")
}

fn status(name: &str) -> Value {
    get(&format!("{CONNECT}/connectors/{name}/status"))
}

/// The decoded key and value of the next record whose value satisfies `wanted` (a tombstone's
/// value is null).
fn next(
    tail: &mut Tail,
    registry: &mut Registry,
    wanted: impl Fn(&Value, &Value) -> bool,
) -> (Value, Value) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut found = None;
    let record = tail
        .until(deadline, |record| {
            let key = record
                .key
                .as_deref()
                .map(|k| registry.decode(k).expect("an Avro key").1)
                .unwrap_or(Value::Null);
            let value = record
                .value
                .as_deref()
                .map(|v| registry.decode(v).expect("an Avro value").1)
                .unwrap_or(Value::Null);
            let hit = wanted(&key, &value);
            if hit {
                found = Some((key, value));
            }
            hit
        })
        .expect("the topic reads");
    assert!(record.is_some(), "no such record in {TOPIC} within 60 s");
    found.expect("a decoded record")
}

fn versions(registry: &Registry, subject: &str) -> Vec<u64> {
    registry
        .versions(subject)
        .expect("the registry answers")
        .unwrap_or_default()
}

#[test]
fn a_row_becomes_an_avro_record_through_the_real_connect_and_debezium() {
    let server = http::Server::start();
    let work = tempfile::tempdir().expect("temporary directory");
    let plugins = work.path().join("plugins");
    let hub_api = real_plugins::serve(&server, &plugins);

    let mut stack = Stack::new("tests/environments/real.yaml", "t-real", "6160");
    stack.set("DEPLOY_PLUGINS_DIR", &plugins.display().to_string());
    stack.set(real_plugins::HUB_API, &hub_api);
    // The bound on a slot's WAL, small enough for the test to reach it.
    stack.set("POSTGRES_MAX_SLOT_WAL", "64MB");
    stack.set(
        "DEPLOY_CACHE_DIR",
        &work.path().join("cache").display().to_string(),
    );

    // Up from nothing, as on a new machine: the plugins' artifacts have no checksums yet, so the
    // first build records them in the lock file, each confirmed by its publisher's sha1.
    // Then the source connector and its task RUNNING on the real worker, from the mounted ZIP;
    // the worker's own classpath has neither Debezium nor the converter.
    let up = stack.ok(&["local", "up"]);
    let lock = std::fs::read_to_string(plugins.join("plugins.lock")).expect("the lock file");
    let locked: Vec<&str> = lock.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(locked.len(), 2, "{lock}");
    for line in locked {
        assert!(
            line.contains(" sha256:") && line.contains(" sha1@"),
            "{lock}"
        );
    }
    assert_contains(&up.stderr, "matches the publisher's sha1");
    assert_contains(&up.stderr, "+ connector orders-source created");
    assert_contains(&up.stderr, "✓ connector orders-source running");
    let source = status("orders-source");
    assert_eq!(source["connector"]["state"], "RUNNING", "{source}");
    assert_eq!(source["tasks"][0]["state"], "RUNNING", "{source}");
    let classpath = docker(&["exec", &stack.container("connect"), "ls", "/opt/kafka/libs"]);
    assert!(
        !classpath.contains("debezium") && !classpath.contains("avro"),
        "{classpath}"
    );
    let mounted = docker(&[
        "exec",
        &stack.container("connect"),
        "ls",
        "/opt/connectors/debezium-postgres",
    ]);
    for jar in [
        "debezium-connector-postgres-3.6.3.Final.jar",
        "kafka-connect-avro-converter-7.0.16.jar",
        "postgresql-42.7.13.jar",
    ] {
        assert_contains(&mounted, jar);
    }
    assert!(!mounted.contains("debezium-connector-mysql"), "{mounted}");
    // The worker finds plugins through ServiceLoader manifests only (plugin.discovery=
    // service_load): the Avro converter, which ships none, runs from the one deploy wrote.
    assert_contains(&mounted, "deploy-plugin-manifests.jar");

    // Right after up, the plan of the services (with Connect's plugin mounts, read from what
    // is built: a plan downloads nothing) and of the connectors is empty.
    let downloads = server.requests();
    let plan = stack.deploy(&["local", "plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    let plan = stack.deploy(&["local", "connectors", "plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert_eq!(server.requests(), downloads, "the plan downloaded");

    // A second up changes nothing, writes nothing to Connect and downloads nothing: the lock
    // and the cache hold what it needs.
    let writes = connect_writes(&stack);
    let downloads = server.requests();
    let again = stack.ok(&["--locked", "local", "up"]);
    assert_eq!(server.requests(), downloads, "{}", again.stderr);
    assert_contains(&again.stderr, "is up to date");
    assert_contains(&again.stderr, "connectors: 1 unchanged");
    assert_eq!(
        connect_writes(&stack),
        writes,
        "the no-op up wrote to Connect"
    );

    // `deploy local verify` proves it end to end, and says each step.
    let verify = stack.ok(&["local", "verify", "--output", "json"]);
    let report: Value = serde_json::from_str(&verify.stdout).expect("a JSON report");
    assert_eq!(report["ok"], true, "{report}");
    let steps: Vec<&str> = report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["step"].as_str().expect("a step name"))
        .collect();
    assert_eq!(
        steps,
        [
            "connector orders-source",
            "connector orders-sink",
            "slot orders",
            "marker row",
            "record",
            "decoded",
            "subjects",
            "marker removed"
        ]
    );
    assert_eq!(
        stack.psql("SELECT count(*) FROM demo.orders WHERE customer_id LIKE 'deploy-verify-%'"),
        "0"
    );

    // A row becomes a Confluent-framed Avro record with the flattened row and Debezium's fields.
    let mut registry = Registry::new(REGISTRY);
    let mut tail = Tail::open(KAFKA, TOPIC, Start::End).expect("the broker answers");
    let id = stack.psql("INSERT INTO demo.orders (customer_id, amount) VALUES ('PIPELINE', 12.50) RETURNING order_id",
    );
    let order: i64 = id.parse().expect("an order id");
    let (key, value) = next(&mut tail, &mut registry, |_, v| {
        v["customer_id"] == "PIPELINE"
    });
    assert_eq!(key["order_id"], order, "{key}");
    assert_eq!(value["__op"], "c", "{value}");
    assert_eq!(value["__table"], "orders", "{value}");
    assert_eq!(value["__schema"], "demo", "{value}");
    assert_eq!(value["__db"], "main", "{value}");
    assert_eq!(value["__deleted"], "false", "{value}");
    assert_eq!(versions(&registry, "ord.demo.orders-key"), [1]);
    assert_eq!(versions(&registry, "ord.demo.orders-value"), [1]);

    // A new column is a second, compatible version of the value schema.
    stack.psql("ALTER TABLE demo.orders ADD COLUMN note text");
    stack.psql("INSERT INTO demo.orders (customer_id, amount, note) VALUES ('PIPELINE-2', 1, 'second') RETURNING order_id",
    );
    let (_, value) = next(&mut tail, &mut registry, |_, v| {
        v["customer_id"] == "PIPELINE-2"
    });
    assert_eq!(value["note"], "second", "{value}");
    assert_eq!(versions(&registry, "ord.demo.orders-value"), [1, 2]);

    // A DELETE is the rewritten record with __deleted, then the tombstone.
    stack.psql(&format!("DELETE FROM demo.orders WHERE order_id = {id}"));
    let (_, deleted) = next(&mut tail, &mut registry, |k, v| {
        k["order_id"] == order && v["__op"] == "d"
    });
    assert_eq!(deleted["__deleted"], "true", "{deleted}");
    let (tombstone_key, _) = next(&mut tail, &mut registry, |k, v| {
        k["order_id"] == order && v.is_null()
    });
    assert_eq!(tombstone_key["order_id"], order);

    // Offsets (KIP-875): the source's position is an LSN. A reset asks first (and refuses
    // without a terminal), then stops the connector, deletes its offsets and brings it back
    // running: with snapshot.mode initial it reads the table again, every row an `r` record.
    let offsets = stack.ok(&["local", "connectors", "offsets", "orders-source"]);
    assert_contains(&offsets.stdout, "LSN ");
    assert_contains(
        &offsets.stdout,
        "it streams the changes committed after this position",
    );
    let json = stack.ok(&[
        "local",
        "connectors",
        "offsets",
        "orders-source",
        "--output",
        "json",
    ]);
    let shown: Value = serde_json::from_str(&json.stdout).expect("JSON");
    let refused = stack.deploy(&["local", "connectors", "offsets", "reset", "orders-source"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert_contains(&refused.stderr, "no terminal to ask");
    assert_eq!(status("orders-source")["connector"]["state"], "RUNNING");
    let mut tail = Tail::open(KAFKA, TOPIC, Start::End).expect("the broker answers");
    let reset = stack.ok(&[
        "local",
        "connectors",
        "offsets",
        "reset",
        "orders-source",
        "--yes",
    ]);
    assert_contains(&reset.stderr, "stopped orders-source");
    assert_contains(
        &reset.stderr,
        "orders-source snapshots again as its snapshot.mode says (initial)",
    );
    let (_, again) = next(&mut tail, &mut registry, |_, v| v["__op"] == "r");
    assert_eq!(again["__table"], "orders", "{again}");
    // The offsets shown can be written back (`offsets set`), through the same stop and resume.
    let file = work.path().join("offsets.json");
    std::fs::write(&file, json!({"offsets": shown["offsets"]}).to_string()).expect("offsets file");
    let set = stack.ok(&[
        "local",
        "connectors",
        "offsets",
        "set",
        "orders-source",
        "--file",
        &file.display().to_string(),
        "--yes",
    ]);
    assert_contains(&set.stderr, "altered successfully");
    assert_eq!(status("orders-source")["connector"]["state"], "RUNNING");

    // Snapshots on demand: the signal table is part of the deployment (made by the connectors'
    // apply, in the demo publication, shown by the plan), and `connectors snapshot` reads
    // demo.orders again through an execute-snapshot signal while new rows keep streaming.
    assert_eq!(
        stack.psql(
            "SELECT count(*) FROM pg_publication_tables WHERE pubname = 'cdc_publication' AND tablename = 'debezium_signal'"
        ),
        "1"
    );
    let plan = stack.ok(&["local", "connectors", "plan"]);
    assert_contains(
        &plan.stdout,
        "unchanged: orders-source's signals, in publication cdc_publication",
    );
    let rows = stack.psql("SELECT count(*) FROM demo.orders");
    let snapshot = stack.ok(&[
        "local",
        "connectors",
        "snapshot",
        "orders-source",
        "--table",
        "demo.orders",
    ]);
    assert_contains(
        &snapshot.stderr,
        &format!("demo.orders: {rows} rows read as snapshot records"),
    );
    let mut tail = Tail::open(KAFKA, TOPIC, Start::End).expect("the broker answers");
    stack.psql("INSERT INTO demo.orders (customer_id, amount) VALUES ('AFTER-SNAPSHOT', 3) RETURNING order_id");
    let (_, streamed) = next(&mut tail, &mut registry, |_, v| {
        v["customer_id"] == "AFTER-SNAPSHOT"
    });
    assert_eq!(streamed["__op"], "c", "{streamed}");

    // demo.orders idle while another table of the database changes (the registry's do, in
    // the same database): the heartbeat writes demo.heartbeat, and the slot's confirmed
    // position moves past the other writes, so their WAL can go.
    stack.psql("CREATE TABLE IF NOT EXISTS public.busy (n int)");
    stack.psql("INSERT INTO public.busy SELECT generate_series(1, 1000)");
    let written = stack.psql("SELECT pg_current_wal_lsn()");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let behind = stack.psql(&format!(
            "SELECT confirmed_flush_lsn < '{written}'::pg_lsn FROM pg_replication_slots WHERE slot_name = 'orders'"
        ));
        if behind == "f" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the slot's confirmed position stayed behind {written} for 60 s"
        );
        std::thread::sleep(Duration::from_secs(1));
    }

    // A changed key updates the connector in place, and it runs again.
    let changed = overlay(
        work.path(),
        "changed",
        "    config:\n      heartbeat.interval.ms: \"15000\"\n",
    );
    let run = stack.command_for(&changed, &["local", "connectors", "apply"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_contains(&run.stderr, "~ connector orders-source updated");
    assert_contains(&run.stderr, "✓ connector orders-source running");
    let config = get(&format!("{CONNECT}/connectors/orders-source/config"));
    assert_eq!(config["heartbeat.interval.ms"], "15000");
    assert_eq!(status("orders-source")["tasks"][0]["state"], "RUNNING");

    // An invalid value is refused before anything is written, with Debezium's own message.
    let writes = connect_writes(&stack);
    let invalid = overlay(
        work.path(),
        "invalid",
        "    config:\n      plugin.name: wal2json\n",
    );
    let run = stack.command_for(&invalid, &["local", "connectors", "apply"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_contains(&run.stderr, "plugin.name");
    assert_contains(&run.stderr, "Value must be one of decoderbufs, pgoutput");
    assert_contains(&run.stderr, "nothing was changed");
    assert_eq!(connect_writes(&stack), writes);

    // A converter the plugin does not carry: the local worker might find it on its own
    // classpath, MSK Connect would not. Refused at plan, against the plugin's real classes.
    let foreign = overlay(
        work.path(),
        "foreign",
        "    config:\n      value.converter: io.apicurio.registry.utils.converter.AvroConverter\n",
    );
    let run = stack.command_for(&foreign, &["local", "plan"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_contains(
        &run.stderr,
        "connector `orders-source`: value.converter: the class `io.apicurio.registry.utils.converter.AvroConverter` is not in plugin `debezium-postgres`",
    );
    assert_eq!(connect_writes(&stack), writes);

    // A misspelled key, which Connect itself silently ignores, is refused with the real key;
    // marked as meant, it passes.
    let misspelled = overlay(
        work.path(),
        "misspelled",
        "    config:\n      schema.include: demo\n      transforms.unwrap.add.feilds: op\n",
    );
    let run = stack.command_for(&misspelled, &["local", "connectors", "apply"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_contains(
        &run.stderr,
        "schema.include: not a key of io.debezium.connector.postgresql.PostgresConnector (did you mean `schema.include.list`?)",
    );
    assert_contains(
        &run.stderr,
        "transforms.unwrap.add.feilds: not a key of io.debezium.transforms.ExtractNewRecordState (did you mean `transforms.unwrap.add.fields`?)",
    );
    assert_eq!(connect_writes(&stack), writes);
    // The Avro converter describes no keys to Connect: its keys are never flagged.
    assert!(
        !run.stderr.contains("schema.registry.url"),
        "{}",
        run.stderr
    );
    let meant = overlay(
        work.path(),
        "meant",
        "    allow-unknown-keys: [custom.setting]\n    config:\n      heartbeat.interval.ms: \"10000\"\n      custom.setting: read-by-an-extension\n",
    );
    let run = stack.command_for(&meant, &["local", "connectors", "apply"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let config = get(&format!("{CONNECT}/connectors/orders-source/config"));
    assert_eq!(config["custom.setting"], "read-by-an-extension");

    // Paused and running again through `state:`; restarted.
    let paused = overlay(
        work.path(),
        "paused",
        "    state: paused\n    config:\n      heartbeat.interval.ms: \"10000\"\n",
    );
    let run = stack.command_for(&paused, &["local", "connectors", "apply"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(status("orders-source")["connector"]["state"], "PAUSED");
    let run = stack.command_for(&changed, &["local", "connectors", "apply"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(status("orders-source")["connector"]["state"], "RUNNING");
    let run = stack.command_for(
        &changed,
        &["local", "connectors", "restart", "orders-source"],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(status("orders-source")["tasks"][0]["state"], "RUNNING");

    // A wrong password is refused by Debezium's validation, before anything is written.
    let wrong = overlay(
        work.path(),
        "wrong-password",
        "    config:\n      database.password: not-the-password\n",
    );
    let run = stack.command_for(&wrong, &["local", "connectors", "apply"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_contains(&run.stderr, "password authentication failed");
    assert_contains(&run.stderr, "nothing was changed");

    // A password changed under a running connector: Debezium retries its connection without
    // failing the task, so the connector shows RUNNING; verify, which writes through the
    // connector's own database settings, says what is wrong.
    stack.psql("ALTER USER master PASSWORD 'changed-under-it'");
    let verify = stack.deploy(&["local", "verify"]);
    stack.psql("ALTER USER master PASSWORD 'local-only-password'");
    assert_eq!(verify.code, 1, "{}", verify.all());
    assert_contains(&verify.stdout, "✓ connector orders-source");
    assert_contains(&verify.stdout, "✗ slot orders");
    assert_contains(&verify.stdout, "password authentication failed");

    // A table that leaves the publication: the connector RUNNING, the row written, no record.
    stack.psql("ALTER PUBLICATION cdc_publication DROP TABLE demo.orders");
    let verify = stack.deploy(&["local", "verify", "--timeout", "10"]);
    stack.psql("ALTER PUBLICATION cdc_publication ADD TABLE demo.orders");
    assert_eq!(verify.code, 1, "{}", verify.all());
    assert_contains(&verify.stdout, "✓ marker row");
    assert_contains(&verify.stdout, "✗ record");
    assert_contains(
        &verify.stdout,
        "no record of the marker row in ord.demo.orders within the deadline",
    );
    assert_contains(&verify.stdout, "✓ marker removed");

    // A task that fails at run time (its publication does not exist, and may not be created)
    // is reported with its trace, and verify says which step failed and why.
    let broken = overlay(
        work.path(),
        "broken",
        "    config:\n      publication.name: no_such_publication\n",
    );
    let run = stack.command_for(&broken, &["local", "connectors", "apply"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_contains(&run.stderr, "connector `orders-source`: task 0 FAILED");
    assert_contains(
        &run.stderr,
        "Caused by: org.apache.kafka.connect.errors.ConnectException: Publication autocreation is disabled",
    );
    let run = stack.command_for(
        &broken,
        &["local", "connectors", "status", "--output", "json"],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert_contains(&run.stdout, "\"state\": \"FAILED\"");
    let verify = stack.command_for(&broken, &["local", "verify"]);
    assert_eq!(verify.code, 1, "{}", verify.all());
    assert_contains(&verify.stdout, "✗ connector orders-source");
    assert_contains(&verify.stdout, "task 0 FAILED");
    assert_contains(&verify.stdout, "failed verification");

    // Back to the file's configuration: running, and CDC again.
    let run = stack.deploy(&["local", "connectors", "apply"]);
    assert_eq!(run.code, 0, "{}", run.all());
    stack.ok(&["local", "verify"]);

    // The slot is a resource of the environment: in the plan and in status.
    let plan = stack.ok(&["local", "connectors", "plan"]);
    assert!(
        plan.stdout
            .lines()
            .any(|l| l.contains("= slot    orders") && l.contains("unchanged: active, retains")),
        "{}",
        plan.stdout
    );
    let status = stack.ok(&["local", "connectors", "status"]);
    assert_contains(
        &status.stdout,
        "orders  postgres:5432/main  orders-source  yes",
    );

    // A new slot name: the connector moves to it, then the old slot, free, is dropped. Its
    // offsets point into the old slot's WAL, so Debezium starts on the new slot only with a
    // snapshot mode that snapshots again; the plan says so.
    let moved = overlay(
        work.path(),
        "moved",
        "    config:\n      slot.name: orders_v2\n",
    );
    let plan = stack.command_for(&moved, &["local", "connectors", "plan"]);
    assert_contains(
        &plan.stdout,
        "create: made by orders-source when it moves to it; its offsets are the old slot's, so it fails to start on a new one with snapshot.mode initial",
    );
    let moved = overlay(
        work.path(),
        "moved",
        "    config:\n      slot.name: orders_v2\n      snapshot.mode: when_needed\n",
    );
    let plan = stack.command_for(&moved, &["local", "connectors", "plan"]);
    assert_contains(
        &plan.stdout,
        "create: made by orders-source when it moves to it\n",
    );
    assert_contains(
        &plan.stdout,
        "remove: its connector orders-source moves to slot orders_v2; it pins",
    );
    let run = stack.command_for(&moved, &["local", "connectors", "apply"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_contains(
        &run.stderr,
        "- replication slot orders dropped from postgres:5432/main",
    );
    assert_eq!(slots(&stack), "orders_v2 true");

    // Back to `orders`, keeping `orders_v2` (keep-slot): it stays, and its retained WAL, which
    // status shows, grows while rows are written.
    let keeping = overlay(
        work.path(),
        "keeping",
        "    keep-slot: true\n    config:\n      snapshot.mode: when_needed\n",
    );
    let plan = stack.command_for(&keeping, &["local", "connectors", "plan"]);
    assert_contains(
        &plan.stdout,
        "its connector orders-source moves to slot orders; kept (keep-slot); it pins",
    );
    let run = stack.command_for(&keeping, &["local", "connectors", "apply"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(!run.stderr.contains("dropped"), "{}", run.stderr);
    // Named by no connector now, it is still shown, with what it pins.
    let plan = stack.command_for(&keeping, &["local", "connectors", "plan"]);
    assert_contains(
        &plan.stdout,
        "on postgres:5432/main, named by no connector of this environment: never touched; inactive, retains",
    );
    let retained = |stack: &Stack| -> i64 {
        let run = stack.command_for(
            &keeping,
            &["--output", "json", "local", "connectors", "status"],
        );
        let report: Value = serde_json::from_str(&run.stdout).expect("status JSON");
        report["slots"]
            .as_array()
            .expect("slots")
            .iter()
            .find(|s| s["slot"] == "orders_v2")
            .and_then(|s| s["retained_bytes"].as_i64())
            .unwrap_or_else(|| panic!("no orders_v2 in {report}"))
    };
    let before = retained(&stack);
    stack.psql("INSERT INTO demo.orders (customer_id, amount) SELECT 'WAL', g FROM generate_series(1, 5000) g");
    let after = retained(&stack);
    assert!(after > before, "retained {before} then {after}");

    // --prune deletes a connector the file no longer has, and drops its slot once free; the
    // kept slot no connector names any more is never touched.
    let without = work.path().join("without.yaml");
    std::fs::write(
        &without,
        format!(
            "version: 1\ninclude: [{}]\nname: ${{DEPLOY_TEST_NAME}}\ntarget: local\nconnectors:\n  orders-source: ~\n",
            support::root().join("tests/environments/real.yaml").display()
        ),
    )
    .expect("overlay file");
    let plan = stack.command_for(&without, &["local", "connectors", "plan", "--prune"]);
    assert_contains(
        &plan.stdout,
        "remove: its connector orders-source is removed",
    );
    let run = stack.command_for(&without, &["local", "connectors", "apply", "--prune"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_contains(&run.stderr, "- connector orders-source deleted");
    assert_contains(
        &run.stderr,
        "- replication slot orders dropped from postgres:5432/main",
    );
    assert_eq!(slots(&stack), "orders_v2 false");
    stack.psql("SELECT pg_drop_replication_slot('orders_v2')");
    // Connect keeps a deleted connector's offsets: back on a new slot, it snapshots again.
    let again = overlay(
        work.path(),
        "again",
        "    config:\n      snapshot.mode: when_needed\n",
    );
    let run = stack.command_for(&again, &["local", "connectors", "apply"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(slots(&stack), "orders true");

    // A dead slot cannot fill the disk: paused, its slot holds back WAL until the bound
    // (max_slot_wal_keep_size, 64MB in this test) invalidates it; status shows it lost, and
    // verify fails on it, saying what to do.
    let run = stack.command_for(&paused, &["local", "connectors", "apply"]);
    assert_eq!(run.code, 0, "{}", run.all());
    stack.psql("CREATE TABLE demo.filler AS SELECT g, repeat('x', 1000) AS pad FROM generate_series(1, 150000) g");
    stack.psql("SELECT pg_switch_wal()");
    stack.psql("CHECKPOINT");
    assert_eq!(slots(&stack), "orders false");
    assert_eq!(
        stack.psql("SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'orders'"),
        "lost"
    );
    let status = stack.ok(&["local", "connectors", "status"]);
    assert_contains(&status.stdout, "LOST");
    let verify = stack.command_for(&paused, &["local", "verify"]);
    assert_eq!(verify.code, 1, "{}", verify.all());
    assert_contains(&verify.stdout, "✗ slot orders");
    assert_contains(
        &verify.stdout,
        "LOST: invalidated by max_slot_wal_keep_size",
    );
    assert_contains(&verify.stdout, "needs a new snapshot");
}

/// The database's replication slots, `name active` each, one a line.
fn slots(stack: &Stack) -> String {
    stack.psql("SELECT slot_name || ' ' || active FROM pg_replication_slots ORDER BY 1")
}
