//! Figures, drawn with `plotters` and the embedded DejaVu font (no system libraries), each as
//! PNG and SVG.
//!
//! - [`scatter`]: points coloured by 10 equal-width bins of a scalar (paper Figures 4 and 5).

pub mod scatter;

use std::sync::Once;

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
