//! `[calendars.<name>]` and `[sla]`: working-time calendars and SLA
//! first-response policies. The raw structs and their validation live in
//! `intake-calendar` (next to the code that uses them); this file reads the
//! files they name and reports their problems with every other one.

use std::collections::BTreeMap;

pub use intake_calendar::config::{IcalFeed, RawCalendar, RawSla, WorkingTimeConfig};

use crate::secret::Ctx;

/// Validates both sections; relative file paths are read from the working
/// directory, like every other path in the config.
pub(crate) fn validate(
    ctx: &mut Ctx<'_>,
    calendars: BTreeMap<String, RawCalendar>,
    sla: RawSla,
) -> WorkingTimeConfig {
    let read = |path: &std::path::Path| std::fs::read_to_string(path).map_err(|e| e.to_string());
    let known = ctx.known_channels();
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    let (config, problems) = intake_calendar::config::validate(calendars, sla, &known, &read);
    for problem in problems {
        ctx.problem(problem.key, problem.message);
    }
    config
}
