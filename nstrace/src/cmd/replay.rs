//! `nstrace replay`: prints a record file exactly as `watch` printed it live.

use std::io::Write;

use anyhow::Result;

use crate::cli::ReplayArgs;
use crate::event::decode;
use crate::model::topology::build;
use crate::model::Model;
use crate::output;
use crate::output::topology::{render, TopoFormat};
use crate::record::{Reader, Record};
use crate::stats::Stats;

/// Runs the replay; errors name the file and the byte where it went wrong.
pub fn run(args: &ReplayArgs) -> Result<()> {
    if let Some(format) = args.topology {
        return topology(args, format);
    }
    if args.audit {
        return super::audit::replay(args);
    }
    let mut reader = Reader::open(&args.file)?;
    let mut filter = super::build_filter(&args.filter, false);
    let stdout = std::io::stdout().lock();
    let mut sink = output::sink(
        args.format,
        std::io::BufWriter::with_capacity(1 << 16, stdout),
        reader.meta.wall_offset_ns,
    );
    sink.begin()?;
    let mut stats = None;
    let mut undecodable = 0u64;
    while let Some(rec) = reader.next() {
        match rec? {
            Record::Event(raw) => match decode(raw) {
                Ok(ev) => {
                    if filter.matches(&ev) {
                        if let Err(e) = sink.event(&ev) {
                            if e.kind() == std::io::ErrorKind::BrokenPipe {
                                return Ok(());
                            }
                            return Err(e.into());
                        }
                    }
                }
                Err(_) => undecodable += 1,
            },
            Record::Stats(s) => stats = Some(*s),
            Record::Process(_) | Record::Pinned(_) | Record::Enrich(_) | Record::Tick(_) => {}
        }
    }
    sink.flush()?;
    let mut stats: Stats = stats.unwrap_or_else(|| {
        eprintln!(
            "nstrace: note: the recording has no final counters (the tracer did not stop cleanly)"
        );
        Stats::default()
    });
    stats.undecodable += undecodable;
    let _ = writeln!(std::io::stderr(), "{stats}");
    Ok(())
}

/// Folds the whole recording into the model and prints the final topology.
fn topology(args: &ReplayArgs, format: TopoFormat) -> Result<()> {
    let mut reader = Reader::open(&args.file)?;
    let mut model = Model::new(reader.meta.node_ns, &reader.meta.hostname.clone());
    let mut saw_snapshot = false;
    while let Some(rec) = reader.next() {
        match rec? {
            Record::Event(raw) => {
                if let Ok(ev) = decode(raw) {
                    model.apply(&ev);
                }
            }
            Record::Process(p) => {
                saw_snapshot = true;
                model.add_snapshot(*p);
            }
            Record::Pinned(p) => model.set_pinned(p),
            Record::Enrich(e) => model.enrich(&e),
            Record::Stats(_) | Record::Tick(_) => {}
        }
    }
    if !saw_snapshot {
        eprintln!("nstrace: note: the recording has no process snapshot; only processes seen starting are shown");
    }
    // The model is not needed once the topology is built: free it before rendering.
    let t = build(&model);
    drop(model);
    std::io::stdout()
        .lock()
        .write_all(render(&t, format).as_bytes())?;
    Ok(())
}
