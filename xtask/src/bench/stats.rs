//! Small statistics helpers for benchmark samples.

use std::time::Duration;

/// Median of `samples` (the mean of the two middle values for an even count).
/// `None` for an empty slice. The input need not be sorted.
pub fn median(samples: &[f64]) -> Option<f64> {
    let sorted = sorted(samples);
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    Some(if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    })
}

/// Median of one measure of `items` ([`median`]); NaN when there are none,
/// so an empty run shows as such in a figure instead of stopping the bench.
pub fn median_by<T>(items: &[T], of: impl Fn(&T) -> f64) -> f64 {
    let values: Vec<f64> = items.iter().map(of).collect();
    median(&values).unwrap_or(f64::NAN)
}

/// The `p`-th percentile (0..=100) by the nearest-rank method: the smallest sample such that at
/// least `p`% of the samples are less than or equal to it. `None` for an empty slice.
pub fn percentile(samples: &[f64], p: f64) -> Option<f64> {
    let sorted = sorted(samples);
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let p = p.clamp(0.0, 100.0);
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, n) - 1])
}

fn sorted(samples: &[f64]) -> Vec<f64> {
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

/// Summary of a set of latency samples, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub min: f64,
    pub median: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Summary {
    /// Summarise durations (converted to milliseconds). `None` when there are no samples.
    pub fn of_durations(samples: &[Duration]) -> Option<Summary> {
        let ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        Summary::of(&ms)
    }

    pub fn of(samples: &[f64]) -> Option<Summary> {
        Some(Summary {
            n: samples.len(),
            min: percentile(samples, 0.0)?,
            median: median(samples)?,
            p95: percentile(samples, 95.0)?,
            p99: percentile(samples, 99.0)?,
            max: percentile(samples, 100.0)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_empty_is_none() {
        assert_eq!(median(&[]), None);
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(Summary::of(&[]), None);
    }

    #[test]
    fn median_odd_and_even_unsorted() {
        assert_eq!(median(&[7.0]), Some(7.0));
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[10.0, 0.0]), Some(5.0));
        assert_eq!(median(&[5.0, 5.0, 1.0, 9.0, 5.0]), Some(5.0));
    }

    #[test]
    fn percentile_nearest_rank() {
        let v: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&v, 1.0), Some(1.0));
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 99.5), Some(100.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        // Classic example: 15, 20, 35, 40, 50.
        let w = [50.0, 15.0, 40.0, 20.0, 35.0];
        assert_eq!(percentile(&w, 5.0), Some(15.0));
        assert_eq!(percentile(&w, 30.0), Some(20.0));
        assert_eq!(percentile(&w, 40.0), Some(20.0));
        assert_eq!(percentile(&w, 50.0), Some(35.0));
        assert_eq!(percentile(&w, 100.0), Some(50.0));
        // Out-of-range p is clamped.
        assert_eq!(percentile(&w, -3.0), Some(15.0));
        assert_eq!(percentile(&w, 250.0), Some(50.0));
    }

    #[test]
    fn p99_of_200_samples() {
        let v: Vec<f64> = (1..=200).map(f64::from).collect();
        assert_eq!(percentile(&v, 99.0), Some(198.0));
    }

    #[test]
    fn summary_of_durations_in_ms() {
        let d: Vec<Duration> = [3, 1, 2, 4]
            .iter()
            .map(|&us| Duration::from_micros(us * 500))
            .collect();
        let s = Summary::of_durations(&d).unwrap();
        assert_eq!(s.n, 4);
        assert!((s.min - 0.5).abs() < 1e-9);
        assert!((s.median - 1.25).abs() < 1e-9);
        assert!((s.p99 - 2.0).abs() < 1e-9);
        assert!((s.max - 2.0).abs() < 1e-9);
    }
}
