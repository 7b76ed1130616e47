//! An exponential moving average of the weights (Polyak & Juditsky 1992; the "EMA" of
//! TensorFlow's `ExponentialMovingAverage`), kept beside the trained weights and used in
//! their place for validation, the best checkpoint and evaluation.
//!
//! After the t-th iteration, for every parameter theta:
//! avg <- d_t avg + (1 - d_t) theta,  d_t = min(decay, (1 + t) / (10 + t)),
//! so the first iterations, whose weights are far from the end, fade quickly: while the ramp
//! is below `decay` (until t = 9,000 for a decay of 0.999) the average spans about the last
//! tenth of the iterations so far, then about the last 1 / (1 - decay). The average starts at
//! the initial weights. Training itself never reads it: the optimisers step the
//! raw weights as before, so an average is a view of the run, not a change of the method.
//!
//! ```
//! use candle_core::{Device, Tensor, Var};
//! use stib::train::averaging::WeightAverage;
//! let w = Var::from_tensor(&Tensor::new(&[1f32], &Device::Cpu).unwrap()).unwrap();
//! let mut avg = WeightAverage::new(vec![("w".into(), w.clone())], 0.5).unwrap();
//! w.set(&Tensor::new(&[3f32], &Device::Cpu).unwrap()).unwrap();
//! avg.update(1).unwrap(); // d_1 = min(0.5, 2 / 11) = 2 / 11
//! let a = avg.averaged()["w"].to_vec1::<f32>().unwrap()[0];
//! assert!((a - (2.0 / 11.0 + 3.0 * 9.0 / 11.0)).abs() < 1e-6);
//! ```

use std::collections::HashMap;

use candle_core::{Result, Tensor, Var};

/// Prefix of the averaged weights' names in a resumable checkpoint.
pub const PREFIX: &str = "average";

/// The moving average of a set of named variables.
#[derive(Debug)]
pub struct WeightAverage {
    decay: f64,
    params: Vec<(String, Var)>,
    average: Vec<Tensor>,
}

impl WeightAverage {
    /// Starts the average at the variables' current values; `decay` in (0, 1).
    pub fn new(params: Vec<(String, Var)>, decay: f64) -> Result<Self> {
        let average = params.iter().map(|(_, v)| v.as_tensor().copy()).collect::<Result<Vec<_>>>()?;
        Ok(WeightAverage { decay, params, average })
    }

    /// The decay after `t` iterations: `decay`, or less while t is small.
    pub fn decay_at(&self, t: u64) -> f64 {
        self.decay.min((1.0 + t as f64) / (10.0 + t as f64))
    }

    /// Folds the variables' current values in, after iteration `t` (1-based).
    pub fn update(&mut self, t: u64) -> Result<()> {
        let d = self.decay_at(t);
        for ((_, var), avg) in self.params.iter().zip(self.average.iter_mut()) {
            // Detached: the average must not hold the graph of every earlier update.
            *avg = (avg.affine(d, 0.0)? + var.as_tensor().detach().affine(1.0 - d, 0.0)?)?.detach();
        }
        Ok(())
    }

    /// The averaged weights by the variables' names.
    pub fn averaged(&self) -> HashMap<String, Tensor> {
        self.params.iter().zip(&self.average).map(|((n, _), a)| (n.clone(), a.clone())).collect()
    }

    /// The averaged weights named `average.<name>`, for a resumable checkpoint.
    pub fn state(&self) -> HashMap<String, Tensor> {
        self.params.iter().zip(&self.average).map(|((n, _), a)| (format!("{PREFIX}.{n}"), a.clone())).collect()
    }

    /// Restores the average written by [`WeightAverage::state`].
    pub fn restore(&mut self, tensors: &HashMap<String, Tensor>) -> Result<()> {
        for ((name, var), avg) in self.params.iter().zip(self.average.iter_mut()) {
            let key = format!("{PREFIX}.{name}");
            let t = tensors
                .get(&key)
                .ok_or_else(|| candle_core::Error::Msg(format!("the checkpoint lacks the averaged weight '{key}'")))?;
            *avg = t.to_dtype(var.dtype())?.to_device(var.device())?;
        }
        Ok(())
    }

    /// Runs `f` with the variables set to the average, then sets them back; `lift` turns a
    /// failure to set them into `f`'s error type.
    pub fn with_averaged<T, E>(
        &self,
        f: impl FnOnce() -> std::result::Result<T, E>,
        lift: impl Fn(candle_core::Error) -> E,
    ) -> std::result::Result<T, E> {
        let saved = self.params.iter().map(|(_, v)| v.as_tensor().copy()).collect::<Result<Vec<_>>>().map_err(&lift)?;
        self.set_variables(&self.average).map_err(&lift)?;
        let out = f();
        self.set_variables(&saved).map_err(&lift)?;
        out
    }

    /// Sets the variables to the average for good (for a model that only evaluates).
    pub fn apply(&self) -> Result<()> {
        self.set_variables(&self.average)
    }

    fn set_variables(&self, values: &[Tensor]) -> Result<()> {
        for ((_, var), value) in self.params.iter().zip(values) {
            var.set(value)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn var(values: &[f32]) -> Var {
        Var::from_tensor(&Tensor::new(values, &Device::Cpu).unwrap()).unwrap()
    }

    fn value(t: &Tensor) -> Vec<f32> {
        t.to_vec1().unwrap()
    }

    #[test]
    fn the_average_follows_the_formula_and_ramps_its_decay() {
        let w = var(&[0.0, 10.0]);
        let mut avg = WeightAverage::new(vec![("w".into(), w.clone())], 0.9).unwrap();
        assert_eq!(avg.decay_at(1), 2.0 / 11.0);
        assert_eq!(avg.decay_at(1000), 0.9);
        let mut expected = [0.0f64, 10.0];
        for t in 1..=200u64 {
            let now = [t as f64, 10.0 - t as f64];
            w.set(&Tensor::new(&[now[0] as f32, now[1] as f32], &Device::Cpu).unwrap()).unwrap();
            avg.update(t).unwrap();
            let d = avg.decay_at(t);
            for (e, n) in expected.iter_mut().zip(now) {
                *e = d * *e + (1.0 - d) * n;
            }
        }
        // No graph of the updates is kept (it would grow with every iteration).
        assert!(!avg.averaged()["w"].track_op());
        let got = value(&avg.averaged()["w"]);
        for (g, e) in got.iter().zip(expected) {
            assert!((*g as f64 - e).abs() < 1e-3 * e.abs().max(1.0), "{g} against {e}");
        }
        // A steadily moving weight: the average lags behind it by about d / (1 - d) steps.
        assert!((got[0] - (200.0 - 9.0)).abs() < 0.5, "{got:?}");
    }

    #[test]
    fn with_averaged_swaps_the_average_in_and_back_and_state_round_trips() {
        let w = var(&[1.0]);
        let mut avg = WeightAverage::new(vec![("w".into(), w.clone())], 0.5).unwrap();
        w.set(&Tensor::new(&[5f32], &Device::Cpu).unwrap()).unwrap();
        avg.update(100).unwrap(); // d = 0.5: the average is 3
        let inside = avg.with_averaged(|| Ok(value(w.as_tensor())), |e| e).unwrap();
        assert_eq!(inside, [3.0]);
        assert_eq!(value(w.as_tensor()), [5.0]);

        let state = avg.state();
        assert_eq!(state.keys().collect::<Vec<_>>(), ["average.w"]);
        let mut other = WeightAverage::new(vec![("w".into(), w.clone())], 0.5).unwrap();
        assert_eq!(value(&other.averaged()["w"]), [5.0]);
        other.restore(&state).unwrap();
        assert_eq!(value(&other.averaged()["w"]), [3.0]);
        let e = other.restore(&HashMap::new()).unwrap_err().to_string();
        assert!(e.contains("average.w"), "{e}");
        other.apply().unwrap();
        assert_eq!(value(w.as_tensor()), [3.0]);
    }
}
