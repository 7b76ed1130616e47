//! Figures, drawn with `plotters` and the embedded DejaVu font (no system libraries), each as
//! PNG and SVG.
//!
//! - [`scatter`]: points coloured by 10 equal-width bins of a scalar (paper Figures 4 and 5).
//! - [`write_panels`]: any [`Panel`]s in a grid, written as PNG and SVG atomically.

pub mod scatter;

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, Result};

/// One panel of a figure, drawable on any plotters backend (PNG and SVG).
pub trait Panel {
    /// Draws the panel into `area`.
    fn draw_on<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> std::result::Result<(), String>;
}

/// Writes `panels` in a grid of `columns` columns, each `panel_size` pixels, to `stem.png`
/// and `stem.svg` (each drawn to a temporary file, then renamed, so a figure on disk is
/// always whole); returns both paths.
pub fn write_panels<P: Panel>(
    stem: &Path,
    panels: &[P],
    columns: usize,
    panel_size: (u32, u32),
) -> Result<Vec<PathBuf>> {
    register_fonts();
    let columns = columns.clamp(1, panels.len().max(1));
    let rows = panels.len().div_ceil(columns).max(1);
    let size = (panel_size.0 * columns as u32, panel_size.1 * rows as u32);
    let png = stem.with_extension("png");
    let svg = stem.with_extension("svg");
    let (png_tmp, svg_tmp) = (stem.with_extension("tmp.png"), stem.with_extension("tmp.svg"));
    fn draw_all<DB: DrawingBackend, P: Panel>(
        root: DrawingArea<DB, Shift>,
        panels: &[P],
        grid: (usize, usize),
    ) -> std::result::Result<(), String> {
        for (area, panel) in root.split_evenly(grid).iter().zip(panels) {
            panel.draw_on(area)?;
        }
        root.present().map_err(|e| e.to_string())
    }
    let fail = |p: &Path, e: String| Error::Internal(format!("drawing {}: {e}", p.display()));
    let grid = (rows, columns);
    draw_all(BitMapBackend::new(&png_tmp, size).into_drawing_area(), panels, grid).map_err(|e| fail(&png, e))?;
    draw_all(SVGBackend::new(&svg_tmp, size).into_drawing_area(), panels, grid).map_err(|e| fail(&svg, e))?;
    for (tmp, fin) in [(&png_tmp, &png), (&svg_tmp, &svg)] {
        std::fs::rename(tmp, fin).map_err(|source| Error::Io { path: fin.clone(), source })?;
    }
    Ok(vec![png, svg])
}

static FONTS: Once = Once::new();

/// Registers the embedded DejaVu Sans as the `sans-serif` family (once per process).
pub fn register_fonts() {
    FONTS.call_once(|| {
        use plotters::style::FontStyle;
        // The bytes are a valid font shipped by the `dejavu` crate; failure would be a bug there.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
    });
}
