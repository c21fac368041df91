//! A connector as `connectors status` shows it, in one shape for both targets: the local Kafka
//! Connect reports tasks with stack traces, MSK Connect a state and the reason for it.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ConnectorStatus {
    /// The name in the file, or on the runtime for a connector the file does not define.
    pub name: String,
    /// The name on the runtime where it differs from the file's (MSK Connect's carries the
    /// environment).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connector: Option<String>,
    pub defined: bool,
    /// RUNNING, FAILED, …, or ABSENT when the runtime does not have it.
    pub state: String,
    pub tasks: Vec<TaskStatus>,
    pub trace: Option<String>,
    /// The trace is a one-line reason (MSK Connect's), shown beside the state; a Java stack
    /// trace is not.
    #[serde(skip)]
    pub trace_is_reason: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct TaskStatus {
    pub id: u32,
    pub state: String,
    pub trace: Option<String>,
}
