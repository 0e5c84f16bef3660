//! The `intake` binary: parses the command line and hands over to `intake-app`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Multi-channel intake gateway for support teams that work in Zendesk.
///
/// Channel adapters (website chat, and more to come) turn every customer
/// message into one ticket event on a durable bus; the router turns each
/// event into exactly one Zendesk ticket or comment.
#[derive(Debug, Parser)]
#[command(name = "intake", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service (gateway, router, or both).
    Run {
        /// Configuration file (TOML). Environment variables INTAKE__SECTION__KEY override it.
        #[arg(long, short, env = "INTAKE_CONFIG")]
        config: Option<PathBuf>,
        /// Which part to run: the HTTP gateway with the channel adapters, the router, or both.
        #[arg(long, value_enum, default_value_t = RoleArg::All)]
        role: RoleArg,
    },
    /// Validate a configuration and print every problem with its key path (exit 1 if any).
    CheckConfig {
        /// Configuration file (TOML). Environment variables INTAKE__SECTION__KEY override it.
        #[arg(long, short, env = "INTAKE_CONFIG")]
        config: Option<PathBuf>,
        /// Which role the configuration must be complete for.
        #[arg(long, value_enum, default_value_t = RoleArg::All)]
        role: RoleArg,
    },
    /// Everything in one process on loopback: embedded bus, gateway, router and a
    /// Zendesk simulator. Prints a ready-to-paste curl and the simulator's page.
    Demo {
        /// Gateway listen address (the chat webhook).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Ops listen address (/metrics, /healthz, /readyz).
        #[arg(long, default_value = "127.0.0.1:9090")]
        ops_listen: SocketAddr,
        /// Zendesk simulator listen address.
        #[arg(long, default_value = "127.0.0.1:8089")]
        sim_listen: SocketAddr,
        /// Where the demo keeps its bus, state and blobs (default: a new temporary directory).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Run the local Zendesk simulator alone.
    ZendeskSim {
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:8089")]
        listen: SocketAddr,
        /// Account rate limit: requests per sliding 60-second window on the sim clock,
        /// the same default as the simulator library; 0 means unlimited.
        #[arg(long, default_value_t = intake_app::SimOptions::DEFAULT_REQUESTS_PER_MINUTE)]
        requests_per_minute: u32,
        /// Seconds before a new or updated ticket or user shows up in search results.
        #[arg(long, default_value_t = 5)]
        search_lag_secs: u64,
        /// Keep the simulator's state in this JSON file across restarts.
        #[arg(long)]
        state_file: Option<PathBuf>,
        /// Update Ticket requests per sliding 60 s across the account (Zendesk: 100,
        /// 300 with High Volume); 0 (the default, as in the library) means off.
        #[arg(long, default_value_t = 0)]
        update_ticket_per_minute: u32,
        /// Enforce Zendesk's user-creation limits (1 a second per account, 5 a
        /// minute per user); off by default, as in the library.
        #[arg(long)]
        user_create_limits: bool,
    },
    /// Inspect and act on the dead-letter queue.
    Dlq {
        /// Configuration file (TOML). Environment variables INTAKE__SECTION__KEY override it.
        #[arg(long, short, env = "INTAKE_CONFIG", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: DlqAction,
    },
    /// Zendesk account set-up for intake.
    Zendesk {
        /// Configuration file (TOML). Environment variables INTAKE__SECTION__KEY override it.
        #[arg(long, short, env = "INTAKE_CONFIG", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: ZendeskAction,
    },
    /// Explain how the router would route one event, without changing anything.
    ///
    /// Prints, for a ticket event (JSON, as on the bus) or a raw mail file
    /// (normalised like the email channel does), which rule of each kind
    /// would fire and why: the channel's priority, the SLA policy and answer
    /// deadline, the department rule (rule 6) and rule 4 (the original agent,
    /// with what each availability source says). Only reads Zendesk (the requester, their tickets, the
    /// agent, groups and availability); with --offline it reads nothing.
    RouteExplain {
        /// Configuration file (TOML). Environment variables INTAKE__SECTION__KEY override it.
        #[arg(long, short, env = "INTAKE_CONFIG")]
        config: Option<PathBuf>,
        /// Make no Zendesk reads (rule 4 is then not checked); no Zendesk credentials needed.
        #[arg(long)]
        offline: bool,
        /// The Zendesk requester's user id, instead of looking it up by external id or e-mail.
        #[arg(long)]
        requester_id: Option<u64>,
        /// When a raw mail was received, RFC 3339 (default: now). A JSON event has its own.
        #[arg(long)]
        received_at: Option<chrono::DateTime<chrono::Utc>>,
        /// The support address a raw mail came to (auto-reply detection, the
        /// ticket token): which account of [channels.email] reads it
        /// [default: the first account, else help@localhost].
        #[arg(long)]
        mailbox: Option<String>,
        /// The event: a ticket event as JSON, or a raw mail (.eml).
        file: PathBuf,
    },
    /// Conversations the router has parked (per-ticket limit, ticket lock,
    /// repeated failures) and when they resume.
    Parked {
        /// Configuration file (TOML). Environment variables INTAKE__SECTION__KEY override it.
        #[arg(long, short, env = "INTAKE_CONFIG", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: ParkedAction,
    },
}

#[derive(Debug, Subcommand)]
enum ZendeskAction {
    /// Create (or update) the webhook of agent replies and its trigger;
    /// a second run changes nothing.
    Setup {
        /// Print what would be created or updated, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ParkedAction {
    /// One line per parked conversation: lane, channel, reason, attempts,
    /// resume time, event id, last error.
    List,
}

#[derive(Debug, Subcommand)]
enum DlqAction {
    /// List pending dead letters (PARTITION:OFFSET, reason, source topic, event id, error).
    List,
    /// Show one dead letter in full: headers and the original event.
    Show {
        /// The dead letter's id, PARTITION:OFFSET as printed by `list`.
        id: intake_app::LetterId,
    },
    /// Put pending dead letters back on their source topic, then move past them.
    ///
    /// Without --up-to: every pending letter on every partition. With --up-to
    /// P:O: only partition P, up to and including offset O; partitions not
    /// named are left alone. Repeat --up-to for several partitions.
    Replay {
        #[command(flatten)]
        select: Select,
    },
    /// Discard pending dead letters (move past them without republishing).
    ///
    /// Without --up-to: every pending letter on every partition. With --up-to
    /// P:O: only partition P, up to and including offset O; partitions not
    /// named are left alone. Repeat --up-to for several partitions.
    Drop {
        #[command(flatten)]
        select: Select,
    },
}

/// Which letters `replay` and `drop` act on.
#[derive(Debug, clap::Args)]
struct Select {
    /// Act on partition PARTITION only, up to and including OFFSET (a bare
    /// OFFSET means partition 0). Repeatable, once per partition; partitions
    /// not named are not touched. Without it: every pending letter.
    #[arg(long, value_name = "PARTITION:OFFSET")]
    up_to: Vec<intake_app::LetterId>,
    /// Print the letters that would be acted on, counted per partition, and change nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RoleArg {
    All,
    Gateway,
    Router,
}

impl From<RoleArg> for intake_app::Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::All => intake_app::Role::All,
            RoleArg::Gateway => intake_app::Role::Gateway,
            RoleArg::Router => intake_app::Role::Router,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async move {
        match cli.command {
            Command::Run { config, role } => intake_app::run(config.as_deref(), role.into()).await,
            Command::CheckConfig { config, role } => {
                intake_app::check_config(config.as_deref(), role.into())
            }
            Command::Demo {
                listen,
                ops_listen,
                sim_listen,
                data_dir,
            } => {
                intake_app::demo(intake_app::DemoOptions {
                    listen,
                    ops_listen,
                    sim_listen,
                    data_dir,
                })
                .await
            }
            Command::ZendeskSim {
                listen,
                requests_per_minute,
                search_lag_secs,
                state_file,
                update_ticket_per_minute,
                user_create_limits,
            } => {
                intake_app::zendesk_sim(intake_app::SimOptions {
                    listen,
                    requests_per_minute,
                    search_lag_secs,
                    state_file,
                    update_ticket_per_minute,
                    user_create_limits,
                })
                .await
            }
            Command::Dlq { config, action } => {
                let action = match action {
                    DlqAction::List => intake_app::DlqAction::List,
                    DlqAction::Show { id } => intake_app::DlqAction::Show { id },
                    DlqAction::Replay { select } => intake_app::DlqAction::Replay {
                        up_to: select.up_to,
                        dry_run: select.dry_run,
                    },
                    DlqAction::Drop { select } => intake_app::DlqAction::Drop {
                        up_to: select.up_to,
                        dry_run: select.dry_run,
                    },
                };
                intake_app::dlq(config.as_deref(), action).await
            }
            Command::Zendesk {
                config,
                action: ZendeskAction::Setup { dry_run },
            } => intake_app::zendesk_setup(config.as_deref(), dry_run).await,
            Command::RouteExplain {
                config,
                offline,
                requester_id,
                received_at,
                mailbox,
                file,
            } => {
                intake_app::route_explain(intake_app::ExplainOptions {
                    config,
                    input: file,
                    offline,
                    requester_id,
                    received_at,
                    mailbox,
                })
                .await
            }
            Command::Parked { config, action } => {
                let action = match action {
                    ParkedAction::List => intake_app::ParkedAction::List,
                };
                intake_app::parked(config.as_deref(), action).await
            }
        }
    });
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
