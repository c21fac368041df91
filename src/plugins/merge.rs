//! Merging a connector's jars with its bundles' jars: identical jars once, the same artifact at
//! two versions refused unless the plugin file says which wins.

use std::collections::BTreeMap;

use super::PluginError;
use super::archive::Jar;
use super::fetch::sha256;

/// A jar with where it came from (the plugin or bundle name) and its digest.
#[derive(Debug, Clone)]
pub struct Sourced {
    pub jar: Jar,
    pub origin: String,
    pub sha256: String,
}

/// `guava-32.1.3-jre.jar` → (`guava`, `32.1.3-jre`): the version starts at the first `-digit`.
pub fn identity(file_name: &str) -> (String, String) {
    let stem = file_name.strip_suffix(".jar").unwrap_or(file_name);
    let bytes = stem.as_bytes();
    for i in 0..bytes.len().saturating_sub(1) {
        if bytes[i] == b'-' && bytes[i + 1].is_ascii_digit() {
            return (stem[..i].to_string(), stem[i + 1..].to_string());
        }
    }
    (stem.to_string(), String::new())
}

pub fn merge(
    plugin: &str,
    sets: Vec<(String, Vec<Jar>)>,
    prefer: &BTreeMap<String, String>,
) -> Result<Vec<Sourced>, PluginError> {
    let mut by_name: BTreeMap<String, Sourced> = BTreeMap::new();
    for (origin, jars) in sets {
        for jar in jars {
            let digest = sha256(&jar.data);
            match by_name.get(&jar.file_name) {
                Some(existing) if existing.sha256 == digest => {}
                Some(existing) => {
                    return Err(PluginError::Conflict {
                        plugin: plugin.to_string(),
                        message: format!(
                            "two different files named `{}` (from `{}` and `{origin}`)",
                            jar.file_name, existing.origin
                        ),
                    });
                }
                None => {
                    by_name.insert(
                        jar.file_name.clone(),
                        Sourced {
                            jar,
                            origin: origin.clone(),
                            sha256: digest,
                        },
                    );
                }
            }
        }
    }
    // The same artifact at more than one version.
    let mut by_artifact: BTreeMap<String, Vec<&Sourced>> = BTreeMap::new();
    for sourced in by_name.values() {
        let (artifact, _) = identity(&sourced.jar.file_name);
        by_artifact.entry(artifact).or_default().push(sourced);
    }
    let mut dropped = Vec::new();
    for (artifact, versions) in by_artifact.iter().filter(|(_, v)| v.len() > 1) {
        let described: Vec<String> = versions
            .iter()
            .map(|s| format!("{} (from `{}`)", identity(&s.jar.file_name).1, s.origin))
            .collect();
        let winner = prefer.get(artifact).and_then(|wanted| {
            versions
                .iter()
                .find(|s| &identity(&s.jar.file_name).1 == wanted)
        });
        match winner {
            Some(winner) => dropped.extend(
                versions
                    .iter()
                    .filter(|s| s.jar.file_name != winner.jar.file_name)
                    .map(|s| s.jar.file_name.clone()),
            ),
            None => {
                return Err(PluginError::Conflict {
                    plugin: plugin.to_string(),
                    message: format!(
                        "`{artifact}` comes at two versions: {}; say which wins with `prefer: {{{artifact}: VERSION}}`",
                        described.join(" and ")
                    ),
                });
            }
        }
    }
    for name in dropped {
        by_name.remove(&name);
    }
    Ok(by_name.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities() {
        assert_eq!(
            identity("guava-32.1.3-jre.jar"),
            ("guava".into(), "32.1.3-jre".into())
        );
        assert_eq!(
            identity("kafka-connect-avro-converter-7.9.0.jar"),
            ("kafka-connect-avro-converter".into(), "7.9.0".into())
        );
        assert_eq!(
            identity("debezium-core-2.7.4.Final.jar"),
            ("debezium-core".into(), "2.7.4.Final".into())
        );
        assert_eq!(
            identity("no-version.jar"),
            ("no-version".into(), String::new())
        );
    }

    fn jar(name: &str, content: &str) -> Jar {
        Jar {
            file_name: name.into(),
            data: content.as_bytes().to_vec(),
        }
    }

    #[test]
    fn identical_jars_once_conflicts_refused_unless_preferred() {
        let sets = || {
            vec![
                (
                    "connector".to_string(),
                    vec![jar("a-1.0.jar", "a"), jar("guava-31.1-jre.jar", "g31")],
                ),
                (
                    "bundle".to_string(),
                    vec![jar("a-1.0.jar", "a"), jar("guava-32.1.3-jre.jar", "g32")],
                ),
            ]
        };
        let error = merge("p", sets(), &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(error.contains("`guava` comes at two versions: 31.1-jre (from `connector`) and 32.1.3-jre (from `bundle`)"), "{error}");
        let prefer = BTreeMap::from([("guava".to_string(), "32.1.3-jre".to_string())]);
        let merged = merge("p", sets(), &prefer).unwrap();
        let names: Vec<&str> = merged.iter().map(|s| s.jar.file_name.as_str()).collect();
        assert_eq!(names, vec!["a-1.0.jar", "guava-32.1.3-jre.jar"]);
        let clash = vec![
            ("x".to_string(), vec![jar("a-1.0.jar", "one")]),
            ("y".to_string(), vec![jar("a-1.0.jar", "two")]),
        ];
        assert!(merge("p", clash, &BTreeMap::new()).is_err());
    }
}
