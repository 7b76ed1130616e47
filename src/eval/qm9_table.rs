//! Table 1 (QM9 half) of the paper, next to what this implementation measures: SMILES
//! reconstruction accuracy, gap MAE (eV), polarisability MAE (bohr^3), MI_K(Z0; Y) bits, and
//! the probe's MI (bits, no paper value).

use serde::{Deserialize, Serialize};

use super::qm9_metrics::Qm9Metrics;
use crate::model::ModelKind;

/// The paper's QM9 numbers: accuracy, gap MAE, alpha MAE, MI bits.
pub fn paper(kind: ModelKind) -> (f64, Option<f64>, Option<f64>, f64) {
    match kind {
        ModelKind::Vae => (0.98, Some(0.28), Some(0.75), 1.54),
        ModelKind::StibNoAdversary => (0.98, Some(0.28), Some(0.70), 0.66),
        ModelKind::Cvae => (0.91, None, None, 0.56),
        ModelKind::Cvib => (0.76, None, None, 0.03),
        ModelKind::Stib => (0.98, Some(0.27), Some(0.77), 0.09),
    }
}

/// One measured row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Qm9Row {
    /// Model label.
    pub model: String,
    /// Iteration of the evaluated checkpoint.
    pub iteration: u64,
    /// Test metrics (MI on the whole data set).
    pub metrics: Qm9Metrics,
    /// The paper's accuracy, gap MAE, alpha MAE and MI.
    pub paper: (f64, Option<f64>, Option<f64>, f64),
}

impl Qm9Row {
    /// A row for `kind` with the paper's numbers filled in.
    pub fn new(kind: ModelKind, iteration: u64, metrics: Qm9Metrics) -> Self {
        Qm9Row { model: kind.label().into(), iteration, metrics, paper: paper(kind) }
    }
}

/// The table as Markdown: measured value, paper value in parentheses.
pub fn markdown(rows: &[Qm9Row], data: &str) -> String {
    let opt = |v: Option<f64>, p: usize| v.map_or("-".to_string(), |x| format!("{x:.p$}"));
    let mut s = String::from("# Table 1, QM9 experiment: stib (paper)\n\n");
    s.push_str(&format!(
        "Data: {data}. Accuracy and MAEs on the test split; MI_K(Z0; Y): KSG, k = 20, bits, z = mu, \
         on the whole data set; probe: the Gaussian MI between Z0 and Y that a fresh adversary, \
         trained on the training split's codes, finds on the test split, bits.\n\n"
    ));
    s.push_str(
        "| model | iteration | SMILES | gap (eV) | alpha (bohr^3) | MI(Z0;Y) bits | probe bits |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let (acc, gap, alpha, mi) = r.paper;
        let m = &r.metrics;
        s.push_str(&format!(
            "| {} | {} | {:.3} ({acc:.2}) | {} ({}) | {} ({}) | {} ({mi:.2}) | {} |\n",
            r.model,
            r.iteration,
            m.accuracy,
            opt(m.mae_gap, 3),
            opt(gap, 2),
            opt(m.mae_alpha, 3),
            opt(alpha, 2),
            opt(m.mi_bits, 2),
            opt(m.probe_bits, 2),
        ));
    }
    s
}
