//! Per-task storage (`BPF_MAP_TYPE_TASK_STORAGE`), which aya-ebpf 0.2.1 does
//! not wrap: a BTF map definition in `.maps` (the layout libbpf and aya-obj
//! parse) and the two helpers it needs.
//!
//! Used for the setns/unshare pairing: once a task has its value, a call
//! costs one storage lookup at entry and one at exit (about 11 ns each)
//! instead of an LRU insert and delete, and the value lives and dies with its
//! task, so a call whose exit is never seen leaves nothing behind. Creating a
//! task's value the first time costs more than an LRU insert (~1.4 µs
//! measured), which is why renames, mostly one per new process, keep an LRU
//! hash (see `rename`).

use core::ptr;

use aya_ebpf::{
    bindings::{bpf_map_type::BPF_MAP_TYPE_TASK_STORAGE, BPF_F_NO_PREALLOC},
    helpers::generated::bpf_task_storage_get,
};

/// `BPF_LOCAL_STORAGE_GET_F_CREATE`.
const GET_F_CREATE: u64 = 1;

/// A value of type `T` per task. Field names and the pointer-to-array
/// encoding are what a BTF map definition must look like.
#[repr(C)]
pub struct TaskStorage<T> {
    r#type: *const [i32; BPF_MAP_TYPE_TASK_STORAGE as usize],
    key: *const i32,
    value: *const T,
    max_entries: *const [i32; 0],
    map_flags: *const [i32; BPF_F_NO_PREALLOC as usize],
}

// SAFETY: the fields are placeholders the loader replaces by a map; nothing
// here is ever dereferenced from Rust.
unsafe impl<T> Sync for TaskStorage<T> {}

impl<T> TaskStorage<T> {
    /// The placeholder definition.
    pub const fn new() -> Self {
        TaskStorage {
            r#type: ptr::null(),
            key: ptr::null(),
            value: ptr::null(),
            max_entries: ptr::null(),
            map_flags: ptr::null(),
        }
    }

    /// The value of `task` (a trusted BTF task pointer), created zeroed on
    /// first use; `None` when the kernel cannot allocate it. The pointer is
    /// valid for this program run; only programs running as `task` use it.
    #[inline(always)]
    pub fn get_or_create(&self, task: *const u8) -> Option<*mut T> {
        // SAFETY: `self` is a task storage map and `task` a BTF task pointer;
        // the helper returns NULL or a value of this map's value size.
        let p = unsafe {
            bpf_task_storage_get(
                ptr::from_ref(self).cast_mut().cast(),
                task.cast_mut().cast(),
                ptr::null_mut(),
                GET_F_CREATE,
            )
        };
        (!p.is_null()).then_some(p.cast::<T>())
    }

    /// The value of `task` if it has one (nothing is created).
    #[inline(always)]
    pub fn get(&self, task: *const u8) -> Option<*mut T> {
        // SAFETY: as in `get_or_create`, without the create flag.
        let p = unsafe {
            bpf_task_storage_get(
                ptr::from_ref(self).cast_mut().cast(),
                task.cast_mut().cast(),
                ptr::null_mut(),
                0,
            )
        };
        (!p.is_null()).then_some(p.cast::<T>())
    }
}
