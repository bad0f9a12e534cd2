//! The record file: a versioned, self-describing binary log of a trace.
//!
//! Layout (all integers little-endian):
//! ```text
//! magic        8 bytes  "NSTRACE\0"
//! version      u16      FORMAT_VERSION
//! abi_version  u16      nstrace_common::ABI_VERSION of the events inside
//! meta_len     u32      bytes of metadata that follow
//! meta         wall_offset_ns i64, start_mono_ns u64, node namespaces 9 x u32,
//!              hostname (u16 length + bytes), kernel release (u16 length + bytes),
//!              then, from an audit or agent run, the PID-1 detector settings:
//!              u8 1, zombie_after, forward_window, predict_after (u64 ns each)
//! records      repeated: len u32, type u8, 3 reserved bytes, then len bytes
//! ```
//! Record types: 1 = a kernel event exactly as the ring buffer gave it,
//! 2 = the counters at the end of the trace, 3 = a process of the start-up
//! /proc snapshot, 4 = the pinned namespaces, 5 = cgroup and hostname read
//! from /proc after an event (events do not carry them), 6 = a clock tick,
//! 7 = a container's names read from its runtime's files, 8 = a process's
//! signal dispositions read from /proc, 9 = a read of a network namespace
//! (wiring, listeners and their holders), 10 = who held a port right after a
//! bind lost over it. Records 9 and 10 are JSON (serde, the model's `net`
//! types): a few per namespace and tick, self-describing, so fields can be
//! added without a new layout. Unknown types are skipped by
//! length, so later versions can add records an older reader passes over.

use std::fmt;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use bytes::{Buf, BufMut, BytesMut};
use nstrace_common::{NsSet, ABI_VERSION};

use crate::model::net::{NetFacts, PortHolders};
use crate::model::{Enrichment, Pinned, Process};
use crate::stats::Stats;

pub mod model_codec;

/// First bytes of every record file.
pub const MAGIC: [u8; 8] = *b"NSTRACE\0";
/// Version of the file layout written by this build.
pub const FORMAT_VERSION: u16 = 1;
/// Record type: one kernel event.
pub const REC_EVENT: u8 = 1;
/// Record type: final counters.
pub const REC_STATS: u8 = 2;
/// Record type: one process from the start-up /proc snapshot.
pub const REC_PROCESS: u8 = 3;
/// Record type: the namespaces pinned by mounts or fds.
pub const REC_PINNED: u8 = 4;
/// Record type: cgroup and hostname read from /proc after an event.
pub const REC_ENRICH: u8 = 5;
/// Record type: a clock tick (monotonic ns) that advanced the detectors.
pub const REC_TICK: u8 = 6;
/// Record type: what the container runtime calls a container and its pod.
pub const REC_NAMES: u8 = 7;
/// Record type: a process's signal dispositions read from /proc.
pub const REC_SIGNALS: u8 = 8;
/// Record type: one read of a network namespace (JSON).
pub const REC_NET: u8 = 9;
/// Record type: who held a port after a bind lost over it (JSON).
pub const REC_PORT_HOLDERS: u8 = 10;
/// Record type: a correction of the model from /proc (reconciliation).
pub const REC_CORRECTION: u8 = 11;
/// Largest record accepted; anything bigger means the file is damaged.
pub const MAX_RECORD: u32 = 1 << 20;
/// Largest metadata block accepted.
const MAX_META: u32 = 64 * 1024;
/// Bytes before each record's payload: length, type, 3 reserved.
const FRAME_LEN: usize = 8;

/// What a recording says about where and when it was made.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// CLOCK_REALTIME minus CLOCK_MONOTONIC at start, in ns: event time to wall clock.
    pub wall_offset_ns: i64,
    /// CLOCK_MONOTONIC at start.
    pub start_mono_ns: u64,
    /// The node's namespaces (those of PID 1 of the node).
    pub node_ns: NsSet,
    /// The node's hostname.
    pub hostname: String,
    /// The kernel release (uname -r).
    pub kernel: String,
    /// The PID-1 detector settings of the run that recorded it (audit,
    /// agent), so `replay --audit` judges as it did.
    pub detectors: Option<crate::detect::pid1::Config>,
}

/// Tag of the detector settings in the metadata.
const META_DETECTORS: u8 = 1;

/// One record read back.
#[derive(Debug, PartialEq, Eq)]
pub enum Record<'a> {
    /// Raw kernel event bytes (decode with `event::decode`).
    Event(&'a [u8]),
    /// Counters at the end of the trace.
    Stats(Box<Stats>),
    /// A snapshot process.
    Process(Box<Process>),
    /// Pinned namespaces.
    Pinned(Vec<Pinned>),
    /// /proc facts read after an event.
    Enrich(Box<Enrichment>),
    /// A clock tick.
    Tick(u64),
    /// A container's runtime names (container id, names).
    Names(Box<(String, crate::model::ContainerNames)>),
    /// A process's signal dispositions (pid, when read, what they were).
    Signals(u32, u64, crate::model::Signals),
    /// A read of a network namespace.
    Net(Box<NetFacts>),
    /// Who held a port after a bind lost over it.
    PortHolders(Box<PortHolders>),
    /// A correction of the model from /proc.
    Correction(crate::model::Correction),
}

/// Why a record file could not be read.
#[derive(Debug)]
pub enum RecordError {
    /// Opening or reading failed.
    Io {
        /// The record file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The file does not start with the nstrace magic.
    NotARecord {
        /// The file.
        path: PathBuf,
    },
    /// The file was written by a newer or unknown layout version.
    UnsupportedVersion {
        /// The record file.
        path: PathBuf,
        /// The layout version the file declares.
        found: u16,
        /// The event ABI version the file declares.
        abi: u16,
    },
    /// The file ends in the middle of something.
    Truncated {
        /// The record file.
        path: PathBuf,
        /// Byte offset at which the file ended.
        offset: u64,
    },
    /// A length or field makes no sense.
    Corrupt {
        /// The record file.
        path: PathBuf,
        /// Byte offset at which it was found.
        offset: u64,
        /// What is wrong.
        what: String,
    },
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::Io { path, .. } => write!(f, "{}", path.display()),
            RecordError::NotARecord { path } => {
                write!(f, "{}: not an nstrace record file (bad magic)", path.display())
            }
            RecordError::UnsupportedVersion { path, found, abi } => write!(
                f,
                "{}: record format version {found} (event ABI {abi}) is not supported by this nstrace (format {FORMAT_VERSION}, ABI {ABI_VERSION})",
                path.display()
            ),
            RecordError::Truncated { path, offset } => {
                write!(f, "{}: truncated at byte {offset}", path.display())
            }
            RecordError::Corrupt { path, offset, what } => {
                write!(f, "{}: corrupt at byte {offset}: {what}", path.display())
            }
        }
    }
}

impl std::error::Error for RecordError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RecordError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Writes a record file.
pub struct Writer<W: Write> {
    out: W,
    /// One frame (header and payload) is built here and written at once;
    /// reused, so appending a record allocates nothing once it has grown.
    frame: BytesMut,
}

impl Writer<BufWriter<std::fs::File>> {
    /// Creates (or truncates) `path` and writes the file header.
    pub fn create(path: &Path, meta: &Meta) -> io::Result<Self> {
        let f = std::fs::File::create(path)?;
        Writer::new(BufWriter::with_capacity(1 << 16, f), meta)
    }
}

impl<W: Write> Writer<W> {
    /// Writes the file header to `out`.
    pub fn new(mut out: W, meta: &Meta) -> io::Result<Self> {
        let mut m = BytesMut::with_capacity(128);
        m.put_i64_le(meta.wall_offset_ns);
        m.put_u64_le(meta.start_mono_ns);
        for ino in meta.node_ns.as_array() {
            m.put_u32_le(ino);
        }
        for s in [&meta.hostname, &meta.kernel] {
            let b = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
            m.put_u16_le(b.len() as u16);
            m.put_slice(b);
        }
        if let Some(d) = &meta.detectors {
            m.put_u8(META_DETECTORS);
            m.put_u64_le(d.zombie_after_ns);
            m.put_u64_le(d.forward_window_ns);
            m.put_u64_le(d.predict_after_ns);
        }
        let mut frame = BytesMut::with_capacity(512);
        frame.put_slice(&MAGIC);
        frame.put_u16_le(FORMAT_VERSION);
        frame.put_u16_le(ABI_VERSION);
        frame.put_u32_le(m.len() as u32);
        frame.put_slice(&m);
        out.write_all(&frame)?;
        frame.clear();
        Ok(Writer { out, frame })
    }

    fn frame(&mut self, rtype: u8, payload: &[u8]) -> io::Result<()> {
        let f = &mut self.frame;
        f.clear();
        f.put_u32_le(payload.len() as u32);
        f.put_slice(&[rtype, 0, 0, 0]);
        f.put_slice(payload);
        self.out.write_all(f)
    }

    /// Appends one raw kernel event.
    pub fn event(&mut self, raw: &[u8]) -> io::Result<()> {
        self.frame(REC_EVENT, raw)
    }

    /// Appends one snapshot process.
    pub fn process(&mut self, p: &Process) -> io::Result<()> {
        self.frame(REC_PROCESS, &model_codec::encode_process(p))
    }

    /// Appends the pinned namespaces.
    pub fn pinned(&mut self, list: &[Pinned]) -> io::Result<()> {
        self.frame(REC_PINNED, &model_codec::encode_pinned(list))
    }

    /// Appends /proc facts read after an event.
    pub fn enrichment(&mut self, e: &Enrichment) -> io::Result<()> {
        self.frame(REC_ENRICH, &model_codec::encode_enrichment(e))
    }

    /// Appends a container's runtime names.
    pub fn names(&mut self, id: &str, n: &crate::model::ContainerNames) -> io::Result<()> {
        self.frame(REC_NAMES, &model_codec::encode_names(id, n))
    }

    /// Appends a process's signal dispositions read at `seen_ns`.
    pub fn signals(&mut self, pid: u32, seen_ns: u64, s: &crate::model::Signals) -> io::Result<()> {
        self.frame(REC_SIGNALS, &model_codec::encode_signals(pid, seen_ns, s))
    }

    /// Appends a read of a network namespace.
    pub fn net(&mut self, f: &NetFacts) -> io::Result<()> {
        self.frame(REC_NET, &serde_json::to_vec(f).map_err(io::Error::other)?)
    }

    /// Appends who held a port after a bind lost over it.
    pub fn port_holders(&mut self, h: &PortHolders) -> io::Result<()> {
        self.frame(
            REC_PORT_HOLDERS,
            &serde_json::to_vec(h).map_err(io::Error::other)?,
        )
    }

    /// Appends a correction of the model.
    pub fn correction(&mut self, c: &crate::model::Correction) -> io::Result<()> {
        self.frame(REC_CORRECTION, &model_codec::encode_correction(c))
    }

    /// Appends a clock tick.
    pub fn tick(&mut self, now_ns: u64) -> io::Result<()> {
        self.frame(REC_TICK, &now_ns.to_le_bytes())
    }

    /// Appends the final counters.
    pub fn stats(&mut self, stats: &Stats) -> io::Result<()> {
        self.frame(REC_STATS, &stats.to_bytes())
    }

    /// Flushes buffered records.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Gives back the underlying writer.
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Reads a record file record by record, reusing one buffer.
pub struct Reader<R: Read> {
    input: R,
    path: PathBuf,
    offset: u64,
    buf: Vec<u8>,
    /// The file's metadata.
    pub meta: Meta,
}

impl Reader<BufReader<std::fs::File>> {
    /// Opens `path` and reads its header.
    pub fn open(path: &Path) -> Result<Self, RecordError> {
        let f = std::fs::File::open(path).map_err(|source| RecordError::Io {
            path: path.to_owned(),
            source,
        })?;
        Reader::new(BufReader::with_capacity(1 << 16, f), path)
    }
}

/// Parses the metadata block; `None` when it is too short. Detector
/// settings follow the kernel release when the run had them; other bytes
/// after it are ignored (room for later versions).
fn parse_meta(mut m: &[u8]) -> Option<Meta> {
    let wall_offset_ns = m.try_get_i64_le().ok()?;
    let start_mono_ns = m.try_get_u64_le().ok()?;
    let mut ns = [0u32; 9];
    for slot in &mut ns {
        *slot = m.try_get_u32_le().ok()?;
    }
    let mut text = || {
        let len = usize::from(m.try_get_u16_le().ok()?);
        let s = String::from_utf8_lossy(m.get(..len)?).into_owned();
        m.advance(len);
        Some(s)
    };
    let (hostname, kernel) = (text()?, text()?);
    let detectors = match m.try_get_u8() {
        Ok(META_DETECTORS) => Some(crate::detect::pid1::Config {
            zombie_after_ns: m.try_get_u64_le().ok()?,
            forward_window_ns: m.try_get_u64_le().ok()?,
            predict_after_ns: m.try_get_u64_le().ok()?,
        }),
        _ => None,
    };
    Some(Meta {
        wall_offset_ns,
        start_mono_ns,
        node_ns: NsSet::from_array(ns),
        hostname,
        kernel,
        detectors,
    })
}

impl<R: Read> Reader<R> {
    /// Reads the header from `input`; `path` is used in messages.
    pub fn new(input: R, path: &Path) -> Result<Self, RecordError> {
        let mut r = Reader {
            input,
            path: path.to_owned(),
            offset: 0,
            buf: Vec::with_capacity(512),
            meta: Meta::default(),
        };
        let mut magic = [0u8; 8];
        match r.fill(&mut magic) {
            Ok(()) => {}
            Err(RecordError::Truncated { .. }) => {
                return Err(RecordError::NotARecord {
                    path: path.to_owned(),
                })
            }
            Err(e) => return Err(e),
        }
        if magic != MAGIC {
            return Err(RecordError::NotARecord {
                path: path.to_owned(),
            });
        }
        // Format version, event ABI version, metadata length.
        let mut fixed = [0u8; 8];
        r.fill(&mut fixed)?;
        let mut h = &fixed[..];
        let (version, abi, meta_len) = (h.get_u16_le(), h.get_u16_le(), h.get_u32_le());
        if version != FORMAT_VERSION || abi != ABI_VERSION {
            return Err(RecordError::UnsupportedVersion {
                path: path.to_owned(),
                found: version,
                abi,
            });
        }
        if meta_len > MAX_META {
            return Err(r.corrupt(format!("metadata length {meta_len} is too large")));
        }
        let mut m = vec![0u8; meta_len as usize];
        r.fill(&mut m)?;
        r.meta = parse_meta(&m).ok_or_else(|| r.corrupt("metadata is too short".into()))?;
        Ok(r)
    }

    fn corrupt(&self, what: String) -> RecordError {
        RecordError::Corrupt {
            path: self.path.clone(),
            offset: self.offset,
            what,
        }
    }

    /// Fills `out` completely or reports where the file ended.
    fn fill(&mut self, out: &mut [u8]) -> Result<(), RecordError> {
        let mut done = 0;
        while done < out.len() {
            match self.input.read(&mut out[done..]) {
                Ok(0) => {
                    return Err(RecordError::Truncated {
                        path: self.path.clone(),
                        offset: self.offset + done as u64,
                    })
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(RecordError::Io {
                        path: self.path.clone(),
                        source,
                    })
                }
            }
        }
        self.offset += done as u64;
        Ok(())
    }

    /// The next record, `None` at a clean end of file.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Result<Record<'_>, RecordError>> {
        loop {
            let mut frame = [0u8; FRAME_LEN];
            // A clean end is exactly at a frame boundary.
            match self.input.read(&mut frame[..1]) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Some(Err(RecordError::Io {
                        path: self.path.clone(),
                        source,
                    }))
                }
            }
            self.offset += 1;
            if let Err(e) = self.fill(&mut frame[1..]) {
                return Some(Err(e));
            }
            let mut h = &frame[..];
            let (len, rtype) = (h.get_u32_le(), h.get_u8());
            if len > MAX_RECORD {
                self.offset -= FRAME_LEN as u64;
                return Some(Err(
                    self.corrupt(format!("record length {len} is too large"))
                ));
            }
            let mut buf = std::mem::take(&mut self.buf);
            buf.resize(len as usize, 0);
            if let Err(e) = self.fill(&mut buf) {
                return Some(Err(e));
            }
            self.buf = buf;
            match rtype {
                REC_EVENT => return Some(Ok(Record::Event(&self.buf))),
                REC_STATS => {
                    return Some(match Stats::from_bytes(&self.buf) {
                        Some(s) => Ok(Record::Stats(Box::new(s))),
                        None => Err(self.corrupt("bad counters record".into())),
                    })
                }
                REC_PROCESS => {
                    return Some(match model_codec::decode_process(&self.buf) {
                        Some(p) => Ok(Record::Process(Box::new(p))),
                        None => Err(self.corrupt("bad process record".into())),
                    })
                }
                REC_PINNED => {
                    return Some(match model_codec::decode_pinned(&self.buf) {
                        Some(p) => Ok(Record::Pinned(p)),
                        None => Err(self.corrupt("bad pinned-namespaces record".into())),
                    })
                }
                REC_ENRICH => {
                    return Some(match model_codec::decode_enrichment(&self.buf) {
                        Some(e) => Ok(Record::Enrich(Box::new(e))),
                        None => Err(self.corrupt("bad enrichment record".into())),
                    })
                }
                REC_NAMES => {
                    return Some(match model_codec::decode_names(&self.buf) {
                        Some(n) => Ok(Record::Names(Box::new(n))),
                        None => Err(self.corrupt("bad container-names record".into())),
                    })
                }
                REC_SIGNALS => {
                    return Some(match model_codec::decode_signals(&self.buf) {
                        Some((pid, seen, s)) => Ok(Record::Signals(pid, seen, s)),
                        None => Err(self.corrupt("bad signals record".into())),
                    })
                }
                REC_NET => {
                    return Some(match serde_json::from_slice(&self.buf) {
                        Ok(f) => Ok(Record::Net(Box::new(f))),
                        Err(e) => Err(self.corrupt(format!("bad network record: {e}"))),
                    })
                }
                REC_PORT_HOLDERS => {
                    return Some(match serde_json::from_slice(&self.buf) {
                        Ok(h) => Ok(Record::PortHolders(Box::new(h))),
                        Err(e) => Err(self.corrupt(format!("bad port-holders record: {e}"))),
                    })
                }
                REC_CORRECTION => {
                    return Some(match model_codec::decode_correction(&self.buf) {
                        Some(c) => Ok(Record::Correction(c)),
                        None => Err(self.corrupt("bad correction record".into())),
                    })
                }
                REC_TICK => {
                    return Some(match &self.buf[..] {
                        mut b if b.len() == 8 => Ok(Record::Tick(b.get_u64_le())),
                        _ => Err(self.corrupt("bad tick record".into())),
                    })
                }
                // Records added by later versions are skipped.
                _ => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Meta {
        Meta {
            wall_offset_ns: 1_700_000_000_000_000_000,
            start_mono_ns: 123,
            node_ns: NsSet::from_array([10, 11, 12, 13, 14, 15, 16, 17, 18]),
            hostname: "node-a".into(),
            kernel: "6.18.0".into(),
            detectors: None,
        }
    }

    #[test]
    fn detector_settings_travel_in_the_metadata() {
        let d = crate::detect::pid1::Config {
            zombie_after_ns: 1_000_000_000,
            forward_window_ns: 2,
            predict_after_ns: 3,
        };
        let with = Meta {
            detectors: Some(d),
            ..meta()
        };
        let b = Writer::new(Vec::new(), &with).unwrap().into_inner();
        assert_eq!(Reader::new(&b[..], Path::new("t.rec")).unwrap().meta, with);
        // A recording without them (older, or from watch) reads as before.
        let b = Writer::new(Vec::new(), &meta()).unwrap().into_inner();
        assert_eq!(
            Reader::new(&b[..], Path::new("t.rec"))
                .unwrap()
                .meta
                .detectors,
            None
        );
    }

    fn sample() -> Vec<u8> {
        let mut w = Writer::new(Vec::new(), &meta()).unwrap();
        w.event(&[1, 2, 3]).unwrap();
        w.event(&[4; 100]).unwrap();
        let stats = Stats {
            read_failures: 7,
            ..Stats::default()
        };
        w.stats(&stats).unwrap();
        w.into_inner()
    }

    /// Everything in a file: metadata, event payloads, final counters.
    type Contents = (Meta, Vec<Vec<u8>>, Option<Stats>);

    fn read_all(bytes: &[u8]) -> Result<Contents, RecordError> {
        let mut r = Reader::new(bytes, Path::new("t.rec"))?;
        let mut events = Vec::new();
        let mut stats = None;
        while let Some(rec) = r.next() {
            match rec? {
                Record::Event(b) => events.push(b.to_vec()),
                Record::Stats(s) => stats = Some(*s),
                Record::Process(_)
                | Record::Pinned(_)
                | Record::Enrich(_)
                | Record::Tick(_)
                | Record::Names(_)
                | Record::Signals(..)
                | Record::Net(_)
                | Record::PortHolders(_)
                | Record::Correction(_) => {}
            }
        }
        Ok((r.meta.clone(), events, stats))
    }

    #[test]
    fn round_trip() {
        let (m, events, stats) = read_all(&sample()).unwrap();
        assert_eq!(m, meta());
        assert_eq!(events, vec![vec![1, 2, 3], vec![4; 100]]);
        assert_eq!(stats.unwrap().read_failures, 7);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let full = sample();
        for cut in 0..full.len() {
            // A cut exactly at a record boundary is a valid shorter file.
            let r = read_all(&full[..cut]);
            if let Err(e) = r {
                assert!(
                    matches!(
                        e,
                        RecordError::Truncated { .. } | RecordError::NotARecord { .. }
                    ),
                    "cut {cut}: {e}"
                );
            }
        }
        // The header alone minus one byte cannot be valid.
        assert!(read_all(&full[..20]).is_err());
    }

    #[test]
    fn foreign_file_is_not_a_record() {
        let e = read_all(b"#!/bin/sh\necho hello\n").unwrap_err();
        assert!(matches!(e, RecordError::NotARecord { .. }));
        assert!(e.to_string().contains("not an nstrace record"));
        assert!(matches!(
            read_all(b"").unwrap_err(),
            RecordError::NotARecord { .. }
        ));
    }

    #[test]
    fn future_version_is_rejected_with_both_versions() {
        let mut b = sample();
        b[8..10].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
        let e = read_all(&b).unwrap_err();
        assert!(
            matches!(e, RecordError::UnsupportedVersion { found, .. } if found == FORMAT_VERSION + 1)
        );
        let mut b = sample();
        b[10..12].copy_from_slice(&(ABI_VERSION + 7).to_le_bytes());
        assert!(matches!(
            read_all(&b).unwrap_err(),
            RecordError::UnsupportedVersion { .. }
        ));
    }

    #[test]
    fn absurd_length_is_corrupt() {
        let mut b = Writer::new(Vec::new(), &meta()).unwrap().into_inner();
        b.extend_from_slice(&u32::MAX.to_le_bytes());
        b.extend_from_slice(&[REC_EVENT, 0, 0, 0]);
        let e = read_all(&b).unwrap_err();
        assert!(matches!(e, RecordError::Corrupt { .. }), "{e}");
    }

    #[test]
    fn unknown_record_types_are_skipped() {
        let mut w = Writer::new(Vec::new(), &meta()).unwrap();
        w.frame(99, &[0; 5]).unwrap();
        w.event(&[9]).unwrap();
        let (_, events, _) = read_all(&w.into_inner()).unwrap();
        assert_eq!(events, vec![vec![9]]);
    }

    #[test]
    fn layout_is_the_documented_one() {
        // Pinned byte for byte: old recordings must keep reading the same.
        let mut w = Writer::new(Vec::new(), &meta()).unwrap();
        w.tick(0x0102_0304_0506_0708).unwrap();
        let b = w.into_inner();
        let mut want = b"NSTRACE\0".to_vec();
        want.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        want.extend_from_slice(&ABI_VERSION.to_le_bytes());
        want.extend_from_slice(&(16u32 + 36 + 2 + 6 + 2 + 6).to_le_bytes());
        want.extend_from_slice(&1_700_000_000_000_000_000i64.to_le_bytes());
        want.extend_from_slice(&123u64.to_le_bytes());
        for ino in 10u32..19 {
            want.extend_from_slice(&ino.to_le_bytes());
        }
        want.extend_from_slice(b"\x06\x00node-a\x06\x006.18.0");
        want.extend_from_slice(&[8, 0, 0, 0, REC_TICK, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(b, want);
        let mut r = Reader::new(&b[..], Path::new("t.rec")).unwrap();
        assert_eq!(r.meta, meta());
        assert_eq!(
            r.next().unwrap().unwrap(),
            Record::Tick(0x0102_0304_0506_0708)
        );
        assert!(r.next().is_none());
    }

    #[test]
    fn short_metadata_and_bad_tick_are_corrupt() {
        let full = Writer::new(Vec::new(), &meta()).unwrap().into_inner();
        // Claim one byte less of metadata than was written: the kernel string runs short.
        let mut b = full[..full.len() - 1].to_vec();
        b[12..16].copy_from_slice(&((full.len() - 17) as u32).to_le_bytes());
        let e = read_all(&b).unwrap_err();
        assert!(e.to_string().contains("metadata is too short"), "{e}");
        let mut w = Writer::new(Vec::new(), &meta()).unwrap();
        w.frame(REC_TICK, &[1, 2, 3, 4, 5, 6, 7]).unwrap();
        let e = read_all(&w.into_inner()).unwrap_err();
        assert!(e.to_string().contains("bad tick record"), "{e}");
    }

    #[test]
    fn network_records_round_trip() {
        use crate::model::net::{Held, IfAddr, NetIf, Proto};
        let f = NetFacts {
            netns: 4026532296,
            read_ns: 77,
            node: false,
            lo_up: true,
            interfaces: vec![NetIf {
                name: "eth0".into(),
                index: 2,
                kind: "veth".into(),
                up: true,
                mac: Some("0a:58:0a:59:00:05".into()),
                addrs: vec![IfAddr {
                    ip: "10.89.0.5".parse().unwrap(),
                    prefix: 24,
                }],
                peer: None,
                link: None,
            }],
            listeners: vec![Held {
                proto: Proto::Tcp,
                addr: "::".parse().unwrap(),
                port: 8080,
                inode: 5,
                listening: true,
                pids: vec![42],
            }],
            error: None,
            problems: vec![],
        };
        let h = PortHolders {
            netns: 4026532296,
            proto: Proto::Udp,
            port: 53,
            read_ns: 78,
            holders: vec![],
            error: Some("gone".into()),
        };
        let mut w = Writer::new(Vec::new(), &meta()).unwrap();
        w.net(&f).unwrap();
        w.port_holders(&h).unwrap();
        let bytes = w.into_inner();
        let mut r = Reader::new(&bytes[..], Path::new("t.rec")).unwrap();
        assert_eq!(r.next().unwrap().unwrap(), Record::Net(Box::new(f)));
        assert_eq!(r.next().unwrap().unwrap(), Record::PortHolders(Box::new(h)));
        assert!(r.next().is_none());
        let mut w = Writer::new(Vec::new(), &meta()).unwrap();
        w.frame(REC_NET, b"{not json").unwrap();
        assert!(matches!(
            read_all(&w.into_inner()).unwrap_err(),
            RecordError::Corrupt { .. }
        ));
    }

    #[test]
    fn bad_stats_record_is_corrupt() {
        let mut w = Writer::new(Vec::new(), &meta()).unwrap();
        w.frame(REC_STATS, &[1, 2, 3]).unwrap();
        assert!(matches!(
            read_all(&w.into_inner()).unwrap_err(),
            RecordError::Corrupt { .. }
        ));
    }
}
