//! What the benchmark programs share.

use std::process::{Command, Stdio};
use std::time::Duration;

/// Runs a command that must succeed, showing its output when it does not.
pub fn run(command: &mut Command) {
    let output = command.stdin(Stdio::null()).output().expect("command runs");
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// `cargo bench` passes `--bench`; a `cargo test` run of the bench targets does nothing.
pub fn benchmarking() -> bool {
    std::env::args().any(|a| a == "--bench")
}
