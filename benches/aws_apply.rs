//! `deploy aws apply` against the emulators with injected delays (custom plugins take 2 s to
//! become ACTIVE, connectors 3 s to run, an Aurora cluster and its instance 4 s to become
//! available, an MSK cluster 6 s to become ACTIVE). First two connectors on two plugins with a
//! worker configuration: the longest dependency chain is plugin → connector, 5 s. Then the same
//! with the whole infrastructure (MSK, security groups, roles, Aurora, the registry on ECS behind
//! a load balancer): the longest chain is MSK → connectors, 9 s, with Aurora → registry and the
//! plugins alongside. Independent
//! resources run concurrently, so a cold apply should take little more than its chain. A no-op
//! apply should read each resource about once and write nothing. Run with
//! `cargo bench --bench aws_apply`.

#[allow(dead_code)]
mod common;

#[allow(dead_code)]
#[path = "../tests/support/http.rs"]
mod http;

#[allow(dead_code)]
#[path = "../tests/support/vpc.rs"]
mod vpc;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::run;
use sha2::{Digest, Sha256};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const PLUGIN_DELAY: f64 = 2.0;
const CONNECTOR_DELAY: f64 = 3.0;
const DATABASE_DELAY: f64 = 4.0;
const CLUSTER_DELAY: f64 = 6.0;

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
            "{{\"plugin_delay\": {PLUGIN_DELAY}, \"connector_delay\": {CONNECTOR_DELAY}, \"rds_delay\": {DATABASE_DELAY}, \"cluster_delay\": {CLUSTER_DELAY}}}"
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
    let connectors_only = work.path().join("bench.yaml");
    std::fs::write(
        &connectors_only,
        format!(
            "version: 1\nname: bench\ntarget: aws\naws:\n  region: us-east-1\n  endpoint-url: {}\n  plugin-bucket: bench-plugins\n  bootstrap-servers: b-1:9098\n  subnets: [subnet-1]\n  security-groups: [sg-1]\n  service-execution-role-arn: arn:aws:iam::123456789012:role/connect\n  worker-configuration:\n    properties:\n      offset.flush.interval.ms: 10000\nconnectors:\n  a:\n    plugin: alpha\n    config:\n      connector.class: A\n  b:\n    plugin: beta\n    config:\n      connector.class: B\n",
            emulator.1
        ),
    )
    .expect("environment file");
    let (vpc, subnets) = default_network(&emulator.1);
    let whole = work.path().join("whole.yaml");
    std::fs::write(
        &whole,
        format!(
            "version: 1\nname: whole\ntarget: aws\naws:\n  region: us-east-1\n  endpoint-url: {}\n  plugin-bucket: whole-plugins\n  msk: {{ brokers: 2 }}\n  vpc: {vpc}\n  subnets: [{}, {}]\n  database: {{ deletion-protection: false }}\n  registry: {{}}\n  worker-configuration:\n    avro-converters: true\nreferences:\n  registry.url: ${{aws:registry.url}}\nconnectors:\n  a:\n    plugin: alpha\n    config:\n      connector.class: A\n      database.hostname: ${{aws:database.host}}\n      database.password: ${{aws:database.password}}\n  b:\n    plugin: beta\n    config:\n      connector.class: B\n",
            emulator.1, subnets[0], subnets[1]
        ),
    )
    .expect("environment file");
    // Build the plugins once, so the cold apply measures AWS work only.
    run(Command::new(env!("CARGO_BIN_EXE_deploy"))
        .args(["-q", "plugins", "build"])
        .current_dir(work.path())
        .env("DEPLOY_CACHE_DIR", work.path().join("cache"))
        .env("DEPLOY_BUILD_DIR", work.path().join("build")));

    println!("| aws apply (emulators, injected delays) | deploy | reference | ratio |");
    println!("|---|---:|---:|---:|");
    let connectors = measure(&emulator.1, work.path(), &connectors_only);
    let chain = PLUGIN_DELAY + CONNECTOR_DELAY;
    connectors.print(
        "cold: bucket, 2 ZIPs, 2 custom plugins, worker configuration, 2 connectors",
        chain,
        "no-op: 8 resources",
    );
    let infrastructure = measure(&emulator.1, work.path(), &whole);
    infrastructure.print(
        "cold: the above + MSK (cluster, configuration), 6 security groups, 3 roles, Aurora (4 parts), 4 log groups, the slots' alarm, ECS cluster, task definition, service, load balancer",
        CLUSTER_DELAY + CONNECTOR_DELAY,
        "no-op: 30 resources",
    );
}

/// The emulator's default VPC and its subnets, private with a NAT gateway's way out (`aws plan`
/// refuses subnets without one).
fn default_network(endpoint: &str) -> (String, Vec<String>) {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .http_client(deploy::aws::clients::http_client())
            .credentials_provider(aws_credential_types::Credentials::new(
                "testing", "testing", None, None, "bench",
            ))
            .load()
            .await;
        vpc::private_subnets(&aws_sdk_ec2::Client::new(&shared)).await
    })
}

struct Measured {
    cold: Duration,
    noop: Duration,
    reads: u64,
    writes: u64,
}

impl Measured {
    fn print(&self, cold: &str, chain: f64, noop: &str) {
        println!(
            "| {cold} | {:.2} s | {chain:.1} s longest chain | {:.2}x |",
            self.cold.as_secs_f64(),
            self.cold.as_secs_f64() / chain
        );
        println!(
            "| {noop} | {:.0} ms, {} reads, {} writes | 1 s | {:.2}x |",
            self.noop.as_secs_f64() * 1000.0,
            self.reads,
            self.writes,
            self.noop.as_secs_f64()
        );
    }
}

/// A cold apply, then a no-op apply with the calls it made.
fn measure(endpoint: &str, work: &std::path::Path, environment: &std::path::Path) -> Measured {
    let deploy = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_deploy"));
        command
            .arg("-q")
            .arg("-e")
            .arg(environment)
            .args(args)
            .current_dir(work)
            .env("DEPLOY_CACHE_DIR", work.join("cache"))
            .env("DEPLOY_BUILD_DIR", work.join("build"))
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing");
        command
    };

    // moto builds each service's backend on its first call (over a second for EC2): one plan,
    // which only reads, warms them, so the cold apply measures deploy rather than the emulator.
    run(&mut deploy(&["aws", "plan"]));
    let apply = ["aws", "apply", "--auto-approve"];
    let started = Instant::now();
    run(&mut deploy(&apply));
    let cold = started.elapsed();
    let before = control(endpoint, "calls", None);
    let started = Instant::now();
    run(&mut deploy(&apply));
    let noop = started.elapsed();
    let after = control(endpoint, "calls", None);
    let reads = total(&after["calls"])
        - total(&after["writes"])
        - (total(&before["calls"]) - total(&before["writes"]));
    let writes = total(&after["writes"]) - total(&before["writes"]);
    Measured {
        cold,
        noop,
        reads,
        writes,
    }
}
