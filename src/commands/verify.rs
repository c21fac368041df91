//! A verify report as both targets' `verify` commands show it: one line per step with its mark,
//! time and what it saw, then the verdict; exit code 0 only when every step passed.

use crate::error::exit;
use crate::output::{Outcome, Printer, Report, Style};
use crate::verify;

pub(super) fn outcome(report: &verify::Report, printer: &Printer) -> Outcome {
    Outcome::with(
        if report.ok {
            exit::SUCCESS
        } else {
            exit::FAILURE
        },
        Report::new(
            text(report, printer),
            serde_json::to_value(report).expect("report serializes"),
        ),
    )
}

fn text(report: &verify::Report, printer: &Printer) -> String {
    let mut out = String::new();
    let width = report.steps.iter().map(|s| s.step.len()).max().unwrap_or(0);
    for step in &report.steps {
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
    out.push_str(&if report.ok {
        format!("environment `{}` does CDC end to end\n", report.environment)
    } else {
        format!("environment `{}` failed verification\n", report.environment)
    });
    out
}
