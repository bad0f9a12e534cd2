//! The record-file reader on arbitrary bytes as a file: read the header, then
//! every record to the end or the first error, decoding each event.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use nstrace::event::decode;
use nstrace::record::{Reader, Record};

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = Reader::new(data, Path::new("fuzz.nst")) else {
        return;
    };
    while let Some(rec) = reader.next() {
        match rec {
            Ok(Record::Event(raw)) => {
                if let Ok(ev) = decode(raw) {
                    assert_eq!(ev.bytes(), raw);
                }
            }
            Ok(_) => {}
            // The reader stops at the first damage, as replay does.
            Err(e) => {
                let _ = e.to_string();
                break;
            }
        }
    }
});
