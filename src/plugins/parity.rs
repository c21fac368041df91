//! What MSK Connect would refuse in a connector that a local worker may run: MSK Connect loads a
//! connector's classes from its one custom plugin only (it "cannot add a converter to the worker
//! classpath"), so the connector class, its converters, transforms and predicates must be in the
//! plugin or be Kafka Connect's own. A local worker whose image carries more (a Confluent image
//! with the Avro converter) would hide the gap until AWS. Checked before anything changes, on
//! both targets.

use std::collections::BTreeSet;

use super::Built;
use crate::error::Error;
use crate::model::Connector;

/// Classes every Kafka Connect worker has: its converters, transforms, predicates and config
/// providers.
const RUNTIME: [&str; 2] = [
    "org.apache.kafka.connect.",
    "org.apache.kafka.common.config.provider.",
];

/// The keys that name a class, with what they name.
fn class_keys(connector: &Connector) -> Vec<(&str, &str)> {
    connector
        .config
        .iter()
        .filter(|(key, _)| {
            matches!(
                key.as_str(),
                "connector.class" | "key.converter" | "value.converter" | "header.converter"
            ) || ((key.starts_with("transforms.") || key.starts_with("predicates."))
                && key.ends_with(".type")
                && key.matches('.').count() == 2)
        })
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// Kafka Connect takes a plugin by its class name, its simple name, or its simple name without
/// the type's suffix (`PluginUtils.simpleName`, `prunedName` in connect-runtime).
fn names(class: &str) -> [String; 3] {
    let simple = class.rsplit('.').next().unwrap_or(class).to_string();
    let pruned = ["Connector", "Converter", "Transformation", "Predicate"]
        .iter()
        .find_map(|suffix| simple.strip_suffix(suffix))
        .unwrap_or(&simple)
        .to_string();
    [class.to_string(), simple, pruned]
}

fn provided_by(value: &str, provides: &BTreeSet<String>) -> bool {
    RUNTIME.iter().any(|p| value.starts_with(p))
        || provides
            .iter()
            .any(|class| names(class).iter().any(|n| n == value))
}

/// Each connector's classes are in its plugin (or Kafka Connect's own).
pub fn check(connectors: &[Connector], built: &[Built]) -> Result<(), Error> {
    for connector in connectors {
        let Some(plugin) = &connector.plugin else {
            continue;
        };
        // A plugin whose jars hold no plugin class at all cannot be judged (it is no plugin
        // Kafka Connect could load either): nothing to compare with.
        let Some(built) = built
            .iter()
            .find(|b| &b.name == plugin && !b.provides.is_empty())
        else {
            continue;
        };
        for (key, value) in class_keys(connector) {
            if value.contains("${") || provided_by(value, &built.provides) {
                continue;
            }
            let what = if key == "connector.class" {
                "the connector class"
            } else {
                "the class"
            };
            return Err(Error::user(format!(
                "connector `{}`: {key}: {what} `{value}` is not in plugin `{plugin}`; MSK Connect loads a connector's classes from its plugin only",
                connector.name
            ))
            .with_hint(if key == "connector.class" {
                format!("check the class name, or give the connector the plugin that has it (`plugin:`); `{plugin}` has: {}", connector_like(&built.provides))
            } else {
                format!("add a bundle that provides it to plugins/{plugin}.yaml (`bundle: [...]`), as avro-converter does for the Avro converter")
            }));
        }
    }
    Ok(())
}

fn connector_like(provides: &BTreeSet<String>) -> String {
    let found: Vec<&str> = provides
        .iter()
        .filter(|c| c.ends_with("Connector"))
        .map(String::as_str)
        .collect();
    if found.is_empty() {
        "no connector class".into()
    } else {
        found.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ConnectorState;

    fn connector(config: &[(&str, &str)]) -> Connector {
        Connector {
            name: "orders-source".into(),
            plugin: Some("debezium-postgres".into()),
            state: ConnectorState::Running,
            config: config
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            secret_keys: Default::default(),
            secret_names: Default::default(),
            allow_unknown_keys: Default::default(),
            keep_slot: false,
        }
    }

    fn built(provides: &[&str]) -> Built {
        Built {
            name: "debezium-postgres".into(),
            zip: "x.zip".into(),
            sha256: String::new(),
            size: 0,
            rebuilt: true,
            kept_own: Vec::new(),
            provides: provides.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn classes_come_from_the_plugin_or_the_runtime() {
        let plugin = built(&[
            "io.debezium.connector.postgresql.PostgresConnector",
            "io.debezium.transforms.ExtractNewRecordState",
        ]);
        let fine = connector(&[
            (
                "connector.class",
                "io.debezium.connector.postgresql.PostgresConnector",
            ),
            (
                "key.converter",
                "org.apache.kafka.connect.storage.StringConverter",
            ),
            (
                "transforms.unwrap.type",
                "io.debezium.transforms.ExtractNewRecordState",
            ),
        ]);
        assert!(check(&[fine], std::slice::from_ref(&plugin)).is_ok());
        // Aliases as Kafka Connect takes them.
        let alias = connector(&[("connector.class", "Postgres")]);
        assert!(check(&[alias], std::slice::from_ref(&plugin)).is_ok());
        // A converter the local image has but the plugin lacks.
        let avro = connector(&[
            (
                "connector.class",
                "io.debezium.connector.postgresql.PostgresConnector",
            ),
            ("value.converter", "io.confluent.connect.avro.AvroConverter"),
        ]);
        let error = check(&[avro], std::slice::from_ref(&plugin))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("value.converter: the class `io.confluent.connect.avro.AvroConverter` is not in plugin `debezium-postgres`"),
            "{error}"
        );
        let wrong = connector(&[(
            "connector.class",
            "io.debezium.connector.mysql.MySqlConnector",
        )]);
        assert!(check(&[wrong], &[plugin]).is_err());
    }
}
