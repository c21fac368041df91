//! The AWS emulators (tests/emulators/aws.py: moto plus the in-repo MSK Connect emulator) as a
//! process on a free 127.0.0.1 port, ended with the handle.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct AwsEmulator {
    pub endpoint: String,
    child: Child,
}

impl AwsEmulator {
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("a free port")
            .local_addr()
            .expect("address")
            .port();
        let child = Command::new("python3")
            .arg(super::root().join("tests/emulators/aws.py"))
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs the AWS emulator (moto must be installed: .ci/run installs it)");
        let endpoint = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the AWS emulator did not start within 30s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        AwsEmulator { endpoint, child }
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
            .expect("the emulator answers")
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

    /// Every ECS task's containers exit with this code once they stop.
    pub fn set_task_exit_code(&self, code: i32) {
        self.control("config", Some(&format!("{{\"task_exit_code\": {code}}}")));
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

    pub async fn secretsmanager(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.shared().await)
    }
}

impl Drop for AwsEmulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
