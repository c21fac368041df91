//! `deploy plugins` against archives the tests build and serve from 127.0.0.1: checksums,
//! reproducible ZIPs, safe extraction, merge conflicts, the cache, offline mode and interrupted
//! downloads. No test reaches the internet.

mod support;

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use support::assert_contains;
use support::http::Server;

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A tar.gz with entries written as given (no path checks, so hostile names can be made).
fn tgz(entries: &[(&str, Entry)], mtime: u64) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, entry) in entries {
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        header.set_mtime(mtime);
        header.set_mode(0o644);
        match entry {
            Entry::File(data) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(data.len() as u64);
                header.set_cksum();
                builder.append(&header, &data[..]).expect("tar entry");
            }
            Entry::Link(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
                header.set_size(0);
                header.set_cksum();
                builder.append(&header, &[][..]).expect("tar entry");
            }
            Entry::Huge(size) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(*size);
                header.set_cksum();
                // The body is cut short: the size in the header alone must stop the reader.
                builder.get_mut().extend_from_slice(header.as_bytes());
            }
        }
    }
    let tar = builder.into_inner().expect("tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).expect("gzip");
    gz.finish().expect("gzip")
}

enum Entry {
    File(Vec<u8>),
    Link(&'static str),
    Huge(u64),
}

fn file(text: &str) -> Entry {
    Entry::File(text.as_bytes().to_vec())
}

fn zip(entries: &[(&str, &str)], symlinks: &[(&str, &str)], time: zip::DateTime) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().last_modified_time(time);
    for (path, text) in entries {
        writer.start_file(*path, options).expect("zip entry");
        writer.write_all(text.as_bytes()).expect("zip data");
    }
    for (path, target) in symlinks {
        writer
            .add_symlink(*path, *target, options)
            .expect("zip link");
    }
    writer.finish().expect("zip").into_inner()
}

fn connector_tgz(mtime: u64) -> Vec<u8> {
    tgz(
        &[
            (
                "debezium-connector-postgres/debezium-core-2.7.4.Final.jar",
                file("core"),
            ),
            (
                "debezium-connector-postgres/debezium-connector-postgres-2.7.4.Final.jar",
                file("pg"),
            ),
            (
                "debezium-connector-postgres/postgresql-42.7.4.jar",
                file("jdbc"),
            ),
            ("debezium-connector-postgres/LICENSE.txt", file("license")),
        ],
        mtime,
    )
}

fn converter_zip(time: zip::DateTime) -> Vec<u8> {
    zip(
        &[
            (
                "confluentinc-kafka-connect-avro-converter-7.9.0/manifest.json",
                "{}",
            ),
            (
                "confluentinc-kafka-connect-avro-converter-7.9.0/lib/kafka-connect-avro-converter-7.9.0.jar",
                "conv",
            ),
            (
                "confluentinc-kafka-connect-avro-converter-7.9.0/lib/avro-1.11.4.jar",
                "avro",
            ),
            // The same jar as the connector's: merged once.
            (
                "confluentinc-kafka-connect-avro-converter-7.9.0/lib/postgresql-42.7.4.jar",
                "jdbc",
            ),
        ],
        &[],
        time,
    )
}

/// A project folder with plugin files, its own cache and build directory.
struct Project {
    dir: tempfile::TempDir,
    cache: PathBuf,
    env: Vec<(String, String)>,
}

impl Project {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("plugins")).expect("plugins dir");
        let cache = dir.path().join("cache");
        Project {
            dir,
            cache,
            env: Vec::new(),
        }
    }

    fn with_cache(cache: &Path) -> Self {
        let mut project = Project::new();
        project.cache = cache.to_path_buf();
        project
    }

    fn plugin(&self, name: &str, yaml: &str) {
        std::fs::write(
            self.dir.path().join("plugins").join(format!("{name}.yaml")),
            yaml,
        )
        .expect("plugin file");
    }

    fn deploy(&self, args: &[&str]) -> (i32, String, String) {
        let output = Command::new(env!("CARGO_BIN_EXE_deploy"))
            .args(args)
            .current_dir(self.dir.path())
            .env("DEPLOY_CACHE_DIR", &self.cache)
            .env("NO_COLOR", "1")
            .env_remove("DEPLOY_PLUGINS_DIR")
            .env_remove("DEPLOY_BUILD_DIR")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("deploy runs");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    fn outputs(&self) -> Vec<PathBuf> {
        let dir = self.dir.path().join("build/plugins");
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "zip"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    }
}

/// The usual pair: a connector that merges the converter bundle.
fn standard(project: &Project, server: &Server, connector: &[u8], converter: &[u8]) {
    let connector_url = server.put(
        "/maven/io/debezium/pg/2.7.4.Final/pg-2.7.4.Final-plugin.tar.gz",
        connector.to_vec(),
    );
    let converter_url = server.put("/hub/avro-converter-7.9.0.zip", converter.to_vec());
    let guava_url = server.put(
        "/maven/com/google/guava/guava/33.3.1-jre/guava-33.3.1-jre.jar",
        b"guava".to_vec(),
    );
    project.plugin(
        "debezium-postgres",
        &format!(
            "version: 1\nname: debezium-postgres\nrelease: 2.7.4.Final\nkind: connector\nartifacts:\n  - url: {connector_url}\n    sha256: {}\nbundle: [avro-converter]\n",
            sha256(connector)
        ),
    );
    project.plugin(
        "avro-converter",
        &format!(
            "version: 1\nname: avro-converter\nrelease: 7.9.0\nkind: bundle\nartifacts:\n  - url: {converter_url}\n    sha512: {}\n  - url: {guava_url}\n    sha256: {}\n",
            Sha512Hex(converter),
            sha256(b"guava")
        ),
    );
}

struct Sha512Hex<'a>(&'a [u8]);

impl std::fmt::Display for Sha512Hex<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in sha2::Sha512::digest(self.0) {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

fn zip_entries(path: &Path) -> Vec<String> {
    let mut archive =
        zip::ZipArchive::new(std::fs::File::open(path).expect("zip")).expect("zip reads");
    (0..archive.len())
        .map(|i| {
            archive
                .by_index(i)
                .expect("entry")
                .name()
                .expect("name")
                .into_owned()
        })
        .collect()
}

#[test]
fn build_merges_the_bundle_into_a_reproducible_zip() {
    let server = Server::start();
    let project = Project::new();
    standard(
        &project,
        &server,
        &connector_tgz(1_000),
        &converter_zip(zip::DateTime::default()),
    );
    let (code, stdout, stderr) = project.deploy(&["plugins", "build"]);
    assert_eq!(code, 0, "{stderr}");
    let outputs = project.outputs();
    assert_eq!(outputs.len(), 1, "{outputs:?}");
    let name = outputs[0]
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let bytes = std::fs::read(&outputs[0]).expect("zip");
    assert_eq!(
        name,
        format!("debezium-postgres-{}.zip", &sha256(&bytes)[..12])
    );
    assert!(
        stdout.contains(&format!("sha256:{}", sha256(&bytes))),
        "{stdout}"
    );
    assert_eq!(
        zip_entries(&outputs[0]),
        vec![
            "debezium-postgres/",
            "debezium-postgres/avro-1.11.4.jar",
            "debezium-postgres/debezium-connector-postgres-2.7.4.Final.jar",
            "debezium-postgres/debezium-core-2.7.4.Final.jar",
            "debezium-postgres/guava-33.3.1-jre.jar",
            "debezium-postgres/kafka-connect-avro-converter-7.9.0.jar",
            "debezium-postgres/postgresql-42.7.4.jar",
        ]
    );
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            project
                .dir
                .path()
                .join("build/plugins/debezium-postgres.json"),
        )
        .expect("manifest"),
    )
    .expect("JSON");
    assert_eq!(manifest["output"]["sha256"], sha256(&bytes));
    assert_eq!(manifest["inputs"].as_array().expect("inputs").len(), 3);

    // Warm: no request, no new ZIP, well under a second.
    let requests = server.requests();
    let started = std::time::Instant::now();
    let (code, stdout, _) = project.deploy(&["plugins", "build"]);
    assert_eq!(code, 0);
    assert_contains(&stdout, "up to date");
    assert!(started.elapsed() < std::time::Duration::from_millis(500));
    assert_eq!(server.requests(), requests);

    // Elsewhere, from archives with other timestamps: the same bytes.
    let other_server = Server::start();
    let other = Project::new();
    standard(
        &other,
        &other_server,
        &connector_tgz(1_700_000_000),
        &converter_zip(zip::DateTime::from_date_and_time(2024, 5, 6, 7, 8, 10).expect("date")),
    );
    // The archives differ, so their checksums do; the packaged jars do not.
    let (code, _, stderr) = other.deploy(&["plugins", "build"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(std::fs::read(&other.outputs()[0]).expect("zip"), bytes);
}

#[test]
fn a_checksum_mismatch_is_refused_and_nothing_is_kept() {
    let server = Server::start();
    let project = Project::new();
    let url = server.put("/a.jar", b"the real bytes".to_vec());
    let wrong = sha256(b"other bytes");
    project.plugin(
        "a",
        &format!("version: 1\nname: a\nrelease: '1'\nkind: connector\nartifacts:\n  - url: {url}\n    sha256: {wrong}\n"),
    );
    let (code, _, stderr) = project.deploy(&["plugins", "build"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "expected sha256:{wrong}, got sha256:{}",
            sha256(b"the real bytes")
        )),
        "{stderr}"
    );
    assert!(project.outputs().is_empty());
    let kept: Vec<_> = walk(&project.cache);
    assert!(kept.is_empty(), "left in the cache: {kept:?}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.path().is_dir() {
            files.extend(walk(&entry.path()));
        } else {
            files.push(entry.path());
        }
    }
    files
}

fn refused(archive: Vec<u8>, kind: &str, env: &[(&str, &str)]) -> String {
    let server = Server::start();
    let project = Project::new();
    let url = server.put(&format!("/hostile.{kind}"), archive.clone());
    project.plugin(
        "hostile",
        &format!(
            "version: 1\nname: hostile\nrelease: '1'\nkind: connector\nartifacts:\n  - url: {url}\n    sha256: {}\n",
            sha256(&archive)
        ),
    );
    let mut command = Command::new(env!("CARGO_BIN_EXE_deploy"));
    command
        .args(["plugins", "build"])
        .current_dir(project.dir.path())
        .env("DEPLOY_CACHE_DIR", &project.cache)
        .envs(env.iter().copied());
    let output = command.output().expect("deploy runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(project.outputs().is_empty(), "nothing is written");
    stderr
}

#[test]
fn hostile_archives_are_refused() {
    let slip = refused(tgz(&[("lib/../../evil.jar", file("x"))], 0), "tar.gz", &[]);
    assert_contains(
        &slip,
        "entry `lib/../../evil.jar` climbs out of the archive with `..`",
    );
    let zip_slip = refused(
        zip(&[("../evil.jar", "x")], &[], zip::DateTime::default()),
        "zip",
        &[],
    );
    assert_contains(&zip_slip, "climbs out of the archive");
    let absolute = refused(tgz(&[("/etc/evil.jar", file("x"))], 0), "tar.gz", &[]);
    assert_contains(&absolute, "entry `/etc/evil.jar` has an absolute path");
    let link = refused(
        tgz(
            &[
                ("lib/a.jar", file("x")),
                ("lib/escape", Entry::Link("../../etc/passwd")),
            ],
            0,
        ),
        "tar.gz",
        &[],
    );
    assert_contains(
        &link,
        "link `lib/escape` → `../../etc/passwd` points outside the archive",
    );
    let zip_link = refused(
        zip(
            &[],
            &[("lib/escape", "/etc/passwd")],
            zip::DateTime::default(),
        ),
        "zip",
        &[],
    );
    assert_contains(&zip_link, "points outside the archive");
    let huge = refused(
        tgz(&[("lib/big.jar", Entry::Huge(5 << 30))], 0),
        "tar.gz",
        &[],
    );
    assert_contains(&huge, "expands to more than");
    let many = refused(
        zip(
            &[("a.jar", "a"), ("b.jar", "b"), ("c.jar", "c")],
            &[],
            zip::DateTime::default(),
        ),
        "zip",
        &[("DEPLOY_ARCHIVE_MAX_ENTRIES", "2")],
    );
    assert_contains(&many, "more than 2 entries");
}

/// A ZIP laid out as Confluent Hub's are: `<owner>-<name>-<version>/lib/<jars>`,
/// `manifest.json`, and the other files given.
fn hub_zip(root: &str, jars: &[&str], other: &[&str]) -> Vec<u8> {
    let mut entries: Vec<(String, String)> = jars
        .iter()
        .map(|jar| (format!("{root}/lib/{jar}"), jar.to_string()))
        .collect();
    entries.push((format!("{root}/manifest.json"), "{}".into()));
    entries.extend(other.iter().map(|f| (format!("{root}/{f}"), f.to_string())));
    let borrowed: Vec<(&str, &str)> = entries
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    zip(&borrowed, &[], zip::DateTime::default())
}

/// Confluent's S3 sink as its Confluent Hub ZIP is: 10.5.x ships Confluent's Avro libraries at
/// 7.7.x through kafka-connect-storage-common's `format` module (kafka-connect-avro-data →
/// kafka-avro-serializer → kafka-schema-registry-client).
fn s3_sink_zip() -> Vec<u8> {
    hub_zip(
        "confluentinc-kafka-connect-s3-10.5.23",
        &[
            "kafka-connect-s3-10.5.23.jar",
            "kafka-connect-storage-common-11.2.20.jar",
            "kafka-connect-storage-format-11.2.20.jar",
            "kafka-connect-avro-data-7.7.1.jar",
            "kafka-avro-serializer-7.7.1.jar",
            "kafka-schema-serializer-7.7.1.jar",
            "kafka-schema-registry-client-7.7.1.jar",
            "common-config-7.7.1.jar",
            "common-utils-7.7.1.jar",
            "avro-1.11.4.jar",
            "aws-java-sdk-s3-1.12.772.jar",
        ],
        &["doc/README.md", "etc/quickstart-s3.properties"],
    )
}

/// The Avro converter bundle as its Confluent Hub ZIP is, at 8.0.0.
fn converter_8_zip() -> Vec<u8> {
    hub_zip(
        "confluentinc-kafka-connect-avro-converter-8.0.0",
        &[
            "kafka-connect-avro-converter-8.0.0.jar",
            "kafka-connect-avro-data-8.0.0.jar",
            "kafka-avro-serializer-8.0.0.jar",
            "kafka-schema-serializer-8.0.0.jar",
            "kafka-schema-registry-client-8.0.0.jar",
            "common-config-8.0.0.jar",
            "common-utils-8.0.0.jar",
            "avro-1.12.0.jar",
        ],
        &[],
    )
}

#[test]
fn a_connector_keeps_its_own_libraries_over_its_bundles() {
    let server = Server::start();
    let project = Project::new();
    let sink = s3_sink_zip();
    let converter = converter_8_zip();
    let sink_url = server.put(
        "/hub/confluentinc-kafka-connect-s3-10.5.23.zip",
        sink.clone(),
    );
    let converter_url = server.put(
        "/hub/confluentinc-kafka-connect-avro-converter-8.0.0.zip",
        converter.clone(),
    );
    project.plugin(
        "confluent-s3",
        &format!(
            "version: 1\nname: confluent-s3\nrelease: 10.5.23\nkind: connector\nartifacts:\n  - url: {sink_url}\n    sha256: {}\nbundle: [avro-converter]\n",
            sha256(&sink)
        ),
    );
    project.plugin(
        "avro-converter",
        &format!(
            "version: 1\nname: avro-converter\nrelease: 8.0.0\nkind: bundle\nartifacts:\n  - url: {converter_url}\n    sha256: {}\n",
            sha256(&converter)
        ),
    );
    let (code, _, stderr) = project.deploy(&["plugins", "build"]);
    assert_eq!(code, 0, "{stderr}");
    // The sink's own Avro libraries, the bundle's converter (which the sink lacks); each choice
    // said once.
    let entries = zip_entries(&project.outputs()[0]);
    for kept in [
        "confluent-s3/kafka-connect-avro-data-7.7.1.jar",
        "confluent-s3/kafka-avro-serializer-7.7.1.jar",
        "confluent-s3/kafka-schema-registry-client-7.7.1.jar",
        "confluent-s3/avro-1.11.4.jar",
        "confluent-s3/kafka-connect-avro-converter-8.0.0.jar",
        "confluent-s3/kafka-connect-s3-10.5.23.jar",
    ] {
        assert!(entries.contains(&kept.to_string()), "{kept}: {entries:?}");
    }
    assert!(
        !entries
            .iter()
            .any(|e| e.ends_with("-8.0.0.jar")
                && !e.ends_with("kafka-connect-avro-converter-8.0.0.jar")),
        "{entries:?}"
    );
    assert_contains(
        &stderr,
        "confluent-s3: keeps kafka-avro-serializer 7.7.1 (its own) over 8.0.0 (avro-converter)",
    );
    assert_contains(
        &stderr,
        "confluent-s3: keeps avro 1.11.4 (its own) over 1.12.0 (avro-converter)",
    );

    // `prefer:` overrides the connector's own.
    let file = project.dir.path().join("plugins/confluent-s3.yaml");
    let text = std::fs::read_to_string(&file).expect("plugin file") + "prefer:\n  avro: 1.12.0\n";
    std::fs::write(&file, text).expect("write");
    let (code, _, stderr) = project.deploy(&["plugins", "build"]);
    assert_eq!(code, 0, "{stderr}");
    let entries = zip_entries(&project.outputs()[0]);
    assert!(entries.contains(&"confluent-s3/avro-1.12.0.jar".to_string()));
    assert!(!entries.contains(&"confluent-s3/avro-1.11.4.jar".to_string()));
}

#[test]
fn two_bundles_at_two_versions_need_a_winner() {
    let server = Server::start();
    let project = Project::new();
    let connector = tgz(&[("c/c-1.0.jar", file("c"))], 0);
    standard(
        &project,
        &server,
        &connector,
        &converter_zip(zip::DateTime::default()),
    );
    // A second bundle with another guava than the converter bundle's.
    let other = server.put("/maven/guava-31.1-jre.jar", b"g31".to_vec());
    project.plugin(
        "other",
        &format!(
            "version: 1\nname: other\nrelease: '1'\nkind: bundle\nartifacts:\n  - url: {other}\n    sha256: {}\n",
            sha256(b"g31")
        ),
    );
    let file = project.dir.path().join("plugins/debezium-postgres.yaml");
    let text = std::fs::read_to_string(&file)
        .expect("plugin file")
        .replace(
            "bundle: [avro-converter]",
            "bundle: [avro-converter, other]",
        );
    std::fs::write(&file, &text).expect("write");
    let (code, _, stderr) = project.deploy(&["plugins", "build"]);
    assert_eq!(code, 1);
    assert_contains(
        &stderr,
        "`guava` comes at two versions: 31.1-jre (from `other`) and 33.3.1-jre (from `avro-converter`)",
    );
    std::fs::write(&file, text + "prefer:\n  guava: 33.3.1-jre\n").expect("write");
    let (code, _, stderr) = project.deploy(&["plugins", "build"]);
    assert_eq!(code, 0, "{stderr}");
    let entries = zip_entries(&project.outputs()[0]);
    assert!(entries.contains(&"debezium-postgres/guava-33.3.1-jre.jar".to_string()));
    assert!(!entries.contains(&"debezium-postgres/guava-31.1-jre.jar".to_string()));
}

#[test]
fn offline_uses_the_cache_only_and_names_what_is_missing() {
    let server = Server::start();
    let cold = Project::new();
    standard(
        &cold,
        &server,
        &connector_tgz(0),
        &converter_zip(zip::DateTime::default()),
    );
    let (code, _, stderr) = cold.deploy(&["plugins", "build", "--offline"]);
    assert_eq!(code, 1);
    assert_contains(&stderr, "offline, and not in the cache:");
    assert!(
        stderr.contains("/hub/avro-converter-7.9.0.zip (sha512:"),
        "{stderr}"
    );
    assert_eq!(server.requests(), 0);

    // Warm the cache, then build elsewhere offline with it: no request at all.
    assert_eq!(cold.deploy(&["plugins", "build"]).0, 0);
    let before = server.requests();
    let warm = Project::with_cache(&cold.cache);
    standard(
        &warm,
        &server,
        &connector_tgz(0),
        &converter_zip(zip::DateTime::default()),
    );
    let (code, _, stderr) = warm.deploy(&["plugins", "build", "--offline"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(server.requests(), before);
}

#[test]
fn an_interrupted_download_resumes_and_is_never_taken_for_complete() {
    let server = Server::start();
    let project = Project::new();
    let body: Vec<u8> = (0..400_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let url = server.put("/big.jar", body.clone());
    project.plugin(
        "big",
        &format!(
            "version: 1\nname: big\nrelease: '1'\nkind: connector\nartifacts:\n  - url: {url}\n    sha256: {}\n",
            sha256(&body)
        ),
    );
    // Every attempt is cut: the build fails and nothing in the cache passes as complete.
    server.drop_midway("/big.jar", 100);
    let (code, _, stderr) = project.deploy(&["plugins", "build"]);
    assert_eq!(code, 1, "{stderr}");
    assert_contains(&stderr, "cannot download");
    assert!(
        !project
            .cache
            .join("artifacts")
            .join(format!("sha256-{}", sha256(&body)))
            .exists()
    );

    // Once the server behaves after one more cut, the download resumes and completes.
    server.drop_midway("/big.jar", 1);
    let (code, _, stderr) = project.deploy(&["plugins", "build"]);
    assert_eq!(code, 0, "{stderr}");
    let cached = std::fs::read(
        project
            .cache
            .join("artifacts")
            .join(format!("sha256-{}", sha256(&body))),
    )
    .expect("cached");
    assert_eq!(cached, body);
}

#[test]
fn list_and_verify_report_the_state_of_cache_and_outputs() {
    let server = Server::start();
    let project = Project::new();
    standard(
        &project,
        &server,
        &connector_tgz(0),
        &converter_zip(zip::DateTime::default()),
    );
    let (code, stdout, _) = project.deploy(&["--output", "json", "plugins", "list"]);
    assert_eq!(code, 0);
    let rows: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(rows[1]["name"], "debezium-postgres");
    assert_eq!(rows[1]["output"], serde_json::Value::Null);
    assert_eq!(rows[1]["cached"], 0);
    assert_eq!(project.deploy(&["plugins", "verify"]).0, 1);

    assert_eq!(project.deploy(&["plugins", "build"]).0, 0);
    let (_, stdout, _) = project.deploy(&["--output", "json", "plugins", "list"]);
    let rows: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let zip = std::fs::read(&project.outputs()[0]).expect("zip");
    assert_eq!(rows[1]["output"], sha256(&zip));
    assert_eq!(rows[0]["cached"], 2);
    let (code, _, stderr) = project.deploy(&["plugins", "verify"]);
    assert_eq!(code, 0, "{stderr}");

    // A ZIP changed after the build is caught.
    std::fs::write(&project.outputs()[0], b"tampered").expect("write");
    let (code, _, stderr) = project.deploy(&["plugins", "verify"]);
    assert_eq!(code, 1);
    assert_contains(&stderr, "does not match its manifest");
}

fn hex(bytes: impl AsRef<[u8]>) -> String {
    bytes.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Three artifacts without checksums, served as their publishers serve them: a Maven repository
/// with `.sha1` and `.md5` beside each file, Confluent Hub (a download host and an API that
/// answers with the archive's `sha1`), and a GitHub release (its API gives each asset's
/// `digest`); the plugin files name none of their checksums.
struct Publishers {
    server: Server,
    project: Project,
    connector: Vec<u8>,
    converter: Vec<u8>,
    providers: Vec<u8>,
    connector_url: String,
    converter_url: String,
    providers_url: String,
}

impl Publishers {
    fn start() -> Self {
        let server = Server::start();
        let mut project = Project::new();
        project.env.extend([
            (
                "DEPLOY_MAVEN_REPOSITORY".into(),
                format!("{}/maven2", server.base),
            ),
            (
                "DEPLOY_CONFLUENT_HUB_API".into(),
                format!("{}/hub-api", server.base),
            ),
            (
                "DEPLOY_GITHUB_API".into(),
                format!("{}/github-api", server.base),
            ),
        ]);
        let connector = connector_tgz(0);
        let converter = converter_zip(zip::DateTime::default());
        let providers = b"msk config providers".to_vec();
        let maven = "/maven2/io/debezium/debezium-connector-postgres/2.7.4.Final/debezium-connector-postgres-2.7.4.Final-plugin.tar.gz";
        let connector_url = server.put(maven, connector.clone());
        server.put(
            &format!("{maven}.sha1"),
            hex(sha1::Sha1::digest(&connector)).into_bytes(),
        );
        // Gradle writes the digest alone; md5sum adds the file name. Either reads.
        server.put(
            &format!("{maven}.md5"),
            format!(
                "{}  debezium-connector-postgres-2.7.4.Final-plugin.tar.gz\n",
                hex(md5::Md5::digest(&connector))
            )
            .into_bytes(),
        );
        let hub = "/api/plugins/confluentinc/kafka-connect-avro-converter/versions/7.9.0";
        let converter_url = server.put(
            &format!("{hub}/confluentinc-kafka-connect-avro-converter-7.9.0.zip"),
            converter.clone(),
        );
        server.put(
            &format!("/hub-api{hub}"),
            serde_json::json!({
                "name": "kafka-connect-avro-converter",
                "version": "7.9.0",
                "archive": {
                    "name": "confluentinc-kafka-connect-avro-converter-7.9.0.zip",
                    "url": converter_url,
                    "md5": hex(md5::Md5::digest(&converter)),
                    "sha1": hex(sha1::Sha1::digest(&converter)),
                },
            })
            .to_string()
            .into_bytes(),
        );
        let providers_url = server.put(
            "/aws-samples/msk-config-providers/releases/download/r0.4.0/msk-config-providers-0.4.0-all.jar",
            providers.clone(),
        );
        server.put(
            "/github-api/repos/aws-samples/msk-config-providers/releases/tags/r0.4.0",
            serde_json::json!({
                "tag_name": "r0.4.0",
                "assets": [
                    {"name": "msk-config-providers-0.4.0-all.jar", "digest": format!("sha256:{}", sha256(&providers))},
                    {"name": "other.jar", "digest": null},
                ],
            })
            .to_string()
            .into_bytes(),
        );
        project.plugin(
            "debezium-postgres",
            "version: 1\nname: debezium-postgres\nrelease: 2.7.4.Final\nkind: connector\nartifacts:\n  - maven: io.debezium:debezium-connector-postgres:2.7.4.Final:plugin@tar.gz\nbundle: [avro-converter, msk-config-providers]\n",
        );
        project.plugin(
            "avro-converter",
            &format!("version: 1\nname: avro-converter\nrelease: 7.9.0\nkind: bundle\nartifacts:\n  - url: {converter_url}\n"),
        );
        project.plugin(
            "msk-config-providers",
            &format!("version: 1\nname: msk-config-providers\nrelease: 0.4.0\nkind: bundle\nartifacts:\n  - url: {providers_url}\n"),
        );
        Publishers {
            server,
            project,
            connector,
            converter,
            providers,
            connector_url,
            converter_url,
            providers_url,
        }
    }

    fn lock_file(&self) -> PathBuf {
        self.project.dir.path().join("plugins/plugins.lock")
    }

    fn lock(&self) -> String {
        std::fs::read_to_string(self.lock_file()).unwrap_or_default()
    }
}

#[test]
fn the_first_build_records_what_its_publisher_confirms_and_later_builds_verify_it() {
    let p = Publishers::start();
    let (code, stdout, stderr) = p.project.deploy(&["plugins", "build"]);
    assert_eq!(code, 0, "{stderr}");
    assert_contains(&stdout, "debezium-postgres");
    let base = &p.server.base;
    // One line per artifact: what was recorded, and what checked it.
    for line in [
        format!(
            "recorded sha256:{} for {} in plugins/plugins.lock: matches the publisher's sha1 ({}.sha1)",
            sha256(&p.connector),
            p.connector_url,
            p.connector_url
        ),
        format!(
            "recorded sha256:{} for {} in plugins/plugins.lock: matches the publisher's sha1 ({base}/hub-api/api/plugins/confluentinc/kafka-connect-avro-converter/versions/7.9.0)",
            sha256(&p.converter),
            p.converter_url
        ),
        format!(
            "recorded sha256:{} for {} in plugins/plugins.lock: matches the publisher's sha256 ({base}/github-api/repos/aws-samples/msk-config-providers/releases/tags/r0.4.0)",
            sha256(&p.providers),
            p.providers_url
        ),
    ] {
        assert_contains(&stderr, &line);
    }
    let lock = p.lock();
    assert!(
        lock.starts_with("# Written by `deploy plugins build`"),
        "{lock}"
    );
    let entries: Vec<&str> = lock.lines().filter(|l| !l.starts_with('#')).collect();
    let mut expected = vec![
        format!(
            "{} sha256:{} sha1@{}.sha1",
            p.connector_url,
            sha256(&p.connector),
            p.connector_url
        ),
        format!(
            "{} sha256:{} sha1@{base}/hub-api/api/plugins/confluentinc/kafka-connect-avro-converter/versions/7.9.0",
            p.converter_url,
            sha256(&p.converter)
        ),
        format!(
            "{} sha256:{} sha256@{base}/github-api/repos/aws-samples/msk-config-providers/releases/tags/r0.4.0",
            p.providers_url,
            sha256(&p.providers)
        ),
    ];
    expected.sort();
    assert_eq!(entries, expected);
    let zip = std::fs::read(&p.project.outputs()[0]).expect("zip");

    // A second build from nothing but the lock and the cache: verified, not downloaded again,
    // nothing recorded, the same ZIP.
    std::fs::remove_dir_all(p.project.dir.path().join("build")).expect("clean");
    let requests = p.server.requests();
    let (code, _, stderr) = p.project.deploy(&["--locked", "plugins", "build"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(p.server.requests(), requests, "{stderr}");
    assert!(!stderr.contains("recorded"), "{stderr}");
    assert_eq!(p.lock(), lock);
    assert_eq!(std::fs::read(&p.project.outputs()[0]).expect("zip"), zip);

    // A cached file changed behind the lock's back is found, naming both digests.
    let cached = p
        .project
        .cache
        .join("artifacts")
        .join(format!("sha256-{}", sha256(&p.providers)));
    std::fs::remove_file(&cached).expect("remove");
    p.server.put(
        "/aws-samples/msk-config-providers/releases/download/r0.4.0/msk-config-providers-0.4.0-all.jar",
        b"changed upstream".to_vec(),
    );
    std::fs::remove_dir_all(p.project.dir.path().join("build")).expect("clean");
    let (code, _, stderr) = p.project.deploy(&["plugins", "build"]);
    assert_eq!(code, 1, "{stderr}");
    assert_contains(
        &stderr,
        &format!(
            "expected sha256:{}, got sha256:{}",
            sha256(&p.providers),
            sha256(b"changed upstream")
        ),
    );
    assert_eq!(p.lock(), lock, "a mismatch changes nothing in the lock");
}

#[test]
fn a_publisher_checksum_that_disagrees_is_refused_and_nothing_is_recorded() {
    let p = Publishers::start();
    let wrong = hex(sha1::Sha1::digest(b"something else"));
    p.server.put(
        "/maven2/io/debezium/debezium-connector-postgres/2.7.4.Final/debezium-connector-postgres-2.7.4.Final-plugin.tar.gz.sha1",
        wrong.clone().into_bytes(),
    );
    let (code, _, stderr) = p.project.deploy(&["plugins", "build"]);
    assert_eq!(code, 1, "{stderr}");
    assert_contains(
        &stderr,
        &format!(
            "the publisher's checksum disagrees for {}: {}.sha1 says sha1:{wrong}, the download is sha1:{}; nothing was recorded",
            p.connector_url,
            p.connector_url,
            hex(sha1::Sha1::digest(&p.connector))
        ),
    );
    assert!(!p.lock_file().exists(), "{}", p.lock());
    assert!(p.project.outputs().is_empty());
    assert!(
        !p.project
            .cache
            .join("artifacts")
            .join(format!("sha256-{}", sha256(&p.connector)))
            .exists(),
        "the refused download is not kept"
    );
}

#[test]
fn without_a_publisher_checksum_the_record_says_nothing_checked_it() {
    let server = Server::start();
    let project = Project::new();
    let url = server.put("/direct/a-1.0.jar", b"a".to_vec());
    project.plugin(
        "a",
        &format!(
            "version: 1\nname: a\nrelease: '1'\nkind: connector\nartifacts:\n  - url: {url}\n"
        ),
    );
    let (code, _, stderr) = project.deploy(&["plugins", "build"]);
    assert_eq!(code, 0, "{stderr}");
    assert_contains(
        &stderr,
        &format!(
            "recorded sha256:{} for {url} in plugins/plugins.lock: nothing could check it: no checksum file beside it (.sha512 not found, .sha256 not found, .sha1 not found, .md5 not found)",
            sha256(b"a")
        ),
    );
    let lock =
        std::fs::read_to_string(project.dir.path().join("plugins/plugins.lock")).expect("lock");
    assert!(
        lock.ends_with(&format!("{url} sha256:{} unchecked\n", sha256(b"a"))),
        "{lock}"
    );
}

#[test]
fn locked_refuses_to_record_and_offline_names_what_it_needs() {
    let p = Publishers::start();
    for args in [
        vec!["--locked", "plugins", "build"],
        vec!["--locked", "plugins", "pin"],
    ] {
        let (code, _, stderr) = p.project.deploy(&args);
        assert_eq!(code, 1, "{stderr}");
        assert_contains(
            &stderr,
            "--locked, and 3 artifact(s) have no checksum in their definition or the lock file",
        );
        assert_contains(
            &stderr,
            &format!("plugins/avro-converter.yaml:6: {}", p.converter_url),
        );
        assert_contains(&stderr, "plugins/debezium-postgres.yaml:6: ");
        assert_contains(&stderr, "without --locked to record them");
    }
    let mut ci = Project::with_cache(&p.project.cache);
    ci.env = p.project.env.clone();
    ci.env.push(("DEPLOY_LOCKED".into(), "1".into()));
    for name in [
        "debezium-postgres",
        "avro-converter",
        "msk-config-providers",
    ] {
        let text =
            std::fs::read_to_string(p.project.dir.path().join(format!("plugins/{name}.yaml")))
                .expect("plugin file");
        ci.plugin(name, &text);
    }
    let (code, _, stderr) = ci.deploy(&["plugins", "build"]);
    assert_eq!(code, 1, "DEPLOY_LOCKED=1 is --locked: {stderr}");

    let (code, _, stderr) = p.project.deploy(&["plugins", "build", "--offline"]);
    assert_eq!(code, 1, "{stderr}");
    assert_contains(&stderr, "offline, and not in the cache: 3 artifact(s)");
    assert_contains(
        &stderr,
        &format!("{} (no checksum recorded yet)", p.providers_url),
    );
    assert_eq!(p.server.requests(), 0, "refused before any download");
    assert!(!p.lock_file().exists());
}

#[test]
fn an_interrupted_first_download_records_nothing() {
    let p = Publishers::start();
    let path = "/api/plugins/confluentinc/kafka-connect-avro-converter/versions/7.9.0/confluentinc-kafka-connect-avro-converter-7.9.0.zip";
    p.server.drop_midway(path, 100);
    let (code, _, stderr) = p.project.deploy(&["plugins", "build"]);
    assert_eq!(code, 1, "{stderr}");
    assert_contains(&stderr, &format!("cannot download {}", p.converter_url));
    assert!(!p.lock_file().exists(), "all or nothing: {}", p.lock());
    assert!(p.project.outputs().is_empty());

    // The next build finishes it (resuming) and records all three.
    p.server.drop_midway(path, 1);
    let (code, _, stderr) = p.project.deploy(&["plugins", "build"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(p.lock().lines().filter(|l| !l.starts_with('#')).count(), 3);
}

#[test]
fn pin_records_without_building_and_leaves_the_definitions_alone() {
    let p = Publishers::start();
    let before =
        std::fs::read_to_string(p.project.dir.path().join("plugins/debezium-postgres.yaml"))
            .expect("file");
    let (code, stdout, stderr) = p.project.deploy(&["--output", "json", "plugins", "pin"]);
    assert_eq!(code, 0, "{stderr}");
    assert_contains(
        &stderr,
        "recorded 3 checksum(s) in plugins/plugins.lock: commit it",
    );
    let pinned: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(pinned.as_array().map(Vec::len), Some(3));
    assert_eq!(pinned[0]["check"]["by"], "publisher");
    assert!(p.project.outputs().is_empty(), "pin builds nothing");
    assert_eq!(
        std::fs::read_to_string(p.project.dir.path().join("plugins/debezium-postgres.yaml"))
            .expect("file"),
        before
    );
    let requests = p.server.requests();
    let (code, _, stderr) = p.project.deploy(&["plugins", "pin"]);
    assert_eq!(code, 0, "{stderr}");
    assert_contains(&stderr, "every artifact already has a checksum");
    let (code, _, stderr) = p.project.deploy(&["plugins", "build"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        p.server.requests(),
        requests,
        "pin left the downloads in the cache"
    );
}

#[test]
fn jar_patterns_take_only_some_jars_and_each_must_match_one() {
    let server = Server::start();
    let project = Project::new();
    // An archive that carries more than the plugin needs (as a wheel or a fat distribution does).
    let archive = zip(
        &[
            ("lib/debezium-api-3.6.3.Final.jar", "api"),
            ("lib/debezium-connector-postgres-3.6.3.Final.jar", "pg"),
            ("lib/debezium-connector-mysql-3.6.3.Final.jar", "mysql"),
            ("lib/postgresql-42.7.13.jar", "jdbc"),
            ("lib/README.txt", "not a jar"),
        ],
        &[],
        zip::DateTime::default(),
    );
    let url = server.put("/wheel.zip", archive.clone());
    let plugin = |patterns: &str| {
        format!(
            "version: 1\nname: pg\nrelease: '3.6.3'\nkind: connector\nartifacts:\n  - url: {url}\n    sha256: {}\n    jars: [{patterns}]\n",
            sha256(&archive)
        )
    };
    project.plugin(
        "pg",
        &plugin("debezium-api-*.jar, debezium-connector-postgres-*, postgresql-42.?.*.jar"),
    );
    let (code, _, stderr) = project.deploy(&["plugins", "build"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        zip_entries(&project.outputs()[0]),
        [
            "pg/",
            "pg/debezium-api-3.6.3.Final.jar",
            "pg/debezium-connector-postgres-3.6.3.Final.jar",
            "pg/postgresql-42.7.13.jar"
        ]
    );

    // A pattern that matches nothing (a renamed upstream jar) fails the build, where it is written.
    project.plugin("pg", &plugin("debezium-api-*.jar, debezium-core-*.jar"));
    let (code, _, stderr) = project.deploy(&["plugins", "build"]);
    assert_eq!(code, 1, "{stderr}");
    assert_contains(
        &stderr,
        "plugins/pg.yaml:8: artifacts[0].jars[1]: `debezium-core-*.jar` matches no jar in",
    );
    project.plugin("pg", &plugin(""));
    let (code, _, stderr) = project.deploy(&["plugins", "build"]);
    assert_eq!(code, 1, "{stderr}");
    assert_contains(
        &stderr,
        "an empty list takes no jar; leave `jars` out to take every jar",
    );
}

#[test]
fn a_full_cache_is_a_clear_error_and_nothing_half_written_counts_as_cached() {
    let server = Server::start();
    let project = Project::new();
    let body = b"a jar".to_vec();
    let url = server.put("/a.jar", body.clone());
    project.plugin(
        "a",
        &format!(
            "version: 1\nname: a\nrelease: '1'\nkind: connector\nartifacts:\n  - url: {url}\n    sha256: {}\n",
            sha256(&body)
        ),
    );
    // The download's file is on a device that is always full: every write fails with ENOSPC.
    let partial = project.cache.join("partial");
    std::fs::create_dir_all(&partial).expect("cache");
    let name = format!("sha256-{}.partial", sha256(&body));
    std::os::unix::fs::symlink("/dev/full", partial.join(&name)).expect("symlink");
    let (code, _, stderr) = project.deploy(&["plugins", "build"]);
    assert_eq!(code, 1, "{stderr}");
    assert_contains(&stderr, &format!("cannot download {url}: cannot write"));
    assert_contains(&stderr, "No space left on device");
    let cached = project
        .cache
        .join("artifacts")
        .join(format!("sha256-{}", sha256(&body)));
    assert!(!cached.exists(), "a failed write taken for a complete file");
    assert!(project.outputs().is_empty());

    // Space again: the next build completes.
    std::fs::remove_file(partial.join(&name)).expect("remove");
    let (code, _, stderr) = project.deploy(&["plugins", "build"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(std::fs::read(&cached).expect("cached"), body);
}
