//! Every file under tests/invalid/ is refused by `deploy validate` with exit 1 and an error that
//! names file, line, column and key path; the messages are snapshot-checked.

use std::path::Path;
use std::process::Command;

fn validate(file: &Path) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_deploy"))
        .args(["-e", &file.display().to_string(), "validate"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .expect("deploy runs");
    let root = format!("{}/", env!("CARGO_MANIFEST_DIR"));
    let stderr = String::from_utf8_lossy(&output.stderr).replace(&root, "[ROOT]/");
    (output.status.code().unwrap_or(-1), stderr)
}

#[test]
fn every_invalid_file_is_refused_with_its_location() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/invalid exists")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 25, "the corpus has {} files", files.len());
    for file in files {
        let relative = file
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .expect("under the crate");
        let (code, stderr) = validate(relative);
        assert_eq!(
            code,
            1,
            "{}: exit code {code}\n{stderr}",
            relative.display()
        );
        let name = file
            .file_stem()
            .expect("a file name")
            .to_string_lossy()
            .into_owned();
        let first = stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("error: tests/invalid/")
                || first.starts_with("error: [ROOT]/tests/invalid/"),
            "{name}: the error names the file: {first}"
        );
        insta::assert_snapshot!(name, stderr);
    }
}

#[test]
fn the_default_environments_are_valid() {
    for env in ["local", "local-kraft", "dev"] {
        let output = Command::new(env!("CARGO_BIN_EXE_deploy"))
            .args(["-e", env, "validate"])
            // What dev.yaml requires from the environment.
            .env("VPC_ID", "vpc-0a1")
            .env("PRIVATE_SUBNET_1", "subnet-0a1")
            .env("PRIVATE_SUBNET_2", "subnet-0b2")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("deploy runs");
        assert!(
            output.status.success(),
            "{env}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn the_checked_in_schemas_are_current() {
    for (of, file) in [
        ("environment", "environment.schema.json"),
        ("plugin", "plugin.schema.json"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_deploy"))
            .args(["schema", of])
            .output()
            .expect("deploy runs");
        let generated = String::from_utf8(output.stdout).expect("UTF-8");
        let checked_in = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("schema")
                .join(file),
        )
        .expect("the schema is checked in");
        assert!(
            generated == checked_in,
            "schema/{file} is stale: run `cargo run -- schema {of} > schema/{file}`"
        );
    }
}

/// A FIFO (reading it would block forever), a file too large to be an environment file, and a
/// byte-order mark (dropped, as editors on Windows write one).
#[test]
fn only_a_regular_file_of_bounded_size_is_read_and_a_bom_is_dropped() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let fifo = dir.path().join("fifo.yaml");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let (code, stderr) = validate(&fifo);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("is not a regular file"), "{stderr}");

    let big = dir.path().join("big.yaml");
    let mut text = String::from("version: 1\nname: big\ntarget: local\nservices: {}\n");
    while text.len() <= 5 << 20 {
        text.push_str("# a comment line to make the file larger than any real one\n");
    }
    std::fs::write(&big, text).expect("written");
    let (code, stderr) = validate(&big);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("is larger than 4 MiB"), "{stderr}");

    let bom = dir.path().join("bom.yaml");
    let minimal =
        "version: 1\nname: bom\ntarget: local\nservices:\n  db:\n    image: postgres:17\n";
    std::fs::write(&bom, format!("\u{feff}{minimal}")).expect("written");
    let (code, stderr) = validate(&bom);
    assert_eq!(code, 0, "{stderr}");
}
