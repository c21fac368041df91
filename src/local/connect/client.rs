//! A Kafka Connect REST client: the calls reconcile needs, with 409 (rebalancing, stale config)
//! retried until a deadline. Blocking; callers run it off the async runtime.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Value, json};

use crate::poll::Poll;
use crate::status::TaskStatus;

/// How long a 409 from a rebalancing cluster is retried.
const CONFLICT_DEADLINE: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    #[error("Kafka Connect answered {status} to {method} {path}: {message}")]
    Http {
        method: String,
        path: String,
        status: u16,
        message: String,
    },
    #[error("{0}")]
    Transport(#[source] crate::http::Unreachable),
}

/// What Connect's validation said: `(key, message)` for every error, and every key it knows.
#[derive(Debug, Clone, Default)]
pub(crate) struct Validation {
    pub errors: Vec<(String, String)>,
    pub known: BTreeSet<String>,
}

/// A connector as Connect has it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Live {
    pub config: BTreeMap<String, String>,
    pub status: Status,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Status {
    /// RUNNING, PAUSED, STOPPED, FAILED, UNASSIGNED, RESTARTING.
    pub state: String,
    pub trace: Option<String>,
    pub tasks: Vec<TaskStatus>,
}

/// What FAILED: the connector itself (`None`) or task N, with its trace.
pub(crate) struct Failed<'a> {
    pub task: Option<u32>,
    pub trace: Option<&'a str>,
}

impl Status {
    /// The connector, else its first task, that is FAILED.
    pub(crate) fn failed(&self) -> Option<Failed<'_>> {
        if self.state == "FAILED" {
            return Some(Failed {
                task: None,
                trace: self.trace.as_deref(),
            });
        }
        let task = self.tasks.iter().find(|t| t.state == "FAILED")?;
        Some(Failed {
            task: Some(task.id),
            trace: task.trace.as_deref(),
        })
    }

    /// RUNNING, with tasks, all of them RUNNING.
    pub(crate) fn runs(&self) -> bool {
        self.state == "RUNNING"
            && !self.tasks.is_empty()
            && self.tasks.iter().all(|t| t.state == "RUNNING")
    }

    /// `task 0 RUNNING, task 1 FAILED`, or `no tasks`.
    pub(crate) fn tasks_text(&self) -> String {
        if self.tasks.is_empty() {
            return "no tasks".into();
        }
        let tasks: Vec<String> = self
            .tasks
            .iter()
            .map(|t| format!("task {} {}", t.id, t.state))
            .collect();
        tasks.join(", ")
    }
}

pub(crate) struct Client {
    base: String,
    agent: ureq::Agent,
}

impl Client {
    pub(crate) fn new(base: &str) -> Self {
        let agent = crate::http::agent(crate::http::Timeouts {
            connect: Some(Duration::from_secs(5)),
            global: Some(Duration::from_secs(30)),
            ..Default::default()
        });
        Client {
            base: base.trim_end_matches('/').to_string(),
            agent,
        }
    }

    /// One call; a 409 is retried with backoff until the conflict deadline.
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), ConnectError> {
        let mut conflict = Poll::doubling(
            CONFLICT_DEADLINE,
            Duration::from_millis(100),
            Duration::from_secs(2),
        );
        loop {
            let url = format!("{}{path}", self.base);
            let response = match (method, body) {
                ("GET", _) => self.agent.get(&url).call(),
                ("DELETE", _) => self.agent.delete(&url).call(),
                ("PUT", Some(body)) => self
                    .agent
                    .put(&url)
                    .header("Content-Type", "application/json")
                    .send(body.to_string()),
                ("PUT", None) => self.agent.put(&url).send_empty(),
                ("POST", Some(body)) => self
                    .agent
                    .post(&url)
                    .header("Content-Type", "application/json")
                    .send(body.to_string()),
                ("PATCH", Some(body)) => self
                    .agent
                    .patch(&url)
                    .header("Content-Type", "application/json")
                    .send(body.to_string()),
                (_, None) => self.agent.post(&url).send_empty(),
                _ => unreachable!("methods used by this client"),
            }
            .map_err(crate::http::unreachable(format!(
                "Kafka Connect at {}",
                self.base
            )))
            .map_err(ConnectError::Transport)?;
            let status = response.status().as_u16();
            let text = response.into_body().read_to_string().unwrap_or_default();
            let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if status == 409 && conflict.sleep() {
                continue;
            }
            if status >= 400 {
                let message = value["message"]
                    .as_str()
                    .map_or(text.clone(), str::to_string);
                return Err(ConnectError::Http {
                    method: method.into(),
                    path: path.into(),
                    status,
                    message,
                });
            }
            return Ok((status, value));
        }
    }

    /// Every connector with its configuration and status, in one call.
    pub(crate) fn list(&self) -> Result<BTreeMap<String, Live>, ConnectError> {
        let (_, value) = self.call("GET", "/connectors?expand=info&expand=status", None)?;
        let mut out = BTreeMap::new();
        for (name, entry) in value.as_object().into_iter().flatten() {
            out.insert(
                name.clone(),
                Live {
                    config: string_map(&entry["info"]["config"]),
                    status: parse_status(&entry["status"]),
                },
            );
        }
        Ok(out)
    }

    /// The connector's status; `None` while Connect has none to show. A real worker writes a new
    /// connector's status only after a rebalance, seconds after the create, and answers 404
    /// `No status found for connector NAME` until then.
    pub(crate) fn status(&self, name: &str) -> Result<Option<Status>, ConnectError> {
        match self.call("GET", &format!("/connectors/{name}/status"), None) {
            Ok((_, value)) => Ok(Some(parse_status(&value))),
            Err(ConnectError::Http { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates or replaces the configuration; true when the connector was created.
    pub(crate) fn put_config(
        &self,
        name: &str,
        config: &BTreeMap<String, String>,
    ) -> Result<bool, ConnectError> {
        let (status, _) = self.call(
            "PUT",
            &format!("/connectors/{name}/config"),
            Some(&json!(config)),
        )?;
        Ok(status == 201)
    }

    /// Connect's own validation. It answers 200 even for an invalid configuration, with the
    /// errors inside, and lists every key the connector (with its transforms and predicates)
    /// defines; keys it does not know are silently left out.
    pub(crate) fn validate(
        &self,
        name: &str,
        config: &BTreeMap<String, String>,
    ) -> Result<Validation, ConnectError> {
        let class = config.get("connector.class").cloned().unwrap_or_default();
        let mut body = config.clone();
        body.insert("name".into(), name.into());
        let path = format!("/connector-plugins/{class}/config/validate");
        let (_, value) = self.call("PUT", &path, Some(&json!(body)))?;
        let mut validation = Validation::default();
        for entry in value["configs"].as_array().into_iter().flatten() {
            let key = entry["definition"]["name"]
                .as_str()
                .or(entry["value"]["name"].as_str())
                .unwrap_or_default();
            validation.known.insert(key.to_string());
            for message in entry["value"]["errors"].as_array().into_iter().flatten() {
                let message = message.as_str().unwrap_or_default().to_string();
                // The same message can come twice for one key.
                if !validation
                    .errors
                    .iter()
                    .any(|(k, m)| k == key && *m == message)
                {
                    validation.errors.push((key.to_string(), message));
                }
            }
        }
        Ok(validation)
    }

    /// The keys a plugin class (converter, transformation, predicate) defines, from
    /// `GET /connector-plugins/{class}/config`; `None` when Connect cannot say (an unknown class,
    /// or a class that describes no configuration).
    pub(crate) fn plugin_keys(
        &self,
        class: &str,
    ) -> Result<Option<BTreeSet<String>>, ConnectError> {
        match self.call("GET", &format!("/connector-plugins/{class}/config"), None) {
            Ok((_, value)) => {
                let keys: BTreeSet<String> = value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|k| k["name"].as_str().map(str::to_string))
                    .collect();
                Ok((!keys.is_empty()).then_some(keys))
            }
            Err(ConnectError::Http {
                status: 404 | 400 | 500,
                ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn pause(&self, name: &str) -> Result<(), ConnectError> {
        self.call("PUT", &format!("/connectors/{name}/pause"), None)
            .map(drop)
    }

    pub(crate) fn resume(&self, name: &str) -> Result<(), ConnectError> {
        self.call("PUT", &format!("/connectors/{name}/resume"), None)
            .map(drop)
    }

    pub(crate) fn stop(&self, name: &str) -> Result<(), ConnectError> {
        self.call("PUT", &format!("/connectors/{name}/stop"), None)
            .map(drop)
    }

    pub(crate) fn delete(&self, name: &str) -> Result<(), ConnectError> {
        self.call("DELETE", &format!("/connectors/{name}"), None)
            .map(drop)
    }

    /// The worker's Kafka Connect version (`GET /`).
    pub(crate) fn version(&self) -> Result<String, ConnectError> {
        let (_, value) = self.call("GET", "/", None)?;
        Ok(value["version"].as_str().unwrap_or_default().to_string())
    }

    /// The connector's offsets (KIP-875, Kafka Connect 3.6 and later).
    pub(crate) fn offsets(&self, name: &str) -> Result<Value, ConnectError> {
        self.call("GET", &format!("/connectors/{name}/offsets"), None)
            .map(|(_, value)| value)
    }

    /// Deletes a STOPPED connector's offsets; returns what the worker said.
    pub(crate) fn delete_offsets(&self, name: &str) -> Result<String, ConnectError> {
        self.call("DELETE", &format!("/connectors/{name}/offsets"), None)
            .map(|(_, value)| value["message"].as_str().unwrap_or_default().to_string())
    }

    /// Alters a STOPPED connector's offsets (`{"offsets": [{"partition": …, "offset": …}]}`);
    /// returns what the worker said.
    pub(crate) fn alter_offsets(
        &self,
        name: &str,
        offsets: &Value,
    ) -> Result<String, ConnectError> {
        self.call(
            "PATCH",
            &format!("/connectors/{name}/offsets"),
            Some(offsets),
        )
        .map(|(_, value)| value["message"].as_str().unwrap_or_default().to_string())
    }

    /// Restarts the connector and its tasks (only the failed ones with `only_failed`).
    pub(crate) fn restart(&self, name: &str, only_failed: bool) -> Result<(), ConnectError> {
        let path = format!("/connectors/{name}/restart?includeTasks=true&onlyFailed={only_failed}");
        self.call("POST", &path, None).map(drop)
    }
}

fn string_map(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_string),
            )
        })
        .collect()
}

fn parse_status(value: &Value) -> Status {
    let trace = |v: &Value| v["trace"].as_str().map(str::to_string);
    Status {
        state: value["connector"]["state"]
            .as_str()
            .unwrap_or("UNKNOWN")
            .to_string(),
        trace: trace(&value["connector"]),
        tasks: value["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| TaskStatus {
                id: t["id"].as_u64().unwrap_or(0) as u32,
                state: t["state"].as_str().unwrap_or("UNKNOWN").to_string(),
                trace: trace(t),
            })
            .collect(),
    }
}
