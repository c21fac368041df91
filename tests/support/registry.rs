//! A Confluent Schema Registry API stand-in for the real Avro converter to work against, served
//! under a path prefix as Apicurio serves it (`/apis/ccompat/v7`). Written from the Confluent
//! Schema Registry API reference: register a subject version and get a global id (the same
//! schema keeps its id and is not a new version), schema by id, subjects and versions, lookup,
//! the compatibility check and `/config` (BACKWARD by default), with the API's error bodies
//! `{"error_code", "message"}`: 40401 subject not found, 40402 version not found, 40403 schema
//! not found, 42201 invalid schema, 42202 invalid version, 42203 invalid compatibility level,
//! 409 incompatible schema. Compatibility is Avro's schema resolution (the `apache-avro` crate's
//! `SchemaCompatibility`, as Confluent uses Avro's own `SchemaCompatibility` in Java). AVRO only.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use apache_avro::Schema;
use apache_avro::schema_compatibility::SchemaCompatibility;
use serde_json::{Value, json};

use super::rest;

pub const PREFIX: &str = "/apis/ccompat/v7";
const LEVELS: [&str; 7] = [
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
];

#[derive(Default)]
struct State {
    /// Global ids, from 1: each schema's stored text and parsed form.
    schemas: Vec<(String, Schema)>,
    /// Subject → the schema id of each version, version 1 first.
    subjects: BTreeMap<String, Vec<usize>>,
    global_level: Option<String>,
    subject_levels: BTreeMap<String, String>,
    /// Every request as `METHOD path`, without the prefix.
    log: Vec<String>,
}

#[derive(Clone)]
pub struct Registry {
    /// Where the Confluent API answers, prefix included.
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl Registry {
    pub fn start() -> Self {
        Self::serve(TcpListener::bind("127.0.0.1:0").expect("bind a test port"))
    }

    pub fn serve(listener: TcpListener) -> Self {
        let url = format!("http://{}{PREFIX}", listener.local_addr().expect("address"));
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        rest::serve(
            listener,
            "application/vnd.schemaregistry.v1+json",
            Arc::new(move |method, target, body| {
                let mut state = shared.lock().expect("lock");
                route(&mut state, method, target, body)
            }),
        );
        Registry { url, state }
    }

    pub fn log(&self) -> Vec<String> {
        self.state.lock().expect("lock").log.clone()
    }
}

fn error(status: u16, code: u32, message: &str) -> (u16, Value) {
    (status, json!({"error_code": code, "message": message}))
}

fn subject_not_found(subject: &str) -> (u16, Value) {
    error(404, 40401, &format!("Subject '{subject}' not found."))
}

fn route(state: &mut State, method: &str, target: &str, body: &str) -> (u16, Value) {
    let Some(target) = target.strip_prefix(PREFIX) else {
        return error(404, 404, "HTTP 404 Not Found");
    };
    state.log.push(format!("{method} {target}"));
    let (path, _query) = target.split_once('?').unwrap_or((target, ""));
    let parts: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    match (method, parts.as_slice()) {
        ("GET", ["subjects"]) => (200, json!(state.subjects.keys().collect::<Vec<_>>())),
        ("GET", ["subjects", subject, "versions"]) => match state.subjects.get(*subject) {
            Some(ids) => (200, json!((1..=ids.len()).collect::<Vec<_>>())),
            None => subject_not_found(subject),
        },
        ("GET", ["subjects", subject, "versions", version]) => {
            match version_of(state, subject, version) {
                Ok(v) => (200, version_body(state, subject, v)),
                Err(e) => e,
            }
        }
        ("GET", ["subjects", subject, "versions", version, "schema"]) => {
            match version_of(state, subject, version) {
                Ok(v) => {
                    let id = state.subjects[*subject][v - 1];
                    let text = &state.schemas[id - 1].0;
                    (200, serde_json::from_str(text).unwrap_or(Value::Null))
                }
                Err(e) => e,
            }
        }
        ("POST", ["subjects", subject, "versions"]) => register(state, subject, body),
        ("POST", ["subjects", subject]) => {
            let (text, _) = match parse_request(body) {
                Ok(s) => s,
                Err(e) => return e,
            };
            let Some(ids) = state.subjects.get(*subject) else {
                return subject_not_found(subject);
            };
            match ids.iter().position(|id| state.schemas[id - 1].0 == text) {
                Some(index) => (200, version_body(state, subject, index + 1)),
                None => error(404, 40403, "Schema not found"),
            }
        }
        ("DELETE", ["subjects", subject]) => match state.subjects.remove(*subject) {
            Some(ids) => (200, json!((1..=ids.len()).collect::<Vec<_>>())),
            None => subject_not_found(subject),
        },
        ("GET", ["schemas", "ids", id]) => match schema_by_id(state, id) {
            Some(text) => (200, json!({"schema": text})),
            None => error(404, 40403, "Schema not found"),
        },
        ("GET", ["schemas", "ids", id, "versions"]) => {
            let Ok(id) = id.parse::<usize>() else {
                return error(404, 40403, "Schema not found");
            };
            let uses: Vec<Value> = state
                .subjects
                .iter()
                .flat_map(|(subject, ids)| {
                    ids.iter()
                        .enumerate()
                        .filter(|(_, i)| **i == id)
                        .map(move |(v, _)| json!({"subject": subject, "version": v + 1}))
                })
                .collect();
            if uses.is_empty() {
                return error(404, 40403, "Schema not found");
            }
            (200, Value::Array(uses))
        }
        ("POST", ["compatibility", "subjects", subject, "versions", version]) => {
            let (_, schema) = match parse_request(body) {
                Ok(s) => s,
                Err(e) => return e,
            };
            let against = match version_of(state, subject, version) {
                Ok(v) => vec![state.subjects[*subject][v - 1]],
                Err(e) => return e,
            };
            let level = level_of(state, subject);
            let compatible = compatible(state, &level, &schema, &against);
            (200, json!({"is_compatible": compatible.is_ok()}))
        }
        ("GET", ["config"]) => (
            200,
            json!({"compatibilityLevel": state.global_level.clone().unwrap_or("BACKWARD".into())}),
        ),
        ("GET", ["config", subject]) => match state.subject_levels.get(*subject) {
            Some(level) => (200, json!({"compatibilityLevel": level})),
            None => error(
                404,
                40408,
                &format!(
                    "Subject '{subject}' does not have subject-level compatibility configured"
                ),
            ),
        },
        ("PUT", ["config", rest @ ..]) if rest.len() <= 1 => {
            let request: Value = serde_json::from_str(body).unwrap_or(Value::Null);
            let level = request["compatibility"].as_str().unwrap_or_default();
            if !LEVELS.contains(&level) {
                return error(422, 42203, "Invalid compatibility level");
            }
            match rest.first() {
                Some(subject) => {
                    state
                        .subject_levels
                        .insert(subject.to_string(), level.into());
                }
                None => state.global_level = Some(level.into()),
            }
            (200, json!({"compatibility": level}))
        }
        _ => error(404, 404, &format!("HTTP 404 Not Found: {method} {path}")),
    }
}

/// The request's `schema` as stored (its JSON, compact, keys sorted: what identifies it, as
/// Confluent compares schemas by their full text, properties included) and parsed as Avro;
/// 42201 when it is not one.
fn parse_request(body: &str) -> Result<(String, Schema), (u16, Value)> {
    let request: Value = serde_json::from_str(body)
        .map_err(|e| error(422, 42201, &format!("Invalid schema: {e}")))?;
    match request["schemaType"].as_str() {
        None | Some("AVRO") => {}
        Some(other) => {
            return Err(error(
                422,
                42201,
                &format!("Invalid schema: schema type {other} is not supported here"),
            ));
        }
    }
    let text = request["schema"]
        .as_str()
        .ok_or_else(|| error(422, 42201, "Invalid schema: no `schema` given"))?;
    let invalid = |e: String| error(422, 42201, &format!("Invalid schema {text}: {e}"));
    let stored = serde_json::from_str::<Value>(text)
        .map_err(|e| invalid(e.to_string()))?
        .to_string();
    let schema = Schema::parse_str(text).map_err(|e| invalid(e.to_string()))?;
    Ok((stored, schema))
}

fn version_of(state: &State, subject: &str, version: &str) -> Result<usize, (u16, Value)> {
    let ids = state
        .subjects
        .get(subject)
        .ok_or_else(|| subject_not_found(subject))?;
    let wanted = match version {
        "latest" | "-1" => ids.len(),
        v => v.parse::<usize>().ok().filter(|v| *v >= 1).ok_or_else(|| {
            error(
                422,
                42202,
                &format!(
                    "The specified version '{v}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\""
                ),
            )
        })?,
    };
    if wanted == 0 || wanted > ids.len() {
        return Err(error(404, 40402, &format!("Version {version} not found.")));
    }
    Ok(wanted)
}

fn version_body(state: &State, subject: &str, version: usize) -> Value {
    let id = state.subjects[subject][version - 1];
    json!({"subject": subject, "version": version, "id": id, "schema": state.schemas[id - 1].0})
}

fn schema_by_id(state: &State, id: &str) -> Option<String> {
    let id: usize = id.parse().ok()?;
    state
        .schemas
        .get(id.checked_sub(1)?)
        .map(|(t, _)| t.clone())
}

fn level_of(state: &State, subject: &str) -> String {
    state
        .subject_levels
        .get(subject)
        .or(state.global_level.as_ref())
        .cloned()
        .unwrap_or_else(|| "BACKWARD".into())
}

/// Checks `schema` against the subject's versions `against` (oldest first) at `level`.
fn compatible(
    state: &State,
    level: &str,
    schema: &Schema,
    against: &[usize],
) -> Result<(), String> {
    let transitive = level.ends_with("_TRANSITIVE");
    let checked: Vec<usize> = if transitive {
        against.to_vec()
    } else {
        against.last().copied().into_iter().collect()
    };
    for id in checked {
        let earlier = &state.schemas[id - 1].1;
        let backward = || SchemaCompatibility::can_read(earlier, schema).map(drop);
        let forward = || SchemaCompatibility::can_read(schema, earlier).map(drop);
        let result = match level.trim_end_matches("_TRANSITIVE") {
            "NONE" => Ok(()),
            "BACKWARD" => backward(),
            "FORWARD" => forward(),
            _ => backward().and_then(|()| forward()),
        };
        result.map_err(|e| format!("{e} (against the schema with id {id})"))?;
    }
    Ok(())
}

fn register(state: &mut State, subject: &str, body: &str) -> (u16, Value) {
    let (text, schema) = match parse_request(body) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let ids = state.subjects.get(subject).cloned().unwrap_or_default();
    if let Some(id) = ids.iter().find(|id| state.schemas[*id - 1].0 == text) {
        return (200, json!({"id": id}));
    }
    let level = level_of(state, subject);
    if let Err(details) = compatible(state, &level, &schema, &ids) {
        return error(
            409,
            409,
            &format!(
                "Schema being registered is incompatible with an earlier schema for subject \"{subject}\", details: [{details}]"
            ),
        );
    }
    let id = match state.schemas.iter().position(|(t, _)| *t == text) {
        Some(index) => index + 1,
        None => {
            state.schemas.push((text, schema));
            state.schemas.len()
        }
    };
    state
        .subjects
        .entry(subject.to_string())
        .or_default()
        .push(id);
    (200, json!({"id": id}))
}

/// `%2F` and friends in a subject name.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        if bytes[i] == b'%'
            && let Some(Ok(b)) = hex.map(|h| u8::from_str_radix(h, 16))
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
