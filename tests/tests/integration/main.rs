//! The integration suite, one test binary (one link, one lock) as ripgrep
//! keeps it: real kernel, real util-linux, real pods on podman and on
//! containerd through CRI; root needed. A module per area; the VM step runs
//! the `kernel` and `foundation` modules on every kernel of the matrix.
//!
//! Tests that read the whole node (audits, pods) take the exclusive lock
//! ([`nstrace_tests::serial`]); the others take it shared
//! ([`nstrace_tests::shared`]), so they run beside each other but never beside
//! a whole-node test.

mod agent;
mod alerts;
mod churn;
mod cli;
mod docker;
mod foundation;
mod joins;
mod kernel;
mod names;
mod network;
mod pid1;
mod pid1_predict;
mod pid1_runtimes;
mod pid1_servers;
mod pods;
mod privileges;
mod prometheus_harness;
mod report;
mod sessions;
