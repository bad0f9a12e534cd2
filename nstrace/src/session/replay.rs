//! The replay source: a record file's inputs, in the order the live run took
//! them, through the same feed.

use std::path::Path;

use anyhow::Result;

use super::{Consumer, Feed, Flow, Outcome};
use crate::record::{Reader, Record};
use crate::stats::Stats;

/// Runs `consumer` over the recording at `path`; errors name the file and
/// the byte where it went wrong.
pub fn run(path: &Path, consumer: &mut dyn Consumer) -> Result<Outcome> {
    let mut reader = Reader::open(path)?;
    let mut feed = Feed::new(consumer, reader.meta.clone());
    let mut stats: Option<Stats> = None;
    let mut open = true;
    while let Some(rec) = reader.next() {
        let flow = match rec? {
            Record::Process(p) => {
                feed.process(*p)?;
                Flow::Continue
            }
            Record::Pinned(p) => {
                feed.pinned(p)?;
                Flow::Continue
            }
            Record::Enrich(e) => {
                feed.enrich(*e)?;
                Flow::Continue
            }
            Record::Event(raw) => {
                if feed.start()? == Flow::Stop {
                    Flow::Stop
                } else {
                    match feed.decode(raw) {
                        Some(ev) if feed.admit(&ev) => feed.event(&ev)?,
                        _ => Flow::Continue,
                    }
                }
            }
            Record::Tick(now) => {
                if feed.start()? == Flow::Stop {
                    Flow::Stop
                } else {
                    feed.tick(now)?
                }
            }
            Record::Names(n) => {
                let (id, names) = *n;
                feed.names(&id, names)?;
                Flow::Continue
            }
            Record::Signals(pid, seen, s) => {
                feed.signals(pid, seen, s)?;
                Flow::Continue
            }
            Record::Net(f) => {
                feed.net(*f)?;
                Flow::Continue
            }
            Record::PortHolders(h) => {
                feed.port_holders(*h)?;
                Flow::Continue
            }
            Record::Correction(c) => {
                if feed.start()? == Flow::Stop {
                    Flow::Stop
                } else {
                    feed.correct(c)?
                }
            }
            Record::Stats(s) => {
                stats = Some(*s);
                Flow::Continue
            }
        };
        if flow == Flow::Stop {
            open = false;
            break;
        }
    }
    if open {
        feed.start()?;
        feed.batch_done()?;
    }
    if feed.needs.model && !feed.saw_snapshot {
        eprintln!("nstrace: note: the recording has no process snapshot; only processes seen starting are shown");
    }
    match stats {
        Some(mut s) => {
            // The recorded counters are the live run's; what this replay could
            // not decode is added.
            s.undecodable += feed.user.undecodable;
            eprintln!("{s}");
            feed.counters(&s);
        }
        None => eprintln!(
            "nstrace: note: the recording has no final counters (the tracer did not stop cleanly)"
        ),
    }
    feed.finish()
}
