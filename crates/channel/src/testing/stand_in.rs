//! Loopback stand-ins for what a channel's tests talk to: an upstream HTTP
//! API that records every request ([`api_stand_in`]), and a reference client
//! library from PyPI in a venv ([`pypi_venv`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::Request;
use serde_json::Value;

/// One request the stand-in received.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub path: String,
    /// The query string, if any (`user=U0ANNA`).
    pub query: Option<String>,
    /// The `host` header (`127.0.0.1:<port>`).
    pub host: String,
    pub authorization: Option<String>,
    /// The JSON body (`Null` when it is not JSON).
    pub body: Value,
}

/// A loopback HTTP server answering every request with
/// `answer(request, how many requests so far)`, recording each. Returns its
/// base URL, `http://127.0.0.1:<port><base_path>` (e.g. `/api/`), and the
/// requests seen.
pub async fn api_stand_in<F>(base_path: &str, answer: F) -> (String, Arc<Mutex<Vec<SeenRequest>>>)
where
    F: Fn(&SeenRequest, usize) -> axum::response::Response + Send + Sync + 'static,
{
    let seen = Arc::new(Mutex::new(Vec::<SeenRequest>::new()));
    let answer = Arc::new(answer);
    let recorded = Arc::clone(&seen);
    let app = axum::Router::new().fallback(move |request: Request<Body>| {
        let recorded = Arc::clone(&recorded);
        let answer = Arc::clone(&answer);
        async move {
            let (parts, body) = request.into_parts();
            let header = |name: &str| {
                parts
                    .headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let path = parts.uri.path().to_owned();
            let query = parts.uri.query().map(str::to_owned);
            let host = header("host").unwrap_or_default();
            let authorization = header("authorization");
            let bytes = axum::body::to_bytes(body, 1 << 20)
                .await
                .unwrap_or_default();
            let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let request = SeenRequest {
                path,
                query,
                host,
                authorization,
                body,
            };
            let count = {
                let mut seen = recorded.lock().expect("stand-in lock");
                seen.push(request.clone());
                seen.len()
            };
            answer(&request, count)
        }
    });
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("its address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}{base_path}"), seen)
}

/// The Python of a venv in `dir` with `requirement` (e.g.
/// `"slack_sdk==3.47.0"`) installed from PyPI, made once: ready when
/// `import` imports. `None` (the test skips) when python3 or PyPI is
/// missing outside CI; under CI that is a failure.
pub fn pypi_venv(dir: &Path, requirement: &str, import: &str) -> Option<PathBuf> {
    let python = dir.join("bin/python");
    let ready = || {
        Command::new(&python)
            .args(["-c", &format!("import {import}")])
            .status()
            .is_ok_and(|s| s.success())
    };
    if ready() {
        return Some(python);
    }
    let created = Command::new("python3")
        .args(["-m", "venv"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    let installed = created
        && Command::new(dir.join("bin/pip"))
            .args(["install", "--quiet", requirement])
            .status()
            .is_ok_and(|s| s.success());
    if installed && ready() {
        return Some(python);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "cannot install {requirement} from PyPI into {}",
            dir.display()
        );
    }
    eprintln!("skipping the {requirement} check: python3 or PyPI is not available");
    None
}
