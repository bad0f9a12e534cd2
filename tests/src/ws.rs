//! The client side of a Kubernetes exec stream over WebSocket, as `kubectl
//! exec -it` speaks it to a kubelet's (here containerd's) streaming server:
//! RFC 6455 framing (client frames masked) and the `v4.channel.k8s.io`
//! subprotocol (each binary message starts with its channel: 0 stdin,
//! 1 stdout, 2 stderr, 3 the final status, 4 terminal resize). Small and
//! blocking; enough for one command with a terminal.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::cri::Result;

/// The key of the opening handshake (the server only hashes it back; it
/// need not be secret for a test on loopback).
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

fn io(what: &str) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("exec stream: {what}: {e}")
}

/// Writes one masked client frame (FIN set) of `opcode` carrying `payload`.
fn send(s: &mut TcpStream, opcode: u8, payload: &[u8]) -> Result<()> {
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xffff => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let mask = [0x5a, 0xc3, 0x1e, 0x77];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    s.write_all(&f).map_err(io("write"))
}

/// Reads one frame: (opcode, payload); `None` at the end of the stream.
fn recv(s: &mut TcpStream) -> Result<Option<(u8, Vec<u8>)>> {
    let mut head = [0u8; 2];
    match s.read_exact(&mut head) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(io("read")(e)),
    }
    let mut len = u64::from(head[1] & 0x7f);
    if len == 126 {
        let mut b = [0u8; 2];
        s.read_exact(&mut b).map_err(io("read"))?;
        len = u64::from(u16::from_be_bytes(b));
    } else if len == 127 {
        let mut b = [0u8; 8];
        s.read_exact(&mut b).map_err(io("read"))?;
        len = u64::from_be_bytes(b);
    }
    if len > 16 << 20 {
        return Err(format!("exec stream: a frame of {len} bytes"));
    }
    let mut mask = [0u8; 4];
    if head[1] & 0x80 != 0 {
        s.read_exact(&mut mask).map_err(io("read"))?;
    }
    let mut payload = vec![0u8; len as usize];
    s.read_exact(&mut payload).map_err(io("read"))?;
    if head[1] & 0x80 != 0 {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
    }
    Ok(Some((head[0] & 0x0f, payload)))
}

/// Connects to the stream at `url` (`http://HOST:PORT/exec/TOKEN`), sends
/// `input` on stdin, and returns what came on stdout until the server closed
/// the stream; fails if the final status says the command failed to start or
/// exited with an error, or after `timeout`.
pub fn exec_stream(url: &str, input: &[u8], timeout: Duration) -> Result<String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("exec stream: unexpected URL {url}"))?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut s = TcpStream::connect(host).map_err(io("connect"))?;
    s.set_read_timeout(Some(timeout)).map_err(io("timeout"))?;
    write!(
        s,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: v4.channel.k8s.io\r\nOrigin: http://{host}\r\n\r\n"
    )
    .map_err(io("handshake"))?;
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).map_err(io("handshake"))?;
        head.push(b[0]);
        if head.len() > 8192 {
            return Err("exec stream: handshake answer too long".into());
        }
    }
    let head = String::from_utf8_lossy(&head);
    if !head.starts_with("HTTP/1.1 101") {
        return Err(format!(
            "exec stream: no upgrade: {}",
            head.lines().next().unwrap_or("")
        ));
    }
    let mut stdin = vec![0u8];
    stdin.extend_from_slice(input);
    send(&mut s, 0x2, &stdin)?;
    let (mut out, mut status) = (Vec::new(), Vec::new());
    let started = Instant::now();
    while let Some((op, data)) = recv(&mut s)? {
        match op {
            // Binary or text data: channel byte, then the bytes.
            0x0..=0x2 => match data.split_first() {
                Some((1, rest)) => out.extend_from_slice(rest),
                Some((3, rest)) => status.extend_from_slice(rest),
                _ => {}
            },
            0x8 => {
                let _ = send(&mut s, 0x8, &[]);
                break;
            }
            0x9 => send(&mut s, 0xa, &data)?,
            _ => {}
        }
        if started.elapsed() > timeout {
            return Err(format!("exec stream: still open after {timeout:?}"));
        }
    }
    let status = String::from_utf8_lossy(&status);
    if status.contains("\"Failure\"") {
        return Err(format!("exec stream: the command failed: {status}"));
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}
