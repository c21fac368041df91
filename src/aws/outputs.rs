//! What the infrastructure gives the connectors: `${aws:NAME}` markers left by loading are
//! filled here once the resources exist, and read "(known after apply)" in a plan before.

use std::collections::BTreeMap;

/// Shown in a plan for a value that exists only once the resource giving it is created.
pub(super) const UNKNOWN: &str = "(known after apply)";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outputs {
    /// The environment's region (`${aws:region}`).
    pub region: Option<String>,
    /// The MSK cluster's ARN (given, or the one created).
    pub cluster_arn: Option<String>,
    pub bootstrap: Option<String>,
    /// The connectors' security groups (given, or the one created).
    pub connector_groups: Vec<String>,
    /// The connectors' role (given, or the one created).
    pub connector_role: Option<String>,
    pub database_host: Option<String>,
    pub database_port: Option<i32>,
    /// The ARN of the database's master user secret, which RDS keeps in Secrets Manager.
    pub database_secret: Option<String>,
    /// Its current version: what read the password carries the version it read.
    pub database_secret_version: Option<String>,
    pub registry_url: Option<String>,
    /// What the database tasks run with: the ECS task execution role and their security group.
    pub task_role: Option<String>,
    pub task_group: Option<String>,
}

impl Outputs {
    fn value(&self, name: &str) -> Option<String> {
        match name {
            "msk.bootstrap" => self.bootstrap.clone(),
            "database.host" => self.database_host.clone(),
            "database.port" => self.database_port.map(|p| p.to_string()),
            // Passed through MSK Connect's Secrets Manager config provider, never as a value.
            "database.password" => self
                .database_secret
                .as_deref()
                .map(|arn| format!("${{secretsmanager:{}:password}}", secret_name(arn))),
            "registry.url" => self.registry_url.clone(),
            "region" => self.region.clone(),
            _ => None,
        }
    }

    /// The text with every `${aws:NAME}` replaced by its value, or by `UNKNOWN` before it exists.
    pub fn fill(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${aws:") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 6..];
            let Some(end) = after.find('}') else {
                break;
            };
            out.push_str(&self.value(&after[..end]).unwrap_or_else(|| UNKNOWN.into()));
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }

    pub fn fill_all(&self, config: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        config
            .iter()
            .map(|(k, v)| (k.clone(), self.fill(v)))
            .collect()
    }
}

/// A secret's name from its ARN (`…:secret:NAME-abcdef`): the config provider takes names, since
/// its `${provider:path:key}` syntax cannot carry an ARN's colons.
pub(super) fn secret_name(arn: &str) -> &str {
    let name = arn.rsplit_once(":secret:").map_or(arn, |(_, n)| n);
    // Secrets Manager appends `-` and six random characters to the name.
    match name.rsplit_once('-') {
        Some((base, suffix)) if suffix.len() == 6 => base,
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_known_values_and_marks_the_rest() {
        let outputs = Outputs {
            database_host: Some("db.example".into()),
            database_secret: Some(
                "arn:aws:secretsmanager:us-east-1:1:secret:rds!cluster-42-AbCdEf".into(),
            ),
            ..Outputs::default()
        };
        assert_eq!(
            outputs.fill("jdbc://${aws:database.host}:${aws:database.port}/x"),
            "jdbc://db.example:(known after apply)/x"
        );
        assert_eq!(
            outputs.fill("${aws:database.password}"),
            "${secretsmanager:rds!cluster-42:password}"
        );
        assert_eq!(outputs.fill("plain ${OTHER}"), "plain ${OTHER}");
    }
}
