//! Signal dispositions at start, from a BPF task iterator (`iter/task`,
//! Linux 5.8+): the one program that walks every task that already exists
//! and writes a `SigState` record for each namespace init and child
//! subreaper into its own output, read here in one go. Used by the live
//! commands (after the other programs are attached, so any change from then
//! on is in the stream too) and by `audit --once`, which attaches nothing
//! else. Where the kernel refuses the iterator, the caller says so once and
//! goes on with /proc (SigCgt, SigIgn, SigBlk: no sa_flags).

use std::fmt;
use std::io::Read;

use aya::programs::Iter;
use aya::{Ebpf, EbpfLoader};
use nstrace_common::{Config, SigStateEvent};

use super::{btf, offsets, OBJECT};
use crate::procfs;

/// Why the dispositions at start could not be read from the kernel.
#[derive(Debug)]
pub enum IterError {
    /// The object or a global could not be set up.
    Load(String),
    /// The kernel refused to load or attach the iterator.
    Refused(String),
    /// Reading its output failed.
    Read(std::io::Error),
}

impl fmt::Display for IterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IterError::Load(why) => write!(f, "setting up the task iterator: {why}"),
            IterError::Refused(why) => write!(
                f,
                "the kernel ({}) refused the task iterator (iter/task): {why}",
                procfs::kernel_release()
            ),
            IterError::Read(_) => write!(f, "reading the task iterator"),
        }
    }
}

impl std::error::Error for IterError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            IterError::Read(e) => Some(e),
            _ => None,
        }
    }
}

/// Loads, attaches and reads the iterator of an object already loaded
/// (its globals set): the raw records, one per init or subreaper.
pub fn run(ebpf: &mut Ebpf, btf: &aya::Btf) -> Result<Vec<Vec<u8>>, IterError> {
    let prog: &mut Iter = ebpf
        .program_mut("sigstate_iter")
        .ok_or_else(|| IterError::Load("program sigstate_iter missing from the object".into()))?
        .try_into()
        .map_err(|e: aya::programs::ProgramError| IterError::Load(e.to_string()))?;
    prog.load("task", btf)
        .map_err(|e| IterError::Refused(chain(&e)))?;
    let id = prog.attach().map_err(|e| IterError::Refused(chain(&e)))?;
    let link = prog
        .take_link(id)
        .map_err(|e| IterError::Refused(chain(&e)))?;
    let mut file = link
        .into_file()
        .map_err(|e| IterError::Refused(chain(&e)))?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf).map_err(IterError::Read)?;
    let size = std::mem::size_of::<SigStateEvent>();
    Ok(buf.chunks_exact(size).map(<[u8]>::to_vec).collect())
}

fn chain(e: &dyn std::error::Error) -> String {
    crate::error::chain(e)
}

/// For `audit --once`: loads the object with only what the iterator needs
/// and reads it.
pub fn read_once() -> Result<Vec<Vec<u8>>, IterError> {
    if OBJECT.is_empty() {
        return Err(IterError::Load(
            "this nstrace was built without its kernel programs".into(),
        ));
    }
    let kernel_btf = btf::Btf::from_kernel().map_err(|e| IterError::Load(chain(&e)))?;
    let o = offsets::resolve_here(&kernel_btf).map_err(|e| IterError::Load(chain(&e)))?;
    let so = offsets::resolve_sig(&kernel_btf).map_err(|e| IterError::Load(chain(&e)))?;
    let config = Config {
        self_tgid: std::process::id(),
        node_pid_ns: procfs::node_ns().pid,
        ..Config::default()
    };
    let aya_btf = aya::Btf::from_sys_fs().map_err(|e| IterError::Load(e.to_string()))?;
    let mut ebpf = EbpfLoader::new()
        .btf(Some(&aya_btf))
        .override_global("OFFSETS", &o, true)
        .override_global("CONFIG", &config, true)
        .override_global("SIG_OFFSETS", &so, true)
        .override_global("AYA_LOG_LEVEL", &0u8, true)
        // The ring buffer is not used here: its smallest size.
        .map_max_entries("EVENTS", 4096)
        .allow_unsupported_maps()
        .load(OBJECT)
        .map_err(|e| IterError::Load(chain(&e)))?;
    run(&mut ebpf, &aya_btf)
}
