//! The raw BTF reader on arbitrary bytes, then the lookups the loader makes
//! (and those the seed blob answers), dotted paths and missing names included.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nstrace::probe::btf::Btf;

/// Struct names of the seed blob (nstrace's unit-test sample) and of the kernel.
const STRUCTS: &[&str] = &["outer", "inner", "oldstyle", "s", "task_struct", "nsproxy"];
/// Member paths of the seed blob and of the kernel, plus ones that exist nowhere.
const FIELDS: &[&str] = &[
    "a",
    "flags",
    "u_a",
    "u_b",
    "s_b",
    "nested",
    "nested.y",
    "nested.x.z",
    "ptr.y",
    "name",
    "bits",
    "x",
    "y",
    "z",
    "pid",
    "nsproxy",
    "missing",
    "nested.",
    ".",
];

fuzz_target!(|data: &[u8]| {
    let Ok(btf) = Btf::parse(data) else {
        return;
    };
    let _ = format!("{btf:?}");
    for ty in STRUCTS {
        let _ = btf.struct_size(ty);
        for field in FIELDS {
            if let Err(e) = btf.member_offset(ty, field) {
                let _ = e.to_string();
            }
        }
    }
});
