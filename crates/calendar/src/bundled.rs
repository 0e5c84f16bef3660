//! Day lists shipped with intake.

use crate::days::{DaysFile, parse_days_file};
use crate::error::DaysError;

/// The bundled Russian production calendar's name in the config
/// (`production_calendar = "ru"`).
pub const RU: &str = "ru";

/// The text of `data/ru-2026-2027.toml`: the Russian production calendar
/// for 2026 (decree of 24.09.2025 № 1466) and 2027 (derived from the Labour
/// Code, arts. 112 and 95; entries marked `derived = true`).
pub const RU_2026_2027_TOML: &str = include_str!("../data/ru-2026-2027.toml");

/// The bundled Russian production calendar, parsed.
pub fn ru_production_days() -> Result<DaysFile, DaysError> {
    parse_days_file(RU_2026_2027_TOML)
}
