//! Just enough of the bbolt (BoltDB) file format to read one value by bucket path:
//! what podman 4 keeps in `bolt_state.db`. Read-only, page by page, no lock taken.
//!
//! Layout (go.etcd.io/bbolt `page.go`, `db.go`, `bucket.go`; native little-endian):
//! * every page starts with `id u64, flags u16, count u16, overflow u32`; a page with
//!   `overflow = n` spans `n + 1` pages;
//! * pages 0 and 1 hold a meta (`magic, version, pageSize, flags u32; root bucket
//!   {root pgid, sequence u64}; freelist, pgid (high-water mark), txid, checksum u64`,
//!   the checksum an FNV-1a 64 of the fields before it); the valid one with the
//!   higher txid is current;
//! * a branch page holds `count` × `{pos u32, ksize u32, pgid u64}`, a leaf page
//!   `count` × `{flags u32, pos u32, ksize u32, vsize u32}`, `pos` counted from the
//!   element itself, keys sorted; a leaf element with flag 1 is a sub-bucket whose
//!   value is `{root pgid, sequence}`, followed by the bucket's own leaf page when
//!   `root` is 0 (an inline bucket).
//!
//! Why no lock: libpod holds an exclusive `flock` whenever it has the file open, and a
//! shared one here would stall podman. bbolt writes a transaction's pages into pages
//! free at its start (never into ones the current meta reaches), then the meta. So a
//! read that sees the same current txid before and after it read only pages that
//! transaction reaches; [`read`] retries when the txid moved.

use std::fmt;
use std::io;

const MAGIC: u32 = 0xED0C_DAED;
const VERSION: u32 = 2;
const PAGE_HEADER: usize = 16;
const ELEMENT: usize = 16;
const META_LEN: usize = 64;
const BRANCH: u16 = 0x01;
const LEAF: u16 = 0x02;
const META: u16 = 0x04;
const BUCKET_LEAF: u32 = 0x01;
/// Deeper than any real tree (a 4 KiB page holds at least two keys per level).
const MAX_DEPTH: usize = 64;
/// Bounds a page read (with its overflow) so a corrupt header cannot ask for gigabytes.
const MAX_PAGE_BYTES: u64 = 64 << 20;
/// The meta is read before the page size is known; page 1 is found with it.
const DEFAULT_PAGE: u64 = 4096;
/// Transactions that may commit during one read before giving up.
const ATTEMPTS: usize = 4;

/// Positional reads of the database file (a `File`, or bytes in tests).
pub(crate) trait ReadAt {
    /// Fills `buf` from `offset`, or fails (also at end of file).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
}

impl ReadAt for std::fs::File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(self, buf, offset)
    }
}

impl ReadAt for [u8] {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        let src = start
            .checked_add(buf.len())
            .and_then(|end| self.get(start..end))
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

/// Why a value could not be read.
#[derive(Debug)]
pub(crate) enum BoltError {
    /// The file could not be read.
    Io(io::Error),
    /// The bytes are not a consistent bbolt database.
    Corrupt(String),
    /// Transactions kept committing while reading.
    Busy,
}

impl fmt::Display for BoltError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BoltError::Io(e) => write!(f, "{e}"),
            BoltError::Corrupt(why) => write!(f, "not a bbolt database: {why}"),
            BoltError::Busy => f.write_str("kept changing while read"),
        }
    }
}

fn corrupt(why: impl Into<String>) -> BoltError {
    BoltError::Corrupt(why.into())
}

/// A page the meta says is in use but the file does not reach is corruption, not I/O.
fn io_error(e: io::Error) -> BoltError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        corrupt("a page past the end of the file")
    } else {
        BoltError::Io(e)
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The fields of a meta page that a read needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Meta {
    page_size: u64,
    root: u64,
    high_water: u64,
    txid: u64,
}

/// The meta at `offset`, if it is one and its checksum holds.
fn meta_at(src: &(impl ReadAt + ?Sized), offset: u64) -> Result<Option<Meta>, BoltError> {
    let mut b = [0u8; PAGE_HEADER + META_LEN];
    match src.read_at(&mut b, offset) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(BoltError::Io(e)),
    }
    let m = &b[PAGE_HEADER..];
    let checksum = u64_at(m, 56);
    let valid = u16_at(&b, 8) & META != 0
        && u32_at(m, 0) == MAGIC
        && u32_at(m, 4) == VERSION
        && (checksum == 0 || checksum == fnv1a64(&m[..56]));
    let page_size = u64::from(u32_at(m, 8));
    let meta = Meta {
        page_size,
        root: u64_at(m, 16),
        high_water: u64_at(m, 40),
        txid: u64_at(m, 48),
    };
    let sane = (1024..=(1 << 20)).contains(&page_size) && meta.root < meta.high_water;
    Ok((valid && sane).then_some(meta))
}

/// The current meta: the valid one of the two with the higher txid.
fn current(src: &(impl ReadAt + ?Sized)) -> Result<Meta, BoltError> {
    let m0 = meta_at(src, 0)?;
    let m1 = meta_at(src, m0.map_or(DEFAULT_PAGE, |m| m.page_size))?;
    match (m0, m1) {
        (Some(a), Some(b)) => Ok(if b.txid > a.txid { b } else { a }),
        (Some(m), None) | (None, Some(m)) => Ok(m),
        (None, None) => Err(corrupt("no valid meta page")),
    }
}

/// Where a bucket's tree starts.
enum Root {
    /// At a page.
    Page(u64),
    /// In the parent's leaf value: a leaf page of its own (an inline bucket).
    Inline(Vec<u8>),
}

/// One read transaction: every lookup follows pages from one meta.
pub(crate) struct Tx<'a, R: ?Sized> {
    src: &'a R,
    meta: Meta,
}

impl<R: ReadAt + ?Sized> Tx<'_, R> {
    /// Page `id` with its overflow pages.
    fn page(&self, id: u64) -> Result<Vec<u8>, BoltError> {
        // Pages 0 and 1 are metas; nothing at or past the high-water mark is in use.
        if id < 2 || id >= self.meta.high_water {
            return Err(corrupt(format!("page {id} out of range")));
        }
        let ps = self.meta.page_size;
        // A page number from the file is checked before it becomes an offset.
        let offset = |page: u64| {
            page.checked_mul(ps)
                .ok_or_else(|| corrupt(format!("page {id} lies past any file")))
        };
        let mut buf = vec![0u8; ps as usize];
        self.src.read_at(&mut buf, offset(id)?).map_err(io_error)?;
        if u64_at(&buf, 0) != id {
            return Err(corrupt(format!("page {id} has another id")));
        }
        let overflow = u64::from(u32_at(&buf, 12));
        if overflow > 0 {
            let total = (overflow + 1) * ps;
            if id + overflow >= self.meta.high_water || total > MAX_PAGE_BYTES {
                return Err(corrupt(format!("page {id} overflows too far")));
            }
            buf.resize(total as usize, 0);
            self.src
                .read_at(&mut buf[ps as usize..], offset(id + 1)?)
                .map_err(io_error)?;
        }
        Ok(buf)
    }

    /// The leaf element `key` in the tree at `root`: its flags and value.
    fn find(&self, root: Root, key: &[u8]) -> Result<Option<(u32, Vec<u8>)>, BoltError> {
        let mut page = match root {
            Root::Page(id) => self.page(id)?,
            Root::Inline(bytes) => bytes,
        };
        for _ in 0..MAX_DEPTH {
            if page.len() < PAGE_HEADER {
                return Err(corrupt("short page"));
            }
            let flags = u16_at(&page, 8);
            let count = usize::from(u16_at(&page, 10));
            if PAGE_HEADER + count * ELEMENT > page.len() {
                return Err(corrupt("elements past the page"));
            }
            let elem = |i: usize| PAGE_HEADER + i * ELEMENT;
            // `pos` is relative to the element; keys and values lie inside the page.
            let slice = |at: usize, pos: u32, len: u32| {
                let start = at.checked_add(pos as usize)?;
                page.get(start..start.checked_add(len as usize)?)
            };
            if flags & BRANCH != 0 {
                if count == 0 {
                    return Err(corrupt("empty branch page"));
                }
                // The last child whose first key is <= key (or the first), as bbolt's
                // cursor descends.
                let mut child = u64_at(&page, elem(0) + 8);
                for i in 0..count {
                    let at = elem(i);
                    let k = slice(at, u32_at(&page, at), u32_at(&page, at + 4))
                        .ok_or_else(|| corrupt("branch key past the page"))?;
                    if k > key {
                        break;
                    }
                    child = u64_at(&page, at + 8);
                }
                page = self.page(child)?;
            } else if flags & LEAF != 0 {
                for i in 0..count {
                    let at = elem(i);
                    let (eflags, pos) = (u32_at(&page, at), u32_at(&page, at + 4));
                    let (ksize, vsize) = (u32_at(&page, at + 8), u32_at(&page, at + 12));
                    let k = slice(at, pos, ksize).ok_or_else(|| corrupt("key past the page"))?;
                    if k == key {
                        let value = pos
                            .checked_add(ksize)
                            .and_then(|vpos| slice(at, vpos, vsize))
                            .ok_or_else(|| corrupt("value past the page"))?;
                        return Ok(Some((eflags, value.to_vec())));
                    }
                }
                return Ok(None);
            } else {
                return Err(corrupt(format!("page of type {flags:#x} in a tree")));
            }
        }
        Err(corrupt("tree too deep"))
    }

    /// The value of `key` in the bucket reached through `buckets` from the root
    /// (`None` when a bucket or the key is absent).
    pub(crate) fn get(&self, buckets: &[&[u8]], key: &[u8]) -> Result<Option<Vec<u8>>, BoltError> {
        let mut root = Root::Page(self.meta.root);
        for name in buckets {
            let Some((flags, value)) = self.find(root, name)? else {
                return Ok(None);
            };
            if flags & BUCKET_LEAF == 0 || value.len() < 16 {
                return Err(corrupt("a bucket name holds a value"));
            }
            root = match u64_at(&value, 0) {
                0 => Root::Inline(value[16..].to_vec()),
                id => Root::Page(id),
            };
        }
        match self.find(root, key)? {
            Some((flags, _)) if flags & BUCKET_LEAF != 0 => Err(corrupt("a key holds a bucket")),
            Some((_, value)) => Ok(Some(value)),
            None => Ok(None),
        }
    }
}

/// Runs `f` in a read transaction on the current meta, again if a transaction
/// committed meanwhile (see the module note).
pub(crate) fn read<R, T>(
    src: &R,
    f: impl Fn(&Tx<'_, R>) -> Result<T, BoltError>,
) -> Result<T, BoltError>
where
    R: ReadAt + ?Sized,
{
    for _ in 0..ATTEMPTS {
        let meta = current(src)?;
        let result = f(&Tx { src, meta });
        match current(src) {
            Ok(now) if now.txid == meta.txid => return result,
            _ => continue,
        }
    }
    Err(BoltError::Busy)
}

/// Builds bbolt files for tests: leaf and branch pages, inline buckets, overflow.
#[cfg(test)]
pub(crate) mod build {
    use super::*;

    /// A tree node: a bucket's keys in order, each with a value or a sub-bucket.
    pub(crate) enum Item {
        /// A plain value.
        Value(Vec<u8>),
        /// A sub-bucket.
        Bucket(Vec<(Vec<u8>, Item)>),
    }

    /// A database file with page size `ps` holding `root` (sorted here). Buckets with
    /// fewer than `inline_below` keys are stored inline; leaves hold at most
    /// `per_leaf` keys, so small trees still get branch pages.
    pub(crate) fn file(
        ps: usize,
        root: Vec<(Vec<u8>, Item)>,
        inline_below: usize,
        per_leaf: usize,
    ) -> Vec<u8> {
        let mut b = Builder {
            ps,
            pages: vec![vec![0; ps], vec![0; ps]],
            inline_below,
            per_leaf,
        };
        let root_id = b.tree(root);
        let high_water = b.pages.len() as u64;
        for (i, txid) in [(0usize, 6u64), (1, 7)] {
            let p = &mut b.pages[i];
            p[0..8].copy_from_slice(&(i as u64).to_le_bytes());
            p[8..10].copy_from_slice(&META.to_le_bytes());
            let m = &mut p[PAGE_HEADER..PAGE_HEADER + META_LEN];
            m[0..4].copy_from_slice(&MAGIC.to_le_bytes());
            m[4..8].copy_from_slice(&VERSION.to_le_bytes());
            m[8..12].copy_from_slice(&(ps as u32).to_le_bytes());
            m[16..24].copy_from_slice(&root_id.to_le_bytes());
            m[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
            m[40..48].copy_from_slice(&high_water.to_le_bytes());
            m[48..56].copy_from_slice(&txid.to_le_bytes());
            let sum = fnv1a64(&m[..56]);
            m[56..64].copy_from_slice(&sum.to_le_bytes());
        }
        b.pages.concat()
    }

    struct Builder {
        ps: usize,
        pages: Vec<Vec<u8>>,
        inline_below: usize,
        per_leaf: usize,
    }

    /// A page image: header, elements, then keys and values.
    fn page(id: u64, flags: u16, elems: &[(u32, &[u8], &[u8], u64)]) -> Vec<u8> {
        let mut p = vec![0u8; PAGE_HEADER];
        p[0..8].copy_from_slice(&id.to_le_bytes());
        p[8..10].copy_from_slice(&flags.to_le_bytes());
        p[10..12].copy_from_slice(&(elems.len() as u16).to_le_bytes());
        let mut data = Vec::new();
        for (i, (eflags, k, v, child)) in elems.iter().enumerate() {
            // From element i to its key: the elements after it, then the data before.
            let pos = ((elems.len() - i) * ELEMENT + data.len()) as u32;
            if flags == BRANCH {
                p.extend_from_slice(&pos.to_le_bytes());
                p.extend_from_slice(&(k.len() as u32).to_le_bytes());
                p.extend_from_slice(&child.to_le_bytes());
            } else {
                p.extend_from_slice(&eflags.to_le_bytes());
                p.extend_from_slice(&pos.to_le_bytes());
                p.extend_from_slice(&(k.len() as u32).to_le_bytes());
                p.extend_from_slice(&(v.len() as u32).to_le_bytes());
            }
            data.extend_from_slice(k);
            data.extend_from_slice(v);
        }
        p.extend_from_slice(&data);
        p
    }

    impl Builder {
        /// Places a page image at the next free ids, with overflow as needed.
        fn place(&mut self, mut image: Vec<u8>) -> u64 {
            let id = self.pages.len() as u64;
            image[0..8].copy_from_slice(&id.to_le_bytes());
            let n = image.len().div_ceil(self.ps).max(1);
            image[12..16].copy_from_slice(&((n - 1) as u32).to_le_bytes());
            image.resize(n * self.ps, 0);
            for chunk in image.chunks(self.ps) {
                self.pages.push(chunk.to_vec());
            }
            id
        }

        fn leaf_values(&mut self, items: Vec<(Vec<u8>, Item)>) -> Vec<(u32, Vec<u8>, Vec<u8>)> {
            items
                .into_iter()
                .map(|(k, item)| match item {
                    Item::Value(v) => (0, k, v),
                    Item::Bucket(sub) => {
                        let mut v = vec![0u8; 16];
                        if sub.len() < self.inline_below {
                            let rows = self.leaf_values(sub);
                            let refs: Vec<_> = rows
                                .iter()
                                .map(|(f, k, v)| (*f, &k[..], &v[..], 0))
                                .collect();
                            v.extend_from_slice(&page(0, LEAF, &refs));
                        } else {
                            let id = self.tree(sub);
                            v[0..8].copy_from_slice(&id.to_le_bytes());
                        }
                        (BUCKET_LEAF, k, v)
                    }
                })
                .collect()
        }

        /// Writes a bucket's tree; returns its root page.
        fn tree(&mut self, mut items: Vec<(Vec<u8>, Item)>) -> u64 {
            items.sort_by(|a, b| a.0.cmp(&b.0));
            let rows = self.leaf_values(items);
            let mut level: Vec<(Vec<u8>, u64)> = Vec::new();
            for chunk in rows.chunks(self.per_leaf.max(1)) {
                let refs: Vec<_> = chunk
                    .iter()
                    .map(|(f, k, v)| (*f, &k[..], &v[..], 0))
                    .collect();
                let id = self.place(page(0, LEAF, &refs));
                level.push((chunk[0].1.clone(), id));
            }
            if level.is_empty() {
                return self.place(page(0, LEAF, &[]));
            }
            while level.len() > 1 {
                let mut up = Vec::new();
                for chunk in level.chunks(self.per_leaf.max(2)) {
                    let refs: Vec<_> = chunk
                        .iter()
                        .map(|(k, id)| (0, &k[..], &b""[..], *id))
                        .collect();
                    let id = self.place(page(0, BRANCH, &refs));
                    up.push((chunk[0].0.clone(), id));
                }
                level = up;
            }
            level[0].1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::build::{file, Item};
    use super::*;

    /// Found by the podman_db fuzz target: a page number whose offset
    /// (number × page size) passes u64 is a damaged file, not an overflow.
    #[test]
    fn a_page_number_past_any_offset_is_corrupt() {
        let db = include_bytes!("testdata/bolt-page-offset-overflow.db");
        let got = read(&db[..], |tx| tx.get(&[b"ctr"], b"x"));
        assert!(matches!(got, Err(BoltError::Corrupt(_))), "{got:?}");
    }

    fn value(s: &str) -> Item {
        Item::Value(s.as_bytes().to_vec())
    }

    fn key(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    fn get(db: &[u8], buckets: &[&str], k: &str) -> Result<Option<String>, BoltError> {
        let path: Vec<&[u8]> = buckets.iter().map(|b| b.as_bytes()).collect();
        read(db, |tx| tx.get(&path, k.as_bytes()))
            .map(|v| v.map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    fn sample(inline_below: usize, per_leaf: usize) -> Vec<u8> {
        let many: Vec<_> = (0..40)
            .map(|i| (key(&format!("k{i:02}")), value(&format!("v{i}"))))
            .collect();
        let big = "x".repeat(10_000);
        file(
            4096,
            vec![
                (key("many"), Item::Bucket(many)),
                (key("small"), Item::Bucket(vec![(key("a"), value("1"))])),
                (
                    key("big"),
                    Item::Bucket(vec![(key("blob"), value(&big)), (key("z"), value("after"))]),
                ),
                (key("top"), value("level")),
            ],
            inline_below,
            per_leaf,
        )
    }

    #[test]
    fn reads_through_branches_inline_buckets_and_overflow() {
        for (inline_below, per_leaf) in [(0, 100), (2, 3), (100, 2)] {
            let db = sample(inline_below, per_leaf);
            for i in 0..40 {
                let want = format!("v{i}");
                assert_eq!(
                    get(&db, &["many"], &format!("k{i:02}")).unwrap().as_deref(),
                    Some(&*want)
                );
            }
            assert_eq!(get(&db, &["small"], "a").unwrap().as_deref(), Some("1"));
            assert_eq!(
                get(&db, &["big"], "blob").unwrap().map(|v| v.len()),
                Some(10_000)
            );
            assert_eq!(get(&db, &["big"], "z").unwrap().as_deref(), Some("after"));
            assert_eq!(get(&db, &[], "top").unwrap().as_deref(), Some("level"));
            // Absent keys and buckets, before, between and after the present ones.
            for (b, k) in [
                (&["many"][..], "k"),
                (&["many"], "k055"),
                (&["many"], "zz"),
                (&["nope"], "a"),
                (&["many", "k01"], "x"),
            ] {
                assert!(
                    matches!(get(&db, b, k), Ok(None) | Err(BoltError::Corrupt(_))),
                    "{b:?} {k}"
                );
            }
            assert!(matches!(get(&db, &["many", "nope"], "a"), Ok(None)));
        }
    }

    #[test]
    fn the_meta_with_the_higher_valid_txid_wins() {
        let mut db = sample(0, 100);
        // Break meta 1 (txid 7): meta 0 still reads the same tree.
        db[4096 + PAGE_HEADER + 20] ^= 0xff;
        assert_eq!(get(&db, &["small"], "a").unwrap().as_deref(), Some("1"));
        // Both broken: an error, not a panic.
        db[PAGE_HEADER + 20] ^= 0xff;
        assert!(matches!(
            get(&db, &["small"], "a"),
            Err(BoltError::Corrupt(_))
        ));
    }

    #[test]
    fn garbage_is_an_error_never_a_panic() {
        let db = sample(2, 3);
        assert!(matches!(
            get(&[], &["small"], "a"),
            Err(BoltError::Corrupt(_))
        ));
        assert!(matches!(
            get(&db[..4096 + 40], &["small"], "a"),
            Err(BoltError::Corrupt(_))
        ));
        assert!(get(&db[..db.len() - 4096], &["big"], "blob").is_err());
        // Flip every byte of the data pages in turn: each read ends, Ok or Err.
        let mut scratch = db.clone();
        for at in 8192..db.len() {
            if at % 7 != 0 && db[at] == 0 {
                continue; // a sample of the zero padding is enough
            }
            scratch[at] ^= 0xa5;
            let _ = get(&scratch, &["many"], "k17");
            let _ = get(&scratch, &["big"], "z");
            scratch[at] = db[at];
        }
    }
}
