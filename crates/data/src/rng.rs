//! The small, seedable generator behind shuffling and augmentation.
//!
//! SplitMix64 is used instead of `rand`'s `StdRng` because its output is fixed by its
//! definition, not by a crate version: a training run's data order, and therefore its
//! result, must not change when dependencies are updated. Its whole state is one `u64`.

/// SplitMix64 (Steele, Lea and Flood, 2014).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// A generator for one stream of a run, e.g. `[seed, epoch, sample]`: each distinct
    /// word list gives an independent-looking sequence.
    pub fn for_stream(words: &[u64]) -> Self {
        let mut state = 0x6A09_E667_F3BC_C909u64;
        for &w in words {
            state = SplitMix64::new(state ^ w).next_u64();
        }
        SplitMix64::new(state)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform integer in `0..n` (Lemire's multiply-shift; the bias is below 2⁻³² for
    /// the dataset sizes used here). `n` must be positive.
    pub fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0, "below(0) has no value to return");
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// A fair coin.
    pub fn coin(&mut self) -> bool {
        self.next_u64() >> 63 == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_published_splitmix64_sequence() {
        // First outputs for seed 1234567 of the reference C implementation.
        let mut rng = SplitMix64::new(1234567);
        let expected = [
            6457827717110365317u64,
            3203168211198807973,
            9817491932198370423,
            4593380528125082431,
            16408922859458223821,
        ];
        for e in expected {
            assert_eq!(rng.next_u64(), e);
        }
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut rng = SplitMix64::new(7);
        let mut seen = [0usize; 5];
        for _ in 0..1000 {
            seen[rng.below(5)] += 1;
        }
        assert!(seen.iter().all(|&c| c > 150), "{seen:?}");
    }

    #[test]
    fn streams_differ_by_every_word() {
        let a = SplitMix64::for_stream(&[1, 2, 3]).next_u64();
        assert_ne!(a, SplitMix64::for_stream(&[1, 2, 4]).next_u64());
        assert_ne!(a, SplitMix64::for_stream(&[0, 2, 3]).next_u64());
        assert_eq!(a, SplitMix64::for_stream(&[1, 2, 3]).next_u64());
    }
}
