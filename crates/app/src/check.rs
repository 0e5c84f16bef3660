//! `intake check-config`: validate and print every problem with its key path.

use std::path::Path;
use std::process::ExitCode;

use crate::Role;

/// Loads the configuration as `role` would and prints every problem at once
/// (unknown keys, wrong types, bad values, missing secrets and credentials).
/// Exit code 1 when there is any.
pub fn check_config(path: Option<&Path>, role: Role) -> anyhow::Result<ExitCode> {
    let source = path.map_or_else(
        || "built-in defaults".to_owned(),
        |p| p.display().to_string(),
    );
    match intake_config::load_for(path, role.needs(), &crate::channel_sections()) {
        Ok(_) => {
            println!("configuration OK ({source}, role {role})");
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            crate::print_problems(&errors, &format!(" ({source}, role {role})"));
            Ok(ExitCode::FAILURE)
        }
    }
}
