//! A global allocator that starts every large block on a cache line.
//!
//! Tensors store typed `Vec`s, and glibc's malloc aligns them to 16 bytes only: its
//! large blocks start 16 bytes into a cache line. The AMX GEMM then has to pack A
//! instead of loading its tiles in place, and cannot stream whole output lines, which
//! costs 10–20% at M=N=K=1024 (docs/PERFORMANCE.md). Binaries opt in with
//! `#[global_allocator] static ALLOC: CacheAligned = CacheAligned;`, as the `lowbit`
//! command does; a library cannot choose for its users.

use std::alloc::{GlobalAlloc, Layout, System};

/// Blocks of at least this many bytes are aligned to [`LINE`]: where the padding is
/// negligible and the kernels stream whole rows.
const LARGE: usize = 4096;

/// A cache line (and an AVX-512 register) in bytes.
const LINE: usize = 64;

/// [`System`], with blocks of 4 KB or more aligned to 64 bytes.
pub struct CacheAligned;

/// The layout actually requested from the system: the same for `alloc` and `dealloc`,
/// since both derive it from the caller's layout.
fn widened(layout: Layout) -> Layout {
    if layout.size() >= LARGE && layout.align() < LINE {
        // 64 is a power of two and sizes this large are far below isize::MAX - 64.
        layout.align_to(LINE).unwrap_or(layout)
    } else {
        layout
    }
}

// SAFETY: every call forwards to `System` with a layout of the same size and an
// alignment at least the caller's; `dealloc` and `realloc` recompute the widened layout
// the block was allocated with from the caller's layout, as `GlobalAlloc` requires.
unsafe impl GlobalAlloc for CacheAligned {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        System.alloc(widened(layout))
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        System.alloc_zeroed(widened(layout))
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, widened(layout))
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = widened(layout);
        let new = widened(Layout::from_size_align_unchecked(new_size, layout.align()));
        if old.align() == new.align() {
            return System.realloc(ptr, old, new_size);
        }
        // The block crosses the size threshold: move it to a block of the new alignment.
        let moved = System.alloc(new);
        if !moved.is_null() {
            std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
            System.dealloc(ptr, old);
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_blocks_start_on_a_cache_line_and_keep_their_contents() {
        let a = CacheAligned;
        unsafe {
            for size in [LARGE, 3 * LARGE + 8, 1 << 22] {
                let layout = Layout::from_size_align(size, 4).unwrap();
                let p = a.alloc(layout);
                assert_eq!(p as usize % LINE, 0, "{size} bytes");
                a.dealloc(p, layout);
            }
            // Growing across the threshold and back keeps the bytes and the alignment rule.
            let small = Layout::from_size_align(100, 4).unwrap();
            let p = a.alloc(small);
            for i in 0..100 {
                *p.add(i) = i as u8;
            }
            let grown = a.realloc(p, small, 1 << 20);
            assert_eq!(grown as usize % LINE, 0);
            assert!((0..100).all(|i| *grown.add(i) == i as u8));
            let big = Layout::from_size_align(1 << 20, 4).unwrap();
            let shrunk = a.realloc(grown, big, 50);
            assert!((0..50).all(|i| *shrunk.add(i) == i as u8));
            a.dealloc(shrunk, Layout::from_size_align(50, 4).unwrap());
        }
    }
}
