//! What users read from the CLI itself: help texts (snapshots), completions, and the error for an
//! environment that does not exist.

use std::process::Command;

fn deploy(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_deploy"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("DEPLOY_ENV")
        .env("NO_COLOR", "1")
        .output()
        .expect("deploy runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn help_texts() {
    insta::assert_snapshot!("help", deploy(&["--help"]).1);
    insta::assert_snapshot!("local_help", deploy(&["local", "--help"]).1);
}

#[test]
fn completions_are_generated() {
    let (code, stdout, _) = deploy(&["completions", "bash"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("complete -F _deploy"), "{stdout}");
}

#[test]
fn an_unknown_environment_lists_the_known_ones() {
    let (code, _, stderr) = deploy(&["-e", "nope", "local", "up"]);
    assert_eq!(code, 1);
    insta::assert_snapshot!(stderr, @r"
    error: environments/nope.yaml: cannot read the file: No such file or directory (os error 2)
    hint: environments here: dev, local, local-kraft (or pass a path with -e)
    ");
}

#[test]
fn deploy_env_is_the_fallback() {
    let output = Command::new(env!("CARGO_BIN_EXE_deploy"))
        .arg("validate")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DEPLOY_ENV", "local-kraft")
        .output()
        .expect("deploy runs");
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("environment `local-kraft` with 5 services")
    );
}

#[test]
fn a_connector_command_says_why_a_connector_is_not_there() {
    let run = |name: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_deploy"))
            .args(["-e", "local", "local", "connectors", "offsets", name])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("NO_COLOR", "1")
            .env_remove("S3_SINK_BUCKET")
            .output()
            .expect("deploy runs");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, stderr) = run("orders-sink");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("connector `orders-sink` is skipped in this environment: S3_SINK_BUCKET"),
        "{stderr}"
    );
    let (code, stderr) = run("nope");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("no connector `nope` in the environment file"),
        "{stderr}"
    );
}
