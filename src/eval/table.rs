//! Table 1 (artificial half) of the paper, next to what this implementation measures.

use serde::{Deserialize, Serialize};

use super::Metrics;
use crate::model::ModelKind;

/// The five models in the paper's row order.
pub const ROWS: [ModelKind; 5] =
    [ModelKind::Vae, ModelKind::StibNoAdversary, ModelKind::Cvae, ModelKind::Cvib, ModelKind::Stib];

/// Variants reported beside the five rows when their configuration is present: (file stem
/// under `experiments/spiral/`, the model they vary, row label). `stib-reference-split`
/// trains the adversary's first layer in the main step, as the authors' code did when it
/// made the paper's numbers.
pub const VARIANTS: [(&str, ModelKind, &str); 1] = [("stib-reference-split", ModelKind::Stib, "STIB, reference split")];

/// The paper's numbers for the artificial experiment: MAE(X), MAE(Y), MI bits.
pub fn paper(kind: ModelKind) -> (f64, Option<f64>, f64) {
    match kind {
        ModelKind::Vae => (0.21, Some(0.49), 3.89),
        ModelKind::StibNoAdversary => (0.01, Some(0.65), 3.19),
        ModelKind::Cvae => (0.33, None, 2.57),
        ModelKind::Cvib => (0.67, None, 2.45),
        ModelKind::Stib => (0.04, Some(0.47), 0.25),
    }
}

/// One measured row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    /// Model label.
    pub model: String,
    /// Iteration of the evaluated checkpoint.
    pub iteration: u64,
    /// Test metrics.
    pub metrics: Metrics,
    /// The paper's MAE(X).
    pub paper_mae_x: f64,
    /// The paper's MAE(Y).
    pub paper_mae_y: Option<f64>,
    /// The paper's MI in bits.
    pub paper_mi_bits: f64,
}

impl Row {
    /// A row for `kind` with the paper's numbers filled in.
    pub fn new(kind: ModelKind, iteration: u64, metrics: Metrics) -> Self {
        let (x, y, mi) = paper(kind);
        Row { model: kind.label().into(), iteration, metrics, paper_mae_x: x, paper_mae_y: y, paper_mi_bits: mi }
    }

    /// The same row under another label (a variant of `kind`).
    pub fn labelled(mut self, label: &str) -> Self {
        self.model = label.into();
        self
    }
}

/// The table as Markdown: measured value, paper value in parentheses.
pub fn markdown(rows: &[Row], test_set: &str) -> String {
    let opt = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.2}"));
    let mut s = String::from("# Table 1, artificial experiment: stib (paper)\n\n");
    s.push_str(&format!("Test set: {test_set}. MI_K(Z0; Y): KSG, k = 20, bits, z = mu.\n\n"));
    s.push_str("| model | iteration | MAE(X) | MAE(Y) | MI(Z0;Y) bits |\n|---|---|---|---|---|\n");
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {:.3} ({:.2}) | {} ({}) | {} ({:.2}) |\n",
            r.model,
            r.iteration,
            r.metrics.mae_x,
            r.paper_mae_x,
            r.metrics.mae_y.map_or("-".into(), |v| format!("{v:.3}")),
            opt(r.paper_mae_y),
            opt(r.metrics.mi_bits),
            r.paper_mi_bits
        ));
    }
    s
}
