//! Downloads into a cache keyed by checksum. A download lands as `partial/<digest>.partial` and
//! moves to `artifacts/<digest>` only after its checksum matches, so nothing in `artifacts/` is
//! ever incomplete. An interrupted download resumes with a Range request (or restarts when the
//! server ignores it); a mismatch deletes the download and names both digests.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256, Sha512};

use super::checksum::{Algorithm, Digest};
use super::definition::Artifact;
use super::error::PluginError;
use crate::digest::hex;
use crate::output::Printer;

const ATTEMPTS: usize = 3;

/// The cache directory: `DEPLOY_CACHE_DIR`, else `$XDG_CACHE_HOME/deploy`, else `~/.cache/deploy`.
pub(super) fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DEPLOY_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("deploy")
}

pub(super) fn cached_path(cache: &Path, digest: &Digest) -> PathBuf {
    cache.join("artifacts").join(digest.cache_name())
}

/// The artifact's verified file in the cache, downloading it when missing (never when offline).
pub(super) fn fetch(
    cache: &Path,
    artifact: &Artifact,
    offline: bool,
    printer: &Printer,
) -> Result<PathBuf, PluginError> {
    let done = cached_path(cache, &artifact.digest);
    if done.is_file() {
        return Ok(done);
    }
    if offline {
        return Err(PluginError::NotCached(vec![format!(
            "{} ({})",
            artifact.url, artifact.digest
        )]));
    }
    let partial = partial_path(cache, &artifact.digest.cache_name())?;
    download_with_retries(&artifact.url, &partial, printer)?;
    let actual =
        hash_file(&partial, artifact.digest.algorithm).map_err(|e| PluginError::io(&partial, e))?;
    if actual != artifact.digest.hex {
        let _ = fs::remove_file(&partial);
        return Err(PluginError::ChecksumMismatch {
            url: artifact.url.clone(),
            expected: artifact.digest.to_string(),
            actual: Digest {
                algorithm: artifact.digest.algorithm,
                hex: actual,
            }
            .to_string(),
        });
    }
    fs::rename(&partial, &done).map_err(|e| PluginError::io(&done, e))?;
    Ok(done)
}

/// Downloads `url` without a known checksum (its first download): the file goes into the cache
/// under the sha256 it turned out to have, which is returned with its path. Interrupted, it
/// resumes like any other download; nothing is recorded until the caller records it.
pub(super) fn fetch_unverified(
    cache: &Path,
    url: &str,
    printer: &Printer,
) -> Result<(Digest, PathBuf), PluginError> {
    let partial = partial_path(cache, &format!("first-{}", &sha256(url.as_bytes())[..16]))?;
    download_with_retries(url, &partial, printer)?;
    let hex = hash_file(&partial, Algorithm::Sha256).map_err(|e| PluginError::io(&partial, e))?;
    let digest = Digest {
        algorithm: Algorithm::Sha256,
        hex,
    };
    let done = cached_path(cache, &digest);
    fs::rename(&partial, &done).map_err(|e| PluginError::io(&done, e))?;
    Ok((digest, done))
}

/// `partial/<name>.partial`, with the cache's folders in place.
fn partial_path(cache: &Path, name: &str) -> Result<PathBuf, PluginError> {
    for dir in [cache.join("partial"), cache.join("artifacts")] {
        fs::create_dir_all(&dir).map_err(|e| PluginError::io(&dir, e))?;
    }
    Ok(cache.join("partial").join(format!("{name}.partial")))
}

/// Downloads into `partial`, resuming after an interruption, up to `ATTEMPTS` times.
fn download_with_retries(url: &str, partial: &Path, printer: &Printer) -> Result<(), PluginError> {
    let mut last_error = String::new();
    for attempt in 1..=ATTEMPTS {
        match download(url, partial, printer) {
            Ok(()) => return Ok(()),
            Err(Failure::Final(message)) => {
                return Err(PluginError::Download(url.to_string(), message));
            }
            Err(Failure::Retry(message)) => {
                printer.status(&format!(
                    "  {url}: {message} (attempt {attempt} of {ATTEMPTS})"
                ));
                last_error = message;
            }
        }
    }
    Err(PluginError::Download(url.to_string(), last_error))
}

enum Failure {
    /// Worth another attempt, resuming from what arrived.
    Retry(String),
    Final(String),
}

fn download(url: &str, partial: &Path, printer: &Printer) -> Result<(), Failure> {
    let have = fs::metadata(partial).map(|m| m.len()).unwrap_or(0);
    let agent = crate::http::agent(crate::http::Timeouts {
        connect: Some(Duration::from_secs(15)),
        recv_body: Some(Duration::from_secs(60)),
        ..Default::default()
    });
    let mut request = agent.get(url);
    if have > 0 {
        request = request.header("Range", format!("bytes={have}-"));
    }
    let response = request
        .call()
        .map_err(crate::http::unreachable("the server"))
        .map_err(|e| Failure::Retry(e.to_string()))?;
    // A client error will not change on a retry; a server error or a 429 may.
    match response.status().as_u16() {
        code if (400..500).contains(&code) && code != 429 => {
            return Err(Failure::Final(format!("the server answered {code}")));
        }
        code if code >= 400 => return Err(Failure::Retry(format!("the server answered {code}"))),
        _ => {}
    }
    // 206: the server continues where we stopped; 200: it sends everything again.
    let resumed = response.status().as_u16() == 206;
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .append(resumed)
        .truncate(!resumed)
        .open(partial)
        .map_err(|e| Failure::Final(format!("cannot write {}: {e}", partial.display())))?;
    let start = if resumed { have } else { 0 };
    let total = response.body().content_length().map(|n| n + start);
    let mut reader = response.into_body().into_reader();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut written = start;
    let mut last_report = Instant::now();
    loop {
        let read = reader
            .read(&mut buffer)
            .map_err(|e| Failure::Retry(format!("download interrupted: {e}")))?;
        if read == 0 {
            break;
        }
        file.write_all(&buffer[..read])
            .map_err(|e| Failure::Final(format!("cannot write {}: {e}", partial.display())))?;
        written += read as u64;
        if last_report.elapsed() > Duration::from_secs(1) {
            let of = total.map_or(String::new(), |t| format!(" of {:.1} MB", t as f64 / 1e6));
            printer.status(&format!("  {url}: {:.1} MB{of}", written as f64 / 1e6));
            last_report = Instant::now();
        }
    }
    file.sync_all()
        .map_err(|e| Failure::Final(format!("cannot write {}: {e}", partial.display())))?;
    match total {
        Some(total) if written != total => {
            Err(Failure::Retry(format!("got {written} of {total} bytes")))
        }
        _ => Ok(()),
    }
}

/// Lowercase hex digest of a file.
pub(super) fn hash_file(path: &Path, algorithm: Algorithm) -> std::io::Result<String> {
    match algorithm {
        Algorithm::Sha256 => hash_with::<Sha256>(path),
        Algorithm::Sha512 => hash_with::<Sha512>(path),
        Algorithm::Sha1 => hash_with::<sha1::Sha1>(path),
        Algorithm::Md5 => hash_with::<md5::Md5>(path),
    }
}

fn hash_with<D: sha2::Digest>(path: &Path) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let mut buffer = vec![0u8; 1024 * 1024];
    let mut hasher = D::new();
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex(&hasher.finalize()))
}

pub(super) fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}
