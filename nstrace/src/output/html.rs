//! A small HTML writer for the report. Markup comes only from this program's
//! source (`&'static str`); every other string — command names, paths, pod
//! and container names, labels, numbers formatted at run time — goes through
//! [`Html::text`] or an attribute value, escaped, with control characters
//! written as visible escapes. A report is attached to tickets and opened by
//! people with no root on the node: a process that names itself `<script>`
//! must show as that text and nothing else.

use std::fmt::Write as _;

/// Appends `s` to `out` with `& < > " '` escaped and control characters
/// made visible (`\x1b`), so it is inert as element text and as a quoted
/// attribute value alike.
pub fn escape_into(out: &mut String, s: &str) {
    for c in super::safe(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// `s` escaped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    escape_into(&mut out, s);
    out
}

/// An attribute: a name from the source, a value from anywhere (escaped).
pub type Attr<'a> = (&'static str, &'a str);

/// An HTML (and inline SVG) document being written.
#[derive(Default)]
pub struct Html {
    out: String,
}

impl Html {
    /// An empty document.
    pub fn new() -> Html {
        Html {
            out: String::with_capacity(64 * 1024),
        }
    }

    /// Markup from this program's source.
    pub fn raw(&mut self, markup: &'static str) -> &mut Html {
        self.out.push_str(markup);
        self
    }

    /// Text from anywhere, escaped.
    pub fn text(&mut self, s: &str) -> &mut Html {
        escape_into(&mut self.out, s);
        self
    }

    /// A number or other value formatted at run time, escaped like text.
    pub fn fmt(&mut self, v: impl std::fmt::Display) -> &mut Html {
        let mut s = String::new();
        let _ = write!(s, "{v}");
        self.text(&s)
    }

    /// `<tag a="v" …>`.
    pub fn open(&mut self, tag: &'static str, attrs: &[Attr<'_>]) -> &mut Html {
        self.out.push('<');
        self.out.push_str(tag);
        self.attrs(attrs);
        self.out.push('>');
        self
    }

    /// `<tag a="v" …/>` (SVG).
    pub fn empty(&mut self, tag: &'static str, attrs: &[Attr<'_>]) -> &mut Html {
        self.out.push('<');
        self.out.push_str(tag);
        self.attrs(attrs);
        self.out.push_str("/>");
        self
    }

    /// `</tag>`.
    pub fn close(&mut self, tag: &'static str) -> &mut Html {
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push('>');
        self
    }

    /// `<tag attrs>text</tag>`.
    pub fn elem(&mut self, tag: &'static str, attrs: &[Attr<'_>], text: &str) -> &mut Html {
        self.open(tag, attrs).text(text).close(tag)
    }

    fn attrs(&mut self, attrs: &[Attr<'_>]) {
        for (name, value) in attrs {
            self.out.push(' ');
            self.out.push_str(name);
            self.out.push_str("=\"");
            escape_into(&mut self.out, value);
            self.out.push('"');
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// The document.
    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_attributes_are_inert() {
        let evil = "<script>alert(1)</script>\"'&\x1b[31m";
        let mut h = Html::new();
        h.open("td", &[("title", evil), ("data-x", "a\"b")])
            .text(evil)
            .close("td");
        let s = h.finish();
        assert_eq!(
            s,
            "<td title=\"&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;\\x1b[31m\" data-x=\"a&quot;b\">&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;\\x1b[31m</td>"
        );
        assert!(!s.contains("<script"));
    }

    #[test]
    fn numbers_and_plain_text_pass_unchanged() {
        let mut h = Html::new();
        h.fmt(3.25).raw(" ").text("sleep 1000; echo done");
        assert_eq!(h.finish(), "3.25 sleep 1000; echo done");
        assert_eq!(escape("日本 ok"), "日本 ok");
    }
}
