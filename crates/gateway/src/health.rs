//! Readiness: a list of named async checks (the bus, the state store, the
//! blob store), run concurrently, each bounded by a timeout.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

type CheckFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
type CheckFn = Arc<dyn Fn() -> CheckFuture + Send + Sync>;

/// The readiness checks of the process. `/healthz` needs none; `/readyz`
/// passes only when every required check passes. An advisory check is
/// reported in the answer (`degraded`) and logged when it fails, but does not
/// take the process out of service: it watches something that restarting or
/// unrouting this process would not mend, and that other traffic does not
/// need (a pull channel's upstream, decision 50).
#[derive(Clone)]
pub struct Health {
    checks: Vec<Registered>,
    timeout: Duration,
}

#[derive(Clone)]
struct Registered {
    name: &'static str,
    required: bool,
    check: CheckFn,
}

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.checks.iter().map(|c| c.name).collect();
        f.debug_struct("Health")
            .field("checks", &names)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The outcome of one check. Serialised (in `/readyz` answers) as its name
/// and whether it passed only: the error can name hosts, addresses or a
/// driver's message, which belong in the log, not in an HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    pub name: &'static str,
    pub ok: bool,
    /// False for an advisory check: its failure does not fail readiness.
    pub required: bool,
    /// Why it failed; logged, never serialised.
    #[serde(skip)]
    pub error: Option<String>,
}

/// Default time a single check may take before it counts as failed.
pub fn default_check_timeout() -> Duration {
    Duration::from_secs(2)
}

impl Health {
    /// No checks, [`default_check_timeout`].
    pub fn new() -> Self {
        Self {
            checks: Vec::new(),
            timeout: default_check_timeout(),
        }
    }

    /// Sets how long one check may take.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Adds a named check, e.g.
    /// `health.with_check("bus", move || { let bus = bus.clone(); async move { bus.check_ready().await } })`.
    pub fn with_check<F, Fut, E>(self, name: &'static str, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display,
    {
        self.register(name, true, check)
    }

    /// Adds a named check that is reported but never fails readiness.
    pub fn with_advisory_check<F, Fut, E>(self, name: &'static str, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display,
    {
        self.register(name, false, check)
    }

    fn register<F, Fut, E>(mut self, name: &'static str, required: bool, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display,
    {
        let check: CheckFn = Arc::new(move || {
            let fut = check();
            Box::pin(async move { fut.await.map_err(|e| e.to_string()) })
        });
        self.checks.push(Registered {
            name,
            required,
            check,
        });
        self
    }

    /// Runs every check concurrently.
    pub async fn check_all(&self) -> Vec<CheckResult> {
        let runs = self.checks.iter().map(|registered| {
            let fut = (registered.check)();
            let (name, required) = (registered.name, registered.required);
            let timeout = self.timeout;
            async move {
                let outcome = match tokio::time::timeout(timeout, fut).await {
                    Ok(result) => result,
                    Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
                };
                CheckResult {
                    name,
                    ok: outcome.is_ok(),
                    required,
                    error: outcome.err(),
                }
            }
        });
        futures::future::join_all(runs).await
    }
}
