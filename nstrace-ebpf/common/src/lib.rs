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
//! [`sigstate`] (signal dispositions as the kernel holds them),
//! [`caps`] (capability numbers and names), [`net`] (bind) and [`config`]
//! (what userspace writes into the programs: offsets, settings; the counter
//! slots).
#![no_std]
#![warn(missing_docs)]

/// Asserts at compile time, on both sides, that a `#[repr(C)]` struct has
/// no implicit padding: each listed field starts where the one before it
/// ends and the last ends at the struct's size (leaving a field out fails
/// too). Records are sent as raw bytes, so padding would carry stale bytes
/// and a layout change would go unnoticed.
macro_rules! no_padding {
    ($t:ty { $($f:ident),+ $(,)? }) => {
        const _: () = {
            let mut end = 0usize;
            $(
                assert!(
                    core::mem::offset_of!($t, $f) == end,
                    concat!(stringify!($t), ": implicit padding (or a field not listed here) before ", stringify!($f))
                );
                end = core::mem::offset_of!($t, $f) + $crate::field_size(|x: &$t| &x.$f);
            )+
            assert!(
                end == core::mem::size_of::<$t>(),
                concat!(stringify!($t), ": implicit padding (or a field not listed here) at the end")
            );
        };
    };
}

/// Like `no_padding!`, for a ring-buffer record, which must also keep the
/// 8-byte alignment of the next record.
macro_rules! record_layout {
    ($t:ty { $($f:ident),+ $(,)? }) => {
        no_padding!($t { $($f),+ });
        const _: () = assert!(
            core::mem::size_of::<$t>() % 8 == 0,
            concat!(stringify!($t), ": not a multiple of 8 bytes")
        );
    };
}

/// The size of the field a projection names (used by `no_padding!`).
#[doc(hidden)]
pub const fn field_size<T, F>(_: fn(&T) -> &F) -> usize {
    core::mem::size_of::<F>()
}

pub mod caps;
pub mod config;
pub mod event;
pub mod net;
pub mod ns;
pub mod process;
pub mod signal;
pub mod sigstate;

pub use config::*;
pub use event::*;
pub use net::*;
pub use ns::*;
pub use process::*;
pub use signal::*;
pub use sigstate::{SigOffsets, SigStateEvent, SIGSTATE_SIGNALS};

#[cfg(feature = "user")]
mod user {
    // SAFETY: plain-old-data, repr(C), no padding, every bit pattern valid.
    unsafe impl aya::Pod for super::Offsets {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::Config {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::SigOffsets {}
}
