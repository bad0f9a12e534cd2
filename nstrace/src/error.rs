//! Error messages with their causes. Error types that wrap a cause give it
//! once, through `source()`, and not also in their own message: whoever
//! prints an error walks the chain (`main` through anyhow's `{:#}`, the rest
//! through [`chain`]).

use std::error::Error;

/// An error and its causes in one line: "message: cause: cause".
pub fn chain(e: &dyn Error) -> String {
    let mut s = e.to_string();
    let mut next = e.source();
    while let Some(c) = next {
        s.push_str(": ");
        s.push_str(&c.to_string());
        next = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every error type of nstrace that wraps a cause says it once: the
    /// chain names the cause one time, and the message alone not at all.
    #[test]
    fn a_wrapped_cause_is_said_once() {
        let io = || std::io::Error::from_raw_os_error(libc::ENOENT);
        let cause = io().to_string();
        let errors: Vec<Box<dyn Error>> = vec![
            Box::new(crate::probe::btf::BtfError::Io {
                path: "/sys/kernel/btf/vmlinux".into(),
                source: io(),
            }),
            Box::new(crate::record::RecordError::Io {
                path: "/tmp/x.nst".into(),
                source: io(),
            }),
            Box::new(crate::netns::NetnsError::Open(
                "/proc/1/ns/net".into(),
                io(),
            )),
            Box::new(crate::netns::NetnsError::Setns(io())),
            Box::new(crate::netns::NetnsError::Socket(io())),
            Box::new(crate::netns::NetnsError::Netlink("dump", io())),
        ];
        for e in errors {
            let line = chain(e.as_ref());
            assert!(e.source().is_some(), "{line}: no source()");
            assert!(
                !e.to_string().contains(&cause),
                "{line}: the message repeats its cause"
            );
            assert_eq!(line.matches(&cause).count(), 1, "{line}");
        }
    }
}
