//! `verify`: proves that an environment does what it is for. Each step is reported with what it
//! saw and how long it took; the first failing step says precisely what failed and why.

pub mod avro;
pub mod kafka;
pub mod marker;

use std::time::Instant;

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub step: String,
    pub ok: bool,
    pub millis: u64,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub environment: String,
    pub ok: bool,
    pub steps: Vec<Step>,
}

impl Report {
    pub fn new(environment: &str) -> Self {
        Report {
            environment: environment.into(),
            ok: true,
            steps: Vec::new(),
        }
    }

    /// Records a step that began at `started`; a failure makes the report fail.
    pub fn step(&mut self, step: &str, started: Instant, result: Result<String, String>) -> bool {
        let ok = result.is_ok();
        self.ok &= ok;
        self.steps.push(Step {
            step: step.into(),
            ok,
            millis: started.elapsed().as_millis() as u64,
            detail: result.unwrap_or_else(|e| e),
        });
        ok
    }
}
