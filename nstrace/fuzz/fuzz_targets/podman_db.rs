//! The bbolt reader and podman's records on arbitrary bytes, looked up for
//! the seed's containers and for an id it does not hold. Seed: the unit
//! tests' libpod database (1 KiB pages, branch pages, inline buckets).
#![no_main]

use libfuzzer_sys::fuzz_target;

const IDS: &[&str] = &[
    "c8bdd3f9aad9fc1510c5bd5d2fafb8c282e3ae42987b1e2ec73aa3a4c31fe8a0",
    "a9c6e8f0b2d4a6c8e0f2b4d6a8c0e2f4b6d8a0c2e4f6b8d0a2c4e6f8b0d2a4c6",
    "0d8e6f4a2c0b9e7d5f3a1c8b6e4d2f0a9c7e5b3d1f8a6c4e2b0d9f7a5c3e1b8d",
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
];

fuzz_target!(|data: &[u8]| nstrace::runtime::fuzz_podman_db(data, IDS));
