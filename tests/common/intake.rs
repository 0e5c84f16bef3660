//! The built `intake` binary as a child process of a test: started with a
//! config, a role, arguments or a crash point, its output collected, stopped
//! by SIGTERM (bounded) or SIGKILL.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `intake` binary as a child process, its output collected.
pub struct Intake {
    child: Child,
    output: Arc<Mutex<String>>,
}

impl Intake {
    pub fn spawn(config: &Path, role: &str, crashpoint: Option<&str>) -> Intake {
        let config = config.display().to_string();
        Self::spawn_command(
            &["run", "--config", &config, "--role", role],
            crashpoint,
            &[],
        )
    }

    /// Starts the binary with any arguments (`demo`, `zendesk-sim`, …).
    pub fn spawn_args(args: &[&str], crashpoint: Option<&str>) -> Intake {
        Self::spawn_command(args, crashpoint, &[])
    }

    /// `intake run` with extra environment variables (`INTAKE__…` overrides).
    pub fn spawn_with_env(config: &Path, role: &str, env: &[(&str, &str)]) -> Intake {
        let config = config.display().to_string();
        Self::spawn_command(&["run", "--config", &config, "--role", role], None, env)
    }

    pub(super) fn spawn_command(
        args: &[&str],
        crashpoint: Option<&str>,
        env: &[(&str, &str)],
    ) -> Intake {
        let mut command = Command::new(env!("CARGO_BIN_EXE_intake"));
        command.envs(env.iter().copied());
        command
            .args(args)
            .env_remove("INTAKE_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match crashpoint {
            Some(name) => command.env("INTAKE_CRASHPOINT", name),
            None => command.env_remove("INTAKE_CRASHPOINT"),
        };
        let mut child = command.spawn().expect("start intake");
        let output = Arc::new(Mutex::new(String::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let output = Arc::clone(&output);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let mut out = output.lock().unwrap();
                    out.push_str(&strip_ansi(&line));
                    out.push('\n');
                }
            });
        }
        Intake { child, output }
    }

    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// The last `n` lines of the output (for a failure message).
    pub fn output_tail(&self, n: usize) -> String {
        let output = self.output();
        let lines: Vec<&str> = output.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// The process id, e.g. to read `/proc/<pid>/status`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits (bounded) until the output contains `needle`.
    pub async fn wait_output(&mut self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.output().contains(needle) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "no {needle:?} in intake output after {timeout:?}:\n{}",
            self.output()
        );
    }

    /// SIGKILL: no cleanup, no flush, like a power cut of the process.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait (bounded) for a clean exit; returns the exit status code.
    pub async fn terminate(&mut self, timeout: Duration) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.kill();
        None
    }
}

impl Drop for Intake {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `text` without ANSI colour sequences (`ESC [ … m`), so tests can match `key=value`.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}
