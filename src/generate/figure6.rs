//! Figure 6 of the paper: (a, b) each reference molecule beside the two generated molecules
//! nearest to it in latent space, drawn by `cosmolkit` (SVG), and (c) box plots of the
//! predicted gap and alpha of every kept molecule per reference, over the model's error band
//! (reference value +- test MAE), PNG and SVG.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use super::molecules::Generation;
use crate::chem;
use crate::error::Result;
use crate::plot::{Panel, write_panels};
use crate::train::checkpoint::write_atomic;

/// Side of one molecule drawing in the depiction grid, in pixels.
const CELL: u32 = 260;
/// Height of the caption under each drawing.
const CAPTION: u32 = 54;

/// Escapes text for SVG.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// One drawing placed at (x, y) as a nested `<svg>`; the XML prolog dropped.
fn place(svg: &str, x: u32, y: u32) -> String {
    let body = match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    };
    body.replacen("<svg", &format!("<svg x=\"{x}\" y=\"{y}\""), 1)
}

/// Figure 6a-b as one SVG: a row per generation, the reference then its two nearest kept
/// molecules, each captioned with its SMILES and properties. Written atomically to `path`.
pub fn write_depictions(path: &Path, generations: &[Generation]) -> Result<PathBuf> {
    let columns = 3u32;
    let rows = generations.len().max(1) as u32;
    let (w, h) = (columns * CELL, rows * (CELL + CAPTION));
    let mut svg = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    for (r, g) in generations.iter().enumerate() {
        let y0 = r as u32 * (CELL + CAPTION);
        let reference = &g.summary.reference;
        let mut cells: Vec<(String, String, String)> = Vec::new();
        let values = match reference.known {
            Some([gap, alpha]) => format!("{gap:.2} eV / {alpha:.2} bohr^3 (data)"),
            None => format!("{:.2} eV / {:.2} bohr^3 (predicted)", reference.predicted[0], reference.predicted[1]),
        };
        cells.push((reference.canonical.clone(), format!("reference: {}", reference.canonical), values));
        for (k, m) in g.molecules.iter().filter(|m| m.smiles != reference.canonical).take(2).enumerate() {
            cells.push((
                m.smiles.clone(),
                format!("nearest {}: {}{}", k + 1, m.smiles, if m.novel { " (novel)" } else { "" }),
                format!("{:.2} eV / {:.2} bohr^3 (predicted), d = {:.2}", m.gap_ev, m.alpha_bohr3, m.latent_distance),
            ));
        }
        for (c, (smiles, line1, line2)) in cells.iter().enumerate() {
            let x0 = c as u32 * CELL;
            svg.push_str(&place(&chem::depict_svg(smiles, CELL, CELL)?, x0, y0));
            svg.push('\n');
            for (i, line) in [line1, line2].iter().enumerate() {
                svg.push_str(&format!(
                    "<text x=\"{}\" y=\"{}\" font-family=\"DejaVu Sans, sans-serif\" font-size=\"11\" text-anchor=\"middle\">{}</text>\n",
                    x0 + CELL / 2,
                    y0 + CELL + 18 + 16 * i as u32,
                    escape(line)
                ));
            }
        }
        if cells.len() == 1 {
            svg.push_str(&format!(
                "<text x=\"{}\" y=\"{}\" font-family=\"DejaVu Sans, sans-serif\" font-size=\"13\" text-anchor=\"middle\">no other molecule of formula {} was generated</text>\n",
                CELL * 2,
                y0 + CELL / 2,
                escape(&g.summary.formula)
            ));
        }
    }
    svg.push_str("</svg>\n");
    write_atomic(path, svg.as_bytes())?;
    Ok(path.to_path_buf())
}

/// One property panel of Figure 6c.
struct PropertyPanel<'a> {
    title: &'static str,
    unit: &'static str,
    property: usize,
    generations: &'a [Generation],
}

impl PropertyPanel<'_> {
    fn values(&self, g: &Generation) -> Vec<f64> {
        g.molecules.iter().map(|m| if self.property == 0 { m.gap_ev } else { m.alpha_bohr3 }).collect()
    }

    fn range(&self) -> (f64, f64) {
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        for g in self.generations {
            let (c, e) = (g.summary.reference.centre()[self.property], g.summary.test_mae[self.property]);
            let p = g.summary.reference.predicted[self.property];
            lo = lo.min(c - e).min(p);
            hi = hi.max(c + e).max(p);
            for v in self.values(g) {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
        let pad = ((hi - lo) * 0.08).max(1e-3);
        (lo - pad, hi + pad)
    }
}

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &PropertyPanel) -> std::result::Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    area.fill(&WHITE).map_err(err)?;
    let n = p.generations.len().max(1);
    let (lo, hi) = p.range();
    let mut chart = ChartBuilder::on(area)
        .caption(format!("predicted {} of kept molecules", p.title), ("sans-serif", 20))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), lo..hi)
        .map_err(err)?;
    let labels: Vec<String> = p.generations.iter().enumerate().map(|(i, _)| format!("reference {}", i + 1)).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .x_desc("band: reference +- test MAE; red: reference; dashed: its prediction")
        .y_desc(format!("{} ({})", p.title, p.unit))
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    let band = RGBColor(255, 190, 120);
    let boxc = RGBColor(49, 104, 142);
    for (i, g) in p.generations.iter().enumerate() {
        let x = i as f64;
        let (c, e) = (g.summary.reference.centre()[p.property], g.summary.test_mae[p.property]);
        chart
            .draw_series([Rectangle::new([(x - 0.4, c - e), (x + 0.4, c + e)], band.mix(0.45).filled())])
            .map_err(err)?;
        chart.draw_series([PathElement::new(vec![(x - 0.4, c), (x + 0.4, c)], RED.stroke_width(2))]).map_err(err)?;
        // The model's own prediction for the reference, dashed.
        let p_ref = g.summary.reference.predicted[p.property];
        let dashes = (0..8).map(|k| {
            let a = x - 0.4 + 0.1 * k as f64;
            PathElement::new(vec![(a, p_ref), (a + 0.06, p_ref)], MAGENTA.stroke_width(2))
        });
        chart.draw_series(dashes).map_err(err)?;
        let values = p.values(g);
        let Some(s) = super::Spread::of(&values) else { continue };
        let w = 0.18;
        chart.draw_series([Rectangle::new([(x - w, s.q1), (x + w, s.q3)], boxc.mix(0.25).filled())]).map_err(err)?;
        chart.draw_series([Rectangle::new([(x - w, s.q1), (x + w, s.q3)], boxc.stroke_width(2))]).map_err(err)?;
        let lines = [
            vec![(x - w, s.median), (x + w, s.median)],
            vec![(x, s.q3), (x, s.max)],
            vec![(x, s.q1), (x, s.min)],
            vec![(x - w / 2.0, s.max), (x + w / 2.0, s.max)],
            vec![(x - w / 2.0, s.min), (x + w / 2.0, s.min)],
        ];
        chart.draw_series(lines.into_iter().map(|l| PathElement::new(l, boxc.stroke_width(2)))).map_err(err)?;
        // Every molecule as a dot beside its box, spread sideways by rank (no randomness).
        let dots = values.iter().enumerate().map(|(k, &v)| {
            let dx = 0.25 + 0.1 * ((k * 7919) % 97) as f64 / 97.0;
            Circle::new((x + dx, v), 2, BLACK.mix(0.6).filled())
        });
        chart.draw_series(dots).map_err(err)?;
    }
    area.present().map_err(err)
}

/// Figure 6c: box plots of the predicted gap and alpha of the kept molecules, one per
/// reference, over the error band; written to `stem.png` and `stem.svg` atomically.
pub fn write_boxplots(stem: &Path, generations: &[Generation]) -> Result<Vec<PathBuf>> {
    let panels = [
        PropertyPanel { title: "gap", unit: "eV", property: 0, generations },
        PropertyPanel { title: "alpha", unit: "bohr^3", property: 1, generations },
    ];
    write_panels(stem, &panels, 2, (520, 480))
}

impl Panel for PropertyPanel<'_> {
    fn draw_on<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> std::result::Result<(), String> {
        draw_panel(area, self)
    }
}
