use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use deploy::cli::{
    AwsCommand, AwsConnectorsCommand, Cli, Command, ConnectorsCommand, LocalCommand, OffsetsAction,
    PluginsCommand, SchemaOf, environment_path,
};
use deploy::error::{Error, exit};
use deploy::model::{Environment, Target};
use deploy::output::{Outcome, Printer, Report, Verbosity};
use deploy::{aws, config, local, plugins};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let verbosity = match (cli.quiet, cli.verbose) {
        (true, _) => Verbosity::Quiet,
        (_, true) => Verbosity::Verbose,
        _ => Verbosity::Normal,
    };
    let printer = Printer::new(cli.output, verbosity);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the async runtime starts");
    let code = runtime.block_on(async {
        tokio::select! {
            // What a command has to say is printed here, once, in the format asked for.
            result = run(&cli, &printer) => match result {
                Ok(outcome) => {
                    if let Some(report) = &outcome.report {
                        printer.report(report);
                    }
                    outcome.code
                }
                Err(error) => {
                    printer.error(&error);
                    error.exit_code()
                }
            },
            _ = tokio::signal::ctrl_c() => {
                printer.status("interrupted: what was started keeps running; run the command again to converge");
                exit::INTERRUPTED
            }
        }
    });
    // Do not wait for background tasks (a log stream) on the way out.
    runtime.shutdown_background();
    ExitCode::from(code)
}

async fn run(cli: &Cli, printer: &Printer) -> Result<Outcome, Error> {
    let load = || -> Result<Environment, Error> {
        let path = environment_path(&cli.env);
        let env = config::environment(&path).map_err(|e| match (e.position, path.exists()) {
            (None, false) => Error::from(e).with_hint(available_environments()),
            _ => Error::from(e),
        })?;
        printer.set_secrets(env.secrets.clone());
        Ok(env)
    };
    let plugin_options = plugins::Options::new(cli.locked);
    match &cli.command {
        Command::Schema { of } => Ok(Outcome::with(
            exit::SUCCESS,
            Report::raw(match of {
                SchemaOf::Environment => config::json_schema(),
                SchemaOf::Plugin => plugins::json_schema(),
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
        Command::Plugins(command) => plugins_command(command, &plugin_options, printer),
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
            let env = aws::Env::of(&env)?;
            match command {
                AwsCommand::Plan {
                    detailed_exitcode,
                    keep_slots,
                } => {
                    aws::plan_command(
                        &env,
                        &plugin_options,
                        printer,
                        *detailed_exitcode,
                        aws::Keep::from_flag(*keep_slots),
                    )
                    .await
                }
                AwsCommand::Apply {
                    auto_approve,
                    keep_slots,
                } => {
                    aws::apply(
                        &env,
                        &plugin_options,
                        printer,
                        *auto_approve,
                        aws::Keep::from_flag(*keep_slots),
                    )
                    .await
                }
                AwsCommand::Destroy {
                    auto_approve,
                    delete_data,
                    keep_slots,
                } => {
                    aws::destroy(
                        &env,
                        printer,
                        *auto_approve,
                        *delete_data,
                        aws::Keep::from_flag(*keep_slots),
                    )
                    .await
                }
                AwsCommand::Status { slots } => {
                    aws::status(&env, &plugin_options, printer, *slots).await
                }
                AwsCommand::Verify => aws::verify::verify_command(&env, printer).await,
                AwsCommand::Connectors(AwsConnectorsCommand::Status) => {
                    aws::connectors_status(&env).await
                }
                AwsCommand::Connectors(AwsConnectorsCommand::Restart { name, failed_only }) => {
                    aws::connectors_restart(&env, printer, name.as_deref(), *failed_only).await
                }
                AwsCommand::Connectors(AwsConnectorsCommand::Snapshot { name, tables }) => {
                    aws::connectors_snapshot(&env, printer, name, tables).await
                }
                AwsCommand::Connectors(AwsConnectorsCommand::Offsets(_)) => {
                    Err(aws::no_offsets_api(&env))
                }
            }
        }
        Command::Local(command) => {
            let env = load()?;
            if env.target != Target::Local {
                return Err(Error::wrong_target(&env, "local"));
            }
            match command {
                LocalCommand::Up { keep_slots } => {
                    local::up(&env, &plugin_options, printer, *keep_slots).await
                }
                LocalCommand::Down { volumes } => local::down(&env, printer, *volumes).await,
                LocalCommand::Status => local::status(&env, printer).await,
                LocalCommand::Logs(args) => {
                    local::logs(
                        &env,
                        printer,
                        args.service.as_deref(),
                        args.follow,
                        args.tail,
                    )
                    .await
                }
                LocalCommand::Plan { detailed_exitcode } => {
                    local::plan_command(&env, &plugin_options, printer, *detailed_exitcode).await
                }
                LocalCommand::Verify { timeout } => {
                    local::verify::verify_command(
                        &env,
                        printer,
                        std::time::Duration::from_secs(*timeout),
                    )
                    .await
                }
                LocalCommand::Connectors(command) => match command {
                    ConnectorsCommand::Plan {
                        prune,
                        keep_slots,
                        detailed_exitcode,
                    } => {
                        let options = local::connectors::Options {
                            prune: *prune,
                            keep_slots: *keep_slots,
                        };
                        local::connectors::plan_command(&env, printer, options, *detailed_exitcode)
                            .await
                    }
                    ConnectorsCommand::Apply { prune, keep_slots } => {
                        let options = local::connectors::Options {
                            prune: *prune,
                            keep_slots: *keep_slots,
                        };
                        local::connectors::apply_command(&env, printer, options).await
                    }
                    ConnectorsCommand::Status => {
                        local::connectors::status_command(&env, printer).await
                    }
                    ConnectorsCommand::Restart { name, failed_only } => {
                        local::connectors::restart_command(
                            &env,
                            printer,
                            name.as_deref(),
                            *failed_only,
                        )
                        .await
                    }
                    ConnectorsCommand::Snapshot {
                        name,
                        tables,
                        timeout,
                    } => {
                        local::snapshot::snapshot(
                            &env,
                            printer,
                            name,
                            tables,
                            std::time::Duration::from_secs(*timeout),
                        )
                        .await
                    }
                    ConnectorsCommand::Offsets(args) => match (&args.action, &args.name) {
                        (Some(OffsetsAction::Reset { name, yes }), _) => {
                            let change = local::offsets::Change::Reset;
                            local::offsets::change(&env, printer, name, change, *yes).await
                        }
                        (Some(OffsetsAction::Set { name, file, yes }), _) => {
                            let offsets = offsets_file(file)?;
                            let change = local::offsets::Change::Set(offsets);
                            local::offsets::change(&env, printer, name, change, *yes).await
                        }
                        (None, Some(name)) => local::offsets::show(&env, name).await,
                        (None, None) => {
                            Err(Error::user("name the connector: `connectors offsets NAME`"))
                        }
                    },
                },
            }
        }
    }
}

/// The offsets a user wrote for `offsets set`: `{"offsets": [...]}`, bounded and checked before
/// anything stops.
fn offsets_file(path: &std::path::Path) -> Result<serde_json::Value, Error> {
    let place = path.display();
    let text = config::read_text(path)?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Error::user(format!(
            "{place}:{}:{}: not JSON: {e}",
            e.line(),
            e.column()
        ))
    })?;
    if !value["offsets"].is_array() {
        return Err(Error::user(format!(
            "{place}: expected {{\"offsets\": [{{\"partition\": …, \"offset\": …}}]}}"
        ))
        .with_hint("start from `deploy local connectors offsets NAME --output json`"));
    }
    Ok(value)
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

fn plugins_command(
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
                deploy::output::table(&table)
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
