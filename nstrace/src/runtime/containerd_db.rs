//! containerd's names for a container whose bundle is gone, from its metadata
//! database `meta.db`.
//!
//! containerd deletes a task's bundle as soon as the task is deleted, which CRI does
//! within milliseconds of the container's exit: a container that lives a few
//! milliseconds may be gone from `io.containerd.runtime.v2.task/k8s.io/` before its
//! first exec is read from the ring buffer. The container record stays until the
//! kubelet removes the container, with the same OCI spec the bundle had
//! (containerd 1.6 metadata/containers.go, `writeContainer`):
//! * `v1/<namespace>/containers/<id>/spec`: a protobuf `Any` (`type_url` = field 1,
//!   `value` = field 2) whose value is the spec as JSON (containerd's `typeurl`
//!   marshals the OCI spec, a plain Go struct, with encoding/json).
//!
//! The bucket layout is the same in containerd 1.6 and 1.7 (schema `v1`).

use super::bolt::{self, ReadAt};
use super::DbError;

const VERSION: &[u8] = b"v1";
const CONTAINERS: &[u8] = b"containers";
const SPEC: &[u8] = b"spec";
/// `typeurl`'s name for the OCI runtime spec (containerd's `oci` package registers it).
pub(crate) const SPEC_TYPE: &str = "types.containerd.io/opencontainers/runtime-spec/1/Spec";

/// The OCI spec (JSON) of container `id` in containerd namespace `namespace`,
/// `None` when the database does not hold it.
pub(crate) fn spec(
    db: &(impl ReadAt + ?Sized),
    namespace: &str,
    id: &str,
) -> Result<Option<Vec<u8>>, DbError> {
    let raw = bolt::read(db, |tx| {
        tx.get(
            &[VERSION, namespace.as_bytes(), CONTAINERS, id.as_bytes()],
            SPEC,
        )
    })
    .map_err(DbError::Bolt)?;
    let Some(raw) = raw else {
        return Ok(None);
    };
    let (type_url, value) = any(&raw).map_err(DbError::Record)?;
    if type_url != SPEC_TYPE.as_bytes() {
        return Err(DbError::Record(format!(
            "spec of type {:?}, not the OCI runtime spec",
            String::from_utf8_lossy(type_url)
        )));
    }
    Ok(Some(value.to_vec()))
}

/// The two fields of a protobuf `google.protobuf.Any`: `type_url` and `value`
/// (both length-delimited; any other field is skipped if it is well formed).
fn any(mut b: &[u8]) -> Result<(&[u8], &[u8]), String> {
    let (mut type_url, mut value) = (None, None);
    while !b.is_empty() {
        let key = varint(&mut b)?;
        match key & 7 {
            // Length-delimited.
            2 => {
                let len = usize::try_from(varint(&mut b)?).map_err(|_| "a length past usize")?;
                if len > b.len() {
                    return Err("a field longer than the record".into());
                }
                let (field, rest) = b.split_at(len);
                match key >> 3 {
                    1 => type_url = Some(field),
                    2 => value = Some(field),
                    _ => {}
                }
                b = rest;
            }
            0 => {
                varint(&mut b)?;
            }
            1 if b.len() >= 8 => b = &b[8..],
            5 if b.len() >= 4 => b = &b[4..],
            _ => return Err(format!("not a protobuf Any (field key {key})")),
        }
    }
    match (type_url, value) {
        (Some(t), Some(v)) => Ok((t, v)),
        _ => Err("an Any without a type or a value".into()),
    }
}

/// A protobuf base-128 varint, taken off the front of `b`.
fn varint(b: &mut &[u8]) -> Result<u64, String> {
    let mut n = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        n |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *b = &b[i + 1..];
            return Ok(n);
        }
    }
    Err("a truncated varint".into())
}

/// Builds containerd metadata databases for tests.
#[cfg(test)]
pub(crate) mod build {
    use super::super::bolt::build::{file, Item};
    pub(crate) use super::SPEC_TYPE;

    /// A protobuf Any as Go's proto.Marshal writes it.
    pub(crate) fn any_bytes(type_url: &str, value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for (tag, field) in [(0x0a, type_url.as_bytes()), (0x12, value)] {
            out.push(tag);
            let mut len = field.len();
            while len >= 0x80 {
                out.push((len as u8 & 0x7f) | 0x80);
                len >>= 7;
            }
            out.push(len as u8);
            out.extend_from_slice(field);
        }
        out
    }

    fn b(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    /// A namespace's name and its containers: (id, raw `spec` value).
    pub(crate) type Namespace<'a> = (&'a str, Vec<(&'a str, Vec<u8>)>);

    /// A meta.db shaped as containerd writes it: per namespace, containers
    /// beside the image and labels containerd keeps.
    pub(crate) fn meta_db(namespaces: &[Namespace<'_>]) -> Vec<u8> {
        let container = |spec: &[u8]| {
            Item::Bucket(vec![
                (b("image"), Item::Value(b("localhost/test:latest"))),
                (
                    b("labels"),
                    Item::Bucket(vec![(
                        b("io.cri-containerd.kind"),
                        Item::Value(b("container")),
                    )]),
                ),
                (b("spec"), Item::Value(spec.to_vec())),
            ])
        };
        let namespaces = namespaces
            .iter()
            .map(|(ns, containers)| {
                let containers = containers
                    .iter()
                    .map(|(id, spec)| (b(id), container(spec)))
                    .collect();
                (
                    b(ns),
                    Item::Bucket(vec![(b("containers"), Item::Bucket(containers))]),
                )
            })
            .collect();
        file(4096, vec![(b("v1"), Item::Bucket(namespaces))], 3, 2)
    }
}

#[cfg(test)]
mod tests {
    use super::build::*;
    use super::*;

    fn db(spec: Vec<u8>) -> Vec<u8> {
        meta_db(&[
            ("k8s.io", vec![("aaaa", spec)]),
            ("moby", vec![("bbbb", any_bytes(SPEC_TYPE, b"{}"))]),
        ])
    }

    #[test]
    fn the_spec_of_a_container_in_the_namespace_asked_for() {
        // Longer than 127 bytes, so its length takes two varint bytes.
        let json = format!(r#"{{"annotations":{{"x":"{}"}}}}"#, "y".repeat(300));
        let d = db(any_bytes(SPEC_TYPE, json.as_bytes()));
        assert_eq!(
            spec(&d[..], "k8s.io", "aaaa").unwrap(),
            Some(json.into_bytes())
        );
        // Another namespace's container, and an id nobody has.
        assert_eq!(spec(&d[..], "k8s.io", "bbbb").unwrap(), None);
        assert_eq!(spec(&d[..], "moby", "aaaa").unwrap(), None);
        assert_eq!(spec(&d[..], "nope", "aaaa").unwrap(), None);
    }

    #[test]
    fn a_spec_that_is_not_an_oci_spec_any_is_a_record_error() {
        for raw in [
            any_bytes("types.containerd.io/something/Else", b"{}"),
            vec![0x0a, 0x50, b'x'],
            vec![0x0a],
            vec![0x0b, 0x00],
            vec![0x0a, 0x00],
        ] {
            let d = db(raw.clone());
            let got = spec(&d[..], "k8s.io", "aaaa");
            assert!(matches!(got, Err(DbError::Record(_))), "{raw:?}: {got:?}");
        }
    }

    #[test]
    fn unknown_fields_are_skipped() {
        let mut raw = vec![0x18, 0x96, 0x01]; // field 3, varint 150
        raw.extend(any_bytes(SPEC_TYPE, b"{\"a\":1}"));
        assert_eq!(
            any(&raw).unwrap(),
            (SPEC_TYPE.as_bytes(), &b"{\"a\":1}"[..])
        );
    }
}
