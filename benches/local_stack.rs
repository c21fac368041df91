//! `deploy local up|down` side by side with `docker-compose` on the same stack: the default
//! environment on the test images (tests/environments/standin.yaml) and its compose equivalent
//! (bench/compose.yaml: same images, commands, ports, volumes, and readiness checks at the same
//! 250ms interval). Run with `cargo bench --bench local_stack`; BENCH_RUNS sets the rounds.
//!
//! `deploy local up` also registers the default connector (`orders-source`) with the Connect
//! stand-in, which compose does not do; the no-op run also reads the connectors back.
//!
//! Measured, each from command start to every service ready:
//! - cold: nothing running, no volumes (PostgreSQL runs its init), images present;
//! - no-op: everything running, nothing changed;
//! - down: containers and network removed, volumes kept.
//!
//! compose's readiness is `up -d` (which waits for `service_healthy` dependencies) followed by
//! polling until every container's health check reports healthy, as `up --wait` does.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{median, run};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const PROJECT: &str = "deploy-bench-compose";

fn deploy(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_deploy"));
    command
        .args(["-q", "-e", "tests/environments/standin.yaml"])
        .args(args)
        .current_dir(ROOT)
        .env("DEPLOY_TEST_NAME", "bench")
        .env("DEPLOY_TEST_PORT_BASE", "6150");
    command
}

fn compose(args: &[&str]) -> Command {
    let mut command = Command::new("docker-compose");
    command
        .args(["-p", PROJECT, "-f", "bench/compose.yaml"])
        .args(args)
        .current_dir(ROOT);
    command
}

fn compose_all_healthy() -> bool {
    let output = Command::new("docker")
        .args([
            "ps",
            "-a",
            "--filter",
            &format!("label=com.docker.compose.project={PROJECT}"),
        ])
        .args(["--format", "{{.Status}}"])
        .output()
        .expect("docker runs");
    let text = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = text.lines().collect();
    lines.len() == 6 && lines.iter().all(|l| l.contains("(healthy)"))
}

fn time(f: impl FnOnce()) -> Duration {
    let started = Instant::now();
    f();
    started.elapsed()
}

fn compose_up_wait() {
    run(&mut compose(&["up", "-d"]));
    let deadline = Instant::now() + Duration::from_secs(120);
    while !compose_all_healthy() {
        assert!(
            Instant::now() < deadline,
            "compose stack not healthy after 120s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn main() {
    if !common::benchmarking() {
        return;
    }
    // The test images, with the Connect stand-in running the tests' REST emulator.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run(Command::new(cargo)
        .args(["build", "--quiet", "--example", "connect_emulator"])
        .current_dir(ROOT));
    let target = Path::new(env!("CARGO_BIN_EXE_deploy"))
        .parent()
        .and_then(Path::parent)
        .expect("target dir");
    run(Command::new("bash")
        .arg(Path::new(ROOT).join("tests/images/build.sh"))
        .env(
            "CONNECT_EMULATOR_BIN",
            target.join("debug/examples/connect_emulator"),
        ));
    let rounds: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let clean = || {
        run(&mut deploy(&["local", "down", "--volumes"]));
        run(&mut compose(&["down", "--volumes", "--remove-orphans"]));
    };
    clean();
    let mut results: Vec<(&str, Vec<Duration>, Vec<Duration>)> = vec![
        ("cold up", Vec::new(), Vec::new()),
        ("no-op up", Vec::new(), Vec::new()),
        ("down", Vec::new(), Vec::new()),
    ];
    for round in 0..rounds {
        // Alternate who goes first, so neither always runs on a warmer engine.
        let order = if round % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for ours in order {
            let (cold, noop, down) = if ours {
                (
                    time(|| run(&mut deploy(&["local", "up"]))),
                    time(|| run(&mut deploy(&["local", "up"]))),
                    time(|| run(&mut deploy(&["local", "down"]))),
                )
            } else {
                (
                    time(compose_up_wait),
                    time(compose_up_wait),
                    time(|| run(&mut compose(&["down"]))),
                )
            };
            let column = if ours { 1 } else { 2 };
            for (row, sample) in [cold, noop, down].into_iter().enumerate() {
                let entry = &mut results[row];
                if column == 1 {
                    entry.1.push(sample)
                } else {
                    entry.2.push(sample)
                }
            }
            clean();
        }
        eprintln!("round {} of {rounds} done", round + 1);
    }
    println!("| step ({rounds} rounds, median) | deploy | docker-compose | ratio |");
    println!("|---|---:|---:|---:|");
    for (name, ours, theirs) in results {
        let (ours, theirs) = (median(ours), median(theirs));
        println!(
            "| {name} | {:.0} ms | {:.0} ms | {:.2}x |",
            ours.as_secs_f64() * 1000.0,
            theirs.as_secs_f64() * 1000.0,
            ours.as_secs_f64() / theirs.as_secs_f64()
        );
    }
}
