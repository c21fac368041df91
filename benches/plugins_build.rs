//! `deploy plugins build` side by side with the shell pipeline people use today (curl, tar or
//! unzip, cp of the converter jars into each connector, zip), on the same archives served from
//! 127.0.0.1: two connectors (a tar.gz and a zip, each ~20 MB of jars) and the converter bundle.
//! The shell pipeline checks no checksum and is not reproducible; `deploy` verifies sha256 and
//! writes deterministic ZIPs. Run with `cargo bench --bench plugins_build`.

mod common;

// The tests' file server; the bench uses only part of it.
#[allow(dead_code)]
#[path = "../tests/support/http.rs"]
mod http;

use std::io::{Cursor, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{median, run};
use sha2::{Digest, Sha256};

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A jar-sized blob that does not compress (as real jars do not, much).
fn blob(seed: u64, size: usize) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn jars(prefix: &str, count: usize, seed: u64) -> Vec<(String, Vec<u8>)> {
    (0..count)
        .map(|i| {
            (
                format!("{prefix}-lib{i}-1.{i}.0.jar"),
                blob(seed + i as u64, 400_000),
            )
        })
        .collect()
}

fn tgz(folder: &str, files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, format!("{folder}/{name}"), &data[..])
            .expect("tar");
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&builder.into_inner().expect("tar"))
        .expect("gzip");
    gz.finish().expect("gzip")
}

fn zip(folder: &str, files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in files {
        writer
            .start_file(
                format!("{folder}/lib/{name}"),
                zip::write::SimpleFileOptions::default(),
            )
            .expect("zip");
        writer.write_all(data).expect("zip");
    }
    writer.finish().expect("zip").into_inner()
}

fn main() {
    if !common::benchmarking() {
        return;
    }
    let server = http::Server::start();
    let source = tgz("debezium-connector-postgres", &jars("debezium", 50, 1));
    let sink = zip("confluentinc-kafka-connect-s3", &jars("s3", 50, 100));
    let converter = zip(
        "confluentinc-kafka-connect-avro-converter",
        &jars("avro", 20, 1000),
    );
    let source_url = server.put("/source-plugin.tar.gz", source.clone());
    let sink_url = server.put("/sink.zip", sink.clone());
    let converter_url = server.put("/converter.zip", converter.clone());

    let work = tempfile::tempdir().expect("temp dir");
    let plugins = work.path().join("plugins");
    std::fs::create_dir_all(&plugins).expect("plugins dir");
    let plugin = |name: &str, kind: &str, url: &str, digest: &str, bundle: &str| {
        std::fs::write(
            plugins.join(format!("{name}.yaml")),
            format!("version: 1\nname: {name}\nrelease: '1'\nkind: {kind}\nartifacts:\n  - url: {url}\n    sha256: {digest}\n{bundle}"),
        )
        .expect("plugin file");
    };
    plugin(
        "source",
        "connector",
        &source_url,
        &sha256(&source),
        "bundle: [avro]\n",
    );
    plugin(
        "sink",
        "connector",
        &sink_url,
        &sha256(&sink),
        "bundle: [avro]\n",
    );
    plugin("avro", "bundle", &converter_url, &sha256(&converter), "");

    let deploy = |cache: &Path, build: &Path| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_deploy"));
        command
            .args(["-q", "plugins", "build"])
            .current_dir(work.path())
            .env("DEPLOY_CACHE_DIR", cache)
            .env("DEPLOY_BUILD_DIR", build);
        command
    };
    let script = format!(
        r#"set -e
rm -rf src out && mkdir -p src out
curl -sSfL {source_url} | tar -C src -xzf -
curl -sSfL -o src/sink.zip {sink_url} && unzip -q src/sink.zip -d src && rm src/sink.zip
curl -sSfL -o src/avro.zip {converter_url} && unzip -q src/avro.zip -d src/avro && rm src/avro.zip
cp src/avro/*/lib/*.jar src/debezium-connector-postgres/
cp src/avro/*/lib/*.jar src/confluentinc-kafka-connect-s3/lib/
(cd src && zip -qr ../out/source.zip debezium-connector-postgres && zip -qr ../out/sink.zip confluentinc-kafka-connect-s3)
"#
    );
    let rounds: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let (mut fresh, mut warm, mut shell) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let cache = work.path().join(format!("cache-{round}"));
        let build = work.path().join(format!("build-{round}"));
        let started = Instant::now();
        run(&mut deploy(&cache, &build));
        fresh.push(started.elapsed());
        let started = Instant::now();
        run(&mut deploy(&cache, &build));
        warm.push(started.elapsed());
        let started = Instant::now();
        run(Command::new("bash")
            .arg("-c")
            .arg(&script)
            .current_dir(work.path()));
        shell.push(started.elapsed());
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (fresh, warm, shell) = (median(fresh), median(warm), median(shell));
    println!("| plugins ({rounds} rounds, median) | deploy | shell pipeline | ratio |");
    println!("|---|---:|---:|---:|");
    println!(
        "| fresh build (download, verify, merge, zip) | {:.0} ms | {:.0} ms | {:.2}x |",
        ms(fresh),
        ms(shell),
        ms(fresh) / ms(shell)
    );
    println!(
        "| warm rebuild, nothing changed | {:.0} ms | {:.0} ms (it has no cache) | {:.3}x |",
        ms(warm),
        ms(shell),
        ms(warm) / ms(shell)
    );
}
