//! `${VAR}`, `${VAR:-default}`, `${VAR:?message}` and `${secret:NAME}` substitution.
//!
//! Values come from the process environment first, then from the `.env` file beside the
//! environment file. Only the braced form is substituted, so a shell command in the file
//! (`sh -c 'echo $HOME'`) keeps its own `$NAME`; `$${` writes a literal `${`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The values the AWS target gives once it has created its infrastructure (`${aws:NAME}`).
pub(super) const AWS_OUTPUTS: [&str; 6] = [
    "msk.bootstrap",
    "database.host",
    "database.port",
    "database.password",
    "registry.url",
    "region",
];

/// Where variable values come from.
pub(crate) struct Variables {
    process: BTreeMap<String, String>,
    dotenv: BTreeMap<String, String>,
    dotenv_file: Option<PathBuf>,
    /// Target references (`${kafka.bootstrap}`), from the file's `references:`: the value and
    /// whether it holds a secret.
    references: BTreeMap<String, (String, bool)>,
}

/// The result of substituting one string: the text, and the secret values it now contains.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Substituted {
    pub text: String,
    pub secrets: Vec<String>,
    pub changed: bool,
    /// The variable's name when the whole input is one `${secret:NAME}` reference.
    pub whole_secret: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SubstitutionError {
    /// Character offset of the `${` in the original string.
    pub offset: usize,
    pub message: String,
    pub hint: Option<String>,
}

impl Variables {
    pub(crate) fn new(process: BTreeMap<String, String>) -> Self {
        Variables {
            process,
            dotenv: BTreeMap::new(),
            dotenv_file: None,
            references: BTreeMap::new(),
        }
    }

    pub(crate) fn from_process() -> Self {
        Self::new(std::env::vars().collect())
    }

    /// Reads `KEY=VALUE` lines (`#` comments, optional `export `, optional quotes).
    /// Errors are `(line, message)`.
    pub(crate) fn with_dotenv(mut self, file: &Path, text: &str) -> Result<Self, (usize, String)> {
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let line = line.strip_prefix("export ").unwrap_or(line);
            let Some((key, value)) = line.split_once('=') else {
                return Err((index + 1, format!("expected KEY=VALUE, found `{line}`")));
            };
            let key = key.trim();
            if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err((index + 1, format!("`{key}` is not a variable name")));
            }
            let value = value.trim();
            let value = ['"', '\'']
                .iter()
                .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
                .unwrap_or(value);
            self.dotenv.insert(key.to_string(), value.to_string());
        }
        self.dotenv_file = Some(file.to_path_buf());
        Ok(self)
    }

    pub(crate) fn with_references(mut self, references: BTreeMap<String, (String, bool)>) -> Self {
        self.references = references;
        self
    }

    /// A variable's value from the process or `.env`; `None` when unset or empty.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.process
            .get(name)
            .or_else(|| self.dotenv.get(name))
            .map(String::as_str)
    }

    fn where_to_set(&self) -> String {
        match &self.dotenv_file {
            Some(file) => format!("the process environment or {}", file.display()),
            None => "the process environment or a .env file beside the environment file".into(),
        }
    }

    pub(crate) fn substitute(&self, input: &str) -> Result<Substituted, SubstitutionError> {
        let mut text = String::with_capacity(input.len());
        let mut secrets = Vec::new();
        let mut changed = false;
        let mut rest = input;
        while let Some(start) = rest.find('$') {
            text.push_str(&rest[..start]);
            let after = &rest[start..];
            let here = input.len() - after.len();
            if let Some(tail) = after.strip_prefix("$${") {
                text.push_str("${");
                rest = tail;
                changed = true;
                continue;
            }
            let Some(body_start) = after.strip_prefix("${") else {
                text.push('$');
                rest = &after[1..];
                continue;
            };
            let Some(end) = body_start.find('}') else {
                return Err(SubstitutionError {
                    offset: here,
                    message: "unclosed `${`".into(),
                    hint: Some("write `$${` for a literal `${`".into()),
                });
            };
            let body = &body_start[..end];
            let (value, secret) =
                self.expand(body)
                    .map_err(|(message, hint)| SubstitutionError {
                        offset: here,
                        message,
                        hint,
                    })?;
            if secret && !value.is_empty() {
                secrets.push(value.clone());
            }
            text.push_str(&value);
            rest = &body_start[end + 1..];
            changed = true;
        }
        text.push_str(rest);
        let whole_secret = input
            .strip_prefix("${secret:")
            .and_then(|r| r.strip_suffix('}'))
            .filter(|body| !body.contains("${") && !body.contains('}'))
            .map(|body| {
                body.split(":-")
                    .next()
                    .unwrap_or(body)
                    .split(":?")
                    .next()
                    .unwrap_or(body)
                    .to_string()
            });
        Ok(Substituted {
            text,
            secrets,
            changed,
            whole_secret,
        })
    }

    /// Expands the inside of one `${...}`: returns the value and whether it is a secret.
    fn expand(&self, body: &str) -> Result<(String, bool), (String, Option<String>)> {
        // What the AWS target creates is known only once it exists: kept as a marker that
        // `aws::outputs` fills in.
        if let Some(output) = body.strip_prefix("aws:") {
            return if AWS_OUTPUTS.contains(&output) {
                Ok((format!("${{aws:{output}}}"), false))
            } else {
                Err((
                    format!("unknown AWS output `{output}`"),
                    Some(format!("the AWS target gives: {}", AWS_OUTPUTS.join(", "))),
                ))
            };
        }
        let (secret, body) = match body.strip_prefix("secret:") {
            Some(rest) => (true, rest),
            None => (false, body),
        };
        let (name, operator, argument) = match body.find(":-").or_else(|| body.find(":?")) {
            Some(i) => (&body[..i], &body[i..i + 2], Some(&body[i + 2..])),
            None => (body, "", None),
        };
        let is_reference = name.contains('.')
            && name.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            });
        if is_reference && !secret && operator.is_empty() {
            return match self.references.get(name) {
                Some((value, secret)) => Ok((value.clone(), *secret)),
                None => {
                    let known: Vec<&str> = self.references.keys().map(String::as_str).collect();
                    Err((
                        format!("unknown reference `${{{name}}}`"),
                        Some(if known.is_empty() {
                            "define it under `references:` in the environment file".into()
                        } else {
                            format!("this environment defines: {}", known.join(", "))
                        }),
                    ))
                }
            };
        }
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err((
                format!("`{name}` is not a variable name"),
                Some(
                    "variable names are letters, digits and `_`; references are `${group.name}`"
                        .into(),
                ),
            ));
        }
        let value = self.get(name).filter(|v| !v.is_empty());
        match (value, operator, argument) {
            (Some(v), _, _) => Ok((v.to_string(), secret)),
            (None, ":-", Some(default)) => Ok((default.to_string(), secret)),
            (None, ":?", Some(message)) => {
                let message = if message.is_empty() {
                    format!("variable `{name}` is required")
                } else {
                    format!("variable `{name}` is required: {message}")
                };
                Err((
                    message,
                    Some(format!("set {name} in {}", self.where_to_set())),
                ))
            }
            _ => Err((
                format!("variable `{name}` is not set"),
                Some(format!(
                    "set {name} in {}, or give a default with `${{{}{name}:-value}}`",
                    self.where_to_set(),
                    if secret { "secret:" } else { "" }
                )),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Variables {
        Variables::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn substitutes_set_default_and_literal() {
        let v = vars(&[("A", "1")]);
        let s = v.substitute("x${A}y${B:-2}z$${C}$HOME$").unwrap();
        assert_eq!(s.text, "x1y2z${C}$HOME$");
        assert!(s.changed);
        assert!(s.secrets.is_empty());
    }

    #[test]
    fn empty_counts_as_unset_for_defaults() {
        let v = vars(&[("A", "")]);
        assert_eq!(v.substitute("${A:-d}").unwrap().text, "d");
    }

    #[test]
    fn secrets_are_reported() {
        let v = vars(&[("PW", "hunter2")]);
        let s = v.substitute("pw=${secret:PW}").unwrap();
        assert_eq!(s.text, "pw=hunter2");
        assert_eq!(s.secrets, vec!["hunter2".to_string()]);
    }

    #[test]
    fn errors_say_what_is_missing() {
        let v = vars(&[]);
        let e = v.substitute("a ${NOPE}").unwrap_err();
        assert_eq!(e.offset, 2);
        assert_eq!(e.message, "variable `NOPE` is not set");
        let e = v.substitute("${X:?give the bucket}").unwrap_err();
        assert_eq!(e.message, "variable `X` is required: give the bucket");
        assert!(v.substitute("${unclosed").is_err());
        let r = vars(&[]).with_references(BTreeMap::from([(
            "kafka.bootstrap".into(),
            ("kafka:29092".into(), false),
        )]));
        assert_eq!(
            r.substitute("${kafka.bootstrap}").unwrap().text,
            "kafka:29092"
        );
        assert!(
            v.substitute("${kafka.bootstrap}")
                .unwrap_err()
                .message
                .contains("unknown reference")
        );
    }

    #[test]
    fn secret_references_stay_secret() {
        let r = vars(&[]).with_references(BTreeMap::from([(
            "database.password".into(),
            ("pw".into(), true),
        )]));
        let s = r.substitute("${database.password}").unwrap();
        assert_eq!(s.secrets, vec!["pw".to_string()]);
    }

    #[test]
    fn aws_outputs_are_kept_for_the_aws_target() {
        let v = vars(&[]);
        let s = v.substitute("http://${aws:registry.url}").unwrap();
        assert_eq!(s.text, "http://${aws:registry.url}");
        let e = v.substitute("${aws:registry.host}").unwrap_err();
        assert_eq!(e.message, "unknown AWS output `registry.host`");
    }

    #[test]
    fn process_wins_over_dotenv() {
        let v = vars(&[("A", "process")])
            .with_dotenv(Path::new(".env"), "# c\nA=file\nexport B=\"quoted\"\n")
            .unwrap();
        assert_eq!(v.substitute("${A} ${B}").unwrap().text, "process quoted");
        assert_eq!(
            vars(&[]).with_dotenv(Path::new(".env"), "nope").err(),
            Some((1, "expected KEY=VALUE, found `nope`".to_string()))
        );
    }
}
