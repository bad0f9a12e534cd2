//! The policy parser on arbitrary UTF-8; the globs of what it accepts are run
//! against a few texts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nstrace::detect::policy::{glob, Policy};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Policy::parse(text, "fuzz.toml") {
        Ok(p) => {
            for r in &p.rules {
                for pat in [&r.comm, &r.exe, &r.pod].into_iter().flatten() {
                    for t in ["", "nsenter", "/usr/bin/nsenter", "kured-abc", &r.name] {
                        let _ = glob(pat, t);
                    }
                    assert!(glob(pat, pat) || pat.contains(['*', '?']));
                }
            }
        }
        Err(e) => {
            // One line, with a position inside the text.
            let shown = e.to_string();
            assert!(!shown.contains('\n'), "{shown:?}");
            assert!(e.line >= 1 && e.column >= 1);
            assert!(e.line <= text.lines().count().max(1) + 1, "{e}");
        }
    }
});
