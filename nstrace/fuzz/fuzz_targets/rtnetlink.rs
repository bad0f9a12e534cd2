//! The rtnetlink reader (links, addresses, nsid answers) on arbitrary bytes,
//! as a dump from the kernel reaches it. Seeds: real RTM_GETLINK and
//! RTM_GETADDR dumps of a node.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| nstrace::netns::fuzz::rtnetlink(data));
