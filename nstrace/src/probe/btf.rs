//! Minimal reader for raw Linux BTF (`/sys/kernel/btf/vmlinux`).
//!
//! aya-ebpf programs get no CO-RE relocations, so userspace looks up struct
//! member offsets here at load time and hands them to the BPF programs.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;

const MAGIC: u16 = 0xeb9f;
const HEADER_LEN: usize = 24;
const TYPE_HEADER_LEN: usize = 12;
/// Bounds recursion and modifier chains so cyclic (malformed) BTF cannot hang us.
const MAX_DEPTH: usize = 64;

const KIND_INT: u8 = 1;
const KIND_PTR: u8 = 2;
const KIND_ARRAY: u8 = 3;
const KIND_STRUCT: u8 = 4;
const KIND_UNION: u8 = 5;
const KIND_ENUM: u8 = 6;
const KIND_FWD: u8 = 7;
const KIND_TYPEDEF: u8 = 8;
const KIND_VOLATILE: u8 = 9;
const KIND_CONST: u8 = 10;
const KIND_RESTRICT: u8 = 11;
const KIND_FUNC: u8 = 12;
const KIND_FUNC_PROTO: u8 = 13;
const KIND_VAR: u8 = 14;
const KIND_DATASEC: u8 = 15;
const KIND_FLOAT: u8 = 16;
const KIND_DECL_TAG: u8 = 17;
const KIND_TYPE_TAG: u8 = 18;
const KIND_ENUM64: u8 = 19;

/// Parsed BTF type information.
pub struct Btf {
    /// Indexed by type id; entry 0 stands for `void`.
    types: Vec<Type>,
    /// Members of all structs/unions, referenced by `Type::members_start`.
    members: Vec<Member>,
    /// Copy of the string section; names are resolved lazily from it.
    strings: Vec<u8>,
    /// Struct/union name -> preferred type id (first non-empty definition).
    structs: HashMap<String, u32>,
}

impl fmt::Debug for Btf {
    // A summary only: dumping ~100k kernel types would be useless.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Btf")
            .field("types", &(self.types.len() - 1))
            .field("structs", &self.structs.len())
            .finish()
    }
}

#[derive(Clone, Copy)]
struct Type {
    kind: u8,
    kind_flag: bool,
    vlen: u16,
    size_or_type: u32,
    /// INT encoding word; needed to spot old-style (kind_flag=0) bitfields.
    int_data: u32,
    members_start: u32,
}

#[derive(Clone, Copy)]
struct Member {
    name_off: u32,
    ty: u32,
    offset: u32,
}

/// A member located inside a struct, with its offset relative to that struct.
struct Found {
    bit_offset: u64,
    ty: u32,
    bitfield: bool,
}

/// What went wrong reading or querying BTF.
#[derive(Debug)]
pub enum BtfError {
    /// The file could not be read (path, io error).
    Io {
        /// Path that was being read.
        path: String,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// The data is not BTF or is damaged (what was wrong).
    Malformed(String),
    /// No struct or union with that name exists.
    MissingType(String),
    /// The struct exists but has no such member.
    MissingField {
        /// Struct or union that was searched.
        ty: String,
        /// Member (possibly dotted path) that was not found.
        field: String,
    },
    /// The member is a bitfield, which cannot be read by byte offset.
    Bitfield {
        /// Struct or union that was searched.
        ty: String,
        /// Member (possibly dotted path) that is a bitfield.
        field: String,
    },
}

impl fmt::Display for BtfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BtfError::Io { path, .. } => write!(f, "cannot read BTF from {path}"),
            BtfError::Malformed(what) => write!(f, "malformed BTF: {what}"),
            BtfError::MissingType(ty) => write!(
                f,
                "kernel BTF has no struct or union {ty} (is this kernel supported?)"
            ),
            BtfError::MissingField { ty, field } => write!(
                f,
                "kernel BTF has no field {ty}.{field} (is this kernel supported?)"
            ),
            BtfError::Bitfield { ty, field } => write!(
                f,
                "kernel BTF field {ty}.{field} is a bitfield and cannot be read by byte offset"
            ),
        }
    }
}

impl std::error::Error for BtfError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BtfError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn malformed(what: impl Into<String>) -> BtfError {
    BtfError::Malformed(what.into())
}

/// Endian-aware bounds-checked reader over the raw bytes.
struct Reader<'a> {
    data: &'a [u8],
    big_endian: bool,
}

impl Reader<'_> {
    fn u32_at(&self, pos: usize) -> Result<u32, BtfError> {
        let end = pos
            .checked_add(4)
            .ok_or_else(|| malformed("offset overflow"))?;
        let bytes: [u8; 4] = self
            .data
            .get(pos..end)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| malformed(format!("truncated data at byte {pos}")))?;
        Ok(if self.big_endian {
            u32::from_be_bytes(bytes)
        } else {
            u32::from_le_bytes(bytes)
        })
    }
}

/// Reads the NUL-terminated string at `off` in the string section.
fn str_at(strings: &[u8], off: u32) -> Result<&str, BtfError> {
    // Offset 0 is the mandatory empty string; treat it as anonymous even if a
    // producer left the section empty.
    if off == 0 {
        return Ok("");
    }
    let rest = strings
        .get(off as usize..)
        .ok_or_else(|| malformed(format!("string offset {off} out of range")))?;
    let len = rest
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| malformed(format!("string at offset {off} is not terminated")))?;
    std::str::from_utf8(&rest[..len])
        .map_err(|_| malformed(format!("string at offset {off} is not UTF-8")))
}

/// Returns the `start..end` range of a section, checked against the data length.
fn section(
    hdr_len: u32,
    off: u32,
    len: u32,
    total: usize,
    name: &str,
) -> Result<(usize, usize), BtfError> {
    let start = u64::from(hdr_len) + u64::from(off);
    let end = start + u64::from(len);
    if end > total as u64 {
        return Err(malformed(format!(
            "{name} section ({start}..{end}) extends past end of data ({total} bytes)"
        )));
    }
    // Both fit in usize because they are <= total.
    Ok((start as usize, end as usize))
}

impl Btf {
    /// Default location of the running kernel's BTF.
    pub const KERNEL_PATH: &'static str = "/sys/kernel/btf/vmlinux";

    /// Reads and parses the running kernel's BTF.
    pub fn from_kernel() -> Result<Btf, BtfError> {
        Btf::from_file(Path::new(Btf::KERNEL_PATH))
    }

    /// Reads and parses a BTF file.
    pub fn from_file(path: &Path) -> Result<Btf, BtfError> {
        let data = std::fs::read(path).map_err(|source| BtfError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Btf::parse(&data)
    }

    /// Parses raw BTF bytes (little or big endian header magic 0xeB9F).
    pub fn parse(data: &[u8]) -> Result<Btf, BtfError> {
        if data.len() < HEADER_LEN {
            return Err(malformed(format!(
                "{} bytes is too short for a BTF header",
                data.len()
            )));
        }
        let big_endian = match [data[0], data[1]] {
            m if u16::from_le_bytes(m) == MAGIC => false,
            m if u16::from_be_bytes(m) == MAGIC => true,
            m => return Err(malformed(format!("bad magic {:#04x}{:02x}", m[0], m[1]))),
        };
        let version = data[2];
        if version != 1 {
            return Err(malformed(format!("unsupported BTF version {version}")));
        }
        let r = Reader { data, big_endian };
        let hdr_len = r.u32_at(4)?;
        if (hdr_len as usize) < HEADER_LEN || hdr_len as usize > data.len() {
            return Err(malformed(format!("bad header length {hdr_len}")));
        }
        let (type_start, type_end) =
            section(hdr_len, r.u32_at(8)?, r.u32_at(12)?, data.len(), "type")?;
        let (str_start, str_end) =
            section(hdr_len, r.u32_at(16)?, r.u32_at(20)?, data.len(), "string")?;

        let mut btf = Btf {
            types: vec![Type {
                kind: 0,
                kind_flag: false,
                vlen: 0,
                size_or_type: 0,
                int_data: 0,
                members_start: 0,
            }],
            members: Vec::new(),
            strings: data[str_start..str_end].to_vec(),
            structs: HashMap::new(),
        };

        let mut pos = type_start;
        while pos < type_end {
            let id = btf.types.len();
            if type_end - pos < TYPE_HEADER_LEN {
                return Err(malformed(format!("type {id} header is truncated")));
            }
            let name_off = r.u32_at(pos)?;
            let info = r.u32_at(pos + 4)?;
            let size_or_type = r.u32_at(pos + 8)?;
            let vlen = (info & 0xffff) as u16;
            let kind = ((info >> 24) & 0x1f) as u8;
            let kind_flag = info >> 31 != 0;
            let n = usize::from(vlen);
            let extra = match kind {
                KIND_INT | KIND_VAR | KIND_DECL_TAG => 4,
                KIND_PTR | KIND_FWD | KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT
                | KIND_FUNC | KIND_FLOAT | KIND_TYPE_TAG => 0,
                KIND_ARRAY => 12,
                KIND_STRUCT | KIND_UNION | KIND_DATASEC | KIND_ENUM64 => n * 12,
                KIND_ENUM | KIND_FUNC_PROTO => n * 8,
                _ => return Err(malformed(format!("type {id} has unknown kind {kind}"))),
            };
            let body = pos + TYPE_HEADER_LEN;
            if type_end - body < extra {
                return Err(malformed(format!("type {id} (kind {kind}) is truncated")));
            }
            let mut ty = Type {
                kind,
                kind_flag,
                vlen,
                size_or_type,
                int_data: 0,
                members_start: 0,
            };
            match kind {
                KIND_INT => ty.int_data = r.u32_at(body)?,
                KIND_STRUCT | KIND_UNION => {
                    ty.members_start = u32::try_from(btf.members.len())
                        .map_err(|_| malformed("too many members"))?;
                    for i in 0..n {
                        let m = body + i * 12;
                        btf.members.push(Member {
                            name_off: r.u32_at(m)?,
                            ty: r.u32_at(m + 4)?,
                            offset: r.u32_at(m + 8)?,
                        });
                    }
                    let name = str_at(&btf.strings, name_off)?;
                    if !name.is_empty() {
                        let id = id as u32;
                        // Prefer the first non-empty definition; keep the
                        // first empty one only until a real one shows up.
                        match btf.structs.get_mut(name) {
                            None => {
                                let name = name.to_owned();
                                btf.structs.insert(name, id);
                            }
                            Some(existing) => {
                                if btf.types[*existing as usize].vlen == 0 && vlen > 0 {
                                    *existing = id;
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
            if u32::try_from(id).is_err() {
                return Err(malformed("too many types"));
            }
            btf.types.push(ty);
            pos = body + extra;
        }
        Ok(btf)
    }

    /// Byte offset of `field` inside struct/union `ty`. Members of anonymous nested structs/unions are found too (offsets add up). `field` may be a dotted path "a.b.c" that descends through named struct/union members (following typedefs/const/volatile modifiers), offsets summed.
    pub fn member_offset(&self, ty: &str, field: &str) -> Result<u32, BtfError> {
        let missing = || BtfError::MissingField {
            ty: ty.to_owned(),
            field: field.to_owned(),
        };
        let bitfield = || BtfError::Bitfield {
            ty: ty.to_owned(),
            field: field.to_owned(),
        };
        let mut current = self.find_struct(ty)?;
        let mut total_bytes: u64 = 0;
        let mut parts = field.split('.').peekable();
        while let Some(part) = parts.next() {
            if part.is_empty() {
                return Err(missing());
            }
            let found = self
                .find_member(current, part, 0, &mut HashSet::new())?
                .ok_or_else(missing)?;
            if found.bitfield || found.bit_offset % 8 != 0 {
                return Err(bitfield());
            }
            total_bytes += found.bit_offset / 8;
            if parts.peek().is_some() {
                let next = self.resolve(found.ty)?;
                if !matches!(self.ty(next)?.kind, KIND_STRUCT | KIND_UNION) {
                    // Cannot descend into a pointer/int/array member.
                    return Err(missing());
                }
                current = next;
            }
        }
        u32::try_from(total_bytes)
            .map_err(|_| malformed(format!("offset of {ty}.{field} overflows")))
    }

    /// Bit offset of the one-bit (or wider) bitfield `field`, a direct
    /// member of struct `ty` (or of an anonymous struct/union in it), from
    /// the start of `ty`: what a program reads as a byte and a mask.
    pub fn bitfield_bit_offset(&self, ty: &str, field: &str) -> Result<u32, BtfError> {
        let missing = || BtfError::MissingField {
            ty: ty.to_owned(),
            field: field.to_owned(),
        };
        let current = self.find_struct(ty)?;
        let found = self
            .find_member(current, field, 0, &mut HashSet::new())?
            .ok_or_else(missing)?;
        u32::try_from(found.bit_offset)
            .map_err(|_| malformed(format!("offset of {ty}.{field} overflows")))
    }

    /// Size in bytes of struct/union `ty`.
    pub fn struct_size(&self, ty: &str) -> Result<u32, BtfError> {
        let id = self.find_struct(ty)?;
        Ok(self.ty(id)?.size_or_type)
    }

    fn find_struct(&self, name: &str) -> Result<u32, BtfError> {
        self.structs
            .get(name)
            .copied()
            .ok_or_else(|| BtfError::MissingType(name.to_owned()))
    }

    fn ty(&self, id: u32) -> Result<&Type, BtfError> {
        self.types
            .get(id as usize)
            .ok_or_else(|| malformed(format!("reference to nonexistent type id {id}")))
    }

    fn name(&self, off: u32) -> Result<&str, BtfError> {
        str_at(&self.strings, off)
    }

    /// Follows typedef/const/volatile/restrict/type_tag to the underlying type.
    fn resolve(&self, mut id: u32) -> Result<u32, BtfError> {
        for _ in 0..MAX_DEPTH {
            let t = self.ty(id)?;
            match t.kind {
                KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                    id = t.size_or_type;
                }
                _ => return Ok(id),
            }
        }
        Err(malformed(format!(
            "type modifier chain from id {id} is too long or cyclic"
        )))
    }

    fn struct_members(&self, t: &Type) -> Result<&[Member], BtfError> {
        let start = t.members_start as usize;
        self.members
            .get(start..start + usize::from(t.vlen))
            .ok_or_else(|| malformed("member table out of range"))
    }

    /// Searches `struct_id` for `name`, descending into anonymous struct/union members.
    /// `searched` holds the structs already searched in full without finding
    /// `name`: one reached again through another anonymous member is skipped,
    /// so a lookup visits each struct once however the members share types.
    fn find_member(
        &self,
        struct_id: u32,
        name: &str,
        depth: usize,
        searched: &mut HashSet<u32>,
    ) -> Result<Option<Found>, BtfError> {
        if depth > MAX_DEPTH {
            return Err(malformed("anonymous member nesting too deep or cyclic"));
        }
        let st = self.ty(struct_id)?;
        for m in self.struct_members(st)? {
            let (bit_offset, bits) = if st.kind_flag {
                (m.offset & 0x00ff_ffff, m.offset >> 24)
            } else {
                (m.offset, 0)
            };
            let member_name = self.name(m.name_off)?;
            if member_name == name {
                let bitfield = bits != 0 || (!st.kind_flag && self.is_int_bitfield(m.ty)?);
                return Ok(Some(Found {
                    bit_offset: u64::from(bit_offset),
                    ty: m.ty,
                    bitfield,
                }));
            }
            if member_name.is_empty() {
                let inner = self.resolve(m.ty)?;
                if matches!(self.ty(inner)?.kind, KIND_STRUCT | KIND_UNION)
                    && !searched.contains(&inner)
                {
                    if let Some(mut found) = self.find_member(inner, name, depth + 1, searched)? {
                        found.bit_offset += u64::from(bit_offset);
                        found.bitfield |= bits != 0;
                        return Ok(Some(found));
                    }
                }
            }
        }
        searched.insert(struct_id);
        Ok(None)
    }

    /// Without kind_flag, a bitfield is an INT whose encoding is narrower than its size.
    fn is_int_bitfield(&self, id: u32) -> Result<bool, BtfError> {
        let t = self.ty(self.resolve(id)?)?;
        if t.kind != KIND_INT {
            return Ok(false);
        }
        let nr_bits = u64::from(t.int_data & 0xff);
        let bit_off = (t.int_data >> 16) & 0xff;
        Ok(bit_off != 0 || nr_bits < u64::from(t.size_or_type) * 8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Assembles BTF blobs by hand so tests do not depend on a kernel.
    struct Builder {
        types: Vec<u32>,
        strings: Vec<u8>,
        next_id: u32,
    }

    impl Builder {
        fn new() -> Self {
            Builder {
                types: Vec::new(),
                strings: vec![0],
                next_id: 1,
            }
        }

        fn str(&mut self, s: &str) -> u32 {
            if s.is_empty() {
                return 0;
            }
            let off = self.strings.len() as u32;
            self.strings.extend_from_slice(s.as_bytes());
            self.strings.push(0);
            off
        }

        fn raw(&mut self, name: &str, kind: u32, kind_flag: bool, vlen: u32, st: u32) -> u32 {
            let name_off = self.str(name);
            let info = (u32::from(kind_flag) << 31) | (kind << 24) | vlen;
            self.types.extend_from_slice(&[name_off, info, st]);
            let id = self.next_id;
            self.next_id += 1;
            id
        }

        fn int(&mut self, name: &str, size: u32) -> u32 {
            let id = self.raw(name, KIND_INT.into(), false, 0, size);
            self.types.push(size * 8);
            id
        }

        fn int_bits(&mut self, name: &str, size: u32, bits: u32) -> u32 {
            let id = self.raw(name, KIND_INT.into(), false, 0, size);
            self.types.push(bits);
            id
        }

        fn ptr(&mut self, to: u32) -> u32 {
            self.raw("", KIND_PTR.into(), false, 0, to)
        }

        fn typedef(&mut self, name: &str, to: u32) -> u32 {
            self.raw(name, KIND_TYPEDEF.into(), false, 0, to)
        }

        fn konst(&mut self, to: u32) -> u32 {
            self.raw("", KIND_CONST.into(), false, 0, to)
        }

        /// `members` are (name, type, bit offset or kind_flag encoding).
        fn compound(
            &mut self,
            kind: u8,
            name: &str,
            size: u32,
            kind_flag: bool,
            members: &[(&str, u32, u32)],
        ) -> u32 {
            let id = self.raw(name, kind.into(), kind_flag, members.len() as u32, size);
            for &(n, t, off) in members {
                let n = self.str(n);
                self.types.extend_from_slice(&[n, t, off]);
            }
            id
        }

        fn strukt(&mut self, name: &str, size: u32, members: &[(&str, u32, u32)]) -> u32 {
            self.compound(KIND_STRUCT, name, size, false, members)
        }

        fn func_proto(&mut self, ret: u32) -> u32 {
            self.raw("", KIND_FUNC_PROTO.into(), false, 0, ret)
        }

        fn func(&mut self, name: &str, proto: u32) -> u32 {
            self.raw(name, KIND_FUNC.into(), false, 0, proto)
        }

        fn build(&self, big_endian: bool) -> Vec<u8> {
            let word = |v: u32| {
                if big_endian {
                    v.to_be_bytes()
                } else {
                    v.to_le_bytes()
                }
            };
            let type_len = self.types.len() as u32 * 4;
            let mut out = Vec::new();
            out.extend_from_slice(&if big_endian {
                MAGIC.to_be_bytes()
            } else {
                MAGIC.to_le_bytes()
            });
            out.extend_from_slice(&[1, 0]);
            for v in [
                HEADER_LEN as u32,
                0,
                type_len,
                type_len,
                self.strings.len() as u32,
            ] {
                out.extend_from_slice(&word(v));
            }
            for &v in &self.types {
                out.extend_from_slice(&word(v));
            }
            out.extend_from_slice(&self.strings);
            out
        }
    }

    /// A small type graph exercising every lookup path.
    fn sample() -> Builder {
        let mut b = Builder::new();
        let int = b.int("int", 4);
        let long = b.int("long", 8);
        let char_ty = b.int("char", 1);
        let inner = b.strukt("inner", 16, &[("x", int, 0), ("y", long, 64)]);
        let inner_t = b.typedef("inner_t", inner);
        let cinner = b.konst(inner_t);
        let anon_union = b.compound(
            KIND_UNION,
            "",
            8,
            false,
            &[("u_a", int, 0), ("u_b", long, 0)],
        );
        let anon_struct = b.strukt("", 8, &[("s_a", int, 0), ("s_b", int, 32)]);
        let p = b.ptr(inner);
        // An empty forward-ish definition first, to test preference.
        b.strukt("outer", 0, &[]);
        b.compound(
            KIND_STRUCT,
            "outer",
            64,
            true,
            &[
                ("a", int, 0),
                ("flags", int, (3 << 24) | 32),
                ("", anon_union, 64),
                ("nested", cinner, 128),
                ("ptr", p, 256),
                ("", anon_struct, 320),
                ("name", char_ty, 384),
            ],
        );
        let narrow = b.int_bits("u3", 4, 3);
        b.strukt("oldstyle", 4, &[("bits", narrow, 0)]);
        let proto = b.func_proto(int);
        b.func("do_thing", proto);
        b
    }

    #[test]
    fn plain_member_offset() {
        let btf = Btf::parse(&sample().build(false)).unwrap();
        assert_eq!(btf.member_offset("outer", "a").unwrap(), 0);
        assert_eq!(btf.member_offset("outer", "ptr").unwrap(), 32);
        assert_eq!(btf.member_offset("outer", "name").unwrap(), 48);
        assert_eq!(btf.member_offset("inner", "y").unwrap(), 8);
    }

    #[test]
    fn anonymous_members() {
        let btf = Btf::parse(&sample().build(false)).unwrap();
        assert_eq!(btf.member_offset("outer", "u_a").unwrap(), 8);
        assert_eq!(btf.member_offset("outer", "u_b").unwrap(), 8);
        assert_eq!(btf.member_offset("outer", "s_b").unwrap(), 44);
    }

    #[test]
    fn dotted_path_through_typedef() {
        let btf = Btf::parse(&sample().build(false)).unwrap();
        assert_eq!(btf.member_offset("outer", "nested").unwrap(), 16);
        assert_eq!(btf.member_offset("outer", "nested.y").unwrap(), 24);
        // Pointers are not descended into: that would need a memory read.
        assert!(matches!(
            btf.member_offset("outer", "ptr.y"),
            Err(BtfError::MissingField { .. })
        ));
        assert!(matches!(
            btf.member_offset("outer", "nested."),
            Err(BtfError::MissingField { .. })
        ));
    }

    #[test]
    fn bitfields_are_rejected() {
        let btf = Btf::parse(&sample().build(false)).unwrap();
        let err = btf.member_offset("outer", "flags").unwrap_err();
        assert!(matches!(err, BtfError::Bitfield { .. }), "{err:?}");
        assert!(err.to_string().contains("outer.flags"));
        assert!(matches!(
            btf.member_offset("oldstyle", "bits"),
            Err(BtfError::Bitfield { .. })
        ));
    }

    #[test]
    fn missing_type_and_field() {
        let btf = Btf::parse(&sample().build(false)).unwrap();
        assert!(matches!(
            btf.member_offset("nope", "a"),
            Err(BtfError::MissingType(t)) if t == "nope"
        ));
        let err = btf.member_offset("outer", "thread_pid").unwrap_err();
        assert!(matches!(err, BtfError::MissingField { .. }));
        assert_eq!(
            err.to_string(),
            "kernel BTF has no field outer.thread_pid (is this kernel supported?)"
        );
        assert!(matches!(
            btf.struct_size("int"),
            Err(BtfError::MissingType(_))
        ));
    }

    #[test]
    fn struct_sizes() {
        let btf = Btf::parse(&sample().build(false)).unwrap();
        assert_eq!(btf.struct_size("outer").unwrap(), 64);
        assert_eq!(btf.struct_size("inner").unwrap(), 16);
        assert!(matches!(
            btf.struct_size("do_thing"),
            Err(BtfError::MissingType(_))
        ));
    }

    #[test]
    fn big_endian() {
        let btf = Btf::parse(&sample().build(true)).unwrap();
        assert_eq!(btf.member_offset("outer", "nested.y").unwrap(), 24);
        assert_eq!(btf.struct_size("outer").unwrap(), 64);
    }

    #[test]
    fn truncated_data_is_malformed() {
        let data = sample().build(false);
        // Every prefix must fail cleanly, never panic.
        for len in 0..data.len() {
            assert!(
                matches!(Btf::parse(&data[..len]), Err(BtfError::Malformed(_))),
                "prefix of {len} bytes"
            );
        }
    }

    #[test]
    fn bad_magic_is_malformed() {
        let mut data = sample().build(false);
        data[0] = 0x12;
        assert!(matches!(Btf::parse(&data), Err(BtfError::Malformed(_))));
    }

    #[test]
    fn unknown_kind_is_malformed() {
        let mut b = Builder::new();
        b.raw("weird", 31, false, 0, 0);
        assert!(matches!(
            Btf::parse(&b.build(false)),
            Err(BtfError::Malformed(_))
        ));
    }

    #[test]
    fn cycles_and_bad_references_do_not_hang() {
        let mut b = Builder::new();
        // Type 1 is a typedef to itself; type 2 has an anonymous member of type 1.
        b.typedef("loop", 1);
        b.strukt("s", 4, &[("", 1, 0), ("z", 99, 0)]);
        let btf = Btf::parse(&b.build(false)).unwrap();
        assert!(matches!(
            btf.member_offset("s", "x"),
            Err(BtfError::Malformed(_))
        ));

        let mut b = Builder::new();
        b.strukt("s", 4, &[("", 99, 0)]);
        let btf = Btf::parse(&b.build(false)).unwrap();
        assert!(matches!(
            btf.member_offset("s", "x"),
            Err(BtfError::Malformed(_))
        ));
    }

    #[test]
    fn shared_anonymous_members_are_searched_once() {
        // Found by reading, not by the fuzzer: each level holds the level below
        // twice as anonymous members, 40 levels deep. Walking every path is 2^40
        // searches (a hang); a lookup must cost about the size of the type graph.
        let mut b = Builder::new();
        let int = b.int("int", 4);
        let mut below = b.strukt("", 4, &[("leaf", int, 0)]);
        for _ in 0..40 {
            below = b.strukt("", 4, &[("", below, 0), ("", below, 0)]);
        }
        b.strukt("top", 4, &[("", below, 0), ("", below, 32)]);
        let btf = Btf::parse(&b.build(false)).unwrap();
        let start = std::time::Instant::now();
        assert!(matches!(
            btf.member_offset("top", "nope"),
            Err(BtfError::MissingField { .. })
        ));
        assert_eq!(btf.member_offset("top", "leaf").unwrap(), 0);
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn io_error_has_source() {
        let err = Btf::from_file(Path::new("/nonexistent/btf")).unwrap_err();
        assert!(matches!(err, BtfError::Io { .. }));
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn real_kernel_btf() {
        let path = Path::new(Btf::KERNEL_PATH);
        if !path.exists() {
            eprintln!("skipping: {} does not exist", Btf::KERNEL_PATH);
            return;
        }
        let start = std::time::Instant::now();
        let btf = Btf::from_kernel().unwrap();
        eprintln!("parsed {} in {:?}", Btf::KERNEL_PATH, start.elapsed());

        for f in [
            "pid",
            "tgid",
            "nsproxy",
            "real_parent",
            "comm",
            "thread_pid",
        ] {
            btf.member_offset("task_struct", f).unwrap();
        }
        btf.member_offset("ns_common", "inum").unwrap();
        assert_eq!(btf.member_offset("nsproxy", "net_ns").unwrap() % 8, 0);

        let queries: &[(&str, &[&str])] = &[
            (
                "task_struct",
                &[
                    "pid",
                    "tgid",
                    "comm",
                    "nsproxy",
                    "real_parent",
                    "group_leader",
                    "thread_pid",
                    "real_cred",
                    "exit_code",
                    "sighand",
                ],
            ),
            (
                "nsproxy",
                &[
                    "uts_ns",
                    "ipc_ns",
                    "mnt_ns",
                    "pid_ns_for_children",
                    "net_ns",
                    "time_ns",
                    "cgroup_ns",
                ],
            ),
            ("ns_common", &["inum"]),
            ("uts_namespace", &["ns"]),
            ("ipc_namespace", &["ns"]),
            ("mnt_namespace", &["ns"]),
            ("pid_namespace", &["ns"]),
            ("net", &["ns"]),
            ("time_namespace", &["ns"]),
            ("cgroup_namespace", &["ns"]),
            ("user_namespace", &["ns"]),
            ("cred", &["uid", "euid", "user_ns"]),
            ("pid", &["level", "numbers"]),
            ("upid", &["nr", "ns"]),
            ("linux_binprm", &["filename"]),
            ("k_sigaction", &["sa"]),
            ("sigaction", &["sa_handler"]),
            ("sighand_struct", &["action"]),
        ];
        for (ty, fields) in queries {
            for field in *fields {
                match btf.member_offset(ty, field) {
                    Ok(off) => eprintln!("{ty}.{field} = {off}"),
                    Err(e) => eprintln!("{ty}.{field}: {e}"),
                }
            }
        }
        for ty in ["upid", "k_sigaction"] {
            match btf.struct_size(ty) {
                Ok(size) => eprintln!("sizeof({ty}) = {size}"),
                Err(e) => eprintln!("sizeof({ty}): {e}"),
            }
        }
    }
}
