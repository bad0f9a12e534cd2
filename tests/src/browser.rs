//! Debian's chromium, headless, driven over the DevTools protocol on a pipe
//! (`--remote-debugging-pipe`: commands in on fd 3, replies and events out
//! on fd 4, each a JSON object ended by a NUL): no port, no WebDriver, no
//! download. It runs in a network namespace of its own (`unshare -n`: an
//! unconfigured loopback and nothing else), so nothing can leave the machine,
//! and every request a page makes is recorded (`Network.requestWillBeSent`)
//! for the test to assert on, with console messages, exceptions and log
//! entries (a Content-Security-Policy refusal is one). The flags are those
//! that keep chromium quiet on a closed network (no background fetches,
//! component updates or sync), with a fresh profile each time.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How long one DevTools command or a page load may take.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// The browser the tests drive (`cargo xtask setup` installs it).
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// What the reader thread collected.
#[derive(Default)]
struct Inbox {
    replies: HashMap<u64, Value>,
    events: Vec<Value>,
    closed: bool,
}

/// A headless chromium with one page open.
pub struct Browser {
    child: Child,
    to: File,
    inbox: Arc<(Mutex<Inbox>, Condvar)>,
    next: u64,
    session: String,
    reader: Option<JoinHandle<()>>,
    profile: PathBuf,
    stderr: PathBuf,
}

/// How a page is opened.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Run the page's scripts.
    pub javascript: bool,
    /// `prefers-color-scheme: dark`.
    pub dark: bool,
    /// Viewport width in CSS pixels.
    pub width: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            javascript: true,
            dark: false,
            width: 1280,
        }
    }
}

/// A pipe, both ends close-on-exec: (read, write).
fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fds this function then owns.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: both fds were just created and are owned here only.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

impl Browser {
    /// Starts chromium with no network (its own network namespace) and opens
    /// `url` with `opts`, waiting for the load event.
    pub fn open(url: &str, opts: Options) -> Browser {
        crate::require_root();
        assert!(
            Path::new(CHROMIUM).exists(),
            "{CHROMIUM} missing: run `cargo xtask setup`"
        );
        let profile = std::env::temp_dir().join(format!(
            "nstrace-chromium-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
        ));
        std::fs::create_dir_all(&profile).unwrap();
        let stderr = profile.with_extension("log");
        let (cmd_r, cmd_w) = pipe();
        let (out_r, out_w) = pipe();
        let (in_fd, out_fd) = (cmd_r.as_raw_fd(), out_w.as_raw_fd());
        let mut cmd = Command::new("unshare");
        cmd.args(["-n", "--", CHROMIUM])
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-default-apps",
                "--hide-scrollbars",
                "--mute-audio",
                "--font-render-hinting=none",
                "--remote-debugging-pipe",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&stderr).unwrap());
        // SAFETY: between fork and exec only async-signal-safe calls: fcntl
        // and dup2 put the pipe's ends at fds 3 and 4 (without close-on-exec).
        unsafe {
            cmd.pre_exec(move || {
                let a = libc::fcntl(in_fd, libc::F_DUPFD_CLOEXEC, 10);
                let b = libc::fcntl(out_fd, libc::F_DUPFD_CLOEXEC, 10);
                if a < 0 || b < 0 || libc::dup2(a, 3) < 0 || libc::dup2(b, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("chromium starts");
        drop(cmd_r);
        drop(out_w);
        let inbox = Arc::new((Mutex::new(Inbox::default()), Condvar::new()));
        let from = File::from(out_r);
        let ib = inbox.clone();
        let reader = std::thread::spawn(move || {
            let mut r = BufReader::new(from);
            loop {
                let mut buf = Vec::new();
                match r.read_until(0, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                if buf.last() == Some(&0) {
                    buf.pop();
                }
                let Ok(v) = serde_json::from_slice::<Value>(&buf) else {
                    continue;
                };
                let (lock, cv) = &*ib;
                let mut inbox = lock.lock().unwrap();
                match v["id"].as_u64() {
                    Some(id) => {
                        inbox.replies.insert(id, v);
                    }
                    None => inbox.events.push(v),
                }
                cv.notify_all();
            }
            let (lock, cv) = &*ib;
            lock.lock().unwrap().closed = true;
            cv.notify_all();
        });
        let mut b = Browser {
            child,
            to: File::from(cmd_w),
            inbox,
            next: 0,
            session: String::new(),
            reader: Some(reader),
            profile,
            stderr,
        };
        let target = b.call("Target.createTarget", json!({"url": "about:blank"}));
        let target = target["targetId"].as_str().expect("a target").to_owned();
        let attached = b.call(
            "Target.attachToTarget",
            json!({"targetId": target, "flatten": true}),
        );
        b.session = attached["sessionId"]
            .as_str()
            .expect("a session")
            .to_owned();
        for m in [
            "Page.enable",
            "Runtime.enable",
            "Log.enable",
            "Network.enable",
        ] {
            b.page(m, json!({}));
        }
        b.page(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": opts.width, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
        );
        if !opts.javascript {
            b.page(
                "Emulation.setScriptExecutionDisabled",
                json!({"value": true}),
            );
        }
        b.page(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": if opts.dark { "dark" } else { "light" }}]}),
        );
        b.page("Page.navigate", json!({"url": url}));
        b.wait_event("Page.loadEventFired");
        b
    }

    fn send(&mut self, method: &str, params: Value, session: Option<&str>) -> Value {
        self.next += 1;
        let id = self.next;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.to
            .write_all(&bytes)
            .unwrap_or_else(|e| panic!("chromium's pipe: {e}; {}", self.log()));
        let start = Instant::now();
        let (lock, cv) = &*self.inbox;
        let mut inbox = lock.lock().unwrap();
        loop {
            if let Some(v) = inbox.replies.remove(&id) {
                drop(inbox);
                assert!(
                    v["error"].is_null(),
                    "{method}: {}; {}",
                    v["error"],
                    self.log()
                );
                return v["result"].clone();
            }
            assert!(!inbox.closed, "chromium went away during {method}");
            let left = TIMEOUT.saturating_sub(start.elapsed());
            assert!(!left.is_zero(), "{method}: no reply within {TIMEOUT:?}");
            inbox = cv.wait_timeout(inbox, left).unwrap().0;
        }
    }

    /// A browser-wide command.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.send(method, params, None)
    }

    /// A command to the page.
    pub fn page(&mut self, method: &str, params: Value) -> Value {
        let s = self.session.clone();
        self.send(method, params, Some(&s))
    }

    /// Waits for the page's event `method` (the first one not yet waited for).
    fn wait_event(&mut self, method: &str) -> Value {
        let start = Instant::now();
        let (lock, cv) = &*self.inbox;
        let mut inbox = lock.lock().unwrap();
        loop {
            if let Some(v) = inbox
                .events
                .iter()
                .find(|e| e["method"] == method && e["sessionId"] == self.session.as_str())
            {
                return v.clone();
            }
            assert!(!inbox.closed, "chromium went away waiting for {method}");
            let left = TIMEOUT.saturating_sub(start.elapsed());
            assert!(!left.is_zero(), "no {method} within {TIMEOUT:?}");
            inbox = cv.wait_timeout(inbox, left).unwrap().0;
        }
    }

    /// Evaluates `expr` in the page (DevTools' evaluation runs also when the
    /// page's own scripts are disabled) and returns its value.
    pub fn eval(&mut self, expr: &str) -> Value {
        let r = self.page(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true}),
        );
        assert!(
            r["exceptionDetails"].is_null(),
            "{expr}: {}",
            r["exceptionDetails"]
        );
        r["result"]["value"].clone()
    }

    /// Every event so far with this method.
    pub fn events(&self, method: &str) -> Vec<Value> {
        self.inbox
            .0
            .lock()
            .unwrap()
            .events
            .iter()
            .filter(|e| e["method"] == method)
            .cloned()
            .collect()
    }

    /// Errors the page met: uncaught exceptions, `console.error`, and
    /// browser log entries at level error (a blocked script or request).
    pub fn errors(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .events("Runtime.exceptionThrown")
            .iter()
            .map(|e| e["params"]["exceptionDetails"].to_string())
            .collect();
        out.extend(
            self.events("Runtime.consoleAPICalled")
                .iter()
                .filter(|e| matches!(e["params"]["type"].as_str(), Some("error" | "assert")))
                .map(|e| e["params"]["args"].to_string()),
        );
        out.extend(
            self.events("Log.entryAdded")
                .iter()
                .filter(|e| e["params"]["entry"]["level"] == "error")
                .map(|e| e["params"]["entry"]["text"].to_string()),
        );
        out
    }

    /// The URL of every request the page made (or tried to), in order.
    pub fn requests(&self) -> Vec<String> {
        self.events("Network.requestWillBeSent")
            .iter()
            .filter_map(|e| e["params"]["request"]["url"].as_str().map(str::to_owned))
            .collect()
    }

    /// A PNG of the element `selector` (all of it, also below the fold) at `path`.
    pub fn screenshot(&mut self, selector: &str, path: &Path) {
        let r = self.eval(&format!(
            "(() => {{ const r = document.querySelector({}).getBoundingClientRect(); \
             return [r.left + scrollX, r.top + scrollY, r.width, r.height]; }})()",
            serde_json::to_string(selector).unwrap()
        ));
        let n = |i: usize| r[i].as_f64().unwrap_or(0.0);
        let shot = self.page(
            "Page.captureScreenshot",
            json!({
                "format": "png",
                "captureBeyondViewport": true,
                "clip": {"x": n(0), "y": n(1), "width": n(2).max(1.0), "height": n(3).max(1.0), "scale": 1},
            }),
        );
        let png = base64_decode(shot["data"].as_str().expect("screenshot data"));
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }

    /// The page printed to PDF (print styles applied).
    pub fn pdf(&mut self) -> Vec<u8> {
        let r = self.page("Page.printToPDF", json!({"printBackground": false}));
        base64_decode(r["data"].as_str().expect("PDF data"))
    }

    /// What chromium wrote to stderr (for failure messages).
    pub fn log(&self) -> String {
        let s = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let tail: Vec<&str> = s.lines().rev().take(20).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Close politely, then make sure: no chromium outlives its test.
        let _ = self
            .to
            .write_all(b"{\"id\":999999,\"method\":\"Browser.close\"}\0");
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Its process group: chromium (unshare exec'd it) and its helpers.
        // SAFETY: signalling the process group this harness created.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
        // The reader ends at EOF, once no process holds the pipe.
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        let _ = std::fs::remove_dir_all(&self.profile);
        let _ = std::fs::remove_file(&self.stderr);
    }
}

/// Standard base64 (the DevTools protocol's binary data).
pub fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter_map(val) {
        acc = acc << 6 | c;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_decodes() {
        assert_eq!(super::base64_decode("aGVsbG8="), b"hello");
        assert_eq!(super::base64_decode("iVBORw=="), b"\x89PNG");
        assert_eq!(super::base64_decode(""), b"");
    }
}
