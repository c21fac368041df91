//! A YAML document as a tree that remembers where every node came from, so that any error found
//! later (a wrong type, a dangling reference) can name the file, line and column.

use std::path::Path;
use std::sync::Arc;

use saphyr_parser::{Event, Parser, ScalarStyle};

use super::error::ConfigError;
use super::mark::Mark;

#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub kind: Kind,
    pub mark: Mark,
}

#[derive(Clone, Debug)]
pub(crate) enum Kind {
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
pub(crate) struct Key {
    pub name: String,
    pub mark: Mark,
}

impl Node {
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map(entries) => entries.iter().find(|(k, _)| k.name == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub(crate) fn key_mark(&self, key: &str) -> Option<&Mark> {
        match &self.kind {
            Kind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.name == key)
                .map(|(k, _)| &k.mark),
            _ => None,
        }
    }

    #[cfg(test)]
    pub(crate) fn type_name(&self) -> &'static str {
        match &self.kind {
            Kind::Scalar { .. } => "a scalar",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }
}

/// The most nodes a document may hold once its aliases are expanded. The largest real file here
/// has a few thousand; nine anchors each aliasing the previous nine times ("billion laughs")
/// would expand to 387 million.
pub(crate) const MAX_NODES: usize = 100_000;
/// The deepest nesting of lists and mappings (real files nest a handful of levels).
pub(crate) const MAX_DEPTH: usize = 64;

/// Parses one YAML document. Anchors and aliases are expanded, within `MAX_NODES` nodes and
/// `MAX_DEPTH` levels; duplicate keys and non-scalar keys are errors (YAML allows them, but in
/// an environment file they are always mistakes).
pub(crate) fn parse(file: &Path, source: &str) -> Result<Node, ConfigError> {
    let file = Arc::new(file.to_path_buf());
    let mark_at = |m: saphyr_parser::Marker| Mark {
        file: file.clone(),
        line: m.line(),
        column: m.col() + 1,
    };
    // Each anchored node with its size in nodes, which an alias to it adds again.
    let mut anchors: Vec<(usize, Node, usize)> = Vec::new();
    // Open containers: the node being built, and for maps the key waiting for its value.
    enum Open {
        Seq(Vec<Node>, Mark, usize),
        Map(Vec<(Key, Node)>, Option<Key>, Mark, usize),
    }
    let mut stack: Vec<Open> = Vec::new();
    // Nodes in the document so far, every alias's copy counted.
    let mut total = 0usize;
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
        // A finished node, its anchor, and the nodes it adds to the document: an alias its
        // anchor's size, anything else itself (what a container holds was counted as it came).
        let finished: Option<(Node, usize, usize)> = match event {
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
                Some((node, anchor, 1))
            }
            Event::Alias(id) => {
                let (node, size) = anchors
                    .iter()
                    .rev()
                    .find(|(a, _, _)| *a == id)
                    .map(|(_, n, size)| (n, *size))
                    .ok_or_else(|| ConfigError::new(mark.clone(), "", "unknown YAML alias"))?;
                // Checked before the copy is made: the copy is what would exhaust memory.
                if total + size > MAX_NODES {
                    return Err(ConfigError::new(
                        mark,
                        "",
                        format!(
                            "YAML aliases expand this document past {MAX_NODES} nodes (this alias adds {size}): refusing to expand it"
                        ),
                    )
                    .with_hint("repeat less through anchors, or split the file with `include:`"));
                }
                Some((node.clone(), 0, size))
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(ConfigError::new(
                        mark,
                        "",
                        format!("YAML nested deeper than {MAX_DEPTH} levels"),
                    ));
                }
                stack.push(if matches!(event, Event::SequenceStart(..)) {
                    Open::Seq(Vec::new(), mark, anchor)
                } else {
                    Open::Map(Vec::new(), None, mark, anchor)
                });
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Open::Seq(items, mark, anchor)) => Some((
                    Node {
                        kind: Kind::Seq(items),
                        mark,
                    },
                    anchor,
                    1,
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
                    1,
                )),
                _ => unreachable!("the YAML parser balances mapping events"),
            },
            _ => None,
        };
        let Some((node, anchor, adds)) = finished else {
            continue;
        };
        total += adds;
        if total > MAX_NODES {
            return Err(ConfigError::new(
                node.mark,
                "",
                format!("this YAML document holds more than {MAX_NODES} nodes"),
            ));
        }
        if anchor != 0 {
            // Its size as built: merge keys may have made it smaller than what was read.
            anchors.push((anchor, node.clone(), count(&node)));
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

/// The nodes in a tree.
fn count(node: &Node) -> usize {
    1 + match &node.kind {
        Kind::Scalar { .. } => 0,
        Kind::Seq(items) => items.iter().map(count).sum(),
        Kind::Map(entries) => entries.iter().map(|(_, v)| 1 + count(v)).sum(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn document(services: usize) -> String {
        let mut text = String::from(
            "defaults: &defaults {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9, j: 10}\nservices:\n",
        );
        for i in 0..services {
            text.push_str(&format!("  s{i}: {{<<: *defaults, image: x}}\n"));
        }
        text
    }

    /// Merge keys are aliases: each `<<: *defaults` copies the anchor, and the copies count.
    /// Shared defaults as real files use them stay far inside the bound.
    #[test]
    fn merged_defaults_count_as_copies_within_the_bound() {
        let file = Path::new("merges.yaml");
        let parsed = parse(file, &document(2_000)).expect("within the bound");
        assert_eq!(
            parsed
                .get("services")
                .and_then(|s| s.get("s1999"))
                .and_then(|s| s.get("j"))
                .map(|n| n.type_name()),
            Some("a scalar")
        );
        let refused = parse(file, &document(6_000)).unwrap_err().to_string();
        assert!(refused.contains("past 100000 nodes"), "{refused}");
    }
}
