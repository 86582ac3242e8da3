//! A fixed-size histogram whose range grows with the data: the memory of every
//! histogram-based observer.
//!
//! Contract:
//! - memory is `bins` counts plus two scratch buffers of the same size, whatever the
//!   number of values observed;
//! - a batch inside the current range is binned in one pass (split across the rayon
//!   pool when large, with one count buffer per chunk; otherwise with no allocation), as
//!   `torch.histc` bins it (bin `floor((x - lo) * bins / (hi - lo))`, the top edge in the
//!   last bin; a value within an ulp of a bin edge may land in the neighbouring bin);
//! - a batch that leaves the range (rare once calibration has warmed up) costs two more
//!   passes, its extent then its binning over the union range, and the old counts are
//!   re-binned onto that range. This is PyTorch's `HistogramObserver.forward`
//!   and `_upscale_histogram` (torch 2.x): each old bin is split into [`UPSAMPLE_RATE`]
//!   equal parts whose midpoints pick the new bin. Re-binning moves mass by at most one
//!   new bin, but it makes the result depend on the order in which batches arrive;
//! - NaN and infinite values are ignored, as PyTorch ignores infinities: they would make
//!   the range infinite.

/// Sub-bins per bin when old counts are re-binned onto a wider range (PyTorch's value).
pub const UPSAMPLE_RATE: usize = 16;

/// Counts of values over `[lo, hi]` in equal-width bins.
#[derive(Debug, Clone)]
pub struct RangeHistogram {
    counts: Vec<f64>,
    /// `None` until a finite value arrives.
    range: Option<(f32, f32)>,
    /// Keeps `0.0` inside the range (for magnitude histograms that must start at zero).
    anchor_zero: bool,
    /// Per-batch counts plus one slot for values outside the range, reused across calls
    /// so the hot loop never allocates.
    batch: Vec<u64>,
    /// Target of re-binning, swapped with `counts`.
    spare: Vec<f64>,
}

impl RangeHistogram {
    /// `bins` must be at least 1 (observers validate it before building one).
    pub fn new(bins: usize, anchor_zero: bool) -> Self {
        let bins = bins.max(1);
        RangeHistogram {
            counts: vec![0.0; bins],
            range: None,
            anchor_zero,
            batch: vec![0; bins + 1],
            spare: vec![0.0; bins],
        }
    }

    pub fn bins(&self) -> usize {
        self.counts.len()
    }

    pub fn counts(&self) -> &[f64] {
        &self.counts
    }

    /// The covered range, `None` before the first finite value.
    pub fn range(&self) -> Option<(f32, f32)> {
        self.range
    }

    /// Number of values counted.
    pub fn total(&self) -> f64 {
        self.counts.iter().sum()
    }

    /// Bins `values`.
    pub fn observe(&mut self, values: &[f32]) {
        self.observe_mapped(values, |x| x);
    }

    /// Bins `|x|` for each value (magnitude histograms of symmetric calibrators).
    pub fn observe_magnitudes(&mut self, values: &[f32]) {
        self.observe_mapped(values, f32::abs);
    }

    fn observe_mapped(&mut self, values: &[f32], map: impl Fn(f32) -> f32 + Copy + Send + Sync) {
        if let Some((lo, hi)) = self.range {
            self.batch.fill(0);
            if !bin_in_parallel(&mut self.batch, values, lo, hi, map) {
                add_batch(&mut self.counts, &self.batch);
                return;
            }
        }
        // First batch, or a batch that leaves the range: a second pass finds its extent.
        let Some((batch_lo, batch_hi)) = finite_extent(values, map) else {
            return;
        };
        let (mut lo, mut hi) = match self.range {
            Some((lo, hi)) => (lo.min(batch_lo), hi.max(batch_hi)),
            None => (batch_lo, batch_hi),
        };
        if self.anchor_zero {
            lo = lo.min(0.0);
            hi = hi.max(0.0);
        }
        self.rebin_onto(lo, hi);
        self.batch.fill(0);
        bin_in_parallel(&mut self.batch, values, lo, hi, map);
        add_batch(&mut self.counts, &self.batch);
    }

    /// Adds the counts of `other` after re-binning both onto the union of their ranges.
    /// Exact when both ranges already agree; otherwise each count moves by at most one bin.
    pub fn merge(&mut self, other: &RangeHistogram) {
        let Some((other_lo, other_hi)) = other.range else {
            return;
        };
        let (lo, hi) = match self.range {
            Some((lo, hi)) => (lo.min(other_lo), hi.max(other_hi)),
            None => (other_lo, other_hi),
        };
        self.rebin_onto(lo, hi);
        let mut moved = vec![0.0; self.bins()];
        rebin(&other.counts, (other_lo, other_hi), &mut moved, (lo, hi));
        for (count, add) in self.counts.iter_mut().zip(&moved) {
            *count += add;
        }
    }

    /// The value below which a fraction `q` (in `[0, 1]`) of the counted values lie,
    /// interpolating linearly inside the bin where the cumulative count crosses `q`.
    pub fn quantile(&self, q: f64) -> Option<f32> {
        let (lo, hi) = self.range?;
        let total = self.total();
        if total <= 0.0 {
            return None;
        }
        let target = q.clamp(0.0, 1.0) * total;
        let width = (hi as f64 - lo as f64) / self.bins() as f64;
        let mut below = 0.0;
        for (i, &count) in self.counts.iter().enumerate() {
            if count > 0.0 && below + count >= target {
                let fraction = ((target - below) / count).clamp(0.0, 1.0);
                return Some((lo as f64 + (i as f64 + fraction) * width) as f32);
            }
            below += count;
        }
        Some(hi)
    }

    fn rebin_onto(&mut self, lo: f32, hi: f32) {
        match self.range {
            Some(old) if old == (lo, hi) => {}
            Some(old) => {
                self.spare.fill(0.0);
                rebin(&self.counts, old, &mut self.spare, (lo, hi));
                std::mem::swap(&mut self.counts, &mut self.spare);
                self.range = Some((lo, hi));
            }
            None => self.range = Some((lo, hi)),
        }
    }
}

/// The edges `torch.histc` bins over: a degenerate range is widened by one on each side.
fn binning_edges(lo: f32, hi: f32) -> (f32, f32) {
    if lo == hi {
        (lo - 1.0, hi + 1.0)
    } else {
        (lo, hi)
    }
}

/// Values per task when a batch is binned on the rayon pool. Below twice this, one
/// thread bins the whole batch.
const PARALLEL_CHUNK: usize = 1 << 16;

/// [`bin_batch`] over large batches split across the rayon pool, each chunk counted
/// into its own buffer (one allocation of `bins + 1` counts per chunk) and the counts
/// summed: integer counts make the result identical to binning in one pass.
fn bin_in_parallel(
    batch: &mut [u64],
    values: &[f32],
    lo: f32,
    hi: f32,
    map: impl Fn(f32) -> f32 + Copy + Send + Sync,
) -> bool {
    use rayon::prelude::*;
    if values.len() < 2 * PARALLEL_CHUNK {
        return bin_batch(batch, values, lo, hi, map);
    }
    let slots = batch.len();
    let (counts, escaped) = values
        .par_chunks(PARALLEL_CHUNK)
        .map(|chunk| {
            let mut counts = vec![0u64; slots];
            let escaped = bin_batch(&mut counts, chunk, lo, hi, map);
            (counts, escaped)
        })
        .reduce(
            || (vec![0u64; slots], false),
            |(mut a, ea), (b, eb)| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                (a, ea | eb)
            },
        );
    batch.iter_mut().zip(&counts).for_each(|(x, y)| *x += y);
    escaped
}

/// Counts the mapped values that fall in `[lo, hi]` into `batch[..bins]`, sending the
/// others to the extra slot `batch[bins]`. Returns whether a finite value fell outside,
/// in which case the caller must widen the range and bin again.
///
/// Two stages per block of values: bin indices are computed branch-free (this part
/// vectorizes), then the counts are incremented.
fn bin_batch(batch: &mut [u64], values: &[f32], lo: f32, hi: f32, map: impl Fn(f32) -> f32) -> bool {
    const BLOCK: usize = 64;
    let bins = batch.len() - 1;
    let (edge_lo, edge_hi) = binning_edges(lo, hi);
    // torch.histc divides by the width per value; a reciprocal can put a value lying
    // within an ulp of a bin edge in the neighbouring bin, which is far below the
    // one-bin accuracy the observers promise and costs a third of the time.
    let per_unit = bins as f32 / (edge_hi - edge_lo);
    let last = (bins - 1) as i32;
    let mut escaped = false;
    let mut index = [0usize; BLOCK];
    for block in values.chunks(BLOCK) {
        for (slot, &x) in index.iter_mut().zip(block) {
            let v = map(x);
            let inside = v >= lo && v <= hi;
            escaped |= !inside & v.is_finite();
            let bin = (((v - edge_lo) * per_unit) as i32).min(last);
            *slot = if inside { bin as usize } else { bins };
        }
        for &slot in &index[..block.len()] {
            batch[slot] += 1;
        }
    }
    escaped
}

fn add_batch(counts: &mut [f64], batch: &[u64]) {
    for (count, &n) in counts.iter_mut().zip(batch) {
        *count += n as f64;
    }
}

/// Smallest and largest finite mapped value, `None` if there is none.
///
/// Written as independent lanes of compare-and-select so that it vectorizes: NaN fails
/// both comparisons, and each infinity is excluded from the side it would win.
pub(crate) fn finite_extent(values: &[f32], map: impl Fn(f32) -> f32) -> Option<(f32, f32)> {
    const LANES: usize = 16;
    let mut lo = [f32::INFINITY; LANES];
    let mut hi = [f32::NEG_INFINITY; LANES];
    let mut update = |lane: usize, v: f32| {
        if v < lo[lane] && v != f32::NEG_INFINITY {
            lo[lane] = v;
        }
        if v > hi[lane] && v != f32::INFINITY {
            hi[lane] = v;
        }
    };
    let chunks = values.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (lane, &x) in chunk.iter().enumerate() {
            update(lane, map(x));
        }
    }
    for (lane, &x) in tail.iter().enumerate() {
        update(lane, map(x));
    }
    let lo = lo.into_iter().fold(f32::INFINITY, f32::min);
    let hi = hi.into_iter().fold(f32::NEG_INFINITY, f32::max);
    (lo <= hi).then_some((lo, hi))
}

/// Adds `src` (over `src_range`) into `dst` (over `dst_range`, which must contain it).
fn rebin(src: &[f64], src_range: (f32, f32), dst: &mut [f64], dst_range: (f32, f32)) {
    let (dst_lo, dst_hi) = binning_edges(dst_range.0, dst_range.1);
    let dst_bins = dst.len();
    let dst_width = (dst_hi as f64 - dst_lo as f64) / dst_bins as f64;
    let bin_of = |v: f64| (((v - dst_lo as f64) / dst_width).floor().max(0.0) as usize).min(dst_bins - 1);
    let (src_lo, src_hi) = src_range;
    if src_lo == src_hi {
        // Every value equals `src_lo`: move the whole mass there.
        dst[bin_of(src_lo as f64)] += src.iter().sum::<f64>();
        return;
    }
    let sub_width = (src_hi as f64 - src_lo as f64) / (src.len() * UPSAMPLE_RATE) as f64;
    for (i, &count) in src.iter().enumerate() {
        if count == 0.0 {
            continue;
        }
        let share = count / UPSAMPLE_RATE as f64;
        for s in 0..UPSAMPLE_RATE {
            let midpoint = src_lo as f64 + ((i * UPSAMPLE_RATE + s) as f64 + 0.5) * sub_width;
            dst[bin_of(midpoint)] += share;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_like_histc_with_top_edge_in_last_bin() {
        let mut h = RangeHistogram::new(4, false);
        h.observe(&[0.0, 1.0, 1.9, 2.0, 3.99, 4.0]);
        assert_eq!(h.range(), Some((0.0, 4.0)));
        assert_eq!(h.counts(), &[1.0, 2.0, 1.0, 2.0]);
    }

    #[test]
    fn ignores_nan_and_infinities() {
        let mut h = RangeHistogram::new(4, false);
        h.observe(&[f32::NAN, f32::INFINITY, 1.0, 3.0, f32::NEG_INFINITY]);
        assert_eq!(h.range(), Some((1.0, 3.0)));
        assert_eq!(h.total(), 2.0);
        h.observe(&[f32::INFINITY, 2.0]);
        assert_eq!(h.range(), Some((1.0, 3.0)));
        assert_eq!(h.total(), 3.0);
    }

    #[test]
    fn growing_range_keeps_mass_and_bins_new_batch_exactly() {
        let mut h = RangeHistogram::new(8, false);
        h.observe(&[0.0, 0.5, 1.0]);
        h.observe(&[-1.0, 3.0]);
        assert_eq!(h.range(), Some((-1.0, 3.0)));
        assert_eq!(h.total(), 5.0);
        // Width 0.5: -1 in bin 0, 3 in bin 7; the old values stay within one bin of
        // where they belong (0 -> 2, 0.5 -> 3, 1 -> 4).
        assert_eq!(h.counts()[0], 1.0);
        assert_eq!(h.counts()[7], 1.0);
        let old_mass: f64 = h.counts()[1..=5].iter().sum();
        assert!((old_mass - 3.0).abs() < 1e-12);
    }

    #[test]
    fn degenerate_first_batch_then_growth() {
        let mut h = RangeHistogram::new(4, false);
        h.observe(&[2.0, 2.0]);
        assert_eq!(h.range(), Some((2.0, 2.0)));
        h.observe(&[2.0]);
        h.observe(&[0.0]);
        assert_eq!(h.range(), Some((0.0, 2.0)));
        assert_eq!(h.counts(), &[1.0, 0.0, 0.0, 3.0]);
    }

    #[test]
    fn magnitudes_anchor_at_zero() {
        let mut h = RangeHistogram::new(4, true);
        h.observe_magnitudes(&[-4.0, 2.0, 3.0]);
        assert_eq!(h.range(), Some((0.0, 4.0)));
        assert_eq!(h.counts(), &[0.0, 0.0, 1.0, 2.0]);
    }

    #[test]
    fn quantile_interpolates_inside_a_bin() {
        let mut h = RangeHistogram::new(10, false);
        let values: Vec<f32> = (0..=1000).map(|i| i as f32 / 1000.0).collect();
        h.observe(&values);
        let median = h.quantile(0.5).unwrap();
        assert!((median - 0.5).abs() < 0.01, "median {median}");
        assert_eq!(h.quantile(1.0), Some(1.0));
        assert_eq!(h.quantile(0.0), Some(0.0));
    }
}
