//! Keys Connect does not know. Its validation silently ignores a key no class defines (a
//! misspelled `schema.include` for `schema.include.list` passes unnoticed), so every key of a
//! definition is checked against what validation lists. Keys Connect hands on to a plugged-in
//! class (a converter's, a transformation's or predicate's) are checked against that class's own
//! keys (`GET /connector-plugins/{class}/config`) where Connect can say, and never flagged when
//! it cannot; the client overrides (`producer.override.*`, …) go to the Kafka clients and are
//! not checked.

use std::collections::{BTreeMap, BTreeSet};

use super::client::{Client, ConnectError, Validation};
use crate::config::error::suggest;
use crate::model::Connector;

/// A key no class of the connector defines, with the nearest one that is defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unknown {
    pub key: String,
    pub class: String,
    pub nearest: Option<String>,
}

impl std::fmt::Display for Unknown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: not a key of {}", self.key, self.class)?;
        match &self.nearest {
            Some(n) => write!(f, " (did you mean `{n}`?)"),
            None => Ok(()),
        }
    }
}

/// Where a key goes: to the connector (and what validation lists), to a plugged-in class named
/// by another key, or to the Kafka clients.
#[derive(Debug, PartialEq, Eq)]
enum Owner<'a> {
    Connector,
    /// The class named by `class_key`, which reads the key without `prefix`.
    Plugged {
        prefix: String,
        class_key: String,
    },
    Clients(&'a str),
}

const CONVERTERS: [&str; 3] = ["key.converter", "value.converter", "header.converter"];
/// Handed on to the Kafka clients by Connect and, for Debezium connectors, to the JDBC driver
/// (`driver.*`: `DRIVER_CONFIG_PREFIX` in Debezium 3.6's `io.debezium.config.ConfigurationNames`).
const CLIENT_OVERRIDES: [&str; 3] = [
    "producer.override.",
    "consumer.override.",
    "admin.override.",
];
const DEBEZIUM_DRIVER: &str = "driver.";

fn owner<'a>(key: &'a str, config: &BTreeMap<String, String>) -> Owner<'a> {
    if let Some(prefix) = CLIENT_OVERRIDES.iter().find(|p| key.starts_with(*p)) {
        return Owner::Clients(prefix);
    }
    let debezium = config
        .get("connector.class")
        .is_some_and(|c| c.starts_with("io.debezium."));
    if debezium && key.starts_with(DEBEZIUM_DRIVER) {
        return Owner::Clients(DEBEZIUM_DRIVER);
    }
    // Debezium's custom converters: `converters: isbn` hands `isbn.*` to the class in
    // `isbn.type`, which Connect cannot describe.
    if debezium && let Some(owner) = listed(key, config, "converters", "") {
        return owner;
    }
    for converter in CONVERTERS {
        if key.starts_with(&format!("{converter}.")) {
            return Owner::Plugged {
                prefix: format!("{converter}."),
                class_key: converter.to_string(),
            };
        }
    }
    for family in ["transforms", "predicates"] {
        if let Some(owner) = listed(key, config, family, &format!("{family}.")) {
            return owner;
        }
    }
    Owner::Connector
}

/// The key's owner when it belongs to an alias of the list in `list_key` (`transforms: unwrap`
/// names `transforms.unwrap.*`, whose class is `transforms.unwrap.type`).
fn listed<'a>(
    key: &str,
    config: &BTreeMap<String, String>,
    list_key: &str,
    under: &str,
) -> Option<Owner<'a>> {
    let aliases = config.get(list_key).map(String::as_str).unwrap_or_default();
    aliases
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|alias| format!("{under}{alias}."))
        .find(|prefix| key.starts_with(prefix))
        .map(|prefix| Owner::Plugged {
            class_key: format!("{prefix}type"),
            prefix,
        })
}

/// Every key of `connector` that neither validation nor the class it is handed to knows, except
/// those the definition allows.
pub(crate) fn unknown(
    client: &Client,
    connector: &Connector,
    validation: &Validation,
    classes: &mut BTreeMap<String, Option<BTreeSet<String>>>,
) -> Result<Vec<Unknown>, ConnectError> {
    let config = &connector.config;
    let class = config.get("connector.class").cloned().unwrap_or_default();
    let mut unknown = Vec::new();
    for key in config.keys() {
        if validation.known.contains(key) || connector.allow_unknown_keys.contains(key) {
            continue;
        }
        match owner(key, config) {
            Owner::Clients(_) => {}
            Owner::Connector => unknown.push(Unknown {
                key: key.clone(),
                class: class.clone(),
                nearest: suggest(key, validation.known.iter().map(String::as_str))
                    .map(str::to_string),
            }),
            Owner::Plugged { prefix, class_key } => {
                // The key naming the class itself is Connect's own (`key.converter`, `….type`).
                let Some(plugged) = config.get(&class_key) else {
                    continue;
                };
                if !classes.contains_key(plugged) {
                    classes.insert(plugged.clone(), client.plugin_keys(plugged)?);
                }
                let Some(keys) = &classes[plugged] else {
                    continue;
                };
                let inner = &key[prefix.len()..];
                if !keys.contains(inner) {
                    unknown.push(Unknown {
                        key: key.clone(),
                        class: plugged.clone(),
                        nearest: suggest(inner, keys.iter().map(String::as_str))
                            .map(|n| format!("{prefix}{n}")),
                    });
                }
            }
        }
    }
    Ok(unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_go_to_the_class_that_reads_them() {
        let config: BTreeMap<String, String> = [
            ("transforms", "unwrap, route"),
            ("predicates", "isTombstone"),
            ("key.converter", "io.confluent.connect.avro.AvroConverter"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(owner("schema.include.list", &config), Owner::Connector);
        assert_eq!(
            owner("key.converter.schema.registry.url", &config),
            Owner::Plugged {
                prefix: "key.converter.".into(),
                class_key: "key.converter".into()
            }
        );
        assert_eq!(
            owner("transforms.route.regex", &config),
            Owner::Plugged {
                prefix: "transforms.route.".into(),
                class_key: "transforms.route.type".into()
            }
        );
        assert_eq!(
            owner("predicates.isTombstone.type", &config),
            Owner::Plugged {
                prefix: "predicates.isTombstone.".into(),
                class_key: "predicates.isTombstone.type".into()
            }
        );
        // An alias that is not listed in `transforms` is the connector's key, and so unknown.
        assert_eq!(owner("transforms.other.type", &config), Owner::Connector);
        assert_eq!(
            owner("producer.override.linger.ms", &config),
            Owner::Clients("producer.override.")
        );
        // Debezium hands `driver.*` to the JDBC driver and `<converter>.*` to its converters.
        assert_eq!(owner("driver.sslmode", &config), Owner::Connector);
        let mut debezium = config.clone();
        debezium.insert(
            "connector.class".into(),
            "io.debezium.connector.postgresql.PostgresConnector".into(),
        );
        debezium.insert("converters".into(), "isbn".into());
        assert_eq!(
            owner("driver.sslmode", &debezium),
            Owner::Clients("driver.")
        );
        assert_eq!(
            owner("isbn.schema.name", &debezium),
            Owner::Plugged {
                prefix: "isbn.".into(),
                class_key: "isbn.type".into()
            }
        );
    }
}
