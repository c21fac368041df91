//! A YAML document as a tree that remembers where every node came from, so that any error found
//! later (a wrong type, a dangling reference) can name the file, line and column.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use saphyr_parser::{Event, Parser, ScalarStyle};

use super::error::ConfigError;

/// Where a node starts: the file, its line (1-based) and column (1-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mark {
    pub file: Arc<PathBuf>,
    pub line: usize,
    pub column: usize,
}

#[derive(Clone, Debug)]
pub struct Node {
    pub kind: Kind,
    pub mark: Mark,
}

#[derive(Clone, Debug)]
pub enum Kind {
    /// A scalar with its text; `plain` scalars take a YAML type (number, bool, null), quoted and
    /// block scalars are always strings.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

#[derive(Clone, Debug)]
pub struct Key {
    pub name: String,
    pub mark: Mark,
}

impl Node {
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map(entries) => entries.iter().find(|(k, _)| k.name == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn key_mark(&self, key: &str) -> Option<&Mark> {
        match &self.kind {
            Kind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.name == key)
                .map(|(k, _)| &k.mark),
            _ => None,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            Kind::Scalar { .. } => "a scalar",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }
}

/// Parses one YAML document. Anchors and aliases are expanded; duplicate keys and non-scalar
/// keys are errors (YAML allows them, but in an environment file they are always mistakes).
pub fn parse(file: &Path, source: &str) -> Result<Node, ConfigError> {
    let file = Arc::new(file.to_path_buf());
    let mark_at = |m: saphyr_parser::Marker| Mark {
        file: file.clone(),
        line: m.line(),
        column: m.col() + 1,
    };
    let mut anchors: Vec<(usize, Node)> = Vec::new();
    // Open containers: the node being built, and for maps the key waiting for its value.
    enum Open {
        Seq(Vec<Node>, Mark, usize),
        Map(Vec<(Key, Node)>, Option<Key>, Mark, usize),
    }
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<Node> = None;
    let mut documents = 0;

    for event in Parser::new_from_str(source) {
        let (event, span) = event.map_err(|e| {
            ConfigError::new(
                mark_at(*e.marker()),
                "",
                format!("invalid YAML: {}", e.info()),
            )
        })?;
        let mark = mark_at(span.start);
        let finished: Option<(Node, usize)> = match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(ConfigError::new(
                        mark,
                        "",
                        "an environment file holds one YAML document; found a second `---`",
                    ));
                }
                None
            }
            Event::Scalar(text, style, anchor, _tag) => {
                let node = Node {
                    kind: Kind::Scalar {
                        text: text.into_owned(),
                        plain: style == ScalarStyle::Plain,
                    },
                    mark,
                };
                Some((node, anchor))
            }
            Event::Alias(id) => {
                let node = anchors
                    .iter()
                    .rev()
                    .find(|(a, _)| *a == id)
                    .map(|(_, n)| n.clone())
                    .ok_or_else(|| ConfigError::new(mark.clone(), "", "unknown YAML alias"))?;
                Some((node, 0))
            }
            Event::SequenceStart(anchor, _) => {
                stack.push(Open::Seq(Vec::new(), mark, anchor));
                None
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Open::Map(Vec::new(), None, mark, anchor));
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Open::Seq(items, mark, anchor)) => Some((
                    Node {
                        kind: Kind::Seq(items),
                        mark,
                    },
                    anchor,
                )),
                _ => unreachable!("the YAML parser balances sequence events"),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Open::Map(entries, _, mark, anchor)) => Some((
                    Node {
                        kind: Kind::Map(merge_keys(entries)?),
                        mark,
                    },
                    anchor,
                )),
                _ => unreachable!("the YAML parser balances mapping events"),
            },
            _ => None,
        };
        let Some((node, anchor)) = finished else {
            continue;
        };
        if anchor != 0 {
            anchors.push((anchor, node.clone()));
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Open::Seq(items, ..)) => items.push(node),
            Some(Open::Map(entries, pending, ..)) => match pending.take() {
                None => {
                    let Kind::Scalar { text, .. } = node.kind else {
                        return Err(ConfigError::new(
                            node.mark,
                            "",
                            "a mapping key must be a plain string",
                        ));
                    };
                    if let Some((first, _)) = entries.iter().find(|(k, _)| k.name == text) {
                        return Err(ConfigError::new(
                            node.mark,
                            "",
                            format!(
                                "duplicate key `{text}` (first defined on line {})",
                                first.mark.line
                            ),
                        ));
                    }
                    *pending = Some(Key {
                        name: text,
                        mark: node.mark,
                    });
                }
                Some(key) => entries.push((key, node)),
            },
        }
    }
    Ok(root.unwrap_or(Node {
        kind: Kind::Map(Vec::new()),
        mark: Mark {
            file,
            line: 1,
            column: 1,
        },
    }))
}

/// YAML merge keys (`<<: *defaults`): the mapping's own keys win over merged ones.
fn merge_keys(entries: Vec<(Key, Node)>) -> Result<Vec<(Key, Node)>, ConfigError> {
    if !entries.iter().any(|(k, _)| k.name == "<<") {
        return Ok(entries);
    }
    let mut own = Vec::new();
    let mut merged = Vec::new();
    for (key, value) in entries {
        if key.name != "<<" {
            own.push((key, value));
            continue;
        }
        let sources = match value.kind {
            Kind::Map(_) => vec![value],
            Kind::Seq(items) => items,
            Kind::Scalar { .. } => {
                return Err(ConfigError::new(
                    key.mark,
                    "",
                    "`<<` takes a mapping or a list of mappings",
                ));
            }
        };
        for source in sources {
            let Kind::Map(source_entries) = source.kind else {
                return Err(ConfigError::new(
                    source.mark,
                    "",
                    "`<<` takes a mapping or a list of mappings",
                ));
            };
            for (k, v) in source_entries {
                if !merged.iter().any(|(m, _): &(Key, Node)| m.name == k.name) {
                    merged.push((k, v));
                }
            }
        }
    }
    merged.retain(|(k, _)| !own.iter().any(|(o, _)| o.name == k.name));
    own.extend(merged);
    Ok(own)
}
