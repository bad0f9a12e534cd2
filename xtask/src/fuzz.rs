//! `cargo xtask fuzz [--seconds N] [TARGET...]`: runs each decoder's fuzz
//! target for a fixed budget and reports executions and crashes.
//!
//! The targets live in `nstrace/fuzz` (cargo-fuzz layout, libFuzzer, built by
//! nightly with AddressSanitizer, debug assertions and overflow checks).
//! cargo-fuzz is installed into the project-local `.tools/` when missing.
//! Seeds come from `nstrace/fuzz/seeds/TARGET` (in git); what the fuzzer adds
//! goes to `nstrace/fuzz/corpus/TARGET` and crash inputs to
//! `nstrace/fuzz/artifacts/TARGET` (both ignored by git). Build output goes
//! to `target/fuzz`, each run's libFuzzer log to `target/fuzz/logs/TARGET.log`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::{bpf_object, root, run, setup::tools_dir};

/// cargo-fuzz release line used here.
const CARGO_FUZZ_VERSION: &str = "0.13";
/// Seconds per target unless `--seconds` says otherwise.
const DEFAULT_SECONDS: u64 = 60;
/// One input running longer than this is reported as a hang.
const TIMEOUT_SECONDS: u64 = 10;
/// One allocation larger than this (from inputs of a few KiB) is unbounded.
const MALLOC_LIMIT_MB: u64 = 64;
/// Resident memory above this ends the run as out-of-memory (AddressSanitizer
/// alone keeps a few hundred MiB).
const RSS_LIMIT_MB: u64 = 2048;

/// One fuzz target of `nstrace/fuzz`.
pub struct Target {
    /// Its name in `nstrace/fuzz/Cargo.toml` (and of its seed folder).
    pub name: &'static str,
    /// What it feeds.
    pub what: &'static str,
    /// Largest input libFuzzer makes.
    pub max_len: usize,
    /// A libFuzzer dictionary in `nstrace/fuzz/seeds/`, if any.
    pub dict: Option<&'static str>,
}

/// Every target, in the order they run.
pub const TARGETS: &[Target] = &[
    Target {
        name: "record",
        what: "record-file reader + event decode",
        max_len: 16 * 1024,
        dict: None,
    },
    Target {
        name: "event",
        what: "ring-buffer event decoder",
        max_len: 512,
        dict: None,
    },
    Target {
        name: "policy",
        what: "policy (TOML allow rules) parser",
        max_len: 4096,
        dict: Some("policy.dict"),
    },
    Target {
        name: "btf",
        what: "BTF parser + member lookups",
        max_len: 4096,
        dict: None,
    },
    Target {
        name: "rtnetlink",
        what: "rtnetlink reader (links, addresses, nsid)",
        max_len: 16 * 1024,
        dict: None,
    },
    Target {
        name: "inet_diag",
        what: "inet_diag reader (sockets)",
        max_len: 4096,
        dict: None,
    },
    Target {
        name: "podman_db",
        what: "bbolt reader + podman records",
        max_len: 64 * 1024,
        dict: None,
    },
    Target {
        name: "docker_config",
        what: "Docker's config.v2.json + hostconfig.json",
        max_len: 16 * 1024,
        dict: None,
    },
];

/// What `cargo xtask fuzz` was asked for.
pub struct Options {
    /// Fuzzing time per target.
    pub seconds: u64,
    /// The targets to run.
    pub targets: Vec<&'static Target>,
}

impl Options {
    /// Parses `[--seconds N] [TARGET...]`.
    pub fn parse(args: &[String]) -> Result<Options> {
        let mut o = Options {
            seconds: DEFAULT_SECONDS,
            targets: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--seconds" => {
                    o.seconds = it
                        .next()
                        .and_then(|n| n.parse().ok())
                        .filter(|n| *n > 0)
                        .context("--seconds needs a positive number")?
                }
                "--" => {}
                name => match TARGETS.iter().find(|t| t.name == name) {
                    Some(t) => o.targets.push(t),
                    None => bail!(
                        "unknown fuzz option or target '{name}' (known: --seconds N, {})",
                        names()
                    ),
                },
            }
        }
        if o.targets.is_empty() {
            o.targets = TARGETS.iter().collect();
        }
        Ok(o)
    }
}

fn names() -> String {
    TARGETS
        .iter()
        .map(|t| t.name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn fuzz_dir() -> PathBuf {
    root().join("nstrace/fuzz")
}

/// cargo-fuzz in `.tools/bin`, installed there if missing or of another release line.
fn cargo_fuzz() -> Result<()> {
    let bin = tools_dir().join("bin/cargo-fuzz");
    if let Ok(out) = Command::new(&bin).args(["fuzz", "--version"]).output() {
        let v = String::from_utf8_lossy(&out.stdout);
        if out.status.success() && v.contains(&format!(" {CARGO_FUZZ_VERSION}.")) {
            return Ok(());
        }
    }
    eprintln!(
        "xtask: installing cargo-fuzz {CARGO_FUZZ_VERSION} into {} (about 2 min)",
        tools_dir().display()
    );
    run(Command::new("cargo")
        .args(["install", "cargo-fuzz", "--locked", "--version"])
        .arg(format!("^{CARGO_FUZZ_VERSION}"))
        .arg("--root")
        .arg(tools_dir())
        .env_remove("RUSTUP_TOOLCHAIN"))
}

/// `cargo +nightly fuzz SUBCOMMAND` with the project's cargo-fuzz, pointed at
/// `nstrace/fuzz` and `target/fuzz`, building against `object`.
fn cargo_fuzz_cmd(sub: &str, object: &Path) -> Command {
    let path = format!(
        "{}:{}",
        tools_dir().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = Command::new("cargo");
    c.args(["+nightly", "fuzz", sub, "--fuzz-dir"])
        .arg(fuzz_dir())
        .arg("--target-dir")
        .arg(root().join("target/fuzz"))
        .current_dir(root())
        .env("PATH", path)
        .env("NSTRACE_BPF_OBJECT", object)
        // The outer cargo's settings are for the host build, not this one.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTC")
        .env_remove("RUSTUP_TOOLCHAIN");
    c
}

/// What one target's run came to.
struct Outcome {
    executions: Option<u64>,
    per_second: Option<u64>,
    seconds: Option<u64>,
    corpus: Option<u64>,
    /// Crash input written by libFuzzer, and the first line saying why.
    crash: Option<(Option<String>, String)>,
}

/// Reads the numbers and any finding out of a libFuzzer log.
fn outcome(log: &str, success: bool) -> Outcome {
    let stat = |key: &str| {
        log.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse().ok())
    };
    // "Done 123456 runs in 60 second(s)"
    let done = log.lines().rev().find_map(|l| {
        let rest = l.strip_prefix("Done ")?;
        let (runs, rest) = rest.split_once(" runs in ")?;
        let secs = rest.split_whitespace().next()?;
        Some((runs.parse::<u64>().ok()?, secs.parse::<u64>().ok()?))
    });
    let artifact = log.lines().rev().find_map(|l| {
        l.split_once("Test unit written to ")
            .map(|(_, p)| p.trim().to_owned())
    });
    let lines: Vec<&str> = log.lines().collect();
    let why = lines.iter().enumerate().find_map(|(i, l)| {
        if l.contains("panicked at") {
            // The panic message is on the next line.
            let msg = lines.get(i + 1).map_or("", |m| m.trim());
            Some(format!("{}: {msg}", l.trim().trim_end_matches(':')))
        } else if l.contains("ERROR: libFuzzer:") || l.contains("ERROR: AddressSanitizer:") {
            Some(l.trim().to_owned())
        } else {
            None
        }
    });
    let crash = if success && artifact.is_none() {
        None
    } else {
        Some((
            artifact,
            why.unwrap_or_else(|| "the fuzzer failed (see its log)".into()),
        ))
    };
    Outcome {
        executions: stat("stat::number_of_executed_units:").or(done.map(|d| d.0)),
        per_second: stat("stat::average_exec_per_sec:"),
        seconds: done.map(|d| d.1),
        corpus: log.lines().rev().find_map(|l| {
            // "#123 DONE   cov: 1 ft: 2 corp: 34/5Kb ..."
            let c = l.split_once(" corp: ")?.1;
            c.split('/').next()?.parse().ok()
        }),
        crash,
    }
}

fn show(v: Option<u64>) -> String {
    v.map_or_else(|| "?".into(), |v| v.to_string())
}

/// Builds every target, runs each for `opts.seconds`, prints a table; fails on any finding.
pub fn fuzz(opts: &Options) -> Result<()> {
    cargo_fuzz()?;
    // The nstrace build script wants the kernel object it embeds.
    let object = match std::env::var_os("NSTRACE_BPF_OBJECT").map(PathBuf::from) {
        Some(p) if p.exists() => p,
        _ => {
            crate::build_ebpf()?;
            bpf_object()
        }
    };
    eprintln!("xtask: building the fuzz targets (nightly, AddressSanitizer)");
    run(&mut cargo_fuzz_cmd("build", &object)).context("building the fuzz targets")?;
    let logs = root().join("target/fuzz/logs");
    std::fs::create_dir_all(&logs)?;
    let mut rows = Vec::new();
    for t in &opts.targets {
        let corpus = fuzz_dir().join("corpus").join(t.name);
        let seeds = fuzz_dir().join("seeds").join(t.name);
        std::fs::create_dir_all(&corpus)?;
        let log_path = logs.join(format!("{}.log", t.name));
        let log = std::fs::File::create(&log_path)?;
        eprintln!(
            "xtask: fuzzing {} ({}) for {} s; log {}",
            t.name,
            t.what,
            opts.seconds,
            log_path.display()
        );
        let mut c = cargo_fuzz_cmd("run", &object);
        c.arg(t.name)
            .arg(&corpus)
            .arg(&seeds)
            .arg("--")
            .arg(format!("-max_total_time={}", opts.seconds))
            .arg(format!("-max_len={}", t.max_len))
            .arg(format!("-timeout={TIMEOUT_SECONDS}"))
            .arg(format!("-malloc_limit_mb={MALLOC_LIMIT_MB}"))
            .arg(format!("-rss_limit_mb={RSS_LIMIT_MB}"))
            .arg("-print_final_stats=1");
        if let Some(d) = t.dict {
            c.arg(format!(
                "-dict={}",
                fuzz_dir().join("seeds").join(d).display()
            ));
        }
        let started = Instant::now();
        let status = c
            .stdout(log.try_clone()?)
            .stderr(log)
            .stdin(Stdio::null())
            .status()
            .with_context(|| format!("starting {c:?}"))?;
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let mut o = outcome(&text, status.success());
        o.seconds = o.seconds.or(Some(started.elapsed().as_secs()));
        if let Some((artifact, why)) = &o.crash {
            eprintln!("xtask: {} FAILED: {why}", t.name);
            if let Some(a) = artifact {
                eprintln!(
                    "xtask: reproduce with: PATH={}:$PATH NSTRACE_BPF_OBJECT={} cargo +nightly fuzz run --fuzz-dir nstrace/fuzz --target-dir target/fuzz {} {a}",
                    tools_dir().join("bin").display(),
                    object.display(),
                    t.name
                );
            }
        }
        rows.push((t.name, o));
    }
    println!(
        "{:<8} {:>12} {:>8} {:>7} {:>7}  result",
        "target", "executions", "exec/s", "seconds", "corpus"
    );
    let mut failed = Vec::new();
    for (name, o) in &rows {
        let result = match &o.crash {
            None => "no crash".to_owned(),
            Some((Some(a), why)) => format!("CRASH {a} ({why})"),
            Some((None, why)) => format!("FAILED ({why})"),
        };
        println!(
            "{name:<8} {:>12} {:>8} {:>7} {:>7}  {result}",
            show(o.executions),
            show(o.per_second),
            show(o.seconds),
            show(o.corpus)
        );
        if o.crash.is_some() {
            failed.push(*name);
        }
    }
    if !failed.is_empty() {
        bail!("fuzz target(s) {} found a crash", failed.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_clean_run() {
        let log = "INFO: Seed: 1\n#2\tINITED cov: 10 ft: 11 corp: 3/1Kb exec/s: 0 rss: 40Mb\n\
                   #99\tDONE   cov: 20 ft: 30 corp: 12/3Kb lim: 4096 exec/s: 1650 rss: 60Mb\n\
                   Done 99000 runs in 60 second(s)\nstat::number_of_executed_units: 99001\n\
                   stat::average_exec_per_sec:     1650\nstat::peak_rss_mb:              60\n";
        let o = outcome(log, true);
        assert_eq!(o.executions, Some(99001));
        assert_eq!(o.per_second, Some(1650));
        assert_eq!(o.seconds, Some(60));
        assert_eq!(o.corpus, Some(12));
        assert!(o.crash.is_none());
    }

    #[test]
    fn reads_a_crash() {
        let log = "#5\tNEW    cov: 1 ft: 1 corp: 2/9b\n\
                   thread '<unnamed>' panicked at src/lib.rs:3:5:\nboom\n\
                   ==1== ERROR: libFuzzer: deadly signal\n\
                   artifact_prefix='/x/artifacts/btf/'; Test unit written to /x/artifacts/btf/crash-ab12\n\
                   stat::number_of_executed_units: 42\n";
        let o = outcome(log, false);
        assert_eq!(o.executions, Some(42));
        let (artifact, why) = o.crash.unwrap();
        assert_eq!(artifact.as_deref(), Some("/x/artifacts/btf/crash-ab12"));
        assert_eq!(why, "thread '<unnamed>' panicked at src/lib.rs:3:5: boom");
    }

    #[test]
    fn options() {
        let o = Options::parse(&[]).unwrap();
        assert_eq!(
            (o.seconds, o.targets.len()),
            (DEFAULT_SECONDS, TARGETS.len())
        );
        let args: Vec<String> = ["--seconds", "5", "btf"].map(String::from).to_vec();
        let o = Options::parse(&args).unwrap();
        assert_eq!(o.seconds, 5);
        assert_eq!(
            o.targets.iter().map(|t| t.name).collect::<Vec<_>>(),
            ["btf"]
        );
        assert!(Options::parse(&["nope".to_owned()]).is_err());
        assert!(Options::parse(&["--seconds".to_owned(), "0".to_owned()]).is_err());
    }
}
