//! Deterministic pseudo-random numbers for the generator: xoshiro256** seeded by splitmix64.
//!
//! Owns: the only source of randomness in `gen`. The algorithms are written out here rather
//! than borrowed from a crate, so a seed yields the same ledger forever.
//! Must not: call floating-point functions whose results may differ between platforms or
//! library versions (`ln`, `exp`, `powf`, `sin`); only `+ - * /` on `f64`, which IEEE 754
//! fixes bit for bit.

/// One step of splitmix64: advances `state` and returns a well-mixed word.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Mixes a seed with a stream tag and an index into one well-spread word.
pub(crate) fn mix(seed: u64, stream: u64, index: u64) -> u64 {
    let mut s = seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03);
    let a = splitmix64(&mut s);
    let mut t = a ^ index.wrapping_mul(0xA24B_AED4_963E_E407);
    splitmix64(&mut t)
}

/// xoshiro256** (Blackman and Vigna, 2018).
#[derive(Clone, Debug)]
pub(crate) struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator whose state is expanded from `seed` by splitmix64.
    pub(crate) fn new(seed: u64) -> Self {
        let mut st = seed;
        let s = [splitmix64(&mut st), splitmix64(&mut st), splitmix64(&mut st), splitmix64(&mut st)];
        Rng { s }
    }

    /// An independent generator for (`seed`, `stream`, `index`): each part of the ledger
    /// draws from its own stream, so changing one part never shifts another.
    pub(crate) fn stream(seed: u64, stream: u64, index: u64) -> Self {
        Rng::new(mix(seed, stream, index))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `0..n` (multiply-shift; `n` = 0 gives 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform index into a collection of `n` items.
    pub(crate) fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        debug_assert!(lo <= hi, "empty range {lo}..={hi}");
        lo + self.below((hi - lo) as u64 + 1) as i64
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// In `lo..=hi`, skewed towards `lo`: `lo + (hi - lo) * u^power`.
    pub(crate) fn skewed(&mut self, lo: i64, hi: i64, power: u32) -> i64 {
        let u = self.unit();
        let mut x = 1.0;
        for _ in 0..power {
            x *= u;
        }
        lo + ((hi - lo) as f64 * x) as i64
    }

    /// One element of a non-empty slice.
    pub(crate) fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.index(xs.len())]
    }

    /// Fisher-Yates shuffle.
    pub(crate) fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.index(i + 1);
            xs.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xoshiro_matches_the_reference_sequence() {
        // Reference: state {1, 2, 3, 4} from the authors' C code.
        let mut r = Rng { s: [1, 2, 3, 4] };
        let got: Vec<u64> = (0..4).map(|_| r.next_u64()).collect();
        assert_eq!(got, vec![11520, 0, 1509978240, 1215971899390074240]);
    }

    #[test]
    fn streams_are_stable_and_distinct() {
        let a = Rng::stream(7, 1, 0).next_u64();
        let b = Rng::stream(7, 1, 0).next_u64();
        let c = Rng::stream(7, 1, 1).next_u64();
        let d = Rng::stream(7, 2, 0).next_u64();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }

    #[test]
    fn ranges_stay_in_bounds() {
        let mut r = Rng::new(42);
        for _ in 0..10_000 {
            let x = r.range(-3, 5);
            assert!((-3..=5).contains(&x));
            let y = r.skewed(10, 20, 3);
            assert!((10..=20).contains(&y));
            assert!(r.below(7) < 7);
        }
    }
}
