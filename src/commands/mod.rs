//! Every command of the tool, in one place: `run` loads what a command needs and hands it to the
//! command's module (`local`, `aws`, `plugins`), which calls the target's entry points, asks the
//! questions, and turns what comes back into the command's `Outcome` (its tables and JSON) for
//! `main` to print.

mod aws;
mod connectors;
mod local;
mod plugins;
mod verify;

use clap::CommandFactory;

use crate::cli::{Cli, Command, SchemaOf, environment_path};
use crate::config;
use crate::error::{Error, exit};
use crate::model::{Environment, Target};
use crate::output::{Outcome, Printer, Report};
use crate::plan::Plan;

/// Runs the command the arguments name; what it has to say comes back as its outcome.
pub async fn run(cli: &Cli, printer: &Printer) -> Result<Outcome, Error> {
    let load = || -> Result<Environment, Error> {
        let path = environment_path(&cli.env);
        let env = config::environment(&path).map_err(|e| match (e.position, path.exists()) {
            (None, false) => Error::from(e).with_hint(available_environments()),
            _ => Error::from(e),
        })?;
        printer.set_secrets(env.secrets.clone());
        Ok(env)
    };
    let plugin_options = crate::plugins::Options::new(cli.locked);
    match &cli.command {
        Command::Schema { of } => Ok(Outcome::with(
            exit::SUCCESS,
            Report::raw(match of {
                SchemaOf::Environment => config::json_schema(),
                SchemaOf::Plugin => crate::plugins::json_schema(),
            }),
        )),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "deploy", &mut out);
            Ok(Outcome::with(
                exit::SUCCESS,
                Report::raw(String::from_utf8_lossy(&out)),
            ))
        }
        Command::Plugins(command) => plugins::run(command, &plugin_options, printer),
        Command::Validate => {
            let env = load()?;
            printer.status(&format!(
                "{} is valid: environment `{}` with {} services",
                env.source.display(),
                env.name,
                env.services.len()
            ));
            Ok(Outcome::code(exit::SUCCESS))
        }
        Command::Aws(command) => {
            let env = load()?;
            let env = crate::aws::Env::of(&env)?;
            aws::run(command, &env, &plugin_options, printer).await
        }
        Command::Local(command) => {
            let env = load()?;
            if env.target != Target::Local {
                return Err(Error::wrong_target(&env, "local"));
            }
            local::run(command, &env, &plugin_options, printer).await
        }
    }
}

/// A `plan` command's outcome: every resource rendered, or the plan as JSON.
fn plan_outcome(plan: &Plan, detailed_exitcode: bool) -> Outcome {
    Outcome::with(
        plan_code(plan, detailed_exitcode),
        Report::new(
            plan.render_text(true),
            serde_json::to_value(plan).expect("a plan serializes"),
        ),
    )
}

/// A plan command's exit code: with `--detailed-exitcode`, changes pending is a code of its own.
fn plan_code(plan: &Plan, detailed_exitcode: bool) -> u8 {
    if detailed_exitcode && !plan.is_empty() {
        exit::CHANGES
    } else {
        exit::SUCCESS
    }
}

/// "environments: local, local-kraft", for the hint when a named environment does not exist.
fn available_environments() -> String {
    let mut names: Vec<String> = std::fs::read_dir("environments")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".yaml")
                .map(str::to_string)
        })
        .collect();
    names.sort();
    if names.is_empty() {
        "no environments/ directory here: run from the project root, or pass a path with -e".into()
    } else {
        format!(
            "environments here: {} (or pass a path with -e)",
            names.join(", ")
        )
    }
}
