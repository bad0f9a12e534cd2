//! A JSON-lines log file that rotates by size: `FILE` is written until it
//! would pass `max_bytes`, then renamed `FILE.1` (older ones shift to
//! `FILE.2` … `FILE.keep`, the oldest is removed) and a new `FILE` begun.
//! Lines are never split across files.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// An append-only log that rotates by size.
pub struct RotatingLog {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    file: File,
    size: u64,
}

fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

impl RotatingLog {
    /// Opens (appends to) `path`; rotates past `max_bytes`, keeping `keep` old files.
    pub fn open(path: &Path, max_bytes: u64, keep: u32) -> io::Result<RotatingLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(RotatingLog {
            path: path.to_owned(),
            max_bytes: max_bytes.max(1),
            keep,
            file,
            size,
        })
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        if self.keep == 0 {
            self.file = File::create(&self.path)?;
        } else {
            let _ = std::fs::remove_file(numbered(&self.path, self.keep));
            for n in (1..self.keep).rev() {
                let from = numbered(&self.path, n);
                if from.exists() {
                    std::fs::rename(&from, numbered(&self.path, n + 1))?;
                }
            }
            std::fs::rename(&self.path, numbered(&self.path, 1))?;
            self.file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
        }
        self.size = 0;
        Ok(())
    }

    /// Appends whole lines, rotating first when they would pass the size.
    pub fn write_lines(&mut self, text: &str) -> io::Result<()> {
        let len = text.len() as u64;
        if self.size > 0 && self.size + len > self.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(text.as_bytes())?;
        self.size += len;
        Ok(())
    }

    /// Flushes to the file.
    pub fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_by_size_and_keeps_n() {
        let dir = std::env::temp_dir().join(format!("nstrace-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("findings.jsonl");
        let mut log = RotatingLog::open(&path, 25, 2).unwrap();
        for i in 0..7 {
            log.write_lines(&format!("{{\"n\":{i:04}}}\n")).unwrap();
        }
        log.flush().unwrap();
        // 11 bytes a line: two lines a file; 7 lines = files .2 (lines 2-3), .1 (4-5), current (6).
        let read = |p: PathBuf| std::fs::read_to_string(p).unwrap();
        assert_eq!(read(path.clone()), "{\"n\":0006}\n");
        assert_eq!(read(numbered(&path, 1)), "{\"n\":0004}\n{\"n\":0005}\n");
        assert_eq!(read(numbered(&path, 2)), "{\"n\":0002}\n{\"n\":0003}\n");
        assert!(!numbered(&path, 3).exists(), "only 2 kept");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
