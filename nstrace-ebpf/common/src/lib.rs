//! The nstrace event ABI: every record the kernel programs put in the ring
//! buffer, the offset table userspace hands them, the counters they keep,
//! and the names of the numbers they carry.
//!
//! This is the only definition; the eBPF programs and the collector both
//! compile this crate. Every struct is `#[repr(C)]`, has no implicit padding
//! (explicit `_pad` fields) and is 8-byte aligned, so its layout is the same
//! on both sides and a record can be copied byte for byte.
//!
//! Split by domain, the way libbpf-tools keep one small header per tool:
//! [`event`] (the header every record starts with, kinds, flags), [`ns`]
//! (namespace types and sets, setns/unshare), [`process`] (create, exec,
//! exit, reap, wait, rename), [`signal`] (generate, deliver, verdicts),
//! [`caps`] (capability numbers and names), [`net`] (bind) and [`config`]
//! (what userspace writes into the programs: offsets, settings; the counter
//! slots).
#![no_std]
#![warn(missing_docs)]

pub mod caps;
pub mod config;
pub mod event;
pub mod net;
pub mod ns;
pub mod process;
pub mod signal;

pub use config::*;
pub use event::*;
pub use net::*;
pub use ns::*;
pub use process::*;
pub use signal::*;

#[cfg(feature = "user")]
mod user {
    // SAFETY: plain-old-data, repr(C), no padding, every bit pattern valid.
    unsafe impl aya::Pod for super::Offsets {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::Config {}
}
