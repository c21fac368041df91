//! Command-line types only.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::output::Format;

/// Kafka Connect change-data-capture stacks from environment files: locally on Docker, and on AWS.
#[derive(Debug, Parser)]
#[command(name = "deploy", version, about, propagate_version = true)]
pub struct Cli {
    /// Environment: a name (`dev` means environments/dev.yaml) or a path to a file.
    #[arg(
        short,
        long = "env",
        global = true,
        env = "DEPLOY_ENV",
        default_value = "local"
    )]
    pub env: String,

    /// Output format of data on stdout.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub output: Format,

    /// More detail on stderr.
    #[arg(short, long, global = true, conflicts_with = "quiet")]
    pub verbose: bool,

    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Record nothing new in plugins/plugins.lock: an artifact without a recorded checksum is an
    /// error (for CI).
    #[arg(
        long,
        global = true,
        env = "DEPLOY_LOCKED",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub locked: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The local stack on the Docker Engine.
    #[command(subcommand)]
    Local(LocalCommand),
    /// The environment on AWS: plugin bucket and ZIPs, MSK Connect custom plugins.
    #[command(subcommand)]
    Aws(AwsCommand),
    /// Connector plugins: download, verify, merge the converter bundle, package ZIPs.
    #[command(subcommand)]
    Plugins(PluginsCommand),
    /// Check the environment file and report every error with file, line and key.
    Validate,
    /// Print the JSON Schema of the environment file format (or of plugin files).
    Schema {
        #[arg(value_enum, default_value = "environment")]
        of: SchemaOf,
    },
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum LocalCommand {
    /// Create or update the stack and wait until every service is ready.
    Up {
        /// Keep the replication slot of a source that moves to another slot.
        #[arg(long)]
        keep_slots: bool,
    },
    /// Remove the stack's containers and network; data volumes stay unless --volumes.
    Down {
        /// Also remove the named volumes (the environment's data).
        #[arg(long)]
        volumes: bool,
    },
    /// Each service's state, readiness and published addresses.
    Status,
    /// A service's logs (every service's, prefixed, without SERVICE).
    Logs(LogsArgs),
    /// What `up` would change, and why.
    Plan {
        /// Exit 3 when there are changes.
        #[arg(long)]
        detailed_exitcode: bool,
    },
    /// Prove the stack does CDC: a marker row becomes an Avro record in the source connector's
    /// topic, decoded with the registry's schema; the marker is removed afterwards.
    Verify {
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// The environment's connectors against the local Kafka Connect.
    #[command(subcommand)]
    Connectors(ConnectorsCommand),
}

#[derive(Debug, Subcommand)]
pub enum AwsCommand {
    /// What `apply` would change, and why.
    Plan {
        /// Exit 3 when there are changes.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Plan keeping the replication slots of removed or moved sources.
        #[arg(long)]
        keep_slots: bool,
    },
    /// Make AWS match the environment file (asks first; --auto-approve does not); drop the
    /// replication slots of the sources removed or moved to another slot.
    Apply {
        #[arg(long)]
        auto_approve: bool,
        /// Keep the replication slots of removed or moved sources (they pin WAL until dropped).
        #[arg(long)]
        keep_slots: bool,
    },
    /// Remove what the environment created; data stays unless --delete-data. The sources'
    /// replication slots are dropped from a database that stays.
    Destroy {
        #[arg(long)]
        auto_approve: bool,
        /// Also empty and delete the plugin bucket.
        #[arg(long)]
        delete_data: bool,
        /// Keep the sources' replication slots in a database that stays.
        #[arg(long)]
        keep_slots: bool,
    },
    /// Every resource with its state.
    Status {
        /// Also read the replication slots (retained WAL, wal_status) from the database, through
        /// a one-shot ECS task.
        #[arg(long)]
        slots: bool,
    },
    /// The environment's connectors on MSK Connect.
    #[command(subcommand)]
    Connectors(AwsConnectorsCommand),
    /// Check what can be checked from outside the VPC: connectors RUNNING, their worker
    /// configuration ACTIVE, no recent ERROR in the workers' logs, the registry healthy.
    Verify,
}

#[derive(Debug, Subcommand)]
pub enum AwsConnectorsCommand {
    /// Each connector's state as MSK Connect reports it.
    Status,
    /// Restart a connector (every defined connector without NAME), waiting on the operation.
    Restart {
        name: Option<String>,
        /// Only the failed tasks (Kafka Connect 3.7 and later).
        #[arg(long)]
        failed_only: bool,
    },
    /// Read tables again without resetting the connector: an incremental snapshot signal written
    /// into the source's signal table by a one-shot ECS task.
    Snapshot {
        name: String,
        /// A table to read (`schema.table`; every table of table.include.list without one).
        #[arg(long = "table")]
        tables: Vec<String>,
    },
    /// Offsets: MSK Connect has no offsets API; this says what can be done instead.
    Offsets(OffsetsArgs),
}

#[derive(Debug, Subcommand)]
pub enum ConnectorsCommand {
    /// Create / update / unchanged / delete for each connector, with the changed keys.
    Plan {
        /// Also plan deleting connectors the file does not define.
        #[arg(long)]
        prune: bool,
        /// Plan keeping the replication slots of removed or moved sources.
        #[arg(long)]
        keep_slots: bool,
        /// Exit 3 when there are changes.
        #[arg(long)]
        detailed_exitcode: bool,
    },
    /// Validate, then create or update the connectors and wait until they and their tasks run;
    /// drop the replication slots of the sources removed or moved to another slot.
    Apply {
        /// Delete connectors the file does not define.
        #[arg(long)]
        prune: bool,
        /// Keep the replication slots of removed or moved sources (they pin WAL until dropped).
        #[arg(long)]
        keep_slots: bool,
    },
    /// Each connector's state and its tasks'.
    Status,
    /// Restart a connector and its tasks (every defined connector without NAME).
    Restart {
        name: Option<String>,
        /// Only what has failed.
        #[arg(long)]
        failed_only: bool,
    },
    /// Read tables again without resetting the connector: an incremental snapshot through
    /// Debezium's signal table, followed until a snapshot record arrived for every row.
    Snapshot {
        name: String,
        /// A table to read (`schema.table`; every table of table.include.list without one).
        #[arg(long = "table")]
        tables: Vec<String>,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// A connector's offsets (Kafka Connect 3.6 and later): `offsets NAME` shows them with what
    /// they mean; `offsets reset NAME` and `offsets set NAME --file F` change them.
    Offsets(OffsetsArgs),
}

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct OffsetsArgs {
    /// The connector whose offsets to show.
    pub name: Option<String>,
    #[command(subcommand)]
    pub action: Option<OffsetsAction>,
}

#[derive(Debug, Subcommand)]
pub enum OffsetsAction {
    /// Stop the connector, delete its offsets, and bring it back to its `state:` (a Debezium
    /// source snapshots again as its snapshot.mode says).
    Reset {
        name: String,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
    /// Stop the connector, write the offsets from a file (`{"offsets": [...]}`, as `offsets NAME
    /// --output json` shows them), and bring it back to its `state:`.
    Set {
        name: String,
        #[arg(long)]
        file: std::path::PathBuf,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SchemaOf {
    Environment,
    Plugin,
}

#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// Build the connector plugins (all, or those named) into build/plugins.
    Build {
        names: Vec<String>,
        /// Use the cache only; fail naming what is missing.
        #[arg(long)]
        offline: bool,
    },
    /// Each plugin: version, inputs, whether they are cached, the current output's digest.
    List,
    /// Record the sha256 of artifacts without a checksum in plugins/plugins.lock, without building.
    Pin { names: Vec<String> },
    /// Re-hash the cached inputs and the built outputs.
    Verify,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    pub service: Option<String>,
    /// Keep streaming new lines.
    #[arg(short, long)]
    pub follow: bool,
    /// Only the last N lines of each service.
    #[arg(long)]
    pub tail: Option<usize>,
}

/// `-e dev` names environments/dev.yaml; anything with a slash or a YAML extension is a path.
pub fn environment_path(env: &str) -> PathBuf {
    if env.contains('/') || env.ends_with(".yaml") || env.ends_with(".yml") {
        PathBuf::from(env)
    } else {
        PathBuf::from("environments").join(format!("{env}.yaml"))
    }
}
