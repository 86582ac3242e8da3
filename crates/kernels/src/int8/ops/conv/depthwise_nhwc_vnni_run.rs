//! Runs of horizontally adjacent output pixels for the VNNI NHWC depthwise kernel
//! ([`super::depthwise_nhwc_vnni`]), for square 3×3 and 5×5 filters with horizontal
//! stride and dilation 1.
//!
//! Adjacent outputs of such a conv read mostly the same input pixels, yet the per-pixel
//! kernel interleaves every output's own taps (8 shuffles per four taps). A run of `P`
//! outputs at columns `x..x + P` reads, in each filter row, the `kw + P − 1` input columns
//! from `x − pad_left`; they are taken as `Q` quads of four consecutive pixels, each
//! interleaved once, and output `p` adds quad `q` with one `vpdpbusd` per accumulator
//! against a table whose four bytes per channel are the filter taps `4q + i − p` of that
//! row (0 where the index is outside the filter). Pairs `(p, q)` whose taps all fall
//! outside are skipped. Counted per output and 32 channels, 3×3 with `P = 2` (one quad)
//! takes 12 shuffles and 12 `vpdpbusd` instead of 20 and 12, and 5×5 with `P = 4` (two
//! quads) 20 and 40 instead of 52 and 28. Those sizes measured fastest: 3×3 runs of 4 or 6
//! need a second quad per row and more `vpdpbusd`, and 5×5 runs of 8 would need 32
//! accumulators (four per output), all the vector registers. A row's last outputs that
//! fill no run take the per-pixel kernel, except three 5×5 outputs, which take a run of 3
//! on the same tables. Runs go to the kernel in batches, so that each channel block's
//! tables are read once per batch.
//!
//! Padding works as in the per-pixel kernel: a quad's pixel over padding is the zero
//! pixel, which is what the folded bias expects, and pixels a run reads past its last
//! needed column meet weight 0 in every table. The sums and the requantization are the
//! per-pixel kernel's, so the bytes are equal.

use std::arch::x86_64::*;

use super::depthwise_nhwc::channel_blocks;
use super::depthwise_nhwc_vnni::{interleave, load_channels, table_index, QuadDepthwise, GROUP, LANES};
use crate::f32::ConvGeometry;

/// Shifted weight tables of one square filter for runs of adjacent outputs.
#[derive(Debug)]
pub(super) struct QuadRun {
    /// Filter height and width.
    size: usize,
    /// Output pixels per run (`P`).
    outputs: usize,
    /// Quads per filter row (`Q`).
    quads: usize,
    /// `[block][filter row][output][quad][32 lanes]`: the table of output `p` and quad `q`,
    /// lanes in [`table_index`] order, so one block's tables are contiguous.
    tables: Vec<i32>,
}

impl QuadRun {
    /// `weights` are `[C, taps]` values `w − zw` that fit i8; the tables assume a square
    /// filter (`run_for` checks the geometry). `None` for sizes other than 3 and 5.
    pub(super) fn new(taps: usize, weights: &[i32], channels: usize) -> Option<QuadRun> {
        let size = taps.isqrt();
        let outputs = match (size * size == taps, size) {
            (true, 3) => 2,
            (true, 5) => 4,
            _ => return None,
        };
        let quads = (size + outputs - 1).div_ceil(GROUP);
        let per_block = size * outputs * quads * LANES;
        let mut tables = vec![0i32; channels.div_ceil(LANES) * per_block];
        for (c, filter) in weights.chunks_exact(taps).enumerate() {
            let at = table_index(c);
            let (block, lane) = (at / LANES, at % LANES);
            for (row, row_taps) in filter.chunks_exact(size).enumerate() {
                for p in 0..outputs {
                    for q in 0..quads {
                        let bytes: [u8; GROUP] = std::array::from_fn(|i| {
                            (GROUP * q + i)
                                .checked_sub(p)
                                .and_then(|t| row_taps.get(t))
                                .map_or(0, |w| *w as i8 as u8)
                        });
                        let table = ((block * size + row) * outputs + p) * quads + q;
                        tables[table * LANES + lane] = i32::from_le_bytes(bytes);
                    }
                }
            }
        }
        Some(QuadRun {
            size,
            outputs,
            quads,
            tables,
        })
    }

    /// Whether runs serve this geometry: the tables' filter, horizontal stride and
    /// dilation 1 (the vertical ones only choose the rows).
    pub(super) fn fits(&self, g: &ConvGeometry) -> bool {
        g.kernel == [self.size; 2] && g.strides[1] == 1 && g.dilations[1] == 1
    }

    /// Output pixels per full run.
    pub(super) fn outputs(&self) -> usize {
        self.outputs
    }

    /// The outputs of a shorter run for the last `rest` (< `outputs()`) outputs of a row,
    /// where one beats as many single pixels: 5×5 runs of 3 (16 shuffles and 24
    /// `vpdpbusd` per filter row for three outputs).
    pub(super) fn shorter(&self, rest: usize) -> Option<usize> {
        (self.size == 5 && rest == 3).then_some(rest)
    }

    /// Input columns a run reads per filter row, from the first output's first tap.
    pub(super) fn span(&self) -> usize {
        self.quads * GROUP
    }

    /// Consecutive runs of `outputs` (`outputs()`, or a `shorter` one) pixels each:
    /// `pointers` holds, run after run, `span()` consecutive input pixels (or the zero
    /// pixel) of each filter row, row after row, each addressing `channels` readable
    /// bytes; `out` holds the runs' output pixels. Each channel block's tables serve every
    /// run before the next block's are read: a 5×5 conv's take 5 KiB per block, so a wide
    /// layer's do not stay in L1 from one run to the next.
    ///
    /// # Safety
    /// `kernel` is the [`QuadDepthwise`] this run was built with, whose `new` returned
    /// `Some` on this CPU.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    pub(super) unsafe fn run(
        &self,
        kernel: &QuadDepthwise,
        outputs: usize,
        pointers: &[*const u8],
        out: &mut [u8],
    ) {
        let per_run = self.size * self.span();
        let runs = pointers.len() / per_run;
        assert_eq!(pointers.len(), runs * per_run);
        assert_eq!(out.len(), runs * outputs * kernel.channels());
        let out = out.as_mut_ptr();
        match (self.size, outputs) {
            (3, 2) => self.blocks::<3, 2, 1>(kernel, pointers, out),
            (5, 4) => self.blocks::<5, 4, 2>(kernel, pointers, out),
            (5, 3) => self.blocks::<5, 3, 2>(kernel, pointers, out),
            _ => unreachable!("`new` and `shorter` make only these runs"),
        }
    }

    /// Every channel block of runs of `P` outputs of a `KW`-wide filter, `Q` quads per
    /// row (the constants let the accumulators live in registers and drop the skipped
    /// pairs at compile time).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    unsafe fn blocks<const KW: usize, const P: usize, const Q: usize>(
        &self,
        kernel: &QuadDepthwise,
        pointers: &[*const u8],
        out: *mut u8,
    ) {
        debug_assert_eq!((KW, Q), (self.size, self.quads));
        let channels = kernel.channels();
        let per_block = KW * self.outputs * Q * LANES;
        for (block, (c0, mask)) in channel_blocks(channels).enumerate() {
            let load = |p: *const u8| load_channels(p, c0, mask);
            let bias = kernel.bias(c0);
            let tables = self.tables.as_ptr().add(block * per_block);
            for (run, run_pointers) in pointers.chunks_exact(KW * Q * GROUP).enumerate() {
                let mut acc = [bias; P];
                for (row, columns) in run_pointers.chunks_exact(Q * GROUP).enumerate() {
                    for (q, quad) in columns.chunks_exact(GROUP).enumerate() {
                        let x = interleave(load(quad[0]), load(quad[1]), load(quad[2]), load(quad[3]));
                        for (p, sums) in acc.iter_mut().enumerate() {
                            // Taps `4q + i − p` for i in 0..4 all outside the filter row.
                            if GROUP * q + GROUP <= p || GROUP * q >= p + KW {
                                continue;
                            }
                            let table = tables.add(((row * self.outputs + p) * Q + q) * LANES);
                            for (k, sum) in sums.iter_mut().enumerate() {
                                let weights = _mm256_loadu_si256(table.add(8 * k).cast());
                                *sum = _mm256_dpbusd_epi32(*sum, x[k], weights);
                            }
                        }
                    }
                }
                let out = out.add(run * P * channels);
                for (p, sums) in acc.into_iter().enumerate() {
                    kernel.finish(sums, c0, mask, out.add(p * channels));
                }
            }
        }
    }
}
