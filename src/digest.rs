//! Hex digests, written one way for the whole program.

use sha2::{Digest, Sha256};

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The first 16 hex digits of the sha256 of `bytes`: names and labels that tell contents apart.
pub(crate) fn short(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes)[..8])
}
