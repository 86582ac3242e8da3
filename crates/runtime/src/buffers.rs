//! Pools of f32 and u8 buffers, keyed by length.
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
    /// Quantized activations of the integer steps.
    free_u8: HashMap<usize, Vec<Vec<u8>>>,
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

    /// As [`BufferPool::take_f32`] for u8 values.
    pub(crate) fn take_u8(&mut self, len: usize) -> Vec<u8> {
        match self.free_u8.get_mut(&len).and_then(Vec::pop) {
            Some(buffer) => buffer,
            None => vec![0; len],
        }
    }

    /// Takes back the storage of a dead tensor (f32 and u8 storage is recycled).
    pub(crate) fn recycle(&mut self, tensor: Tensor) {
        match tensor.into_data() {
            Data::F32(buffer) => keep(&mut self.free, buffer),
            Data::U8(buffer) => keep(&mut self.free_u8, buffer),
            _ => {}
        }
    }
}

fn keep<T>(free: &mut HashMap<usize, Vec<Vec<T>>>, buffer: Vec<T>) {
    let same_length = free.entry(buffer.len()).or_default();
    if !buffer.is_empty() && same_length.len() < MAX_PER_LENGTH {
        same_length.push(buffer);
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
        pool.recycle(Tensor::new(vec![2], vec![7u8, 9]).unwrap());
        assert_eq!(pool.take_u8(2), vec![7, 9]);
        assert_eq!(pool.take_u8(2), vec![0, 0]);
    }
}
