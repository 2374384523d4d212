//! The default partitioner: murmur2 of the key, identical to the Java client's
//! `Utils.toPositive(Utils.murmur2(key)) % numPartitions` (and librdkafka's
//! `murmur2_random`), and sticky or round-robin placement of records without a key.

use std::collections::HashMap;

/// Kafka's murmur2 (the Java client's `Utils.murmur2`), as a signed 32-bit value.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let length = data.len();
    let mut h: u32 = SEED ^ (length as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The Java client's `Utils.toPositive`: clears the sign bit.
pub fn to_positive(n: i32) -> i32 {
    n & 0x7fff_ffff
}

/// The partition of a keyed record: `to_positive(murmur2(key)) % num_partitions`.
pub fn partition_for_key(key: &[u8], num_partitions: usize) -> i32 {
    if num_partitions == 0 {
        return 0;
    }
    (to_positive(murmur2(key)) as i64 % num_partitions as i64) as i32
}

/// How records without a key (and without an explicit partition) are placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NullKeyPartitioning {
    /// Stay on one partition until about `batch_size` bytes went to it, then move to the next
    /// (the Java client's built-in partitioner, KIP-794, without load awareness).
    #[default]
    Sticky,
    /// Each record to the next partition.
    RoundRobin,
}

/// Placement state of records without a key.
#[derive(Debug, Default)]
pub struct NullKeyPartitioner {
    mode: NullKeyPartitioning,
    batch_size: usize,
    topics: HashMap<String, StickyState>,
}

#[derive(Debug, Default)]
struct StickyState {
    next: u32,
    current: Option<i32>,
    bytes: usize,
}

impl NullKeyPartitioner {
    /// A partitioner that switches sticky partitions after `batch_size` bytes.
    pub fn new(mode: NullKeyPartitioning, batch_size: usize) -> Self {
        NullKeyPartitioner {
            mode,
            batch_size: batch_size.max(1),
            topics: HashMap::new(),
        }
    }

    /// The partition for a record of `size` bytes without a key.
    pub fn partition(&mut self, topic: &str, num_partitions: usize, size: usize) -> i32 {
        if num_partitions == 0 {
            return 0;
        }
        let n = num_partitions as u32;
        let st = match self.topics.get_mut(topic) {
            Some(s) => s,
            None => self.topics.entry(topic.to_string()).or_default(),
        };
        match self.mode {
            NullKeyPartitioning::RoundRobin => {
                let p = st.next % n;
                st.next = st.next.wrapping_add(1);
                p as i32
            }
            NullKeyPartitioning::Sticky => {
                let p = match st.current {
                    Some(p) if (p as u32) < n && st.bytes < self.batch_size => p,
                    _ => {
                        let p = (st.next % n) as i32;
                        st.next = st.next.wrapping_add(1);
                        st.bytes = 0;
                        st.current = Some(p);
                        p
                    }
                };
                st.bytes += size;
                p
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectors of the Java client's `UtilsTest.testMurmur2`.
    #[test]
    fn murmur2_matches_java() {
        let cases: &[(&[u8], i32)] = &[
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            (b"abc", 479470107),
        ];
        for (k, want) in cases {
            assert_eq!(murmur2(k), *want, "{}", String::from_utf8_lossy(k));
        }
    }

    /// `Utils.toPositive(Utils.murmur2("key".getBytes()))` and partitions of some keys,
    /// cross-checked against librdkafka's `murmur2_random` on a live broker by the
    /// `partitioner_matches_librdkafka` integration test.
    #[test]
    fn key_partitions() {
        assert_eq!(to_positive(murmur2(b"")), 275646681);
        // Utils.toPositive(Utils.murmur2("key".getBytes()))
        assert_eq!(murmur2(b"key"), -1079937367);
        assert_eq!(to_positive(murmur2(b"key")), 1067546281);
        assert_eq!(partition_for_key(b"key", 6), 1067546281 % 6);
        assert_eq!(to_positive(-1), i32::MAX);
        assert_eq!(to_positive(i32::MIN), 0);
        for (key, n) in [("key", 6), ("a", 3), ("user-42", 12)] {
            let p = partition_for_key(key.as_bytes(), n);
            assert!((0..n as i32).contains(&p));
            assert_eq!(p, (to_positive(murmur2(key.as_bytes())) % n as i32));
        }
        assert_eq!(partition_for_key(b"x", 0), 0);
    }

    #[test]
    fn round_robin_cycles() {
        let mut p = NullKeyPartitioner::new(NullKeyPartitioning::RoundRobin, 100);
        let got: Vec<i32> = (0..7).map(|_| p.partition("t", 3, 10)).collect();
        assert_eq!(got, vec![0, 1, 2, 0, 1, 2, 0]);
        assert_eq!(p.partition("other", 3, 10), 0);
    }

    #[test]
    fn sticky_switches_after_batch_size() {
        let mut p = NullKeyPartitioner::new(NullKeyPartitioning::Sticky, 100);
        let got: Vec<i32> = (0..25).map(|_| p.partition("t", 3, 10)).collect();
        assert!(got[..10].iter().all(|x| *x == 0));
        assert!(got[10..20].iter().all(|x| *x == 1));
        assert!(got[20..].iter().all(|x| *x == 2));
        // Fewer partitions than the sticky one: move on.
        let mut p = NullKeyPartitioner::new(NullKeyPartitioning::Sticky, 100);
        assert_eq!(p.partition("t", 4, 1), 0);
        for _ in 0..200 {
            assert!(p.partition("t", 1, 1) == 0);
        }
    }
}
