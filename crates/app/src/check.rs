//! `intake check-config`: validate and print every problem with its key path.

use std::path::Path;
use std::process::ExitCode;

use crate::Role;

/// Loads the configuration, checks it is complete for `role`, and prints
/// every problem at once. Exit code 1 when there is any.
pub fn check_config(path: Option<&Path>, role: Role) -> anyhow::Result<ExitCode> {
    let source = path.map_or_else(
        || "built-in defaults".to_owned(),
        |p| p.display().to_string(),
    );
    let problems = match intake_config::load(path) {
        Ok(config) => role_problems(&config, role),
        Err(errors) => errors.problems,
    };
    if problems.is_empty() {
        println!("configuration OK ({source}, role {role})");
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "configuration has {} problem(s) ({source}):",
        problems.len()
    );
    for problem in &problems {
        eprintln!("  {}: {}", problem.key, problem.message);
    }
    Ok(ExitCode::FAILURE)
}

/// What a role needs beyond a parseable configuration (secrets, credentials).
pub(crate) fn role_problems(
    config: &intake_config::Config,
    role: Role,
) -> Vec<intake_config::Problem> {
    let mut problems = Vec::new();
    if role.runs_gateway()
        && let Err(errors) = config.require_gateway()
    {
        problems.extend(errors.problems);
    }
    if role.runs_router()
        && let Err(errors) = config.require_router()
    {
        problems.extend(errors.problems);
    }
    problems
}
