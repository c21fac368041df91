//! The publisher's own checksum of a first download, where the publisher offers one. Which one
//! is asked depends on where the file comes from:
//!
//! - A GitHub release asset (`…/<owner>/<repo>/releases/download/<tag>/<file>`): the asset's
//!   `digest` (`sha256:<hex>`) in GitHub's "get a release by tag name" answer, computed by GitHub
//!   at upload (GitHub changelog 2025-06-03, "Releases now expose digests for release assets");
//!   older assets may have none.
//! - Confluent Hub (`…/api/plugins/<owner>/<name>/versions/<version>/<file>`): the `archive`
//!   object of the Hub API's answer for that version, whose `sha1` Confluent's own plugin
//!   downloader checks (confluentinc kafka-connect-k8s, `PluginDownloader`); `md5` when no `sha1`.
//! - Anything else, Maven repositories included: a checksum file beside the artifact, named by
//!   its algorithm's extension (Maven Resolver, "Checksums": `.sha1` and `.md5` on every Maven
//!   Central file, `.sha256`/`.sha512` on some), strongest first. Its first word is the digest
//!   (Gradle writes the digest alone, `sha512sum` adds the file name).
//!
//! The API hosts can be pointed elsewhere (a mirror, the tests' server) with
//! `DEPLOY_GITHUB_API` and `DEPLOY_CONFLUENT_HUB_API`.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::checksum::Algorithm;
use super::error::PluginError;
use super::fetch;

const GITHUB_API: &str = "https://api.github.com";
const CONFLUENT_HUB_API: &str = "https://api.hub.confluent.io";
/// A checksum file or an API answer: small. Anything larger is not what was asked for.
const MAX_ANSWER_BYTES: u64 = 1 << 20;

/// What a first download was checked against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "by")]
pub enum Check {
    /// The publisher's digest, where it was read, and it matched.
    Publisher {
        algorithm: Algorithm,
        source: String,
    },
    /// Nothing could check it: why not.
    Unchecked { reason: String },
}

impl Check {
    /// How the lock file says it: `<algorithm>@<source>` or `unchecked` (see `lock`).
    pub fn token(&self) -> String {
        match self {
            Check::Publisher { algorithm, source } => format!("{algorithm}@{source}"),
            Check::Unchecked { .. } => "unchecked".into(),
        }
    }

    /// One line for the user: what the recorded digest was checked against.
    pub fn describe(&self) -> String {
        match self {
            Check::Publisher { algorithm, source } => {
                format!("matches the publisher's {algorithm} ({source})")
            }
            Check::Unchecked { reason } => format!("nothing could check it: {reason}"),
        }
    }
}

/// Checks the downloaded `file` of `url` against its publisher's checksum. A publisher checksum
/// that disagrees is an error naming both digests.
pub(super) fn check(url: &str, file: &Path) -> Result<Check, PluginError> {
    let published = match source(url) {
        Source::GitHub { api, asset } => github(&api, &asset),
        Source::ConfluentHub { api, file } => confluent_hub(&api, &file),
        Source::Beside => beside(url),
    };
    let (algorithm, hex, source) = match published {
        Published::Digest {
            algorithm,
            hex,
            source,
        } => (algorithm, hex, source),
        Published::None(reason) => return Ok(Check::Unchecked { reason }),
    };
    let actual = fetch::hash_file(file, algorithm).map_err(|e| PluginError::io(file, e))?;
    if actual != hex {
        return Err(PluginError::PublisherMismatch {
            url: url.to_string(),
            from: source,
            published: format!("{algorithm}:{hex}"),
            actual: format!("{algorithm}:{actual}"),
        });
    }
    Ok(Check::Publisher { algorithm, source })
}

#[derive(Debug, PartialEq, Eq)]
enum Source {
    GitHub { api: String, asset: String },
    ConfluentHub { api: String, file: String },
    Beside,
}

/// Where `url`'s publisher says its checksum: by the shape of its path.
fn source(url: &str) -> Source {
    let path = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split_once('/')
        .map_or("", |(_, path)| path)
        .split(['?', '#'])
        .next()
        .unwrap_or_default();
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        [owner, repo, "releases", "download", tag, file] => Source::GitHub {
            api: format!(
                "{}/repos/{owner}/{repo}/releases/tags/{tag}",
                base("DEPLOY_GITHUB_API", GITHUB_API)
            ),
            asset: file.to_string(),
        },
        ["api", "plugins", owner, name, "versions", version, file] => Source::ConfluentHub {
            api: format!(
                "{}/api/plugins/{owner}/{name}/versions/{version}",
                base("DEPLOY_CONFLUENT_HUB_API", CONFLUENT_HUB_API)
            ),
            file: file.to_string(),
        },
        _ => Source::Beside,
    }
}

fn base(variable: &str, default: &str) -> String {
    std::env::var(variable)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
        .trim_end_matches('/')
        .to_string()
}

enum Published {
    Digest {
        algorithm: Algorithm,
        hex: String,
        source: String,
    },
    None(String),
}

fn github(api: &str, asset: &str) -> Published {
    let release = match json(api) {
        Ok(Some(release)) => release,
        Ok(None) => return Published::None(format!("GitHub has no such release ({api})")),
        Err(e) => return Published::None(format!("cannot ask GitHub ({api}): {e}")),
    };
    let found = release["assets"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["name"] == asset);
    let Some(found) = found else {
        return Published::None(format!("the release does not list `{asset}` ({api})"));
    };
    match found["digest"]
        .as_str()
        .and_then(|d| d.strip_prefix("sha256:"))
    {
        Some(hex) if is_hex(hex, Algorithm::Sha256) => Published::Digest {
            algorithm: Algorithm::Sha256,
            hex: hex.to_ascii_lowercase(),
            source: api.to_string(),
        },
        _ => Published::None(format!(
            "GitHub published no digest for `{asset}` (assets uploaded before June 2025 have none)"
        )),
    }
}

fn confluent_hub(api: &str, file: &str) -> Published {
    let version = match json(api) {
        Ok(Some(version)) => version,
        Ok(None) => return Published::None(format!("Confluent Hub has no such version ({api})")),
        Err(e) => return Published::None(format!("cannot ask Confluent Hub ({api}): {e}")),
    };
    let archive = &version["archive"];
    if archive["name"].as_str().is_some_and(|name| name != file) {
        return Published::None(format!(
            "Confluent Hub's archive for this version is `{}`, not `{file}`",
            archive["name"].as_str().unwrap_or_default()
        ));
    }
    for (key, algorithm) in [("sha1", Algorithm::Sha1), ("md5", Algorithm::Md5)] {
        if let Some(hex) = archive[key].as_str().filter(|h| is_hex(h, algorithm)) {
            return Published::Digest {
                algorithm,
                hex: hex.to_ascii_lowercase(),
                source: api.to_string(),
            };
        }
    }
    Published::None(format!("Confluent Hub published no checksum ({api})"))
}

fn beside(url: &str) -> Published {
    let mut tried = Vec::new();
    for algorithm in [
        Algorithm::Sha512,
        Algorithm::Sha256,
        Algorithm::Sha1,
        Algorithm::Md5,
    ] {
        let source = format!("{url}.{algorithm}");
        match text(&source) {
            Ok(Some(body)) => {
                let word = body.split_whitespace().next().unwrap_or_default();
                if is_hex(word, algorithm) {
                    return Published::Digest {
                        algorithm,
                        hex: word.to_ascii_lowercase(),
                        source,
                    };
                }
                tried.push(format!(".{algorithm} is not a digest"));
            }
            Ok(None) => tried.push(format!(".{algorithm} not found")),
            Err(e) => tried.push(format!(".{algorithm}: {e}")),
        }
    }
    Published::None(format!("no checksum file beside it ({})", tried.join(", ")))
}

fn is_hex(text: &str, algorithm: Algorithm) -> bool {
    text.len() == algorithm.hex_len() && text.chars().all(|c| c.is_ascii_hexdigit())
}

fn json(url: &str) -> Result<Option<serde_json::Value>, String> {
    let Some(body) = text(url)? else {
        return Ok(None);
    };
    serde_json::from_str(&body)
        .map(Some)
        .map_err(|e| format!("not JSON: {e}"))
}

/// The body of `url`; `None` when the server has no such file (404, 410).
fn text(url: &str) -> Result<Option<String>, String> {
    let agent = crate::http::agent(crate::http::Timeouts {
        global: Some(Duration::from_secs(30)),
        ..Default::default()
    });
    let response = agent
        .get(url)
        .header("Accept", "application/json, text/plain, */*")
        .call()
        .map_err(crate::http::unreachable("the publisher"))
        .map_err(|e| e.to_string())?;
    match response.status().as_u16() {
        404 | 410 => Ok(None),
        code if code >= 400 => Err(format!("the server answered {code}")),
        _ => response
            .into_body()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_string()
            .map(Some)
            .map_err(|e| e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_publisher_is_known_by_the_path() {
        assert_eq!(
            source("https://github.com/aws-samples/msk-config-providers/releases/download/r0.4.0/msk-config-providers-0.4.0-all.jar"),
            Source::GitHub {
                api: "https://api.github.com/repos/aws-samples/msk-config-providers/releases/tags/r0.4.0".into(),
                asset: "msk-config-providers-0.4.0-all.jar".into()
            }
        );
        assert_eq!(
            source("https://hub-downloads.confluent.io/api/plugins/confluentinc/kafka-connect-s3/versions/10.5.23/confluentinc-kafka-connect-s3-10.5.23.zip"),
            Source::ConfluentHub {
                api: "https://api.hub.confluent.io/api/plugins/confluentinc/kafka-connect-s3/versions/10.5.23".into(),
                file: "confluentinc-kafka-connect-s3-10.5.23.zip".into()
            }
        );
        assert_eq!(
            source(
                "https://repo1.maven.org/maven2/io/debezium/debezium-connector-postgres/3.6.3.Final/debezium-connector-postgres-3.6.3.Final-plugin.tar.gz"
            ),
            Source::Beside
        );
        assert_eq!(source("not a url"), Source::Beside);
    }

    #[test]
    fn digests_have_their_algorithm_s_length() {
        assert!(is_hex("0dce7962ecae166afca16ec5fcd508f9", Algorithm::Md5));
        assert!(!is_hex("0dce7962ecae166afca16ec5fcd508f9", Algorithm::Sha1));
        assert!(!is_hex("<html>", Algorithm::Md5));
    }
}
