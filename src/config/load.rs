//! Reading an environment file: YAML with positions, includes merged underneath, `${VAR}`
//! substituted, then typed into the raw serde types with errors that name file, line, column
//! and key path.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value};

use super::error::{ConfigError, suggest};
use super::interpolate::Variables;
use super::path::KeyPath;
use super::raw::EnvironmentFile;
use super::yaml::{self, Key, Kind, Node};

/// An environment file as read: the merged tree (for positions), the raw types, and the secret
/// values it contains (to be masked in every output).
#[derive(Debug)]
pub(crate) struct Loaded {
    pub file: PathBuf,
    pub tree: Node,
    pub raw: EnvironmentFile,
    pub secrets: Vec<String>,
    pub secret_paths: BTreeSet<String>,
    /// Values that are exactly one `${secret:NAME}`: key path → NAME.
    pub whole_secrets: BTreeMap<String, String>,
    /// Connectors left out because a variable they require is unset: (name, reason).
    pub skipped_connectors: Vec<(String, String)>,
}

impl Loaded {
    pub(crate) fn error(&self, path: &KeyPath, message: impl Into<String>) -> ConfigError {
        ConfigError::new(path.mark(&self.tree), path.to_string(), message)
    }

    /// An error about a key itself (a name), pointing at the key rather than its value.
    pub(crate) fn key_error(&self, path: &KeyPath, message: impl Into<String>) -> ConfigError {
        ConfigError::new(path.key_mark(&self.tree), path.to_string(), message)
    }

    /// The file a value was written in (includes resolve relative paths against their own file).
    pub(crate) fn file_of(&self, path: &KeyPath) -> PathBuf {
        path.locate(&self.tree).mark.file.as_ref().clone()
    }
}

/// Loads `file` with variables from the process environment and the `.env` beside it.
pub(crate) fn load(file: &Path) -> Result<Loaded, ConfigError> {
    load_with(file, Variables::from_process())
}

pub(crate) fn load_with(file: &Path, variables: Variables) -> Result<Loaded, ConfigError> {
    let dotenv = file.parent().unwrap_or(Path::new(".")).join(".env");
    let variables = match dotenv.exists().then(|| read_text(&dotenv)).transpose()? {
        Some(text) => variables
            .with_dotenv(&dotenv, &text)
            .map_err(|(line, message)| ConfigError {
                file: dotenv.clone(),
                position: Some((line, 1)),
                path: String::new(),
                message,
                hint: None,
                next: None,
            })?,
        None => variables,
    };
    let mut tree = read_with_includes(file, &variables, &mut Vec::new())?;
    let references = references(&tree, &variables)?;
    let variables = variables.with_references(references);
    let skipped_connectors = skip_connectors(&mut tree, &variables);
    let mut secrets = Vec::new();
    let mut secret_paths = BTreeSet::new();
    let mut whole_secrets = BTreeMap::new();
    let mut errors = Vec::new();
    substitute(
        &mut tree,
        &KeyPath::root(),
        &variables,
        &mut Substitution {
            secrets: &mut secrets,
            secret_paths: &mut secret_paths,
            whole_secrets: &mut whole_secrets,
            errors: &mut errors,
        },
    );
    if let Some(error) = ConfigError::all(errors) {
        return Err(error);
    }
    secrets.sort();
    secrets.dedup();
    let raw: EnvironmentFile = typed(&tree)?;
    Ok(Loaded {
        file: file.to_path_buf(),
        tree,
        raw,
        secrets,
        secret_paths,
        whole_secrets,
        skipped_connectors,
    })
}

/// The `references:` values, with variables substituted (references cannot refer to each other).
fn references(
    tree: &Node,
    variables: &Variables,
) -> Result<BTreeMap<String, (String, bool)>, ConfigError> {
    let Some(Node {
        kind: Kind::Map(entries),
        ..
    }) = tree.get("references")
    else {
        return Ok(BTreeMap::new());
    };
    let mut out = BTreeMap::new();
    for (key, value) in entries {
        let path = KeyPath::root().key("references").key(&key.name);
        let Kind::Scalar { text, .. } = &value.kind else {
            return Err(ConfigError::new(
                value.mark.clone(),
                path.to_string(),
                "a reference is a single value",
            ));
        };
        let done = variables.substitute(text).map_err(|e| {
            let error = ConfigError::new(value.mark.clone(), path.to_string(), e.message);
            match e.hint {
                Some(hint) => error.with_hint(hint),
                None => error,
            }
        })?;
        out.insert(key.name.clone(), (done.text, !done.secrets.is_empty()));
    }
    Ok(out)
}

/// Drops the connectors whose `requires:` names an unset variable, saying why.
fn skip_connectors(tree: &mut Node, variables: &Variables) -> Vec<(String, String)> {
    let Kind::Map(top) = &mut tree.kind else {
        return Vec::new();
    };
    let Some((
        _,
        Node {
            kind: Kind::Map(connectors),
            ..
        },
    )) = top.iter_mut().find(|(k, _)| k.name == "connectors")
    else {
        return Vec::new();
    };
    let mut skipped = Vec::new();
    connectors.retain(|(name, connector)| {
        let missing: Vec<String> = match connector.get("requires").map(|n| &n.kind) {
            Some(Kind::Seq(items)) => items
                .iter()
                .filter_map(|i| match &i.kind {
                    Kind::Scalar { text, .. } if variables.get(text).is_none() => {
                        Some(text.clone())
                    }
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        if missing.is_empty() {
            return true;
        }
        skipped.push((name.name.clone(), format!("{} not set", missing.join(", "))));
        false
    });
    skipped
}

/// Reads one YAML file (no includes, no variables) into `T`, with the same positioned errors as
/// environment files; the tree is returned for errors found later.
pub(crate) fn read_typed<T: DeserializeOwned>(file: &Path) -> Result<(Node, T), ConfigError> {
    let tree = read_tree(file)?;
    let value = typed(&tree)?;
    Ok((tree, value))
}

fn typed<T: DeserializeOwned>(tree: &Node) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(to_json(tree))
        .map_err(|e| type_error(tree, KeyPath::from(e.path()), &e.inner().to_string()))
}

fn read_tree(file: &Path) -> Result<Node, ConfigError> {
    let text = read_text(file)?;
    yaml::parse(file, &text)
}

/// The most a file the tool reads may hold: the largest real one is a few KiB.
pub(crate) const MAX_FILE_BYTES: u64 = 4 << 20;

/// A file the tool reads (environment file, include, plugin definition, `.env`) as text: a
/// regular file, at most `MAX_FILE_BYTES`, UTF-8 (a leading byte-order mark is dropped). Anything
/// else is refused before it is read whole.
pub(crate) fn read_text(file: &Path) -> Result<String, ConfigError> {
    use std::io::Read;
    let cannot = |e: std::io::Error| {
        let error = ConfigError::file(file, format!("cannot read the file: {e}"));
        if e.kind() == std::io::ErrorKind::NotFound {
            error.with_hint("check the path, or list the files under environments/")
        } else {
            error
        }
    };
    let metadata = std::fs::metadata(file).map_err(cannot)?;
    if !metadata.is_file() {
        let what = if metadata.is_dir() {
            "a directory"
        } else {
            "not a regular file (a FIFO, socket or device)"
        };
        return Err(ConfigError::file(
            file,
            format!("is {what}, not a YAML file"),
        ));
    }
    let too_big = || {
        ConfigError::file(
            file,
            format!(
                "is larger than {} MiB: refusing to read it",
                MAX_FILE_BYTES >> 20
            ),
        )
    };
    if metadata.len() > MAX_FILE_BYTES {
        return Err(too_big());
    }
    // Read at most one byte past the limit: the file may grow after the size was read.
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .map_err(cannot)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big());
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
        let start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&valid[start..]).chars().count() + 1;
        ConfigError {
            file: file.to_path_buf(),
            position: Some((line, column)),
            path: String::new(),
            message: "is not UTF-8: an invalid byte here".into(),
            hint: Some("save the file as UTF-8".into()),
            next: None,
        }
    })?;
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    })
}

/// Reads `file` and merges its `include`s underneath it, depth first.
fn read_with_includes(
    file: &Path,
    variables: &Variables,
    stack: &mut Vec<PathBuf>,
) -> Result<Node, ConfigError> {
    let mut tree = read_tree(file)?;
    let Kind::Map(entries) = &mut tree.kind else {
        return Err(ConfigError::new(
            tree.mark.clone(),
            "",
            "an environment file is a mapping of keys",
        ));
    };
    let Some(position) = entries.iter().position(|(k, _)| k.name == "include") else {
        return Ok(tree);
    };
    let (_, includes) = entries.remove(position);
    let Kind::Seq(items) = includes.kind else {
        return Err(ConfigError::new(
            includes.mark,
            "include",
            "expected a list of file paths",
        ));
    };
    let canonical = file.canonicalize().unwrap_or_else(|_| file.to_path_buf());
    stack.push(canonical);
    let mut merged = Node {
        kind: Kind::Map(Vec::new()),
        mark: tree.mark.clone(),
    };
    for (index, item) in items.into_iter().enumerate() {
        let path = KeyPath::root().key("include").index(index);
        let Kind::Scalar { text, .. } = &item.kind else {
            return Err(ConfigError::new(
                item.mark,
                path.to_string(),
                "expected a file path",
            ));
        };
        let text = variables
            .substitute(text)
            .map_err(|e| ConfigError::new(item.mark.clone(), path.to_string(), e.message))?
            .text;
        let included = file.parent().unwrap_or(Path::new(".")).join(&text);
        let canonical = included.canonicalize().map_err(|e| {
            ConfigError::new(
                item.mark.clone(),
                path.to_string(),
                format!("cannot read `{}`: {e}", included.display()),
            )
        })?;
        if let Some(start) = stack.iter().position(|p| *p == canonical) {
            let chain: Vec<String> = stack[start..]
                .iter()
                .chain([&canonical])
                .map(|p| {
                    p.file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned()
                })
                .collect();
            return Err(ConfigError::new(
                item.mark,
                path.to_string(),
                format!("include cycle: {}", chain.join(" → ")),
            ));
        }
        let node = read_with_includes(&included, variables, stack)?;
        merge(&mut merged, node);
    }
    stack.pop();
    merge(&mut merged, tree);
    Ok(merged)
}

/// Deep merge: mappings merge key by key; anything else in `top` replaces what is below, and a
/// null in `top` removes the key it names from below (`zookeeper: ~` drops an included service).
fn merge(below: &mut Node, top: Node) {
    match (&mut below.kind, top.kind) {
        (Kind::Map(entries), Kind::Map(top_entries)) => {
            for (key, value) in top_entries {
                let position = entries.iter().position(|(k, _)| k.name == key.name);
                match position {
                    Some(i) if is_null(&value) => {
                        entries.remove(i);
                    }
                    Some(i) => {
                        entries[i].0 = key;
                        merge(&mut entries[i].1, value);
                    }
                    None => entries.push((key, value)),
                }
            }
        }
        (_, kind) => {
            below.kind = kind;
            below.mark = top.mark;
        }
    }
}

fn is_null(node: &Node) -> bool {
    matches!(&node.kind, Kind::Scalar { text, plain: true } if plain_scalar(text).is_null())
}

/// What substituting the tree gathers: the secret values and where they are, and every error
/// (an unset variable does not stop the pass, so all of them are reported at once).
struct Substitution<'a> {
    secrets: &'a mut Vec<String>,
    secret_paths: &'a mut BTreeSet<String>,
    whole_secrets: &'a mut BTreeMap<String, String>,
    errors: &'a mut Vec<ConfigError>,
}

fn substitute(node: &mut Node, path: &KeyPath, variables: &Variables, out: &mut Substitution<'_>) {
    match &mut node.kind {
        Kind::Scalar { text, plain } => {
            let done = match variables.substitute(text) {
                Ok(done) => done,
                Err(e) => {
                    let error = ConfigError::new(node.mark.clone(), path.to_string(), e.message);
                    out.errors.push(match e.hint {
                        Some(hint) => error.with_hint(hint),
                        None => error,
                    });
                    return;
                }
            };
            if !done.secrets.is_empty() {
                out.secret_paths.insert(path.to_string());
                if let Some(name) = &done.whole_secret {
                    out.whole_secrets.insert(path.to_string(), name.clone());
                }
                out.secrets.extend(done.secrets);
            }
            if done.changed {
                // A variable that is empty gives an empty string, not YAML's null.
                if done.text.is_empty() {
                    *plain = false;
                }
                *text = done.text;
            }
        }
        Kind::Seq(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                substitute(item, &path.index(i), variables, out);
            }
        }
        Kind::Map(entries) => {
            let environment = is_service_environment(path);
            let mut omitted = Vec::new();
            for (Key { name, .. }, value) in entries.iter_mut() {
                let only_substitutions = environment && is_only_substitutions(value);
                substitute(value, &path.key(name), variables, out);
                if only_substitutions
                    && matches!(&value.kind, Kind::Scalar { text, .. } if text.is_empty())
                {
                    omitted.push(name.clone());
                }
            }
            // A container variable that only `${VAR:-}` gave is left out rather than set to
            // "": an empty AWS_SESSION_TOKEN is not the same as none (the AWS SDK for Java
            // builds session credentials with it). A literal "" stays.
            entries.retain(|(key, _)| !omitted.contains(&key.name));
        }
    }
}

/// `services.<name>.environment`.
fn is_service_environment(path: &KeyPath) -> bool {
    let text = path.to_string();
    let mut parts = text.split('.');
    parts.next() == Some("services")
        && parts.next().is_some()
        && parts.next() == Some("environment")
        && parts.next().is_none()
}

/// A scalar written as nothing but `${…}` substitutions, e.g. `${AWS_SESSION_TOKEN:-}`.
fn is_only_substitutions(node: &Node) -> bool {
    let Kind::Scalar { text, .. } = &node.kind else {
        return false;
    };
    let mut rest = text.as_str();
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let Some(body) = rest.strip_prefix("${") else {
            return false;
        };
        let Some(end) = body.find('}') else {
            return false;
        };
        rest = &body[end + 1..];
    }
    true
}

fn to_json(node: &Node) -> Value {
    match &node.kind {
        Kind::Scalar { text, plain: false } => Value::String(text.clone()),
        Kind::Scalar { text, plain: true } => plain_scalar(text),
        Kind::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        Kind::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.name.clone(), to_json(v)))
                .collect::<Map<_, _>>(),
        ),
    }
}

/// The YAML 1.2 core schema's reading of an unquoted scalar.
fn plain_scalar(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        if let Ok(n) = text.parse::<i64>() {
            return Value::Number(n.into());
        }
        if let Ok(n) = text.trim_start_matches('+').parse::<u64>() {
            return Value::Number(n.into());
        }
    }
    let looks_numeric = digits.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && digits
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        && digits.chars().any(|c| c.is_ascii_digit());
    if let Some(n) = text
        .parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .filter(|_| looks_numeric)
    {
        return Value::Number(n);
    }
    Value::String(text.to_string())
}

/// Turns a serde message into one that names the key, with a hint where one helps.
fn type_error(tree: &Node, path: KeyPath, message: &str) -> ConfigError {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        // serde_path_to_error's path already ends in the unknown key.
        let key_path = if path.last_key() == Some(field) {
            path
        } else {
            path.key(field)
        };
        let error = ConfigError::new(
            key_path.key_mark(tree),
            key_path.to_string(),
            format!("unknown key `{field}`"),
        );
        return match suggest(field, candidates.iter().copied()) {
            Some(best) => error.with_hint(format!("did you mean `{best}`?")),
            None if candidates.is_empty() => error.with_hint("this mapping takes no keys"),
            None => error.with_hint(format!("expected one of: {}", candidates.join(", "))),
        };
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let field = rest.trim_end_matches('`');
        return ConfigError::new(
            path.key_mark(tree),
            path.to_string(),
            format!("missing key `{field}`"),
        );
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (value, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        return ConfigError::new(
            path.mark(tree),
            path.to_string(),
            format!("`{value}` is not one of: {}", candidates.join(", ")),
        );
    }
    let message = message
        .replace("invalid type: ", "wrong type: found ")
        .replace("expected u16", "expected a number from 0 to 65535")
        .replace("expected u32", "expected a whole number")
        .replace("a sequence", "a list")
        .replace("expected a map", "expected a mapping")
        .replace("expected struct ", "expected a mapping (");
    let message = fix_struct_names(&message);
    ConfigError::new(path.mark(tree), path.to_string(), message)
}

/// serde says "expected struct ServiceFile"; users know it as "a mapping".
fn fix_struct_names(message: &str) -> String {
    match message.find("expected a mapping (") {
        Some(i) => format!("{}expected a mapping", &message[..i]),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_container_variable_given_only_by_an_unset_variable_is_left_out() {
        let dir = tempfile::tempdir().expect("a directory");
        let file = dir.path().join("env.yaml");
        std::fs::write(
            &file,
            "version: 1\nname: t\ntarget: local\nservices:\n  connect:\n    image: busybox\n    environment:\n      AWS_ACCESS_KEY_ID: ${secret:KEY:-}\n      AWS_SESSION_TOKEN: ${secret:TOKEN:-}\n      EMPTY: \"\"\n      MIXED: a${TOKEN:-}\n",
        )
        .expect("written");
        let variables = Variables::new(BTreeMap::from([("KEY".into(), "AKIA".into())]));
        let loaded = load_with(&file, variables).expect("loads");
        let environment = &loaded.raw.services["connect"].environment;
        let names: Vec<&str> = environment.keys().map(String::as_str).collect();
        assert_eq!(names, ["AWS_ACCESS_KEY_ID", "EMPTY", "MIXED"]);
        assert_eq!(environment["EMPTY"].0, "");
        assert_eq!(environment["MIXED"].0, "a");
    }

    #[test]
    fn plain_scalars_take_yaml_types() {
        assert_eq!(plain_scalar("5432"), Value::from(5432));
        assert_eq!(plain_scalar("-3"), Value::from(-3));
        assert_eq!(plain_scalar("1.5"), Value::from(1.5));
        assert_eq!(plain_scalar("true"), Value::Bool(true));
        assert_eq!(plain_scalar("~"), Value::Null);
        assert_eq!(plain_scalar("5432:5432"), Value::from("5432:5432"));
        assert_eq!(plain_scalar("1.2.3"), Value::from("1.2.3"));
        assert_eq!(plain_scalar("250ms"), Value::from("250ms"));
    }
}
