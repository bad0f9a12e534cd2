//! Record plumbing shared by every program: the guards each starts with,
//! reserving and submitting (with the wake-up policy), the common header,
//! and the per-CPU counters.

use core::ptr::{addr_of, read_volatile};

use aya_ebpf::{
    bindings::{BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP},
    helpers::{
        bpf_get_current_pid_tgid,
        generated::{bpf_get_smp_processor_id, bpf_ktime_get_ns},
    },
    maps::ring_buf::RingBufEntry,
};
use aya_log_ebpf::warn;
use nstrace_common::{counter, Header, Kind, FLAG_READ_FAILED, FLAG_THREAD};

use crate::{
    task::{self, Facts, Ptr},
    CONFIG, COUNTERS, EVENTS, OFFSETS,
};

/// Whether the loader has filled `OFFSETS` (nothing is emitted before).
#[inline(always)]
pub fn offsets_ready() -> bool {
    // SAFETY: a plain read of a global the loader initialised.
    unsafe { read_volatile(addr_of!(OFFSETS.valid)) == 1 }
}

/// The collector's own tgid.
#[inline(always)]
pub fn self_tgid() -> u32 {
    // SAFETY: a plain read of a global the loader initialised.
    unsafe { read_volatile(addr_of!(CONFIG.self_tgid)) }
}

/// Events caused by the collector itself are not traced (it would trace its own reads).
#[inline(always)]
pub fn is_self() -> bool {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    tgid != 0 && tgid == self_tgid()
}

/// The guard every event program starts with.
#[inline(always)]
pub fn skip() -> bool {
    !offsets_ready() || is_self()
}

/// Adds one to a per-CPU counter slot.
#[inline(always)]
pub fn bump(slot: u32) {
    if let Some(p) = COUNTERS.get_ptr_mut(slot) {
        // SAFETY: per-CPU slot, no concurrent writer on this CPU.
        unsafe { *p += 1 }
    }
}

/// Reserves room for one `$ty` record, or counts a drop for its kind and
/// returns 0 from the program.
macro_rules! reserve {
    ($ty:ty, $kind:expr) => {
        match $crate::EVENTS.reserve::<$ty>(0) {
            Some(e) => e,
            None => {
                $crate::emit::bump(nstrace_common::counter::DROPS + $kind as u32);
                return 0;
            }
        }
    };
}
pub(crate) use reserve;

/// Unread data, in thresholds (ring/16), from which every record wakes the
/// collector: three quarters of the ring.
const HIGH_WATER: u64 = 12;

/// Submit flags for a record of `size` bytes that was just reserved.
///
/// A forced wake-up costs ~6.5 µs here (an irq_work and a wake-up of the
/// collector). Waking on every record once ring/16 bytes waited made that
/// the largest cost of a signal storm, so:
///
/// * below three quarters of the ring, the collector is woken only when the unread data
///   *crosses* a multiple of `CONFIG.wakeup_bytes` (ring/16): one wake-up per
///   ring/16 bytes in a storm. Everything else is submitted without a wake-up
///   and picked up by the collector's drain timer (every 50 ms), which bounds
///   the latency of a quiet node's events. Two CPUs racing past a boundary may
///   both miss it (each sees the other's record already counted); then the
///   next boundary or the timer wakes the collector;
/// * from three quarters of the ring on, the collector is behind (it is starved of CPU, or
///   formats slower than the kernel produces): every record wakes it, as
///   before. That costs the producers and lets the collector catch up, which
///   is better than dropping records: measured here, `watch` on a stress-ng
///   kill storm on a busy machine dropped 10–20 % of its records without it.
#[inline(always)]
fn wake_flags(size: usize) -> u64 {
    // SAFETY: a plain read of a global the loader initialised.
    let threshold = unsafe { read_volatile(addr_of!(CONFIG.wakeup_bytes)) } as u64;
    if threshold == 0 {
        return 0;
    }
    // Unread bytes, this record included: records carry an 8-byte header
    // and are padded to 8 bytes.
    let avail = EVENTS.query(BPF_RB_AVAIL_DATA as u64);
    let before = avail.saturating_sub((size as u64 + 8 + 7) & !7);
    // The loader's threshold is ring/16, a power of two: then a multiple was
    // crossed iff the two differ in a bit at or above it (no division).
    let crossed = if threshold.is_power_of_two() {
        (avail ^ before) >= threshold
    } else {
        avail / threshold != before / threshold
    };
    if crossed || avail >= HIGH_WATER * threshold {
        BPF_RB_FORCE_WAKEUP as u64
    } else {
        BPF_RB_NO_WAKEUP as u64
    }
}

/// Counts a read failure flagged in `h` and submits the record.
#[inline(always)]
pub fn submit<T>(entry: RingBufEntry<T>, h: &Header) {
    if h.flags & FLAG_READ_FAILED != 0 {
        bump(counter::READ_FAILURES);
        // Off unless `--debug-probes`: the loader freezes the level at 0 and
        // the verifier drops the branch.
        warn!(
            &(),
            "nstrace: a read failed in a record of kind {} (pid {}, flags {:x})",
            h.kind,
            h.tgid,
            h.flags
        );
    }
    entry.submit(wake_flags(core::mem::size_of::<T>()));
}

/// Fills an event header about `task` (a BTF task pointer).
#[inline(always)]
pub fn fill_header(h: &mut Header, kind: Kind, task: Ptr) {
    h.kind = kind as u16;
    // SAFETY: helpers with no preconditions.
    h.ts_ns = unsafe { bpf_ktime_get_ns() };
    h.cpu = unsafe { bpf_get_smp_processor_id() };
    let mut f = Facts::default();
    let mut flags = task::facts(task, &mut f);
    h.tgid = f.tgid;
    h.tid = f.tid;
    h.uid = f.uid;
    h.euid = f.euid;
    h.ns_tgid = f.ns_tgid;
    h.ns = f.ns;
    let mut ok = true;
    h.ppid = task::parent_tgid(task, &mut ok);
    task::comm(task, &mut h.comm, &mut ok);
    if h.tid != h.tgid {
        flags |= FLAG_THREAD;
    }
    if !ok {
        flags |= FLAG_READ_FAILED;
    }
    h.flags = flags;
}
