//! Checksums: a digest with its algorithm, as definitions, the lock file, publishers and the
//! cache name them (`sha256:…`).

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Digest {
    pub algorithm: Algorithm,
    /// Lowercase hex.
    pub hex: String,
}

/// A digest algorithm. Definitions and the lock name sha256 or sha512; publishers' checksums
/// may also be sha1 or md5, which only ever confirm a first download.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Algorithm {
    Sha256,
    Sha512,
    Sha1,
    Md5,
}

impl Algorithm {
    const ALL: [Algorithm; 4] = [
        Algorithm::Sha256,
        Algorithm::Sha512,
        Algorithm::Sha1,
        Algorithm::Md5,
    ];

    /// The algorithm its name (`sha256`, …) names.
    pub fn named(name: &str) -> Option<Algorithm> {
        Self::ALL.into_iter().find(|a| a.to_string() == name)
    }

    /// The length of its digest in hex.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
            Algorithm::Sha1 => 40,
            Algorithm::Md5 => 32,
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
            Algorithm::Sha1 => "sha1",
            Algorithm::Md5 => "md5",
        })
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

impl Digest {
    /// The file name of the artifact in the cache.
    pub fn cache_name(&self) -> String {
        self.to_string().replace(':', "-")
    }
}

/// The digest `hex` is, when it has the algorithm's length and is hex.
pub(super) fn digest(algorithm: Algorithm, hex: &str) -> Option<Digest> {
    let hex = hex.to_ascii_lowercase();
    (hex.len() == algorithm.hex_len() && hex.chars().all(|c| c.is_ascii_hexdigit()))
        .then_some(Digest { algorithm, hex })
}
