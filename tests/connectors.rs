//! Connectors as code against the Kafka Connect REST emulator: the real binary, the shared
//! connector definitions (environments/shared/connectors.yaml), no Docker.

mod support;

use std::process::Command;
use std::time::Duration;

use support::connect_emulator::Emulator;
use support::{Run, assert_contains};

const SECRET: &str = "pg-Secret-value-9f3";

fn deploy(emulator: &Emulator, vars: &[(&str, &str)], args: &[&str]) -> Run {
    let port = emulator.url.rsplit(':').next().expect("port");
    let output = Command::new(env!("CARGO_BIN_EXE_deploy"))
        .args(["-e", "tests/environments/connectors.yaml"])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .env("EMULATOR_PORT", port)
        .env("POSTGRES_PASSWORD", SECRET)
        .env_remove("S3_SINK_BUCKET")
        .env_remove("FAIL_TRACE")
        .envs(vars.iter().copied())
        .output()
        .expect("deploy runs");
    let run = Run::from(output);
    run.assert_hides(&[SECRET]);
    run
}

#[test]
fn create_from_nothing_then_a_no_op_then_one_changed_key() {
    let emulator = Emulator::start();
    emulator.delay_tasks(Duration::from_millis(300));
    let plan = deploy(
        &emulator,
        &[],
        &["local", "connectors", "plan", "--detailed-exitcode"],
    );
    assert_eq!(plan.code, 3, "{}", plan.stderr);
    insta::assert_snapshot!("plan_from_nothing", plan.stdout);
    assert_contains(
        &plan.stderr,
        "connector orders-sink skipped: S3_SINK_BUCKET not set",
    );

    let apply = deploy(&emulator, &[], &["local", "connectors", "apply"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    assert_contains(&apply.stderr, "✓ connector orders-source running");

    // Exactly the configuration Connect received.
    let source = emulator.config("orders-source").expect("created");
    assert_eq!(source["database.hostname"], "postgres");
    assert_eq!(source["database.port"], "5432");
    assert_eq!(source["database.password"], SECRET);
    assert_eq!(source["topic.prefix"], "ord");
    assert_eq!(
        source["key.converter"],
        "io.confluent.connect.avro.AvroConverter"
    );
    assert_eq!(
        source["value.converter"],
        "io.confluent.connect.avro.AvroConverter"
    );
    assert_eq!(
        source["value.converter.schema.registry.url"],
        "http://registry:8080/apis/ccompat/v7"
    );
    assert_eq!(
        source["key.converter.schema.registry.url"],
        "http://registry:8080/apis/ccompat/v7"
    );
    assert_eq!(
        source["transforms.unwrap.delete.tombstone.handling.mode"],
        "rewrite-with-tombstone"
    );
    assert!(emulator.config("orders-sink").is_none());

    // Again: no write at all.
    let writes = emulator.writes().len();
    let again = deploy(&emulator, &[], &["local", "connectors", "apply"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_contains(&again.stderr, "nothing to change");
    assert_eq!(emulator.writes().len(), writes, "{:?}", emulator.writes());

    // One key changed: only that connector is written, and the plan names the key.
    let plan = deploy(
        &emulator,
        &[("MOCK_TOPIC", "two")],
        &["local", "connectors", "plan"],
    );
    assert_contains(
        &plan.stdout,
        "~ connector mock                  update: topic: one → two",
    );
    let apply = deploy(
        &emulator,
        &[("MOCK_TOPIC", "two")],
        &["local", "connectors", "apply"],
    );
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    let new_writes: Vec<String> = emulator.writes()[writes..].to_vec();
    assert_eq!(new_writes, vec!["PUT /connectors/mock/config"]);
    assert_eq!(emulator.config("mock").expect("mock")["topic"], "two");
}

#[test]
fn a_secret_change_is_planned_masked() {
    let emulator = Emulator::start();
    assert_eq!(
        deploy(&emulator, &[], &["local", "connectors", "apply"]).code,
        0
    );
    let output = Command::new(env!("CARGO_BIN_EXE_deploy"))
        .args([
            "-e",
            "tests/environments/connectors.yaml",
            "local",
            "connectors",
            "plan",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env(
            "EMULATOR_PORT",
            emulator.url.rsplit(':').next().expect("port"),
        )
        .env("POSTGRES_PASSWORD", "another-Secret-value")
        .output()
        .expect("deploy runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_contains(&stdout, "database.password: ******** → ********");
    assert!(
        !stdout.contains("another-Secret-value") && !stdout.contains(SECRET),
        "{stdout}"
    );
}

#[test]
fn prune_deletes_undefined_connectors_only_with_the_flag() {
    let emulator = Emulator::start();
    emulator.insert(
        "hand-made",
        "org.apache.kafka.connect.tools.MockSourceConnector",
    );
    let apply = deploy(&emulator, &[], &["local", "connectors", "apply"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    assert!(emulator.config("hand-made").is_some());
    let plan = deploy(&emulator, &[], &["local", "connectors", "plan"]);
    assert_contains(
        &plan.stdout,
        "hand-made             unchanged: not in the environment file; kept (--prune deletes it)",
    );
    let pruned = deploy(&emulator, &[], &["local", "connectors", "apply", "--prune"]);
    assert_eq!(pruned.code, 0, "{}", pruned.stderr);
    assert!(emulator.config("hand-made").is_none());
    assert!(
        emulator
            .writes()
            .contains(&"DELETE /connectors/hand-made".to_string())
    );
}

#[test]
fn a_failed_task_is_reported_with_its_trace() {
    let emulator = Emulator::start();
    let trace = "org.apache.kafka.connect.errors.ConnectException: cannot reach the database\n\tat Task.poll(Task.java:42)";
    let run = deploy(
        &emulator,
        &[("FAIL_TRACE", trace)],
        &["local", "connectors", "apply"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_contains(&run.stderr, "error: connector `failing`: task 0 FAILED");
    assert_contains(
        &run.stderr,
        "| org.apache.kafka.connect.errors.ConnectException: cannot reach the database",
    );
    assert_contains(
        &run.stderr,
        "hint: fix the cause, then `deploy local connectors restart failing --failed-only`",
    );
    let status = deploy(
        &emulator,
        &[("FAIL_TRACE", trace)],
        &["--output", "json", "local", "connectors", "status"],
    );
    let status: serde_json::Value = serde_json::from_str(&status.stdout).expect("JSON");
    let failing = status["connectors"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|c| c["name"] == "failing")
        .expect("failing");
    assert_eq!(failing["tasks"][0]["state"], "FAILED");
}

#[test]
fn invalid_keys_stop_the_apply_before_any_write() {
    let emulator = Emulator::start();
    let run = deploy(
        &emulator,
        &[("MOCK_TASKS", "invalid")],
        &["local", "connectors", "apply"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_contains(
        &run.stderr,
        "Kafka Connect refused the configuration of 1 key(s); nothing was changed",
    );
    assert_contains(
        &run.stderr,
        "| mock: tasks.max: Invalid value invalid for configuration tasks.max",
    );
    assert!(emulator.writes().is_empty(), "{:?}", emulator.writes());
}

#[test]
fn keys_no_class_defines_are_refused_with_the_nearest_real_key() {
    // The emulator validates as the real worker was seen to: it leaves keys it does not know
    // out of its answer, and says nothing of them.
    let emulator = Emulator::start();
    let run = deploy(
        &emulator,
        &[("TYPO", "1")],
        &["local", "connectors", "apply"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_contains(
        &run.stderr,
        "refusing 2 key(s) no class of the connector defines; nothing was changed",
    );
    assert_contains(
        &run.stderr,
        "| typo: schema.include: not a key of io.debezium.connector.postgresql.PostgresConnector (did you mean `schema.include.list`?)",
    );
    assert_contains(
        &run.stderr,
        "| typo: transforms.unwrap.add.feilds: not a key of io.debezium.transforms.ExtractNewRecordState (did you mean `transforms.unwrap.add.fields`?)",
    );
    assert_contains(&run.stderr, "allow-unknown-keys");
    assert!(emulator.writes().is_empty(), "{:?}", emulator.writes());
}

#[test]
fn a_conflict_while_rebalancing_is_retried() {
    let emulator = Emulator::start();
    emulator.conflict_next(3);
    let run = deploy(&emulator, &[], &["local", "connectors", "apply"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(emulator.config("orders-source").is_some());
    let conflicts = emulator
        .log()
        .iter()
        .filter(|r| r.starts_with("PUT /connectors/"))
        .count();
    assert!(conflicts >= 5, "{:?}", emulator.log());
}

#[test]
fn the_sink_is_created_when_its_bucket_is_given() {
    let emulator = Emulator::start();
    let run = deploy(
        &emulator,
        &[("S3_SINK_BUCKET", "analytics-data")],
        &["local", "connectors", "apply"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let sink = emulator.config("orders-sink").expect("sink created");
    assert_eq!(sink["s3.bucket.name"], "analytics-data");
    assert_eq!(sink["topics"], "ord.demo.orders");
    assert_eq!(
        sink["format.class"],
        "io.confluent.connect.s3.format.avro.AvroFormat"
    );
    // The source's deletes end with a tombstone, which the sink's default (`fail`) stops on.
    assert_eq!(sink["behavior.on.null.values"], "ignore");
}

#[test]
fn desired_state_pause_then_restart() {
    let emulator = Emulator::start();
    assert_eq!(
        deploy(&emulator, &[], &["local", "connectors", "apply"]).code,
        0
    );
    let paused = deploy(
        &emulator,
        &[("MOCK_STATE", "paused")],
        &["local", "connectors", "apply"],
    );
    assert_eq!(paused.code, 0, "{}", paused.stderr);
    assert_contains(&paused.stderr, "update: state RUNNING → PAUSED");
    assert!(
        emulator
            .writes()
            .contains(&"PUT /connectors/mock/pause".to_string())
    );
    let status = deploy(
        &emulator,
        &[("MOCK_STATE", "paused")],
        &["--output", "json", "local", "connectors", "status"],
    );
    let status: serde_json::Value = serde_json::from_str(&status.stdout).expect("JSON");
    let mock = status["connectors"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|c| c["name"] == "mock")
        .expect("mock");
    assert_eq!(mock["state"], "PAUSED");
    assert_eq!(
        deploy(&emulator, &[], &["local", "connectors", "apply"]).code,
        0
    );
    assert!(
        emulator
            .writes()
            .contains(&"PUT /connectors/mock/resume".to_string())
    );
    let run = deploy(&emulator, &[], &["local", "connectors", "restart", "mock"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(emulator.writes().iter().any(|w| {
        w.starts_with("POST /connectors/mock/restart?includeTasks=true&onlyFailed=false")
    }));
}
