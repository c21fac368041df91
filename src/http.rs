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
