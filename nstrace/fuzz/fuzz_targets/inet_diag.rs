//! The inet_diag reader (listening and bound sockets) on arbitrary bytes.
//! Seeds: real SOCK_DIAG_BY_FAMILY dumps (TCP, UDP) of a node.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| nstrace::netns::fuzz::inet_diag(data));
