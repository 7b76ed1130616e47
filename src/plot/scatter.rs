//! Scatter plots coloured by 10 equal-width bins of a scalar: the latent-space figures
//! (Figure 4: first Z0 dimension against Z1, coloured by bins of t) and the reconstructed x
//! and predicted y of the artificial experiment.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::Result;

/// Number of colour bins.
pub const BINS: usize = 10;

/// One scatter panel.
#[derive(Debug, Clone)]
pub struct Scatter<'a> {
    /// Title above the panel.
    pub title: String,
    /// Label of the horizontal axis.
    pub x_label: String,
    /// Label of the vertical axis.
    pub y_label: String,
    /// Horizontal coordinates.
    pub xs: &'a [f64],
    /// Vertical coordinates.
    pub ys: &'a [f64],
    /// The scalar whose bins give the colours.
    pub colour_by: &'a [f64],
    /// Name of that scalar, for the legend.
    pub colour_label: String,
    /// Range the 10 colour bins span (default: the extremes of `colour_by`), so that panels
    /// of one figure share their colours.
    pub colour_range: Option<(f64, f64)>,
}

/// Bin index (0..BINS) of each value, in 10 equal-width bins between the extremes.
pub fn bins(values: &[f64]) -> Vec<usize> {
    bins_in(values, extremes(values))
}

/// Smallest and largest value.
pub fn extremes(values: &[f64]) -> (f64, f64) {
    values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)))
}

/// Bin index (0..BINS) of each value in 10 equal-width bins over `(lo, hi)` (values outside
/// go to the end bins).
pub fn bins_in(values: &[f64], (lo, hi): (f64, f64)) -> Vec<usize> {
    let width = (hi - lo) / BINS as f64;
    values.iter().map(|&v| if width > 0.0 { (((v - lo) / width).max(0.0) as usize).min(BINS - 1) } else { 0 }).collect()
}

/// Colour of bin `b` (a viridis-like ramp from dark blue to yellow).
pub fn bin_colour(b: usize) -> RGBColor {
    const RAMP: [(u8, u8, u8); BINS] = [
        (68, 1, 84),
        (72, 40, 120),
        (62, 73, 137),
        (49, 104, 142),
        (38, 130, 142),
        (31, 158, 137),
        (53, 183, 121),
        (109, 205, 89),
        (180, 222, 44),
        (253, 231, 37),
    ];
    let (r, g, b) = RAMP[b.min(BINS - 1)];
    RGBColor(r, g, b)
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, s: &Scatter) -> std::result::Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let finite = |v: &[f64]| {
        v.iter()
            .copied()
            .filter(|x| x.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), x| (l.min(x), h.max(x)))
    };
    let pad = |(l, h): (f64, f64)| {
        let p = ((h - l) * 0.05).max(1e-6);
        (l - p)..(h + p)
    };
    let (xr, yr) = (pad(finite(s.xs)), pad(finite(s.ys)));
    let legend_at = emptiest_corner(s.xs, s.ys, (xr.start, xr.end), (yr.start, yr.end));
    let mut chart = ChartBuilder::on(root)
        .caption(&s.title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(xr, yr)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(&s.x_label)
        .y_desc(&s.y_label)
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(|e| e.to_string())?;
    let b = bins_in(s.colour_by, s.colour_range.unwrap_or_else(|| extremes(s.colour_by)));
    for bin in 0..BINS {
        let colour = bin_colour(bin);
        let pts =
            s.xs.iter()
                .zip(s.ys)
                .zip(&b)
                .filter(|(_, k)| **k == bin)
                .map(|((x, y), _)| Circle::new((*x, *y), 2, colour.filled()));
        let series = chart.draw_series(pts).map_err(|e| e.to_string())?;
        if bin == 0 || bin == BINS - 1 {
            let label = format!("{} bin {}", s.colour_label, bin + 1);
            series.label(label).legend(move |(x, y)| Circle::new((x, y), 4, colour.filled()));
        }
    }
    chart
        .configure_series_labels()
        .position(legend_at)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

/// The corner of the panel with the fewest points in its outer quarter-width, fifth-height
/// box, where the legend hides least of the data.
fn emptiest_corner(xs: &[f64], ys: &[f64], (x0, x1): (f64, f64), (y0, y1): (f64, f64)) -> SeriesLabelPosition {
    let (w, h) = ((x1 - x0) * 0.25, (y1 - y0) * 0.2);
    let count = |left: bool, upper: bool| {
        let in_x = |x: f64| if left { x <= x0 + w } else { x >= x1 - w };
        let in_y = |y: f64| if upper { y >= y1 - h } else { y <= y0 + h };
        xs.iter().zip(ys).filter(|&(&x, &y)| in_x(x) && in_y(y)).count()
    };
    let corners = [
        (count(false, true), SeriesLabelPosition::UpperRight),
        (count(true, true), SeriesLabelPosition::UpperLeft),
        (count(false, false), SeriesLabelPosition::LowerRight),
        (count(true, false), SeriesLabelPosition::LowerLeft),
    ];
    corners.into_iter().min_by_key(|(n, _)| *n).map_or(SeriesLabelPosition::UpperRight, |(_, p)| p)
}

/// Writes the panel to `stem.png` and `stem.svg` (each drawn to a temporary file, then
/// renamed, so a figure on disk is always whole); returns both paths.
pub fn write(stem: &Path, s: &Scatter) -> Result<Vec<PathBuf>> {
    write_grid(stem, std::slice::from_ref(s), 1)
}

/// Writes panels in a grid of `columns` columns to `stem.png` and `stem.svg`, atomically.
pub fn write_grid(stem: &Path, panels: &[Scatter], columns: usize) -> Result<Vec<PathBuf>> {
    super::write_panels(stem, panels, columns, (720, 600))
}

impl super::Panel for Scatter<'_> {
    fn draw_on<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> std::result::Result<(), String> {
        draw(area, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_legend_goes_to_the_corner_with_the_fewest_points() {
        // Points fill the square except its lower-left corner.
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        for i in 0..50 {
            for j in 0..50 {
                let (x, y) = (i as f64 / 49.0, j as f64 / 49.0);
                if x > 0.4 || y > 0.4 {
                    xs.push(x);
                    ys.push(y);
                }
            }
        }
        let at = emptiest_corner(&xs, &ys, (0.0, 1.0), (0.0, 1.0));
        assert!(matches!(at, SeriesLabelPosition::LowerLeft), "{at:?}");
        // A diamond leaves all four corners empty; the first of them, upper right, wins.
        let (xs, ys): (Vec<f64>, Vec<f64>) = (0..400)
            .map(|k| {
                let a = k as f64 / 400.0 * std::f64::consts::TAU;
                let r = 1.0 / (a.cos().abs() + a.sin().abs());
                (r * a.cos(), r * a.sin())
            })
            .unzip();
        let at = emptiest_corner(&xs, &ys, (-1.05, 1.05), (-1.05, 1.05));
        assert!(matches!(at, SeriesLabelPosition::UpperRight), "{at:?}");
    }
}
