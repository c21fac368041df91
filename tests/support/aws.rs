//! The AWS emulators (tests/emulators/aws.py: moto plus the in-repo MSK Connect emulator) as a
//! process on a free 127.0.0.1 port, ended with the handle.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub struct AwsEmulator {
    pub endpoint: String,
    child: Child,
    log: std::path::PathBuf,
}

impl AwsEmulator {
    /// Starts the emulator on a port it binds itself and says on its first line (a port picked
    /// here and bound there could be taken in between by another test's emulator). Its log goes
    /// to a file named in every failure of a control call.
    pub fn start() -> Self {
        let log = tempfile::Builder::new()
            .prefix("deploy-aws-emulator-")
            .suffix(".log")
            .tempfile()
            .expect("a log file")
            .keep()
            .expect("kept")
            .1;
        let mut child = Command::new("python3")
            .arg(super::root().join("tests/emulators/aws.py"))
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("the log file opens"))
            .spawn()
            .expect("python3 runs the AWS emulator (moto must be installed: .ci/run installs it)");
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut first)
            .expect("the emulator says its port");
        let port: u16 = first.trim().parse().unwrap_or_else(|_| {
            panic!(
                "the AWS emulator did not start (log: {}): {}",
                log.display(),
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
        AwsEmulator {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
            log,
        }
    }

    fn control(&self, path: &str, body: Option<&str>) -> serde_json::Value {
        let url = format!("{}/_emulator/{path}", self.endpoint);
        let response = match body {
            Some(body) => ureq::post(&url)
                .header("Content-Type", "application/json")
                .send(body),
            None => ureq::get(&url).call(),
        };
        let text = response
            .unwrap_or_else(|e| {
                panic!(
                    "the emulator does not answer {path}: {e} (its log: {})",
                    self.log.display()
                )
            })
            .into_body()
            .read_to_string()
            .expect("a body");
        serde_json::from_str(&text).expect("JSON")
    }

    /// Write calls (anything but GET and HEAD) per service so far.
    pub fn writes(&self) -> serde_json::Value {
        self.control("calls", None)["writes"].clone()
    }

    pub fn set_plugin_delay(&self, seconds: f64) {
        self.control("config", Some(&format!("{{\"plugin_delay\": {seconds}}}")));
    }

    pub fn set_connector_delay(&self, seconds: f64) {
        self.control(
            "config",
            Some(&format!("{{\"connector_delay\": {seconds}}}")),
        );
    }

    /// The next update of this connector ends UPDATE_FAILED (and it keeps its configuration).
    pub fn fail_next_update(&self, connector: &str) {
        self.control(
            "config",
            Some(&format!("{{\"fail_updates\": [\"{connector}\"]}}")),
        );
    }

    /// This connector's creation ends FAILED.
    pub fn fail_next_create(&self, connector: &str) {
        self.control(
            "config",
            Some(&format!("{{\"fail_creates\": [\"{connector}\"]}}")),
        );
    }

    /// An existing MSK cluster the emulator knows, with its IAM bootstrap servers.
    pub fn add_cluster(&self, arn: &str, servers: &str) {
        self.control(
            "config",
            Some(&format!("{{\"clusters\": {{\"{arn}\": \"{servers}\"}}}}")),
        );
    }

    /// What every one-shot ECS task prints as it stops (without `run_tasks_on`): a stand-in for a
    /// database the test does not run.
    pub fn set_task_output(&self, lines: &[&str]) {
        let body = serde_json::json!({ "task_output": lines });
        self.control("config", Some(&body.to_string()));
    }

    /// The connector's next pause, resume or restart operation fails.
    pub fn fail_next_operation(&self, connector: &str) {
        self.control(
            "config",
            Some(&format!("{{\"fail_operations\": [\"{connector}\"]}}")),
        );
    }

    /// Every ECS task's containers exit with this code once they stop.
    pub fn set_task_exit_code(&self, code: i32) {
        self.control("config", Some(&format!("{{\"task_exit_code\": {code}}}")));
    }

    /// One-shot ECS tasks run for real from now on: their container on the Docker `network`
    /// (the VPC), each host name in `hosts` (a private endpoint) answered by the container named.
    pub fn run_tasks_on(&self, network: &str, hosts: &[(&str, &str)]) {
        let hosts: serde_json::Map<String, serde_json::Value> = hosts
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
            .collect();
        let body = serde_json::json!({"task_runtime": {"network": network, "hosts": hosts}});
        self.control("config", Some(&body.to_string()));
    }

    /// What the registry's load balancer says of its tasks: `healthy`, or a state with a reason.
    pub fn set_target_health(&self, state: &str, reason: &str) {
        self.control(
            "config",
            Some(&format!(
                "{{\"target_health\": {{\"State\": \"{state}\", \"Reason\": \"{reason}\", \"Description\": \"Health checks failed\"}}}}"
            )),
        );
    }

    /// The next call of each operation (its API name) fails, as if the apply were cut short
    /// there.
    pub fn fail_next(&self, operations: &[&str]) {
        self.control(
            "config",
            Some(&serde_json::json!({ "fail_next": operations }).to_string()),
        );
    }

    /// The `n`-th write call from now fails, as if the apply were cut short there.
    pub fn fail_write(&self, n: usize) {
        self.control(
            "config",
            Some(&format!("{{\"fail_write_at\": {n}, \"writes_seen\": 0}}")),
        );
    }

    /// Forgets everything, moto's state included.
    pub fn reset(&self) {
        self.control("reset", Some("{}"));
    }

    /// The next `calls` MSK Connect calls answer TooManyRequestsException.
    pub fn throttle(&self, calls: u32) {
        self.control("config", Some(&format!("{{\"throttle\": {calls}}}")));
    }

    pub async fn shared(&self) -> aws_config::SdkConfig {
        self.shared_in("us-east-1").await
    }

    pub async fn shared_in(&self, region: &'static str) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region))
            .endpoint_url(&self.endpoint)
            .http_client(deploy::aws::clients::http_client())
            .credentials_provider(aws_credential_types::Credentials::new(
                "testing", "testing", None, None, "tests",
            ))
            .load()
            .await
    }

    /// SDK clients against the emulators, to read what they hold.
    pub async fn clients(&self) -> (aws_sdk_s3::Client, aws_sdk_kafkaconnect::Client) {
        self.clients_in("us-east-1").await
    }

    pub async fn clients_in(
        &self,
        region: &'static str,
    ) -> (aws_sdk_s3::Client, aws_sdk_kafkaconnect::Client) {
        let shared = self.shared_in(region).await;
        let s3 = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(true)
            .build();
        (
            aws_sdk_s3::Client::from_conf(s3),
            aws_sdk_kafkaconnect::Client::new(&shared),
        )
    }

    pub async fn logs_in(&self, region: &'static str) -> aws_sdk_cloudwatchlogs::Client {
        aws_sdk_cloudwatchlogs::Client::new(&self.shared_in(region).await)
    }

    /// CloudWatch, whose SDK speaks Smithy RPC v2 CBOR.
    pub async fn cloudwatch_in(&self, region: &'static str) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(&self.shared_in(region).await)
    }

    pub async fn secretsmanager(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.shared().await)
    }
}

impl Drop for AwsEmulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A failed test keeps the log its message names.
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}
