//! `nstrace generate`: the manual pages and shell completions, made from the
//! same clap definitions as `--help`, so they cannot say anything else.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_complete::{Generator, Shell};

use crate::cli::{Cli, GenerateArgs};
use crate::session::Outcome;

/// Every manual page: `nstrace.1`, then `nstrace-COMMAND.1` for each command.
pub fn man_pages() -> Result<Vec<(String, Vec<u8>)>> {
    let cmd = Cli::command();
    let mut pages = Vec::new();
    let mut top = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut top)?;
    pages.push(("nstrace.1".to_owned(), top));
    for sub in cmd.get_subcommands() {
        let name = format!("nstrace-{}", sub.get_name());
        let mut page = Vec::new();
        // The page's title and synopsis name the whole command line.
        let sub = sub
            .clone()
            .name(name.clone())
            .bin_name(format!("nstrace {}", sub.get_name()));
        clap_mangen::Man::new(sub).render(&mut page)?;
        pages.push((format!("{name}.1"), page));
    }
    Ok(pages)
}

/// The completion script for `shell` and its conventional file name.
pub fn completions(shell: Shell) -> (String, Vec<u8>) {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "nstrace", &mut out);
    (shell.file_name("nstrace"), out)
}

fn write(dir: Option<&Path>, files: Vec<(String, Vec<u8>)>) -> Result<()> {
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            for (name, bytes) in files {
                let path = dir.join(&name);
                std::fs::write(&path, bytes)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
        None => {
            let mut out = std::io::stdout().lock();
            for (_, bytes) in files {
                out.write_all(&bytes)?;
            }
        }
    }
    Ok(())
}

/// Runs `nstrace generate`.
pub fn run(args: &GenerateArgs) -> Result<Outcome> {
    let files = match args.what.as_str() {
        "man" => man_pages()?,
        shell => {
            let shell: Shell = shell.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
            vec![completions(shell)]
        }
    };
    write(args.dir.as_deref(), files)?;
    Ok(Outcome::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command has its page, and the page names each of its flags
    /// (troff escapes the dashes).
    #[test]
    fn every_command_has_a_man_page_naming_every_flag() {
        let pages = man_pages().unwrap();
        let cmd = Cli::command();
        for sub in cmd.get_subcommands() {
            let name = format!("nstrace-{}.1", sub.get_name());
            let page = pages
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_else(|| panic!("no page {name}"));
            for arg in sub.get_arguments().filter(|a| !a.is_hide_set()) {
                if let Some(long) = arg.get_long() {
                    let troff = format!("\\-\\-{}", long.replace('-', "\\-"));
                    assert!(page.contains(&troff), "{name} does not name --{long}");
                }
            }
        }
        assert!(pages.iter().any(|(n, _)| n == "nstrace.1"));
    }

    /// The pages and completions in `doc/` are the ones this build makes
    /// (`cargo xtask docs` regenerates them).
    #[test]
    fn the_committed_pages_and_completions_are_current() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
        let mut files = man_pages().unwrap();
        files.extend([Shell::Bash, Shell::Zsh, Shell::Fish].map(completions));
        for (name, bytes) in files {
            let sub = if name.ends_with(".1") {
                "man"
            } else {
                "completions"
            };
            let path = root.join(sub).join(&name);
            let have = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("{}: {e} (run `cargo xtask docs`)", path.display()));
            assert!(
                have == bytes,
                "{} is stale: run `cargo xtask docs`",
                path.display()
            );
        }
    }
}
