//! nstrace: an eBPF tracer for Linux namespaces and PID-1 behaviour in containers.
//!
//! The binary is a thin `main`; everything lives here so tests and tools can
//! decode events and read record files without the kernel.
#![warn(missing_docs)]

pub mod cli;
pub mod cmd;
pub mod consumer;
pub mod detect;
pub mod error;
pub mod event;
pub mod filter;
pub mod model;
pub mod netns;
pub mod output;
pub mod probe;
pub mod procfs;
pub mod record;
pub mod runtime;
pub mod serve;
pub mod session;
pub mod snapshot;
pub mod stats;
