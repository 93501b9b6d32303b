//! A fixed-size log-linear histogram of durations in microseconds (16 sub-buckets per power
//! of two: at most ~6 % relative error), so recording never allocates however many samples
//! arrive. The maximum is kept exactly.

const SUB_BITS: u32 = 4;
const SUB: usize = 1 << SUB_BITS;
/// Powers of two covered: up to 2^40 µs (12 days).
const POWERS: usize = 40;

#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64; SUB * POWERS]>,
    total: u64,
    max_us: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: Box::new([0; SUB * POWERS]),
            total: 0,
            max_us: 0,
        }
    }
}

fn index(us: u64) -> usize {
    if us < SUB as u64 {
        return us as usize;
    }
    let exp = 63 - us.leading_zeros(); // >= SUB_BITS
    let mantissa = (us >> (exp - SUB_BITS)) as usize & (SUB - 1);
    (((exp - SUB_BITS + 1) as usize) * SUB + mantissa).min(SUB * POWERS - 1)
}

/// The smallest value that lands in bucket `i`.
fn lower_bound(i: usize) -> u64 {
    let (block, mantissa) = (i / SUB, (i % SUB) as u64);
    if block == 0 {
        return mantissa;
    }
    let exp = block as u32 + SUB_BITS - 1;
    (1 << exp) | (mantissa << (exp - SUB_BITS))
}

impl Histogram {
    pub fn record(&mut self, us: u64) {
        self.counts[index(us)] += 1;
        self.total += 1;
        self.max_us = self.max_us.max(us);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max_us(&self) -> u64 {
        self.max_us
    }

    /// The `q` quantile (0..=1): the midpoint of the bucket holding it, capped at the max (the
    /// max itself for the last sample);
    /// 0 when empty.
    pub fn quantile_us(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        if rank == self.total {
            return self.max_us;
        }
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (lo, hi) = (lower_bound(i), lower_bound(i + 1));
                return (lo + (hi - lo) / 2).min(self.max_us);
            }
        }
        self.max_us
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_tight() {
        for i in 0..SUB * POWERS - 1 {
            assert_eq!(index(lower_bound(i)), i, "bucket {i}");
            assert_eq!(index(lower_bound(i + 1) - 1), i, "end of bucket {i}");
        }
        for us in [0, 1, 15, 16, 17, 1000, 123_456, 10_000_000] {
            let i = index(us);
            assert!(lower_bound(i) <= us && us < lower_bound(i + 1), "{us}");
            assert!((lower_bound(i + 1) - lower_bound(i)) as f64 <= 1.0 + us as f64 / 16.0);
        }
    }

    #[test]
    fn quantiles() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile_us(0.5), 0);
        for us in 1..=1000 {
            h.record(us * 1000);
        }
        let p50 = h.quantile_us(0.5) as f64;
        assert!((p50 - 500_000.0).abs() < 500_000.0 * 0.07, "{p50}");
        let p99 = h.quantile_us(0.99) as f64;
        assert!((p99 - 990_000.0).abs() < 990_000.0 * 0.07, "{p99}");
        assert_eq!(h.quantile_us(1.0), 1_000_000);
        assert_eq!(h.max_us(), 1_000_000);
        h.record(5);
        assert_eq!(h.count(), 1001);
        assert_eq!(h.quantile_us(0.0), 5);
    }
}
