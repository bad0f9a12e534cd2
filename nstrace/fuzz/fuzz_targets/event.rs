//! The ring-buffer event decoder on arbitrary bytes: never panics, and what it
//! accepts it gives back byte for byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nstrace::event::decode;

fuzz_target!(|data: &[u8]| {
    match decode(data) {
        Ok(ev) => {
            assert_eq!(ev.bytes(), data);
            assert_eq!(ev.kind() as u16, ev.header().kind);
            assert_eq!(decode(ev.bytes()), Ok(ev));
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
