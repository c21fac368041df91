//! `deploy aws apply` against the emulators with injected delays (custom plugins take 2 s to
//! become ACTIVE, connectors 3 s to run): two connectors on two plugins with a worker
//! configuration. The longest dependency chain is plugin → connector, 5 s; independent
//! resources run concurrently, so a cold apply should take little more. A no-op apply should
//! read each resource at most once and write nothing. Run with `cargo bench --bench aws_apply`.

#[allow(dead_code)]
mod common;

#[allow(dead_code)]
#[path = "../tests/support/http.rs"]
mod http;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::run;
use sha2::{Digest, Sha256};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const PLUGIN_DELAY: f64 = 2.0;
const CONNECTOR_DELAY: f64 = 3.0;

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

struct Emulator(Child, String);

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn control(endpoint: &str, path: &str, body: Option<&str>) -> serde_json::Value {
    let url = format!("{endpoint}/_emulator/{path}");
    let response = match body {
        Some(body) => ureq::post(&url)
            .header("Content-Type", "application/json")
            .send(body),
        None => ureq::get(&url).call(),
    };
    serde_json::from_str(
        &response
            .expect("emulator answers")
            .into_body()
            .read_to_string()
            .expect("body"),
    )
    .expect("JSON")
}

fn total(counts: &serde_json::Value) -> u64 {
    counts
        .as_object()
        .into_iter()
        .flatten()
        .map(|(_, v)| v.as_u64().unwrap_or(0))
        .sum()
}

fn main() {
    if !common::benchmarking() {
        return;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("address")
        .port();
    let child = Command::new("python3")
        .arg(format!("{ROOT}/tests/emulators/aws.py"))
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the AWS emulator starts");
    let emulator = Emulator(child, format!("http://127.0.0.1:{port}"));
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(50));
    }
    control(
        &emulator.1,
        "config",
        Some(&format!(
            "{{\"plugin_delay\": {PLUGIN_DELAY}, \"connector_delay\": {CONNECTOR_DELAY}}}"
        )),
    );

    // Two connector plugins, one jar each, served from 127.0.0.1.
    let server = http::Server::start();
    let work = tempfile::tempdir().expect("temp dir");
    let plugins = work.path().join("plugins");
    std::fs::create_dir_all(&plugins).expect("plugins dir");
    for name in ["alpha", "beta"] {
        let jar = format!("{name} connector").into_bytes();
        let url = server.put(&format!("/{name}-1.0.jar"), jar.clone());
        std::fs::write(
            plugins.join(format!("{name}.yaml")),
            format!("version: 1\nname: {name}\nrelease: '1'\nkind: connector\nartifacts:\n  - url: {url}\n    sha256: {}\n", sha256(&jar)),
        )
        .expect("plugin file");
    }
    let environment = work.path().join("bench.yaml");
    std::fs::write(
        &environment,
        format!(
            "version: 1\nname: bench\ntarget: aws\naws:\n  region: us-east-1\n  endpoint-url: {}\n  plugin-bucket: bench-plugins\n  bootstrap-servers: b-1:9098\n  subnets: [subnet-1]\n  service-execution-role-arn: arn:aws:iam::123456789012:role/connect\n  worker-configuration:\n    properties:\n      offset.flush.interval.ms: 10000\nconnectors:\n  a:\n    plugin: alpha\n    config:\n      connector.class: A\n  b:\n    plugin: beta\n    config:\n      connector.class: B\n",
            emulator.1
        ),
    )
    .expect("environment file");
    let deploy = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_deploy"));
        command
            .arg("-q")
            .arg("-e")
            .arg(&environment)
            .args(["aws", "apply", "--auto-approve"])
            .current_dir(work.path())
            .env("DEPLOY_CACHE_DIR", work.path().join("cache"))
            .env("DEPLOY_BUILD_DIR", work.path().join("build"))
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing");
        command
    };
    // Build the plugins once, so the cold apply measures AWS work only.
    run(Command::new(env!("CARGO_BIN_EXE_deploy"))
        .args(["-q", "plugins", "build"])
        .current_dir(work.path())
        .env("DEPLOY_CACHE_DIR", work.path().join("cache"))
        .env("DEPLOY_BUILD_DIR", work.path().join("build")));

    let started = Instant::now();
    run(&mut deploy());
    let cold = started.elapsed();
    let before = control(&emulator.1, "calls", None);
    let started = Instant::now();
    run(&mut deploy());
    let noop = started.elapsed();
    let after = control(&emulator.1, "calls", None);
    let reads = total(&after["calls"])
        - total(&after["writes"])
        - (total(&before["calls"]) - total(&before["writes"]));
    let writes = total(&after["writes"]) - total(&before["writes"]);
    let chain = PLUGIN_DELAY + CONNECTOR_DELAY;
    println!("| aws apply (emulators, injected delays) | deploy | reference | ratio |");
    println!("|---|---:|---:|---:|");
    println!(
        "| cold: bucket, 2 ZIPs, 2 custom plugins, worker configuration, 2 connectors | {:.2} s | {chain:.1} s longest chain | {:.2}x |",
        cold.as_secs_f64(),
        cold.as_secs_f64() / chain
    );
    println!(
        "| no-op: 8 resources | {:.0} ms, {reads} reads, {writes} writes | 1 s | {:.2}x |",
        noop.as_secs_f64() * 1000.0,
        noop.as_secs_f64()
    );
}
