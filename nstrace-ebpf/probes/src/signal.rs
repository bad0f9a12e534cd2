//! Signals: generation (with the kernel's verdict and the target) and
//! delivery (with the handler), filtered by the collector's signal mask and,
//! for the agent, by where the process concerned lives.

use core::ptr::{addr_of, read_volatile};

use aya_ebpf::{macros::btf_tracepoint, programs::BtfTracePointContext};
use nstrace_common::{counter, Kind, SignalDeliverEvent, SignalGenerateEvent, FLAG_READ_FAILED};

use crate::{
    emit::{bump, fill_header, reserve, skip, submit},
    task::{self, load, Facts, Ptr},
    CONFIG,
};

/// Whether signal `sig` is streamed (in the collector's mask).
#[inline(always)]
fn wanted(sig: u32) -> bool {
    // SAFETY: a plain read of a global the loader initialised.
    let mask = unsafe { read_volatile(addr_of!(CONFIG.signal_mask)) };
    sig < 64 && mask & (1u64 << sig) != 0
}

/// Whether a signal concerning `task` is skipped because it lives in the
/// node's PID namespace and only containers' signals are streamed. A task
/// whose namespace cannot be read (0) is streamed: never hidden on a failure.
#[inline(always)]
fn on_node_only(task: Ptr) -> bool {
    // SAFETY: plain reads of a global the loader initialised.
    let (only, node) = unsafe {
        (
            read_volatile(addr_of!(CONFIG.signals_in_containers_only)),
            read_volatile(addr_of!(CONFIG.node_pid_ns)),
        )
    };
    if only == 0 {
        return false;
    }
    // Every thread of a process is in its PID namespace: no need for the leader.
    let mut ok = true;
    let (_, pid_ns) = task::own_pid(task, &mut ok);
    pid_ns != 0 && pid_ns == node
}

/// Counts a signal that is not streamed (once, at generation; deliveries of
/// these are not counted again).
#[inline(always)]
fn count_filtered(sig: u32) {
    if sig <= 64 {
        bump(counter::SIGNALS_FILTERED + sig);
    }
}

/// signal:signal_generate(sig, info, task, group, result).
#[btf_tracepoint(function = "signal_generate")]
pub fn signal_generate(ctx: BtfTracePointContext) -> i32 {
    if skip() {
        return 0;
    }
    let sig: i32 = ctx.arg(0);
    if !wanted(sig as u32) {
        count_filtered(sig as u32);
        return 0;
    }
    let target: Ptr = ctx.arg(2);
    if on_node_only(target) {
        count_filtered(sig as u32);
        return 0;
    }
    let info: usize = ctx.arg(1);
    let group: i32 = ctx.arg(3);
    let result: i32 = ctx.arg(4);
    let mut entry = reserve!(SignalGenerateEvent, Kind::SignalGenerate);
    // SAFETY: sized for SignalGenerateEvent; every field is written.
    let ev = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut ev.hdr, Kind::SignalGenerate, task::current());
    let mut ok = true;
    ev.sig = sig as u32;
    ev.result = result as u32;
    ev.group = group as u32;
    // SEND_SIG_NOINFO (0) is a user signal, SEND_SIG_PRIV (1) a kernel one.
    // The verifier types `info` as a scalar (it may be one of those two), so
    // si_code is the one helper read left here.
    ev.si_code = match info {
        0 => 0,
        1 => 0x80,
        _ => task::read_kernel(info + off!(siginfo_code), "kernel_siginfo.si_code", &mut ok),
    };
    let mut f = Facts::default();
    if task::facts(target, &mut f) & FLAG_READ_FAILED != 0 {
        ok = false;
    }
    ev.target_tgid = f.tgid;
    ev.target_tid = f.tid;
    ev.target_ns_tgid = f.ns_tgid;
    ev.target_ns = f.ns;
    ev._pad = 0;
    task::comm(target, &mut ev.target_comm, &mut ok);
    if !ok {
        ev.hdr.flags |= FLAG_READ_FAILED;
    }
    submit(entry, &ev.hdr);
    0
}

/// signal:signal_deliver(sig, info, ka) — current is about to act on `sig`.
#[btf_tracepoint(function = "signal_deliver")]
pub fn signal_deliver(ctx: BtfTracePointContext) -> i32 {
    if skip() {
        return 0;
    }
    let sig: i32 = ctx.arg(0);
    if !wanted(sig as u32) || on_node_only(task::current()) {
        return 0;
    }
    let ka: Ptr = ctx.arg(2);
    let mut entry = reserve!(SignalDeliverEvent, Kind::SignalDeliver);
    // SAFETY: sized for SignalDeliverEvent; every field is written.
    let ev = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut ev.hdr, Kind::SignalDeliver, task::current());
    ev.sig = sig as u32;
    ev._pad = 0;
    if ka.is_null() {
        ev.handler = 0;
        ev.sa_flags = 0;
        ev.hdr.flags |= FLAG_READ_FAILED;
    } else {
        ev.handler = load(ka, off!(ksigaction_handler));
        ev.sa_flags = load(ka, off!(ksigaction_flags));
    }
    submit(entry, &ev.hdr);
    0
}
