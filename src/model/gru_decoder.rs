//! The SMILES decoder p(x | z) of the QM9 experiment: a stacked GRU that reads the previous
//! token and the code at every step (teacher forcing in training, its own greedy choice when
//! decoding), in the style of Gomez-Bombarelli et al. 2018.
//!
//! Per layer l and step t, with gates [r, u, n] stacked in one 3H-wide projection:
//!   r = sigmoid(x W_r + h W'_r),  u = sigmoid(x W_u + h W'_u),
//!   n = tanh(x W_n + r * (h W'_n)),  h <- n + u * (h - n).
//! The first layer's input is the embedded previous token plus a projection of the code (both
//! already in gate space); the initial state of every layer is tanh(linear(code)). Logits over
//! the vocabulary come from the top layer's state.

use candle_core::{D, DType, IndexOp, Result, Tensor};
use candle_nn::{Embedding, Linear, Module, VarBuilder};

/// Id of the start token (see [`crate::data::smiles::Vocabulary`]).
pub const START_ID: u32 = 1;

/// Id of the end token (see [`crate::data::smiles::Vocabulary`]).
pub const END_ID: u32 = 2;

/// Sizes of the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GruSizes {
    /// Size of the code the decoder reads (z, or [Z0, y] for the conditional models).
    pub code: usize,
    /// Tokens in the vocabulary.
    pub vocabulary: usize,
    /// Width of every GRU layer.
    pub hidden: usize,
    /// Number of stacked GRU layers.
    pub layers: usize,
}

/// The GRU decoder's weights.
#[derive(Debug, Clone)]
pub struct GruDecoder {
    sizes: GruSizes,
    embed: Embedding,
    code_in: Linear,
    init: Vec<Linear>,
    input: Vec<Linear>,
    recurrent: Vec<Linear>,
    out: Linear,
}

impl GruDecoder {
    /// Builds the decoder under `decoder.*`.
    pub fn new(sizes: GruSizes, vb: VarBuilder) -> Result<Self> {
        let vb = vb.pp("decoder");
        let h3 = 3 * sizes.hidden;
        let embed = candle_nn::embedding(sizes.vocabulary, h3, vb.pp("embed"))?;
        let code_in = candle_nn::linear(sizes.code, h3, vb.pp("code_in"))?;
        let mut init = Vec::new();
        let mut input = Vec::new();
        let mut recurrent = Vec::new();
        for l in 0..sizes.layers {
            init.push(candle_nn::linear(sizes.code, sizes.hidden, vb.pp(format!("init{l}")))?);
            if l > 0 {
                input.push(candle_nn::linear(sizes.hidden, h3, vb.pp(format!("input{l}")))?);
            }
            recurrent.push(candle_nn::linear(sizes.hidden, h3, vb.pp(format!("recurrent{l}")))?);
        }
        let out = candle_nn::linear(sizes.hidden, sizes.vocabulary, vb.pp("out"))?;
        Ok(GruDecoder { sizes, embed, code_in, init, input, recurrent, out })
    }

    /// The sizes it was built with.
    pub fn sizes(&self) -> GruSizes {
        self.sizes
    }

    /// Initial states of all layers and the code's projection into the first layer's gates.
    fn start(&self, code: &Tensor) -> Result<(Vec<Tensor>, Tensor)> {
        let states = self.init.iter().map(|l| l.forward(code)?.tanh()).collect::<Result<Vec<_>>>()?;
        Ok((states, self.code_in.forward(code)?))
    }

    /// One step of every layer: reads `tokens` (batch,) and returns the top layer's logits.
    fn step(&self, tokens: &Tensor, code_gates: &Tensor, states: &mut [Tensor]) -> Result<Tensor> {
        let mut x_gates = (self.embed.forward(tokens)? + code_gates)?;
        for l in 0..self.sizes.layers {
            if l > 0 {
                x_gates = self.input[l - 1].forward(&states[l - 1])?;
            }
            states[l] = gru_cell(&x_gates, &states[l], &self.recurrent[l], self.sizes.hidden)?;
        }
        self.out.forward(&states[self.sizes.layers - 1])
    }

    /// Teacher-forced logits `(batch, length - 1, vocabulary)` for the token ids
    /// `(batch, length)` (u32, starting with the start token): step t reads token t and
    /// predicts token t + 1.
    pub fn forward(&self, code: &Tensor, ids: &Tensor) -> Result<Tensor> {
        let (_, length) = ids.dims2()?;
        let (mut states, code_gates) = self.start(code)?;
        let mut logits = Vec::with_capacity(length - 1);
        for t in 0..length - 1 {
            logits.push(self.step(&ids.i((.., t))?.contiguous()?, &code_gates, &mut states)?);
        }
        Tensor::stack(&logits, 1)
    }

    /// Mean over the batch of the token cross-entropy summed over positions (nats).
    pub fn cross_entropy(&self, code: &Tensor, ids: &Tensor) -> Result<Tensor> {
        let logits = self.forward(code, ids)?;
        let (b, steps, v) = logits.dims3()?;
        let targets = ids.narrow(1, 1, steps)?.contiguous()?.reshape(b * steps)?;
        let per_token = candle_nn::loss::cross_entropy(&logits.reshape((b * steps, v))?, &targets)?;
        per_token * steps as f64
    }

    /// Greedy decoding of `length` ids per code (the start token first, then the most likely
    /// token at every step).
    pub fn greedy(&self, code: &Tensor, length: usize) -> Result<Vec<Vec<u32>>> {
        let b = code.dim(0)?;
        let (mut states, code_gates) = self.start(code)?;
        let mut tokens = Tensor::full(START_ID, b, code.device())?;
        let mut columns = vec![tokens.to_vec1::<u32>()?];
        for _ in 1..length {
            let logits = self.step(&tokens, &code_gates, &mut states)?;
            tokens = logits.argmax(D::Minus1)?.to_dtype(DType::U32)?;
            columns.push(tokens.to_vec1::<u32>()?);
        }
        Ok((0..b).map(|i| columns.iter().map(|c| c[i]).collect()).collect())
    }
}

/// One GRU update of the state `h` (batch, H) from the input already projected into gate
/// space `x_gates` (batch, 3H).
fn gru_cell(x_gates: &Tensor, h: &Tensor, recurrent: &Linear, hidden: usize) -> Result<Tensor> {
    let h_gates = recurrent.forward(h)?;
    let ru = candle_nn::ops::sigmoid(&(x_gates.narrow(1, 0, 2 * hidden)? + h_gates.narrow(1, 0, 2 * hidden)?)?)?;
    let r = ru.narrow(1, 0, hidden)?;
    let u = ru.narrow(1, hidden, hidden)?;
    let n = (x_gates.narrow(1, 2 * hidden, hidden)? + (r * h_gates.narrow(1, 2 * hidden, hidden)?)?)?.tanh()?;
    &n + (u * (h - &n)?)?
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::VarMap;

    /// The GRU cell against the textbook update written out per element.
    #[test]
    fn gru_cell_is_the_textbook_update() {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F64, &dev);
        let rec = candle_nn::linear(2, 6, vb.pp("r")).unwrap();
        let x = Tensor::new(&[[0.3f64, -0.2, 0.5, 0.1, -0.4, 0.7]], &dev).unwrap();
        let h = Tensor::new(&[[0.25f64, -0.5]], &dev).unwrap();
        let got = gru_cell(&x, &h, &rec, 2).unwrap().to_vec2::<f64>().unwrap();
        let hg = rec.forward(&h).unwrap().to_vec2::<f64>().unwrap()[0].clone();
        let (xv, hv) = ([0.3, -0.2, 0.5, 0.1, -0.4, 0.7], [0.25, -0.5]);
        let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
        for j in 0..2 {
            let r = sig(xv[j] + hg[j]);
            let u = sig(xv[2 + j] + hg[2 + j]);
            let n = (xv[4 + j] + r * hg[4 + j]).tanh();
            let want = (1.0 - u) * n + u * hv[j];
            assert!((got[0][j] - want).abs() < 1e-12, "{} vs {want}", got[0][j]);
        }
    }
}
