//! Crash points for the end-to-end crash-safety tests.
//!
//! With the `crashpoints` feature, `crashpoint("router.after_zendesk_create")`
//! checks the `INTAKE_CRASHPOINT` environment variable (a comma-separated list
//! of names). When the name is listed, it prints `crashpoint reached: <name>`
//! to stderr and blocks the thread forever, so that the test, which watches
//! stderr for that line, kills the process with SIGKILL at exactly that point.
//! Without the feature the call compiles to nothing.

/// Stops here (see the module docs) when the `crashpoints` feature is on and
/// `INTAKE_CRASHPOINT` names this point.
#[inline]
pub fn crashpoint(name: &str) {
    #[cfg(feature = "crashpoints")]
    {
        let armed = std::env::var("INTAKE_CRASHPOINT").unwrap_or_default();
        if armed.split(',').any(|armed_name| armed_name.trim() == name) {
            use std::io::Write;
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "crashpoint reached: {name}");
            let _ = stderr.flush();
            loop {
                std::thread::park();
            }
        }
    }
    #[cfg(not(feature = "crashpoints"))]
    let _ = name;
}
