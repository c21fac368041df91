//! Where something stands in a file: what a parsed node carries and an error points at.

use std::path::PathBuf;
use std::sync::Arc;

/// Where a node starts: the file, its line (1-based) and column (1-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mark {
    pub file: Arc<PathBuf>,
    pub line: usize,
    pub column: usize,
}
