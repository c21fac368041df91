//! From nothing to the first CDC record, side by side on the real pipeline of the tests
//! (tests/environments/real.yaml: the real Kafka Connect 4.3 and Debezium 3.6.3 from deploy's
//! plugin ZIP, PostgreSQL, Tansu, the registry stand-in), same images:
//!
//! - `deploy local up`, which also registers the connector and waits for it;
//! - the original way: `docker-compose up -d` of the same stack (bench/compose-cdc.yaml, health
//!   checks at deploy's 250 ms probe interval), then polling Connect's REST API every 250 ms until
//!   it answers, then `curl -X PUT /connectors/orders-source/config` with the configuration deploy
//!   registered. Its plugin directory holds the same jars as deploy's but, as one assembled by
//!   hand, no generated ServiceLoader manifests, and its worker keeps Connect's default plugin
//!   discovery (a scan); `BENCH_SAME_WORKER=1` gives it deploy's plugin directory and worker file
//!   instead, to compare the orchestration alone.
//!
//! Each run starts with nothing running and no volumes, and ends when the first record of the
//! initial snapshot is read from `ord.demo.orders` (a consumer polls from the start). Rounds
//! alternate who goes first; medians. It also reports where the time goes, from Connect's own
//! log: JVM start to the REST server, the plugin scan, and the connector from its PUT to the
//! first record. Run with `cargo bench --bench cdc`; BENCH_RUNS sets the rounds (default 3).

mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{median, run};
use deploy::verify::kafka::{Start, Tail};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const PROJECT: &str = "deploy-bench-cdc";
const KAFKA: &str = "127.0.0.1:61702";
const CONNECT: &str = "http://127.0.0.1:61703";
const TOPIC: &str = "ord.demo.orders";

struct Bench {
    plugins: PathBuf,
    cache: PathBuf,
    /// Where the served plugins' publisher checksums are looked up (the tests' server).
    hub_api: String,
}

impl Bench {
    fn deploy(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_deploy"));
        command
            .args(["-q", "-e", "tests/environments/real.yaml"])
            .args(args)
            .current_dir(ROOT)
            .env("DEPLOY_TEST_NAME", "bench-cdc")
            .env("DEPLOY_TEST_PORT_BASE", "6170")
            .env("DEPLOY_PLUGINS_DIR", &self.plugins)
            .env("DEPLOY_CACHE_DIR", &self.cache)
            .env(support::real_plugins::HUB_API, &self.hub_api);
        command
    }

    /// The plugin directory `deploy` extracted from its ZIP, for compose to mount.
    fn plugin_dir(&self) -> PathBuf {
        let extracted = self.cache.join("extracted");
        std::fs::read_dir(&extracted)
            .expect("deploy extracted its plugin")
            .flatten()
            .map(|e| e.path().join("debezium-postgres"))
            .find(|p| p.is_dir())
            .expect("the extracted debezium-postgres plugin")
    }
}

/// The plugin directory and worker file compose mounts.
struct Worker {
    plugins: PathBuf,
    properties: PathBuf,
}

impl Worker {
    /// As deploy mounts them.
    fn deploy(plugins: PathBuf) -> Self {
        Worker {
            plugins,
            properties: Path::new(ROOT).join("environments/config/connect-distributed.properties"),
        }
    }

    /// As assembled by hand: the same jars without deploy's manifests, Connect's default
    /// plugin discovery.
    fn by_hand(deploy: &Worker, dir: &Path) -> Self {
        let plugins = dir.join("debezium-postgres");
        std::fs::create_dir_all(&plugins).expect("plugin dir");
        for entry in std::fs::read_dir(&deploy.plugins)
            .expect("deploy's plugin dir")
            .flatten()
        {
            if entry.file_name() != deploy::plugins::JAR_NAME {
                std::fs::copy(entry.path(), plugins.join(entry.file_name())).expect("a jar");
            }
        }
        let properties = dir.join("connect-distributed.properties");
        let text = std::fs::read_to_string(&deploy.properties).expect("the worker file");
        let kept: String = text
            .lines()
            .filter(|l| !l.starts_with("plugin.discovery="))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&properties, kept).expect("the worker file");
        Worker {
            plugins,
            properties,
        }
    }
}

fn compose(worker: &Worker, args: &[&str]) -> Command {
    let mut command = Command::new("docker-compose");
    command
        .args(["-p", PROJECT, "-f", "bench/compose-cdc.yaml"])
        .args(args)
        .current_dir(ROOT)
        .env("CDC_PLUGIN_DIR", &worker.plugins)
        .env("CDC_WORKER_PROPERTIES", &worker.properties);
    command
}

/// Waits for the first record of the topic, opening the consumer as soon as the broker
/// answers; returns when it arrived.
fn first_record(deadline: Instant) -> Instant {
    loop {
        assert!(Instant::now() < deadline, "no broker within the deadline");
        match Tail::open(KAFKA, TOPIC, Start::Beginning) {
            Ok(mut tail) => {
                let record = tail.until(deadline, |_| true).expect("the topic reads");
                assert!(record.is_some(), "no record in {TOPIC} within the deadline");
                return Instant::now();
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// `curl` as a script would call it; the status code, or 0 when nothing answers.
fn curl(args: &[&str]) -> u16 {
    let output = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .args(args)
        .output()
        .expect("curl runs");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

fn the_original_way(worker: &Worker, config: &str) {
    run(&mut compose(worker, &["up", "-d"]));
    let deadline = Instant::now() + Duration::from_secs(180);
    while curl(&[&format!("{CONNECT}/connectors")]) != 200 {
        assert!(Instant::now() < deadline, "Connect did not answer");
        std::thread::sleep(Duration::from_millis(250));
    }
    let code = curl(&[
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/json",
        "--data",
        config,
        &format!("{CONNECT}/connectors/orders-source/config"),
    ]);
    assert_eq!(code, 201, "registering the connector");
}

/// Where the time went, from the Connect container's log timestamps.
fn connect_phases(container: &str) -> String {
    let output = Command::new("docker")
        .args(["logs", "-t", container])
        .output()
        .expect("docker logs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let at = |needle: &str| -> Option<f64> {
        let line = text.lines().find(|l| l.contains(needle))?;
        let stamp = line.split_whitespace().next()?;
        // 2026-12-01T21:07:33.683456789Z: seconds of the day are enough here.
        let time = stamp.split('T').nth(1)?.trim_end_matches('Z');
        let mut parts = time.split(':');
        let (h, m, s): (f64, f64, f64) = (
            parts.next()?.parse().ok()?,
            parts.next()?.parse().ok()?,
            parts.next()?.parse().ok()?,
        );
        Some(h * 3600.0 + m * 60.0 + s)
    };
    let first = at("");
    let scan: Vec<String> = text
        .lines()
        .filter(|l| l.contains("Scanning plugins with"))
        .filter_map(|l| l.split("took ").nth(1))
        .map(|t| t.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .collect();
    let rest = at("REST server listening");
    let put = at("\"PUT /connectors/orders-source/config");
    let running = at("Starting streaming").or(at("Snapshot ended"));
    let gap = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => format!("{:.1} s", b - a),
        _ => "?".into(),
    };
    format!(
        "JVM start to REST {}, plugin scans {}, PUT to snapshot done {}",
        gap(first, rest),
        if scan.is_empty() {
            "?".into()
        } else {
            scan.join(" + ")
        },
        gap(put, running)
    )
}

fn main() {
    if !common::benchmarking() {
        return;
    }
    support::ensure_images();
    let server = support::http::Server::start();
    let work = tempfile::tempdir().expect("temporary directory");
    let mut bench = Bench {
        plugins: work.path().join("plugins"),
        cache: work.path().join("cache"),
        hub_api: String::new(),
    };
    bench.hub_api = support::real_plugins::serve(&server, &bench.plugins);
    let rounds: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);

    // Once untimed: deploy builds and extracts the plugin, and the configuration it registers
    // is what the original way sends with curl.
    run(&mut bench.deploy(&["local", "up"]));
    let config = {
        let body = ureq::get(&format!("{CONNECT}/connectors/orders-source/config"))
            .call()
            .expect("Connect answers")
            .into_body()
            .read_to_string()
            .expect("a body");
        let mut value: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        value.as_object_mut().expect("an object").remove("name");
        value.to_string()
    };
    let same_worker = std::env::var_os("BENCH_SAME_WORKER").is_some();
    let worker = Worker::deploy(bench.plugin_dir());
    let worker = if same_worker {
        worker
    } else {
        Worker::by_hand(&worker, &work.path().join("by-hand"))
    };
    let clean = || {
        run(&mut bench.deploy(&["local", "down", "--volumes"]));
        run(&mut compose(
            &worker,
            &["down", "--volumes", "--remove-orphans"],
        ));
    };
    clean();

    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let (mut our_phases, mut their_phases) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for deploy_first in order {
            let started = Instant::now();
            let deadline = started + Duration::from_secs(300);
            let consumer = std::thread::spawn(move || first_record(deadline));
            if deploy_first {
                run(&mut bench.deploy(&["local", "up"]));
            } else {
                the_original_way(&worker, &config);
            }
            let arrived = consumer.join().expect("the consumer");
            if deploy_first {
                ours.push(arrived - started);
                our_phases.push(connect_phases("bench-cdc-connect"));
            } else {
                theirs.push(arrived - started);
                their_phases.push(connect_phases(&format!("{PROJECT}_connect_1")));
            }
            clean();
        }
        eprintln!("round {} of {rounds} done", round + 1);
    }
    let (ours, theirs) = (median(ours), median(theirs));
    let baseline = if same_worker {
        "docker-compose + curl, deploy's worker"
    } else {
        "docker-compose + curl"
    };
    println!(
        "| from nothing to the first CDC record ({rounds} rounds, median) | deploy | {baseline} | ratio |"
    );
    println!("|---|---:|---:|---:|");
    println!(
        "| cold: stack up, connector registered, first snapshot record read | {:.1} s | {:.1} s | {:.2}x |",
        ours.as_secs_f64(),
        theirs.as_secs_f64(),
        ours.as_secs_f64() / theirs.as_secs_f64()
    );
    println!();
    for (who, phases) in [("deploy", our_phases), ("compose", their_phases)] {
        for phase in phases {
            println!("- {who}: {phase}");
        }
    }
}
