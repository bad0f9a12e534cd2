//! Prints the kernel struct offsets nstrace resolves from BTF, for one or
//! more BTF files, and the fields that differ between them. It asserts
//! nothing: it shows how layouts move between kernels.
//!
//!   cargo run --release --example offsets -- [BTF…]
//!
//! Without arguments it reads the running kernel's `/sys/kernel/btf/vmlinux`;
//! `cargo xtask vmtest` leaves each guest kernel's BTF in
//! `target/vmtest/<kernel>/out/vmlinux.btf`.

use std::path::PathBuf;

use nstrace::probe::{btf::Btf, offsets};

fn main() -> std::process::ExitCode {
    let mut files: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if files.is_empty() {
        files.push(PathBuf::from(Btf::KERNEL_PATH));
    }
    let mut columns = Vec::new();
    for f in &files {
        let resolved = Btf::from_file(f).and_then(|b| offsets::resolve(&b, Some(0)));
        match resolved {
            Ok(o) => columns.push(
                format!("{o:#?}")
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>(),
            ),
            Err(e) => {
                eprintln!("offsets: {}: {e}", f.display());
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    for (i, f) in files.iter().enumerate() {
        println!("[{i}] {}", f.display());
    }
    // One line per field (arrays span several Debug lines: compared as lines).
    let rows = columns[0].len();
    let mut differing = 0;
    for r in 0..rows {
        let cells: Vec<&str> = columns
            .iter()
            .map(|c| c.get(r).map(|s| s.trim()).unwrap_or("?"))
            .collect();
        let same = cells.iter().all(|c| *c == cells[0]);
        if !same {
            differing += 1;
        }
        if files.len() == 1 || !same {
            println!("{}", cells.join("   |   "));
        }
    }
    if files.len() > 1 {
        println!("{differing} of {rows} lines differ");
    }
    std::process::ExitCode::SUCCESS
}
