//! The agent's HTTP as the kubelet and Prometheus meet it while the node is
//! busy: a poller that GETs `/healthz` and then `/metrics` every 100 ms
//! (each a new connection, as a kubelet probe is) and keeps every latency
//! and every failure (an error, a status other than 200, or no answer within
//! the DaemonSet's 2 s probe timeout); and the numbers the bench prints.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the poller asks.
pub const EVERY: Duration = Duration::from_millis(100);

/// The liveness and readiness probes' `timeoutSeconds` in deploy/daemonset.yaml.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// What a poller saw.
#[derive(Clone, Debug, Default)]
pub struct Latencies {
    /// `/healthz`, ms, one per answered probe.
    pub healthz: Vec<f64>,
    /// `/metrics`, ms.
    pub metrics: Vec<f64>,
    /// Probes that failed, and why.
    pub failed: Vec<String>,
}

impl Latencies {
    /// Adds another run's.
    pub fn extend(&mut self, other: Latencies) {
        self.healthz.extend(other.healthz);
        self.metrics.extend(other.metrics);
        self.failed.extend(other.failed);
    }
}

/// A thread polling an agent until stopped.
pub struct Poller {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Latencies>,
}

impl Poller {
    /// Starts polling the agent at `addr`.
    pub fn start(addr: SocketAddr) -> Poller {
        let stop = Arc::new(AtomicBool::new(false));
        let halt = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut l = Latencies::default();
            let start = Instant::now();
            let mut next = start;
            while !halt.load(Ordering::Relaxed) {
                for (path, into) in [("/healthz", 0), ("/metrics", 1)] {
                    match get(addr, path) {
                        Ok(ms) if into == 0 => l.healthz.push(ms),
                        Ok(ms) => l.metrics.push(ms),
                        Err(why) => l.failed.push(format!(
                            "{path} at {:.1} s: {why}",
                            start.elapsed().as_secs_f64()
                        )),
                    }
                }
                // A fixed schedule: a slow answer does not push the next probe back.
                next += EVERY;
                if let Some(wait) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
            l
        });
        Poller { stop, thread }
    }

    /// Stops and returns what it saw.
    pub fn stop(self) -> Latencies {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// One GET with `Connection: close`: ms to the whole answer, or why it failed.
pub fn get(addr: SocketAddr, path: &str) -> Result<f64, String> {
    let t0 = Instant::now();
    let r = crate::http::get(&addr.to_string(), path, &[], TIMEOUT)?;
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    if r.status != 200 {
        return Err(format!("answered {}", r.status));
    }
    Ok(ms)
}

/// Median, 99th percentile (nearest rank) and maximum of `v`; NaN when empty.
pub fn summary(v: &[f64]) -> (f64, f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let rank = |q: f64| s[((q * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1];
    (rank(0.5), rank(0.99), s[s.len() - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=200).map(f64::from).collect();
        assert_eq!(summary(&v), (100.0, 198.0, 200.0));
        assert_eq!(summary(&[5.0]), (5.0, 5.0, 5.0));
        assert!(summary(&[]).0.is_nan());
    }

    #[test]
    fn a_probe_of_something_that_is_not_listening_fails_with_why() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        assert!(get(addr, "/healthz").unwrap_err().starts_with("connect"));
    }
}
