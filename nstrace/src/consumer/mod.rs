//! What the feed hands its inputs to, one per job: the event printer
//! (`watch`, `replay`), the topology, the audit, the shutdown follower.
//! Each builds on the model, the detectors and the renderers; none reads
//! /proc or the kernel itself (the feed does).

pub mod agent;
pub mod audit;
pub mod printer;
pub mod report;
pub mod shutdown;
pub mod topology;

pub use audit::AuditView;
pub use printer::Printer;
pub use shutdown::Follow;
pub use topology::TopologyView;
