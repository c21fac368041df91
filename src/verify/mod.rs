//! `verify`: proves that an environment does what it is for. Each step is reported with what it
//! saw and how long it took; the first failing step says precisely what failed and why.

pub mod avro;
pub mod kafka;
pub mod marker;

use std::time::Instant;

use serde::Serialize;

use crate::error::exit;
use crate::output::{Outcome, Printer, Style};

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

    /// The command's outcome: the report (text or JSON) and exit code 0 when every step passed.
    pub fn outcome(&self, printer: &Printer) -> Outcome {
        Outcome::with(
            if self.ok {
                exit::SUCCESS
            } else {
                exit::FAILURE
            },
            crate::output::Report::new(
                self.render_text(printer),
                serde_json::to_value(self).expect("report serializes"),
            ),
        )
    }

    fn render_text(&self, printer: &Printer) -> String {
        let mut out = String::new();
        let width = self.steps.iter().map(|s| s.step.len()).max().unwrap_or(0);
        for step in &self.steps {
            let mark = if step.ok {
                printer.paint(Style::Ok, "✓")
            } else {
                printer.paint(Style::Bad, "✗")
            };
            let indent = " ".repeat(width + 13);
            out.push_str(&format!(
                "{mark} {:<width$} {:>8}  {}\n",
                step.step,
                format!("{} ms", step.millis),
                step.detail.replace('\n', &format!("\n{indent}"))
            ));
        }
        out.push_str(&if self.ok {
            format!("environment `{}` does CDC end to end\n", self.environment)
        } else {
            format!("environment `{}` failed verification\n", self.environment)
        });
        out
    }
}
