//! General (k×k, strided, dilated, grouped) convolution: im2col per group, then GEMM.

use super::geometry::valid_outputs;
use super::tiled_gemm::gemm_bias_act;
use super::{ConvGeometry, Epilogue};

pub(super) struct Im2col {
    /// `[Cout, Cin/group · kh · kw]` row-major, as the model gives them.
    weights: Vec<f32>,
}

impl Im2col {
    pub(super) fn new(_g: &ConvGeometry, weights: &[f32]) -> Self {
        Im2col {
            weights: weights.to_vec(),
        }
    }

    /// One batch item: `x` is `[Cin, h, w]`, `out` is `[Cout, oh, ow]`.
    pub(super) fn run(
        &self,
        g: &ConvGeometry,
        x: &[f32],
        h: usize,
        w: usize,
        out: &mut [f32],
        epilogue: &Epilogue,
    ) {
        let (oh, ow) = g.output_hw(h, w);
        let depth = g.in_per_group() * g.kernel[0] * g.kernel[1];
        // The scratch is taken out of the thread-local rather than borrowed in place: while the
        // GEMM waits on rayon, this thread may steal another convolution that needs scratch too.
        let mut columns = COLUMNS.take();
        // Grows to the largest layer, then runs reuse it (fill_columns overwrites all of it).
        if columns.len() < depth * oh * ow {
            columns.resize(depth * oh * ow, 0.0);
        }
        self.run_groups(g, x, h, w, out, epilogue, &mut columns[..depth * oh * ow]);
        COLUMNS.set(columns);
    }

    #[allow(clippy::too_many_arguments)]
    fn run_groups(
        &self,
        g: &ConvGeometry,
        x: &[f32],
        h: usize,
        w: usize,
        out: &mut [f32],
        epilogue: &Epilogue,
        columns: &mut [f32],
    ) {
        let (oh, ow) = g.output_hw(h, w);
        let ohw = oh * ow;
        let (cin, cout) = (g.in_per_group(), g.out_per_group());
        let depth = cin * g.kernel[0] * g.kernel[1];
        for group in 0..g.group {
            fill_columns(
                g,
                &x[group * cin * h * w..(group + 1) * cin * h * w],
                h,
                w,
                columns,
            );
            let weights = &self.weights[group * cout * depth..(group + 1) * cout * depth];
            let out_g = &mut out[group * cout * ohw..(group + 1) * cout * ohw];
            gemm_bias_act(cout, ohw, depth, weights, columns, out_g, epilogue, group * cout);
        }
    }
}

thread_local! {
    /// Patch-matrix scratch of the calling thread.
    static COLUMNS: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Writes the `[cin · kh · kw, oh · ow]` patch matrix of one group's input `x` (`[cin, h, w]`).
fn fill_columns(g: &ConvGeometry, x: &[f32], h: usize, w: usize, columns: &mut [f32]) {
    let (oh, ow) = g.output_hw(h, w);
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.strides;
    let [dh, dw] = g.dilations;
    let mut rows = columns.chunks_exact_mut(oh * ow);
    for plane in x.chunks_exact(h * w) {
        for ky in 0..kh {
            let y_off = (ky * dh) as isize - g.pads[0] as isize;
            let ys = valid_outputs(oh, sh, y_off, h);
            for kx in 0..kw {
                let x_off = (kx * dw) as isize - g.pads[1] as isize;
                let xs = valid_outputs(ow, sw, x_off, w);
                let row = rows.next().expect("columns sized for cin·kh·kw rows");
                for (oy, out_row) in row.chunks_exact_mut(ow).enumerate() {
                    if !ys.contains(&oy) || xs.is_empty() {
                        out_row.fill(0.0);
                        continue;
                    }
                    let in_row = &plane[(oy as isize * sh as isize + y_off) as usize * w..][..w];
                    out_row[..xs.start].fill(0.0);
                    out_row[xs.end..].fill(0.0);
                    let first = (xs.start as isize * sw as isize + x_off) as usize;
                    if sw == 1 {
                        out_row[xs.clone()].copy_from_slice(&in_row[first..first + xs.len()]);
                    } else {
                        for (o, i) in out_row[xs.clone()]
                            .iter_mut()
                            .zip(in_row[first..].iter().step_by(sw))
                        {
                            *o = *i;
                        }
                    }
                }
            }
        }
    }
}
