//! Merging a connector's jars with its bundles' jars: identical jars once; the same artifact at
//! two versions is the connector's own when the connector ships it (its code was built and tested
//! against that version: Confluent's S3 sink 10.5 ships the Avro libraries at 7.7, which the
//! converter bundle brings again at its own version), and otherwise refused unless the plugin
//! file says which wins (`prefer:`, which also overrides the connector's own).

use std::collections::BTreeMap;

use super::archive::Jar;
use super::error::PluginError;
use super::fetch::sha256;

/// A jar with where it came from (the plugin or bundle name) and its digest.
#[derive(Debug, Clone)]
pub(super) struct Sourced {
    pub jar: Jar,
    pub origin: String,
    pub sha256: String,
}

/// `guava-32.1.3-jre.jar` → (`guava`, `32.1.3-jre`): the version starts at the first `-digit`.
pub(super) fn identity(file_name: &str) -> (String, String) {
    let stem = file_name.strip_suffix(".jar").unwrap_or(file_name);
    let bytes = stem.as_bytes();
    for i in 0..bytes.len().saturating_sub(1) {
        if bytes[i] == b'-' && bytes[i + 1].is_ascii_digit() {
            return (stem[..i].to_string(), stem[i + 1..].to_string());
        }
    }
    (stem.to_string(), String::new())
}

/// The merged jars, and each version choice made without `prefer:`, for the build to say.
#[derive(Debug)]
pub(super) struct Merged {
    pub jars: Vec<Sourced>,
    pub kept_own: Vec<String>,
}

/// `own` names the set that is the connector itself (None for a bundle built alone).
pub(super) fn merge(
    plugin: &str,
    own: Option<&str>,
    sets: Vec<(String, Vec<Jar>)>,
    prefer: &BTreeMap<String, String>,
) -> Result<Merged, PluginError> {
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
    let mut kept_own = Vec::new();
    for (artifact, versions) in by_artifact.iter().filter(|(_, v)| v.len() > 1) {
        let described: Vec<String> = versions
            .iter()
            .map(|s| format!("{} (from `{}`)", identity(&s.jar.file_name).1, s.origin))
            .collect();
        let preferred = prefer.get(artifact).and_then(|wanted| {
            versions
                .iter()
                .find(|s| &identity(&s.jar.file_name).1 == wanted)
        });
        let owned: Vec<&&Sourced> = versions
            .iter()
            .filter(|s| Some(s.origin.as_str()) == own)
            .collect();
        let winner = match (preferred, owned.as_slice()) {
            (Some(winner), _) => Some(winner),
            (None, [only]) => {
                let others: Vec<String> = versions
                    .iter()
                    .filter(|s| s.jar.file_name != only.jar.file_name)
                    .map(|s| format!("{} ({})", identity(&s.jar.file_name).1, s.origin))
                    .collect();
                kept_own.push(format!(
                    "{artifact} {} (its own) over {}",
                    identity(&only.jar.file_name).1,
                    others.join(", ")
                ));
                Some(*only)
            }
            _ => None,
        };
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
    Ok(Merged {
        jars: by_name.into_values().collect(),
        kept_own,
    })
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
        // Two bundles disagreeing: refused.
        let error = merge("p", None, sets(), &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(error.contains("`guava` comes at two versions: 31.1-jre (from `connector`) and 32.1.3-jre (from `bundle`)"), "{error}");
        let prefer = BTreeMap::from([("guava".to_string(), "32.1.3-jre".to_string())]);
        let merged = merge("p", None, sets(), &prefer).unwrap();
        let names: Vec<&str> = merged
            .jars
            .iter()
            .map(|s| s.jar.file_name.as_str())
            .collect();
        assert_eq!(names, vec!["a-1.0.jar", "guava-32.1.3-jre.jar"]);
        assert!(merged.kept_own.is_empty());
        // The connector ships it: its own version, and the build says so; `prefer` still wins.
        let merged = merge("p", Some("connector"), sets(), &BTreeMap::new()).unwrap();
        let names: Vec<&str> = merged
            .jars
            .iter()
            .map(|s| s.jar.file_name.as_str())
            .collect();
        assert_eq!(names, vec!["a-1.0.jar", "guava-31.1-jre.jar"]);
        assert_eq!(
            merged.kept_own,
            ["guava 31.1-jre (its own) over 32.1.3-jre (bundle)"]
        );
        let merged = merge("p", Some("connector"), sets(), &prefer).unwrap();
        assert!(
            merged
                .jars
                .iter()
                .any(|s| s.jar.file_name == "guava-32.1.3-jre.jar")
        );
        let clash = vec![
            ("x".to_string(), vec![jar("a-1.0.jar", "one")]),
            ("y".to_string(), vec![jar("a-1.0.jar", "two")]),
        ];
        assert!(merge("p", Some("x"), clash, &BTreeMap::new()).is_err());
    }
}
