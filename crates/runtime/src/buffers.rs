//! Pools of f32 buffers, keyed by length.
//!
//! Intermediates of the same size recur through a network (every block of a ResNet or a
//! transformer layer), so buffers freed after their last use are handed to the next
//! output of the same length instead of going back to the allocator. A run owns one
//! [`BufferPool`]; the plan keeps finished runs' pools in a [`PoolCache`] so the next
//! run starts with warm, already-faulted-in memory.

use std::collections::HashMap;
use std::sync::Mutex;

use lowbit_tensor::{Data, Tensor};

/// Buffers kept per length. A run rarely has more same-sized buffers alive at once, and
/// the cap bounds what ops that allocate outside the pool add on every run.
const MAX_PER_LENGTH: usize = 4;

#[derive(Default)]
pub(crate) struct BufferPool {
    free: HashMap<usize, Vec<Vec<f32>>>,
}

impl BufferPool {
    /// A buffer of `len` values whose contents are unspecified: the caller must
    /// overwrite every element.
    pub(crate) fn take_f32(&mut self, len: usize) -> Vec<f32> {
        match self.free.get_mut(&len).and_then(Vec::pop) {
            Some(buffer) => buffer,
            None => vec![0.0; len],
        }
    }

    /// Takes back the storage of a dead tensor (only f32 storage is recycled).
    pub(crate) fn recycle(&mut self, tensor: Tensor) {
        if let Data::F32(buffer) = tensor.into_data() {
            let free = self.free.entry(buffer.len()).or_default();
            if !buffer.is_empty() && free.len() < MAX_PER_LENGTH {
                free.push(buffer);
            }
        }
    }
}

/// Pools of finished runs, handed to the next runs (one per concurrent run).
#[derive(Default)]
pub(crate) struct PoolCache {
    pools: Mutex<Vec<BufferPool>>,
}

impl PoolCache {
    pub(crate) fn take(&self) -> BufferPool {
        self.pools
            .lock()
            .map(|mut p| p.pop())
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    pub(crate) fn give_back(&self, pool: BufferPool) {
        if let Ok(mut pools) = self.pools.lock() {
            pools.push(pool);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recycles_by_length() {
        let mut pool = BufferPool::default();
        let t = Tensor::new(vec![3], vec![1f32, 2.0, 3.0]).unwrap();
        pool.recycle(t);
        let reused = pool.take_f32(3);
        assert_eq!(reused, vec![1.0, 2.0, 3.0]);
        assert_eq!(pool.take_f32(3), vec![0.0; 3]);
        pool.recycle(Tensor::new(vec![3], reused).unwrap());
        pool.recycle(Tensor::new(vec![2], vec![1i64, 2]).unwrap());
        assert_eq!(pool.take_f32(3).len(), 3);
    }
}
