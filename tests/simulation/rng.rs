//! The schedule's only source of chance: SplitMix64, seeded by the schedule's number.
//!
//! Hand-written rather than a crate's: the simulation needs a stream that is the same on every
//! platform and in every version, a dozen lines give it, and the core's tests stay free of a
//! new dependency.

/// A seeded SplitMix64 stream (Steele, Lea and Flood, "Fast splittable pseudorandom number
/// generators", 2014): every call moves the state by a constant and mixes it.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`0` when `n` is `0`).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Lemire's multiply-shift: no division, a bias of at most n / 2^64.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high.saturating_sub(low) + 1)
    }

    /// True `per_mille` times in a thousand.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    /// One of `items`, each with its weight.
    pub fn weighted<T: Copy>(&mut self, items: &[(u64, T)]) -> T {
        let total: u64 = items.iter().map(|(weight, _)| weight).sum();
        let mut pick = self.below(total);
        for (weight, item) in items {
            if pick < *weight {
                return *item;
            }
            pick -= weight;
        }
        items[items.len() - 1].1
    }
}

/// A stream of its own for each schedule, from the schedule's seed.
pub fn for_schedule(seed: u64) -> Rng {
    let mut mixer = Rng::new(seed);
    Rng::new(mixer.next_u64())
}
