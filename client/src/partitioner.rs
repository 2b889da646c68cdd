//! The default partitioner: murmur2 of the key, bit for bit Java's, plus the sticky and
//! round-robin choice for keyless records.
//!
//! Where it sits: producer → **partitioner** → accumulator → wire. The producer asks this file
//! which partition a record goes to; everything downstream only sees `(topic, partition)`.
//!
//! Invariants:
//! - `partition_for_key(key, n)` equals Java's `Utils.toPositive(Utils.murmur2(key)) % n`,
//!   so a key lands on the same partition whether kafka-python, the Java client, librdkafka
//!   with `partitioner=murmur2_random` or this client sends it.
//! - The result is always in `0..n` (`toPositive` masks the sign bit; it is not `abs()`,
//!   which would overflow on `i32::MIN`).

use std::collections::HashMap;

use rand::Rng;

use crate::config::KeylessPartitioning;

/// Java's `Utils.murmur2`: MurmurHash2, 32-bit, seed `0x9747b28c`, little-endian blocks.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;

    let mut h: u32 = SEED ^ (data.len() as u32);
    let mut blocks = data.chunks_exact(4);
    for block in blocks.by_ref() {
        let mut k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = blocks.remainder();
    // Java's switch falls through from 3 leftover bytes down to 1.
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Java's `Utils.toPositive`: clear the sign bit.
pub fn to_positive(n: i32) -> i32 {
    n & 0x7fff_ffff
}

/// The partition Java's default partitioner picks for `key` among `num_partitions`.
///
/// `num_partitions` must be at least 1; 0 or less yields partition 0.
pub fn partition_for_key(key: &[u8], num_partitions: i32) -> i32 {
    if num_partitions <= 0 {
        return 0;
    }
    to_positive(murmur2(key)) % num_partitions
}

/// Chooses partitions for records without a key, one state per topic.
#[derive(Debug, Default)]
pub struct KeylessPartitioner {
    mode: KeylessPartitioning,
    /// Per topic: the current partition and the bytes sent to it since it was chosen.
    state: HashMap<String, (i32, usize)>,
}

impl KeylessPartitioner {
    /// A partitioner in the given mode.
    pub fn new(mode: KeylessPartitioning) -> Self {
        KeylessPartitioner {
            mode,
            state: HashMap::new(),
        }
    }

    /// Partition for a keyless record of `size` bytes. Sticky mode stays on one partition until
    /// `batch_size` bytes went there, then moves to a different random one.
    pub fn next(
        &mut self,
        topic: &str,
        num_partitions: i32,
        size: usize,
        batch_size: usize,
    ) -> i32 {
        let n = num_partitions.max(1);
        let mode = self.mode;
        let mut rng = rand::rng();
        if !self.state.contains_key(topic) {
            // Copied once per topic, not per record.
            self.state
                .insert(topic.to_string(), (rng.random_range(0..n), 0));
        }
        let entry = self.state.get_mut(topic).expect("inserted above");
        match mode {
            KeylessPartitioning::RoundRobin => {
                entry.0 = (entry.0 + 1) % n;
            }
            KeylessPartitioning::Sticky => {
                if entry.0 >= n || entry.1 >= batch_size {
                    let mut next = rng.random_range(0..n);
                    if n > 1 && next == entry.0 {
                        next = (next + 1) % n;
                    }
                    *entry = (next, 0);
                }
                entry.1 += size;
            }
        }
        entry.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn kafka_test_vectors() {
        let vectors: [(&str, i32); 7] = [
            ("21", -973_932_308),
            ("foobar", -790_332_482),
            ("a-little-bit-long-string", -985_981_536),
            ("a-little-bit-longer-string", -1_486_304_829),
            (
                "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            ("abc", 479_470_107),
            ("", 275_646_681),
        ];
        for (key, expected) in vectors {
            assert_eq!(murmur2(key.as_bytes()), expected, "murmur2({key:?})");
        }
    }

    #[test]
    fn classroom_keys_with_three_partitions() {
        let expected = [
            ("user_1", 0),
            ("user_2", 1),
            ("user_3", 0),
            ("key-0", 1),
            ("key-1", 0),
            ("key-2", 2),
        ];
        for (key, partition) in expected {
            assert_eq!(partition_for_key(key.as_bytes(), 3), partition, "{key}");
        }
    }

    #[test]
    fn to_positive_is_not_abs() {
        assert_eq!(to_positive(i32::MIN), 0);
        assert_eq!(to_positive(-1), i32::MAX);
    }

    #[test]
    fn sticky_stays_until_a_batch_worth_then_moves() {
        let mut p = KeylessPartitioner::new(KeylessPartitioning::Sticky);
        let first = p.next("t", 4, 10, 100);
        for _ in 0..9 {
            assert_eq!(p.next("t", 4, 10, 100), first);
        }
        assert_ne!(p.next("t", 4, 10, 100), first);
    }

    #[test]
    fn round_robin_visits_every_partition() {
        let mut p = KeylessPartitioner::new(KeylessPartitioning::RoundRobin);
        let mut seen: Vec<i32> = (0..3).map(|_| p.next("t", 3, 1, 100)).collect();
        seen.sort_unstable();
        assert_eq!(seen, vec![0, 1, 2]);
    }

    proptest! {
        #[test]
        fn partition_in_range_and_deterministic(key in proptest::collection::vec(any::<u8>(), 0..64), n in 1i32..1000) {
            let p = partition_for_key(&key, n);
            prop_assert!((0..n).contains(&p));
            prop_assert_eq!(p, partition_for_key(&key, n));
        }

        #[test]
        fn keyless_in_range(n in 1i32..50, sizes in proptest::collection::vec(1usize..5000, 1..50)) {
            let mut sticky = KeylessPartitioner::new(KeylessPartitioning::Sticky);
            let mut rr = KeylessPartitioner::new(KeylessPartitioning::RoundRobin);
            for s in sizes {
                prop_assert!((0..n).contains(&sticky.next("t", n, s, 16384)));
                prop_assert!((0..n).contains(&rr.next("t", n, s, 16384)));
            }
        }
    }
}
