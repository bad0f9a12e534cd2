//! The agent's HTTP listener, on a thread and tokio runtime of its own so
//! that no drain of the ring buffer, topology rebuild or network read can
//! delay a liveness probe, and bounded against clients that misbehave:
//!
//! * a request's head must arrive within the header timeout (hyper's
//!   `header_read_timeout`, which also bounds how long a kept-alive
//!   connection may wait for its next request);
//! * a connection on which no byte moves either way for the idle timeout is
//!   closed (a client that never reads its response);
//! * a request head is at most [`MAX_REQUEST_BYTES`] (hyper answers 431
//!   beyond it) and a request with a body is refused (413): GET and HEAD only;
//! * at most `max_connections` are open: a new one closes the oldest, so a
//!   flood of held connections cannot keep a probe out.
//!
//! Every connection closed is counted by why (`nstrace_http_connections_closed_total`).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, Id, JoinSet};

use super::activity::{Activity, LastMoved};
use super::{respond, Shared};
use crate::output::metrics::HttpMetrics;

/// The largest request head accepted (hyper's minimum buffer is 8 KiB).
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;

/// What the listener allows a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Open connections at most; a new one closes the oldest.
    pub max_connections: usize,
    /// Time to send a request head (also: to start the next one on a kept-alive connection).
    pub header_timeout: Duration,
    /// Time without a byte moving either way before a connection is closed.
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 64,
            header_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(10),
        }
    }
}

/// Why a connection was closed (the `reason` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closed {
    /// The client closed it, or asked to (`Connection: close`), after its requests.
    Done,
    /// Its request head did not arrive in time.
    HeaderTimeout,
    /// No byte moved for the idle timeout.
    Idle,
    /// Closed to make room for a newer one at the connection cap.
    Evicted,
    /// A protocol or I/O error (a malformed request, a reset).
    Error,
}

impl Closed {
    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            Closed::Done => "done",
            Closed::HeaderTimeout => "header_timeout",
            Closed::Idle => "idle",
            Closed::Evicted => "evicted",
            Closed::Error => "error",
        }
    }
}

/// Serves `listener` on a thread of its own until the process ends.
pub fn spawn(listener: std::net::TcpListener, shared: Arc<Shared>, limits: Limits) -> Result<()> {
    listener
        .set_nonblocking(true)
        .context("setting the HTTP listener non-blocking")?;
    let metrics = shared.metrics(|m| m.http.clone());
    std::thread::Builder::new()
        .name("nstrace-http".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    // /healthz then never answers: the kubelet restarts the pod, and this says why.
                    eprintln!("nstrace: error: starting the HTTP runtime: {e}");
                    return;
                }
            };
            rt.block_on(async move {
                match TcpListener::from_std(listener) {
                    Ok(l) => serve(l, shared, metrics, limits).await,
                    Err(e) => eprintln!("nstrace: error: the HTTP listener: {e}"),
                }
            });
        })
        .context("starting the HTTP thread")?;
    Ok(())
}

/// Accepts connections until the runtime ends, at most `limits.max_connections` at once.
async fn serve(listener: TcpListener, shared: Arc<Shared>, metrics: HttpMetrics, limits: Limits) {
    let mut conns: JoinSet<Closed> = JoinSet::new();
    // Open connections, oldest first.
    let mut open: VecDeque<(Id, AbortHandle)> = VecDeque::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of fds or similar: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                while open.len() >= limits.max_connections.max(1) {
                    if let Some((_, oldest)) = open.pop_front() {
                        oldest.abort();
                        metrics.close(Closed::Evicted);
                    }
                }
                let h = conns.spawn(connection(stream, shared.clone(), limits));
                open.push_back((h.id(), h));
                metrics.open.set(open.len() as i64);
            }
            Some(done) = conns.join_next_with_id() => {
                let (id, why) = match done {
                    Ok((id, why)) => (id, Some(why)),
                    // Aborted (evicted, counted then) or panicked.
                    Err(e) => (e.id(), e.is_panic().then_some(Closed::Error)),
                };
                if let Some(i) = open.iter().position(|(o, _)| *o == id) {
                    open.remove(i);
                }
                if let Some(why) = why {
                    metrics.close(why);
                }
                metrics.open.set(open.len() as i64);
            }
        }
    }
}

/// Serves one connection until it ends or a limit closes it.
async fn connection(stream: TcpStream, shared: Arc<Shared>, limits: Limits) -> Closed {
    let _ = stream.set_nodelay(true);
    let moved = LastMoved::now();
    let io = TokioIo::new(Activity::new(stream, moved.clone()));
    let svc = service_fn(move |req: Request<Incoming>| {
        let r = respond(&shared, req.method(), req.uri().path(), has_body(&req));
        async move { Ok::<_, Infallible>(r) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_REQUEST_BYTES)
        .serve_connection(io, svc);
    tokio::select! {
        r = conn => match r {
            Ok(()) => Closed::Done,
            Err(e) if e.is_timeout() => Closed::HeaderTimeout,
            Err(_) => Closed::Error,
        },
        _ = moved.idle_for(limits.idle_timeout) => Closed::Idle,
    }
}

/// Whether a request says it carries a body (GET and HEAD never need one).
fn has_body<B>(req: &Request<B>) -> bool {
    let h = req.headers();
    h.contains_key(hyper::header::TRANSFER_ENCODING)
        || h.get(hyper::header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_with_a_body_is_seen() {
        let get = Request::get("/metrics").body(()).unwrap();
        assert!(!has_body(&get));
        let zero = Request::get("/metrics")
            .header("content-length", "0")
            .body(())
            .unwrap();
        assert!(!has_body(&zero));
        let sized = Request::post("/metrics")
            .header("content-length", "12")
            .body(())
            .unwrap();
        assert!(has_body(&sized));
        let chunked = Request::get("/healthz")
            .header("transfer-encoding", "chunked")
            .body(())
            .unwrap();
        assert!(has_body(&chunked));
    }

    #[test]
    fn reasons_have_stable_names() {
        let names: Vec<&str> = [
            Closed::Done,
            Closed::HeaderTimeout,
            Closed::Idle,
            Closed::Evicted,
            Closed::Error,
        ]
        .iter()
        .map(|c| c.name())
        .collect();
        assert_eq!(
            names,
            ["done", "header_timeout", "idle", "evicted", "error"]
        );
    }
}
