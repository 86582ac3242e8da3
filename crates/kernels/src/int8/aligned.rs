//! A zero-initialised byte buffer aligned to 64 bytes (a cache line and an AMX tile row),
//! so that packed operands never split a vector or tile row across cache lines.

/// One cache line; buffers are `Vec`s of these.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct CacheLine([u8; 64]);

const _: () = assert!(std::mem::size_of::<CacheLine>() == 64 && std::mem::align_of::<CacheLine>() == 64);

#[derive(Clone, Default)]
pub(crate) struct AlignedBytes {
    lines: Vec<CacheLine>,
    len: usize,
}

impl AlignedBytes {
    pub fn zeroed(len: usize) -> Self {
        let mut buf = Self::default();
        buf.reset_zeroed(len);
        buf
    }

    /// Makes the buffer `len` zero bytes long, reusing its allocation when large enough.
    pub fn reset_zeroed(&mut self, len: usize) {
        self.lines.clear();
        self.resize(len);
    }

    /// Makes the buffer `len` bytes long without clearing it: old bytes keep their values,
    /// new ones are zero. For callers that overwrite every byte they read.
    pub fn resize(&mut self, len: usize) {
        self.lines.resize(len.div_ceil(64), CacheLine([0; 64]));
        self.len = len;
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: CacheLine is a plain `[u8; 64]` without padding (asserted above), so the
        // lines are `64 × lines.len() ≥ len` contiguous initialised bytes.
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast(), self.len) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`, and `&mut self` makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast(), self.len) }
    }
}
