//! The one blocking HTTP client. Every HTTP call the tool makes (Kafka Connect's REST API, the
//! schema registry, plugin downloads, publishers' indexes) goes through an agent made here: one
//! User-Agent (GitHub's API refuses requests without one), timeouts chosen by the caller for what
//! it waits on, and every status answered as a value, so the caller says what a 404 or a 409
//! means where it knows.

use std::time::Duration;

/// How long a call may take: to connect, in all, and between a body's reads.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Timeouts {
    pub(crate) connect: Option<Duration>,
    pub(crate) global: Option<Duration>,
    pub(crate) recv_body: Option<Duration>,
}

pub(crate) fn agent(timeouts: Timeouts) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .user_agent(concat!("deploy/", env!("CARGO_PKG_VERSION")))
        .timeout_connect(timeouts.connect)
        .timeout_global(timeouts.global)
        .timeout_recv_body(timeouts.recv_body)
        .build()
        .into()
}

/// A call that got no answer (no connection, a timeout, a broken exchange): what was called,
/// with the transport's error kept as the cause. Every caller maps ureq's error this one way.
#[derive(Debug, thiserror::Error)]
#[error("cannot reach {what}: {source}")]
pub(crate) struct Unreachable {
    pub(crate) what: String,
    #[source]
    pub(crate) source: ureq::Error,
}

/// The mapping of a failed call to `what` (`.call().map_err(unreachable("…"))`).
pub(crate) fn unreachable(what: impl Into<String>) -> impl FnOnce(ureq::Error) -> Unreachable {
    let what = what.into();
    move |source| Unreachable { what, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_without_an_answer_names_what_was_called_and_keeps_the_cause() {
        // A port nothing listens on: bound, then let go.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let agent = agent(Timeouts {
            connect: Some(Duration::from_secs(2)),
            ..Timeouts::default()
        });
        let error = agent
            .get(&format!("http://127.0.0.1:{port}/"))
            .call()
            .map_err(unreachable("Kafka Connect at 127.0.0.1"))
            .expect_err("nothing answers");
        assert!(
            error
                .to_string()
                .starts_with("cannot reach Kafka Connect at 127.0.0.1: "),
            "{error}"
        );
        assert!(std::error::Error::source(&error).is_some());
    }
}
