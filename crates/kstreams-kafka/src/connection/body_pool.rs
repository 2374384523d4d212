//! Buffers for large response bodies, used again once every record read from them is gone.
//!
//! A fetch response is read into one buffer, and the records decoded from it borrow it (their
//! keys and values are slices of it) until the application has processed them. A fresh
//! buffer of several megabytes per fetch is memory the allocator gets from the kernel, which
//! zeroes it page by page as the socket read first touches it: a third of the network
//! thread's time in a profile of the count workload. So a body of [`MIN_POOLED`] bytes or
//! more is read into a buffer from the connection's pool, and the buffer goes back to the
//! pool when the last slice of it is dropped, on whatever thread that happens.
//!
//! Memory: the pool keeps at most [`MAX_KEPT`] buffers and [`MAX_KEPT_BYTES`] in all; a
//! buffer handed back beyond that is freed, unless it is larger than the smallest one kept,
//! which it then replaces.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

/// Bodies smaller than this are read into a buffer of their own (the allocator recycles
/// small blocks without the kernel).
const MIN_POOLED: usize = 64 * 1024;

/// Buffers a pool keeps.
const MAX_KEPT: usize = 4;

/// Bytes of capacity a pool keeps in all.
const MAX_KEPT_BYTES: usize = 64 * 1024 * 1024;

/// New pooled buffers are rounded up to a multiple of this, so that the next response of a
/// similar size fits.
const ROUNDING: usize = 256 * 1024;

/// A connection's spare body buffers.
#[derive(Debug, Default)]
pub(crate) struct BodyPool {
    free: Mutex<Vec<Vec<u8>>>,
}

impl BodyPool {
    /// An empty buffer with room for `len` bytes: a kept one if one is large enough.
    pub(crate) fn take(&self, len: usize) -> Vec<u8> {
        if len < MIN_POOLED {
            return Vec::with_capacity(len);
        }
        if let Ok(mut free) = self.free.lock()
            && let Some(i) = free.iter().position(|b| b.capacity() >= len)
        {
            return free.swap_remove(i);
        }
        Vec::with_capacity(len.div_ceil(ROUNDING) * ROUNDING)
    }

    /// The body as shared bytes; a pooled-size buffer comes back to this pool when the last
    /// slice of it is dropped.
    pub(crate) fn freeze(self: &Arc<Self>, body: Vec<u8>) -> Bytes {
        if body.capacity() < MIN_POOLED {
            return Bytes::from(body);
        }
        Bytes::from_owner(Pooled {
            body,
            pool: self.clone(),
        })
    }

    /// Keeps `buffer` (emptied) if the bounds allow, replacing a smaller one if need be.
    fn give_back(&self, mut buffer: Vec<u8>) {
        buffer.clear();
        let Ok(mut free) = self.free.lock() else {
            return;
        };
        let kept: usize = free.iter().map(Vec::capacity).sum();
        if free.len() < MAX_KEPT && kept + buffer.capacity() <= MAX_KEPT_BYTES {
            free.push(buffer);
            return;
        }
        let Some((smallest, size)) = free
            .iter()
            .enumerate()
            .map(|(i, b)| (i, b.capacity()))
            .min_by_key(|&(_, c)| c)
        else {
            return;
        };
        if size < buffer.capacity() && kept - size + buffer.capacity() <= MAX_KEPT_BYTES {
            free[smallest] = buffer;
        }
    }

    /// Buffers kept now (tests).
    #[cfg(test)]
    fn kept(&self) -> Vec<usize> {
        let mut sizes: Vec<usize> = self
            .free
            .lock()
            .unwrap()
            .iter()
            .map(Vec::capacity)
            .collect();
        sizes.sort_unstable();
        sizes
    }
}

/// A body buffer lent out as [`Bytes`]; its drop returns the buffer to the pool.
struct Pooled {
    body: Vec<u8>,
    pool: Arc<BodyPool>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.body
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        self.pool.give_back(std::mem::take(&mut self.body));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(pool: &BodyPool, len: usize, byte: u8) -> Vec<u8> {
        let mut b = pool.take(len);
        b.resize(len, byte);
        b
    }

    #[test]
    fn a_large_body_returns_to_the_pool_when_its_last_slice_drops() {
        let pool = Arc::new(BodyPool::default());
        let body = filled(&pool, MIN_POOLED + 1, 7);
        let address = body.as_ptr();
        let bytes = pool.freeze(body);
        let slice = bytes.slice(10..20);
        drop(bytes);
        assert!(pool.kept().is_empty(), "a slice still borrows the buffer");
        assert_eq!(&slice[..], &[7u8; 10]);
        drop(slice);
        assert_eq!(pool.kept(), vec![ROUNDING]);
        // The next body of a size that fits is read into the same memory.
        let again = pool.take(MIN_POOLED * 2);
        assert_eq!(again.as_ptr(), address);
        assert!(again.is_empty());
        assert!(pool.kept().is_empty());
    }

    #[test]
    fn small_bodies_are_not_pooled() {
        let pool = Arc::new(BodyPool::default());
        let bytes = pool.freeze(filled(&pool, 100, 1));
        assert_eq!(bytes.len(), 100);
        drop(bytes);
        assert!(pool.kept().is_empty());
    }

    #[test]
    fn a_body_larger_than_every_kept_buffer_gets_a_new_one() {
        let pool = Arc::new(BodyPool::default());
        drop(pool.freeze(filled(&pool, MIN_POOLED, 0)));
        let big = pool.take(3 * ROUNDING + 1);
        assert_eq!(big.capacity(), 4 * ROUNDING);
        assert_eq!(
            pool.kept(),
            vec![ROUNDING],
            "the small one stays for small bodies"
        );
    }

    #[test]
    fn the_pool_keeps_at_most_its_count_and_bytes_preferring_larger_buffers() {
        let pool = Arc::new(BodyPool::default());
        let sizes = [1, 2, 3, 4].map(|n| n * ROUNDING);
        let bodies: Vec<Bytes> = sizes
            .iter()
            .map(|&s| pool.freeze(filled(&pool, s, 0)))
            .collect();
        drop(bodies);
        assert_eq!(pool.kept(), sizes.to_vec());
        // A fifth, larger buffer replaces the smallest; a smaller one is freed.
        let five = pool.freeze(Vec::with_capacity(5 * ROUNDING));
        let half = pool.freeze(Vec::with_capacity(MIN_POOLED));
        drop((five, half));
        assert_eq!(pool.kept(), [2, 3, 4, 5].map(|n| n * ROUNDING).to_vec());
        // A buffer that would take the pool over its byte bound is not kept.
        let mut huge = Vec::with_capacity(MAX_KEPT_BYTES);
        huge.push(0);
        drop(pool.freeze(huge));
        assert_eq!(pool.kept(), [2, 3, 4, 5].map(|n| n * ROUNDING).to_vec());
    }
}
