#![forbid(unsafe_code)]
//! Wiring: turns a validated configuration into running components (gateway,
//! router), and implements the demo and the admin commands. The binary only
//! parses the command line and calls into this crate.

mod blob_retention;
mod channels;
mod check;
mod demo;
mod dlq;
mod explain;
mod parked;
mod rulebook;
mod service;
mod sim;
mod sla_watch;
mod way_back;
mod zendesk_setup;

use std::path::Path;
use std::process::ExitCode;

pub use channels::channel_sections;
pub use check::check_config;
pub use demo::{DemoOptions, demo};
pub use dlq::{DlqAction, LetterId, dlq};
pub use explain::{ExplainOptions, route_explain};
pub use parked::{ParkedAction, parked};
pub use service::{Role, Service, run};
pub use sim::{SimOptions, zendesk_sim};
pub use zendesk_setup::zendesk_setup;

/// Loads the configuration or prints every problem; `Err` carries the exit code.
pub(crate) fn load_config(
    path: Option<&Path>,
    needs: intake_config::Needs,
) -> Result<intake_config::Config, ExitCode> {
    intake_config::load_for(path, needs, &channel_sections()).map_err(|errors| {
        print_problems(&errors, "");
        ExitCode::FAILURE
    })
}

/// Prints every configuration problem, one per line, to stderr.
pub(crate) fn print_problems(errors: &intake_config::ConfigErrors, context: &str) {
    eprintln!(
        "configuration has {} problem(s){context}:",
        errors.problems.len()
    );
    for problem in &errors.problems {
        eprintln!("  {}: {}", problem.key, problem.message);
    }
}
