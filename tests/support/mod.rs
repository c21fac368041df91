//! Test support for the Docker tests: the test images, a stack handle that runs the real binary
//! and always tears its environment down, and queries of the engine through the docker CLI.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Fails showing the whole text when `needle` is not in it.
#[track_caller]
pub fn assert_contains(text: &str, needle: &str) {
    assert!(
        text.contains(needle),
        "expected to find {needle:?} in:\n{text}"
    );
}

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Builds the test images once per test binary (cached by tag and input hash). A failure here
/// fails the tests: they never skip.
pub fn ensure_images() {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let result = BUILT.get_or_init(|| {
        let examples = build_examples()?;
        let output = Command::new("bash")
            .arg(root().join("tests/images/build.sh"))
            .env("CONNECT_EMULATOR_BIN", examples.join("connect_emulator"))
            .env("REGISTRY_BIN", examples.join("registry"))
            .output()
            .map_err(|e| format!("cannot run tests/images/build.sh: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "tests/images/build.sh failed:\n{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Builds the stand-in programs of the test images (the Kafka Connect REST emulator, the
/// schema registry); returns the directory they are in.
fn build_examples() -> Result<PathBuf, String> {
    let target = Path::new(env!("CARGO_BIN_EXE_deploy"))
        .parent()
        .and_then(Path::parent)
        .ok_or("cannot tell the target directory")?
        .to_path_buf();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "--example",
            "connect_emulator",
            "--example",
            "registry",
            "--target-dir",
        ])
        .arg(&target)
        .current_dir(root())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "building the test images' programs failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(target.join("debug/examples"))
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(output: Output) -> Self {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Fails when any of these secret values appears in what the run printed.
    pub fn assert_hides(&self, secrets: &[&str]) {
        for secret in secrets {
            assert!(
                !self.all().contains(secret),
                "a secret in the output:\n{}",
                self.all()
            );
        }
    }
}

/// One environment under test: a file, a unique name and its variables. Dropping it takes the
/// environment down with its volumes, whatever the test did.
pub struct Stack {
    pub name: String,
    pub file: PathBuf,
    pub vars: Vec<(String, String)>,
}

impl Stack {
    pub fn new(file: &str, name: &str, port_prefix: &str) -> Self {
        ensure_images();
        let stack = Stack {
            name: name.to_string(),
            file: root().join(file),
            vars: vec![
                ("DEPLOY_TEST_NAME".into(), name.into()),
                ("DEPLOY_TEST_PORT_BASE".into(), port_prefix.into()),
            ],
        };
        stack.deploy(&["local", "down", "--volumes"]);
        stack
    }

    pub fn set(&mut self, key: &str, value: &str) {
        self.vars.retain(|(k, _)| k != key);
        self.vars.push((key.into(), value.into()));
    }

    pub fn command(&self, args: &[&str]) -> Command {
        self.command_with(&self.file, args)
    }

    fn command_with(&self, file: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_deploy"));
        command
            .arg("-e")
            .arg(file)
            .args(args)
            .current_dir(root())
            .env("NO_COLOR", "1")
            // The machine's own settings must not change what the tests see.
            .env_remove("S3_SINK_BUCKET")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("POSTGRES_PASSWORD")
            .envs(self.vars.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Runs against another environment file, with this stack's variables.
    pub fn command_for(&self, file: &Path, args: &[&str]) -> Run {
        Run::from(self.command_with(file, args).output().expect("deploy runs"))
    }

    pub fn deploy(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().expect("deploy runs"))
    }

    /// Runs under a file mode creation mask (`umask`), and asserts success.
    pub fn ok_with_umask(&self, umask: &str, args: &[&str]) -> Run {
        let binary = self.command(args);
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
            .arg(binary.get_program())
            .args(binary.get_args())
            .current_dir(root())
            .envs(
                binary
                    .get_envs()
                    .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))),
            );
        for (key, value) in binary.get_envs() {
            if value.is_none() {
                command.env_remove(key);
            }
        }
        let run = Run::from(command.output().expect("deploy runs"));
        assert_eq!(run.code, 0, "deploy {args:?} failed:\n{}", run.all());
        run
    }

    /// Runs and asserts success, showing everything it printed when it fails.
    pub fn ok(&self, args: &[&str]) -> Run {
        let run = self.deploy(args);
        assert_eq!(run.code, 0, "deploy {args:?} failed:\n{}", run.all());
        run
    }

    pub fn container(&self, service: &str) -> String {
        format!("{}-{service}", self.name)
    }

    /// Runs SQL in the stack's PostgreSQL as the file's user; the rows, unaligned.
    pub fn psql(&self, sql: &str) -> String {
        docker(&[
            "exec",
            &self.container("postgres"),
            "psql",
            "-U",
            "master",
            "-d",
            "main",
            "-v",
            "ON_ERROR_STOP=1",
            "-qAtc",
            sql,
        ])
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.deploy(&["local", "down", "--volumes"]);
    }
}

/// Runs the docker CLI and returns its stdout, trimmed.
pub fn docker(args: &[&str]) -> String {
    let output = Command::new("docker")
        .args(args)
        .output()
        .expect("docker CLI runs");
    assert!(
        output.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn lines(text: String) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

/// Containers (any state) carrying the environment's label, as `name state`.
pub fn containers(env: &str) -> Vec<String> {
    lines(docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=deploy.environment={env}"),
        "--format",
        "{{.Names}} {{.State}}",
    ]))
}

pub fn container_id(name: &str) -> String {
    docker(&["inspect", "-f", "{{.Id}}", name])
}

pub fn networks(env: &str) -> Vec<String> {
    lines(docker(&[
        "network",
        "ls",
        "--filter",
        &format!("label=deploy.environment={env}"),
        "--format",
        "{{.Name}}",
    ]))
}

/// The volumes mounted in the environment's containers that no label names: the anonymous
/// volumes an image's `VOLUME` gives, as `(container, volume)`.
pub fn anonymous_volumes(env: &str) -> Vec<(String, String)> {
    let named = volumes(env);
    let mut found = Vec::new();
    for line in containers(env) {
        let name = line.split(' ').next().unwrap_or_default().to_string();
        let mounted = docker(&[
            "inspect",
            "-f",
            "{{range .Mounts}}{{if eq .Type \"volume\"}}{{.Name}} {{end}}{{end}}",
            &name,
        ]);
        for volume in mounted.split_whitespace() {
            if !named.iter().any(|n| n == volume) {
                found.push((name.clone(), volume.to_string()));
            }
        }
    }
    found
}

/// True while the engine has a volume of this name.
pub fn volume_exists(name: &str) -> bool {
    Command::new("docker")
        .args(["volume", "inspect", name])
        .output()
        .expect("docker CLI runs")
        .status
        .success()
}

pub fn volumes(env: &str) -> Vec<String> {
    lines(docker(&[
        "volume",
        "ls",
        "--filter",
        &format!("label=deploy.environment={env}"),
        "--format",
        "{{.Name}}",
    ]))
}

/// Nothing on the engine carries this environment's label.
pub fn assert_nothing_created(env: &str) {
    assert!(
        containers(env).is_empty(),
        "containers: {:?}",
        containers(env)
    );
    assert!(networks(env).is_empty(), "networks: {:?}", networks(env));
    assert!(volumes(env).is_empty(), "volumes: {:?}", volumes(env));
}

pub mod connect_emulator;
pub mod http;
pub mod real_plugins;
pub mod registry;
pub mod rest;

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Plugin files for one connector with two jars and a bundle with one, served from `server`.
pub fn demo_plugins(dir: &std::path::Path, server: &http::Server, core: &[u8]) {
    std::fs::create_dir_all(dir).expect("plugins dir");
    let core_url = server.put(
        &format!("/demo-core-{}.jar", sha256_hex(core)),
        core.to_vec(),
    );
    let api_url = server.put("/demo-api-1.0.jar", b"api".to_vec());
    let converter_url = server.put("/converter-7.9.0.jar", b"converter".to_vec());
    std::fs::write(
        dir.join("demo-source.yaml"),
        format!(
            "version: 1\nname: demo-source\nrelease: '1.0'\nkind: connector\nartifacts:\n  - url: {core_url}\n    archive: jar\n    sha256: {}\n  - url: {api_url}\n    sha256: {}\nbundle: [converter]\n",
            sha256_hex(core),
            sha256_hex(b"api")
        ),
    )
    .expect("plugin file");
    std::fs::write(
        dir.join("converter.yaml"),
        format!(
            "version: 1\nname: converter\nrelease: 7.9.0\nkind: bundle\nartifacts:\n  - url: {converter_url}\n    sha256: {}\n",
            sha256_hex(b"converter")
        ),
    )
    .expect("plugin file");
}

pub mod aws;
pub mod vpc;
