//! `deploy plugins …`: build, list, pin and verify the connector plugins, with what each shows.

use crate::cli::PluginsCommand;
use crate::error::{Error, exit};
use crate::output::{Outcome, Printer, Report};
use crate::plugins;

pub(super) fn run(
    command: &PluginsCommand,
    options: &plugins::Options,
    printer: &Printer,
) -> Result<Outcome, Error> {
    let definitions =
        plugins::load_all(&options.plugins_dir).map_err(plugins::PluginError::from)?;
    match command {
        PluginsCommand::Build { names, offline } => {
            let options = plugins::Options {
                offline: *offline,
                ..options.clone()
            };
            let built = plugins::build(&definitions, names, &options, printer)?;
            let mut text = String::new();
            for b in &built {
                let state = if b.rebuilt { "built" } else { "up to date" };
                text.push_str(&format!(
                    "{}  sha256:{}  {}  {state}\n",
                    b.name,
                    b.sha256,
                    b.zip.display()
                ));
            }
            let json = serde_json::to_value(&built).expect("serializes");
            Ok(Outcome::with(exit::SUCCESS, Report::new(text, json)))
        }
        PluginsCommand::List => {
            let rows = plugins::list(&definitions, options);
            let json = serde_json::to_value(&rows).expect("serializes");
            let text = {
                let mut table = vec![
                    ["PLUGIN", "KIND", "RELEASE", "INPUTS", "BUNDLES", "OUTPUT"]
                        .map(String::from)
                        .to_vec(),
                ];
                for row in rows {
                    table.push(vec![
                        row.name,
                        format!("{:?}", row.kind).to_lowercase(),
                        row.release,
                        if row.unlocked > 0 {
                            format!(
                                "{} ({} cached, {} not locked yet)",
                                row.inputs, row.cached, row.unlocked
                            )
                        } else {
                            format!("{} ({} cached)", row.inputs, row.cached)
                        },
                        if row.bundle.is_empty() {
                            "-".into()
                        } else {
                            row.bundle.join(",")
                        },
                        row.output
                            .map_or("not built".into(), |d| format!("sha256:{}", &d[..16])),
                    ]);
                }
                crate::output::table(&table)
            };
            Ok(Outcome::with(exit::SUCCESS, Report::new(text, json)))
        }
        PluginsCommand::Pin { names } => {
            let pinned = plugins::pin(&definitions, names, options, printer)?;
            if pinned.is_empty() {
                printer.status("every artifact already has a checksum");
            } else {
                printer.status(&format!(
                    "recorded {} checksum(s) in {}: commit it",
                    pinned.len(),
                    plugins::lock_path(&options.plugins_dir).display()
                ));
            }
            Ok(Outcome::with(
                exit::SUCCESS,
                Report::json_only(serde_json::to_value(&pinned).expect("serializes")),
            ))
        }
        PluginsCommand::Verify => {
            let problems = plugins::verify(&definitions, options);
            if problems.is_empty() {
                printer.status("every cached input and built output matches its digest");
                Ok(Outcome::code(exit::SUCCESS))
            } else {
                Err(Error::user(format!("{} problem(s) found", problems.len()))
                    .with_details(problems)
                    .with_hint(
                        "`deploy plugins build` downloads and rebuilds what is missing or stale",
                    ))
            }
        }
    }
}
