#![forbid(unsafe_code)]
//! Telemetry: logging, metrics, the shutdown signal and test crash points.

mod crashpoint;

pub use crashpoint::crashpoint;
