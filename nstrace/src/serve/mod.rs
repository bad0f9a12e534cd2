//! The agent's HTTP endpoints, on hyper: `/metrics` (Prometheus
//! exposition), `/healthz` and `/topology` (the `topology --format json`
//! document). Handlers only read what the agent's consumer left in
//! [`Shared`]; they never touch the model. The listener runs on a thread of
//! its own ([`listener`]), bounded against misbehaving clients.

pub mod activity;
pub mod listener;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Response, StatusCode};

use crate::output::metrics::Metrics;

/// How long without a drain of the ring buffer before `/healthz` says no.
pub const STALE_AFTER: Duration = Duration::from_secs(5);

/// What the agent is ready for.
#[derive(Debug, Default)]
pub struct Health {
    /// The kernel programs are attached and the start-up snapshot is in the model.
    pub started: bool,
    /// The last time the ring buffer was drained.
    pub last_drain: Option<Instant>,
}

impl Health {
    /// `Ok` when healthy at `now`, else the reason in one line.
    pub fn check(&self, now: Instant) -> Result<(), String> {
        if !self.started {
            return Err(
                "starting: programs not attached or start-up snapshot not taken yet".into(),
            );
        }
        match self.last_drain {
            None => Err("the ring buffer has not been drained yet".into()),
            Some(t) if now.duration_since(t) > STALE_AFTER => Err(format!(
                "the ring buffer was last drained {:.1}s ago",
                now.duration_since(t).as_secs_f64()
            )),
            Some(_) => Ok(()),
        }
    }
}

/// What the consumer shares with the HTTP handlers.
pub struct Shared {
    /// Every metric.
    pub metrics: Mutex<Metrics>,
    /// Readiness.
    pub health: Mutex<Health>,
    /// The latest topology document (JSON).
    pub topology: Mutex<String>,
    /// The latest report page (HTML), at most [`MAX_PAGE_BYTES`].
    pub page: Mutex<Bytes>,
}

/// The largest report page the agent serves: its consumer keeps fewer
/// shutdowns and findings until the page fits.
pub const MAX_PAGE_BYTES: usize = 2 << 20;

/// The page served before the first one is rendered.
pub const STARTING_PAGE: &str = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>nstrace agent</title></head><body><p>nstrace agent: starting (programs not attached or the start-up snapshot not taken yet).</p></body></html>\n";

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A handler that panicked left nothing half-written that matters here.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// Runs `f` on the metrics.
    pub fn metrics<R>(&self, f: impl FnOnce(&mut Metrics) -> R) -> R {
        f(&mut lock(&self.metrics))
    }

    /// Runs `f` on the health state.
    pub fn health<R>(&self, f: impl FnOnce(&mut Health) -> R) -> R {
        f(&mut lock(&self.health))
    }

    /// Replaces the topology document.
    pub fn set_topology(&self, json: String) {
        *lock(&self.topology) = json;
    }

    /// Replaces the report page.
    pub fn set_page(&self, html: String) {
        *lock(&self.page) = Bytes::from(html);
    }

    /// Everything empty, as before the agent started.
    pub fn new(kernel: &str) -> Shared {
        Shared {
            metrics: Mutex::new(Metrics::new(kernel)),
            health: Mutex::new(Health::default()),
            topology: Mutex::new(String::from("{}\n")),
            page: Mutex::new(Bytes::from_static(STARTING_PAGE.as_bytes())),
        }
    }
}

fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

/// Answers one request (`has_body`: it says it carries one).
pub fn respond(
    shared: &Shared,
    method: &Method,
    path: &str,
    has_body: bool,
) -> Response<Full<Bytes>> {
    if method != Method::GET && method != Method::HEAD {
        let mut r = reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET or HEAD only\n",
        );
        r.headers_mut().insert(
            hyper::header::ALLOW,
            hyper::header::HeaderValue::from_static("GET, HEAD"),
        );
        return r;
    }
    if has_body {
        // Never read: hyper closes the connection after this answer.
        return reply(
            StatusCode::PAYLOAD_TOO_LARGE,
            "text/plain",
            "a GET or HEAD request carries no body\n",
        );
    }
    match path {
        "/metrics" => {
            let healthy = lock(&shared.health).check(Instant::now()).is_ok();
            let m = lock(&shared.metrics);
            m.healthy.set(i64::from(healthy));
            reply(
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                m.render(),
            )
        }
        "/healthz" => match lock(&shared.health).check(Instant::now()) {
            Ok(()) => reply(StatusCode::OK, "text/plain", "ok\n"),
            Err(why) => reply(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                format!("{why}\n"),
            ),
        },
        "/topology" => reply(
            StatusCode::OK,
            "application/json",
            lock(&shared.topology).clone(),
        ),
        "/" => {
            let mut r = reply(
                StatusCode::OK,
                "text/html; charset=utf-8",
                lock(&shared.page).clone(),
            );
            // The page's own policy, as a header too: nothing it could be
            // made to fetch, no script but its own.
            let h = r.headers_mut();
            if let Ok(v) = crate::output::report::content_security_policy().parse() {
                h.insert(hyper::header::CONTENT_SECURITY_POLICY, v);
            }
            h.insert(
                hyper::header::X_CONTENT_TYPE_OPTIONS,
                hyper::header::HeaderValue::from_static("nosniff"),
            );
            h.insert(
                hyper::header::CACHE_CONTROL,
                hyper::header::HeaderValue::from_static("no-store"),
            );
            r
        }
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: try /, /metrics, /healthz or /topology\n",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_needs_a_start_and_a_recent_drain() {
        let now = Instant::now();
        let mut h = Health::default();
        assert!(h.check(now).unwrap_err().contains("starting"));
        h.started = true;
        assert!(h.check(now).is_err(), "never drained");
        h.last_drain = Some(now);
        assert_eq!(h.check(now), Ok(()));
        let later = now + STALE_AFTER + Duration::from_secs(1);
        assert!(h.check(later).unwrap_err().contains("last drained"));
    }

    #[test]
    fn endpoints() {
        let shared = Shared::new("6.18");
        let get = |path| respond(&shared, &Method::GET, path, false).status();
        assert_eq!(get("/healthz"), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(get("/metrics"), StatusCode::OK);
        let text = || lock(&shared.metrics).render();
        assert!(text().contains("nstrace_healthy 0\n"), "{}", text());
        shared.health(|h| {
            h.started = true;
            h.last_drain = Some(Instant::now());
        });
        assert_eq!(get("/healthz"), StatusCode::OK);
        assert_eq!(get("/metrics"), StatusCode::OK);
        assert!(text().contains("nstrace_healthy 1\n"), "{}", text());
        assert_eq!(get("/topology"), StatusCode::OK);
        let page = respond(&shared, &Method::GET, "/", false);
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
        assert!(page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("default-src 'none'"));
        shared.set_page("<p>x</p>".into());
        let body = lock(&shared.page).clone();
        assert_eq!(&body[..], b"<p>x</p>");
        assert_eq!(get("/x"), StatusCode::NOT_FOUND);
        assert_eq!(
            respond(&shared, &Method::HEAD, "/metrics", false).status(),
            StatusCode::OK
        );
        let post = respond(&shared, &Method::POST, "/metrics", true);
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(post.headers()["allow"], "GET, HEAD");
        assert_eq!(
            respond(&shared, &Method::GET, "/metrics", true).status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }
}
