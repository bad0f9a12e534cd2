//! Docker's container files (`config.v2.json`, a NUL byte, `hostconfig.json`)
//! on arbitrary bytes, read for the seeds' container and for an id they do
//! not hold. Seeds: the unit tests' files, written by Debian's dockerd 20.10.
#![no_main]

use libfuzzer_sys::fuzz_target;

const IDS: &[&str] = &[
    "370015bf06f9d072bcd7f4fbbf109ed7bf58d734a7bdf704825281dd05a874d2",
    "013a06a951fa8b9e41b1745c6f1dcac3e236477dee5fd9054ab8aefa2bbebfc9",
    "84c6aa54d3e882f1404f3cb3da17e3cc81b3bd5c5823fa9531bad2318006c45c",
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
];

fuzz_target!(|data: &[u8]| {
    for id in IDS {
        nstrace::runtime::fuzz_docker_config(data, id);
    }
});
