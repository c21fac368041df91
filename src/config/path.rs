//! Key paths into an environment file (`services.kafka.ports[0]`), and finding the node a path
//! names so an error can point at its line.

use std::fmt;

use super::mark::Mark;
use super::yaml::{Kind, Node};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct KeyPath(Vec<Segment>);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

impl KeyPath {
    pub(crate) fn root() -> Self {
        KeyPath(Vec::new())
    }

    pub(crate) fn key(&self, key: &str) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Key(key.to_string()));
        next
    }

    pub(crate) fn index(&self, index: usize) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Index(index));
        next
    }

    pub(crate) fn last_key(&self) -> Option<&str> {
        match self.0.last() {
            Some(Segment::Key(key)) => Some(key),
            _ => None,
        }
    }

    /// The node at this path, or the deepest existing node on the way to it.
    pub(crate) fn locate<'a>(&self, root: &'a Node) -> &'a Node {
        let mut node = root;
        for segment in &self.0 {
            let next = match (segment, &node.kind) {
                (Segment::Key(key), Kind::Map(_)) => node.get(key),
                (Segment::Index(i), Kind::Seq(items)) => items.get(*i),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        node
    }

    /// Where an error about the value at this path points.
    pub(crate) fn mark(&self, root: &Node) -> Mark {
        self.locate(root).mark.clone()
    }

    /// Where an error about the key itself (unknown, misspelt) points: the key when it exists.
    pub(crate) fn key_mark(&self, root: &Node) -> Mark {
        if let Some(Segment::Key(last)) = self.0.last() {
            let parent = KeyPath(self.0[..self.0.len() - 1].to_vec());
            if let Some(mark) = parent.locate(root).key_mark(last) {
                return mark.clone();
            }
        }
        self.mark(root)
    }
}

impl From<&serde_path_to_error::Path> for KeyPath {
    fn from(path: &serde_path_to_error::Path) -> Self {
        use serde_path_to_error::Segment as S;
        KeyPath(
            path.iter()
                .filter_map(|s| match s {
                    S::Seq { index } => Some(Segment::Index(*index)),
                    S::Map { key } => Some(Segment::Key(key.clone())),
                    S::Enum { variant } => Some(Segment::Key(variant.clone())),
                    S::Unknown => None,
                })
                .collect(),
        )
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if i == 0 => write!(f, "{key}")?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}
