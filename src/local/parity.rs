//! The local worker's Kafka Connect against MSK Connect's: a connector that relies on a newer
//! Connect than MSK Connect runs (3.7.x) works here and not there. Read from the worker's image
//! when it is Apache Kafka's own (`apache/kafka:<version>`); other images do not say.

use crate::model::Environment;
use crate::output::{Printer, Style};

use crate::config::msk_connect::NEWEST;

/// `3.9.2`, `3.7.x` → (3, 9), (3, 7).
fn major_minor(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// The Kafka release of an `apache/kafka` or `apache/kafka-native` image tag.
fn apache_kafka_version(image: &str) -> Option<(u32, u32)> {
    let (repository, tag) = image.rsplit_once(':')?;
    let repository = repository.trim_start_matches("docker.io/");
    if !matches!(repository, "apache/kafka" | "apache/kafka-native") {
        return None;
    }
    major_minor(tag)
}

/// A warning line when the local worker's Kafka Connect is not MSK Connect's line.
pub(super) fn warning(env: &Environment) -> Option<String> {
    let connect = env.connect.as_ref()?;
    let image = &env.service(&connect.service)?.image;
    let (major, minor) = apache_kafka_version(image)?;
    (Some((major, minor)) != major_minor(NEWEST)).then(|| {
        format!(
            "the local worker runs Kafka Connect {major}.{minor} ({image}); MSK Connect runs {NEWEST}: a connector that works here may not there"
        )
    })
}

pub(super) fn warn(env: &Environment, printer: &Printer) {
    if !env.connectors.is_empty()
        && let Some(line) = warning(env)
    {
        printer.status(&format!("  {} {line}", printer.paint(Style::Warn, "!")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_of_apache_kafka_images() {
        assert_eq!(apache_kafka_version("apache/kafka:3.9.2"), Some((3, 9)));
        assert_eq!(
            apache_kafka_version("apache/kafka-native:4.1.2"),
            Some((4, 1))
        );
        assert_eq!(
            apache_kafka_version("docker.io/apache/kafka:3.7.2"),
            Some((3, 7))
        );
        assert_eq!(
            apache_kafka_version("confluentinc/cp-kafka-connect:7.9.0"),
            None
        );
        assert_eq!(apache_kafka_version("deploy-test/connect:4.3"), None);
    }

    #[test]
    fn local_yaml_says_its_worker_differs() {
        let env = crate::config::environment(std::path::Path::new("environments/local.yaml"))
            .expect("local.yaml is valid");
        let line = warning(&env).expect("a warning");
        assert!(line.starts_with("the local worker runs Kafka Connect 3.9 (apache/kafka:3.9.2); MSK Connect runs 3.7.x"), "{line}");
    }
}
