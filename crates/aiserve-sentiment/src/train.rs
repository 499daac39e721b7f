//! Training: ridge regression on hashed features, solved with stochastic dual
//! coordinate ascent (SDCA, Shalev-Shwartz & Zhang 2013), which converges to the
//! exact ridge optimum without a learning rate. Fully deterministic: the only
//! randomness is a fixed-seed shuffle.
//!
//! Objective: `(1/n) Σ ½ (w·x_i − y_i)² + (λ/2) ‖w‖²` with `y_i = valence_i / 4`.

use crate::eval::Example;
use crate::featurize::{featurize, FeatureConfig, Scratch};
use crate::SentimentError;

/// Training hyper-parameters (in addition to the [`FeatureConfig`]).
/// The defaults are the values chosen on the dev set (see `MODEL.md`).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// L2 regularisation strength λ.
    pub lambda: f64,
    /// Number of SDCA passes over the data.
    pub epochs: usize,
    /// Seed of the shuffling RNG.
    pub seed: u64,
    /// Additive smoothing α of the NB feature scales ([`nb_scales`]).
    pub nb_alpha: f64,
    /// Floor added to `|r_j|` in the NB feature scales.
    pub nb_floor: f64,
    /// Exponent of the NB feature scales; 0 disables NB scaling.
    pub nb_beta: f64,
    /// Per-domain loss weights (domains not listed weigh 1).
    pub domain_weights: Vec<(String, f32)>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            lambda: 1e-5,
            epochs: 30,
            seed: 42,
            nb_alpha: 0.25,
            nb_floor: 0.2,
            nb_beta: 1.0,
            domain_weights: vec![("nyt".into(), 3.0), ("movie".into(), 0.5)],
        }
    }
}

/// Loss weight of each example according to `cfg.domain_weights`.
pub fn example_weights(examples: &[Example], cfg: &TrainConfig) -> Vec<f32> {
    examples
        .iter()
        .map(|e| {
            cfg.domain_weights
                .iter()
                .find(|(d, _)| *d == e.domain)
                .map_or(1.0, |(_, w)| *w)
        })
        .collect()
}

/// The full training procedure: featurise the training examples, compute the
/// NB feature scales, fit ridge regression with SDCA on `valence / 4` and fold
/// the scales back into the weights. Returns one weight per hash bucket.
pub fn train_model(
    fc: &FeatureConfig,
    tc: &TrainConfig,
    train: &[Example],
) -> Result<Vec<f32>, SentimentError> {
    fc.validate().map_err(SentimentError::InvalidConfig)?;
    let texts: Vec<&str> = train.iter().map(|e| e.text.as_str()).collect();
    let mut ds = Dataset::build(fc, &texts, true);
    let y = targets(train);
    let scales = if tc.nb_beta > 0.0 {
        nb_scales(&ds, &y, fc.dim(), tc.nb_alpha, tc.nb_floor, tc.nb_beta)
    } else {
        vec![1.0; fc.dim()]
    };
    ds.scale_columns(&scales);
    let c = example_weights(train, tc);
    let mut w = train_ridge(&ds, &y, Some(&c), fc.dim(), tc)?;
    for (wj, sj) in w.iter_mut().zip(&scales) {
        *wj *= sj;
    }
    Ok(w)
}

/// Featurised examples in compressed sparse row form.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// Row start offsets into `idx`/`val` (`len = rows + 1`).
    pub indptr: Vec<usize>,
    /// Bucket indices.
    pub idx: Vec<u32>,
    /// Feature values.
    pub val: Vec<f32>,
}

impl Dataset {
    /// Featurises `texts` with [`featurize`]. With `merge`, repeated buckets in a
    /// row are summed (needed by the solver); without, rows are exactly what the
    /// serving path sees.
    pub fn build(cfg: &FeatureConfig, texts: &[&str], merge: bool) -> Self {
        let mut ds = Dataset {
            indptr: vec![0],
            ..Default::default()
        };
        let mut scratch = Scratch::new();
        let mut feats = Vec::new();
        for t in texts {
            featurize(cfg, t, &mut scratch, &mut feats);
            if merge {
                feats.sort_unstable_by_key(|f| f.0);
                let mut last: Option<u32> = None;
                for &(i, v) in &feats {
                    if last == Some(i) {
                        if let Some(x) = ds.val.last_mut() {
                            *x += v;
                        }
                    } else {
                        ds.idx.push(i);
                        ds.val.push(v);
                        last = Some(i);
                    }
                }
            } else {
                for &(i, v) in &feats {
                    ds.idx.push(i);
                    ds.val.push(v);
                }
            }
            ds.indptr.push(ds.idx.len());
        }
        ds
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.indptr.len().saturating_sub(1)
    }

    /// Row `r` as `(indices, values)`; empty if `r` is out of range.
    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        match (self.indptr.get(r), self.indptr.get(r + 1)) {
            (Some(&a), Some(&b)) if a <= b && b <= self.idx.len() && b <= self.val.len() => {
                (&self.idx[a..b], &self.val[a..b])
            }
            _ => (&[], &[]),
        }
    }
}

/// Naive-Bayes feature scales (Wang & Manning 2012, "NBSVM"), learned from the
/// training data only: for bucket `j`, `r_j = log((p_j+α)/‖p+α‖₁) − log((q_j+α)/‖q+α‖₁)`
/// where `p`/`q` sum the feature values over positive/negative targets; the scale
/// is `(|r_j| + floor)^beta`. Training on scaled features and folding the scales
/// into the weights (`w_j · s_j`) amounts to a per-feature ridge penalty that is
/// weaker for features with a consistent polarity. Serving is unchanged.
pub fn nb_scales(ds: &Dataset, y: &[f32], dim: usize, alpha: f64, floor: f64, beta: f64) -> Vec<f32> {
    let mut p = vec![alpha; dim];
    let mut q = vec![alpha; dim];
    for (r, &yr) in y.iter().enumerate().take(ds.rows()) {
        let (idx, val) = ds.row(r);
        let target = if yr > 0.0 { &mut p } else { &mut q };
        for (&i, &v) in idx.iter().zip(val) {
            if let Some(t) = target.get_mut(i as usize) {
                *t += f64::from(v.abs());
            }
        }
    }
    let (sp, sq) = (p.iter().sum::<f64>(), q.iter().sum::<f64>());
    p.iter()
        .zip(&q)
        .map(|(pj, qj)| {
            let r = ((pj / sp).ln() - (qj / sq).ln()).abs();
            (r + floor).powf(beta) as f32
        })
        .collect()
}

impl Dataset {
    /// Multiplies every value in column `j` by `s[j]`.
    pub fn scale_columns(&mut self, s: &[f32]) {
        for (i, v) in self.idx.iter().zip(self.val.iter_mut()) {
            *v *= s.get(*i as usize).copied().unwrap_or(1.0);
        }
    }
}

/// Deterministic xorshift64* generator for shuffling.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Trains ridge regression with SDCA on a merged [`Dataset`] (see
/// [`Dataset::build`]), targets `y` and per-example loss weights `c` (all 1 when
/// `None`); returns one weight per bucket of a `dim`-bucket space.
///
/// Objective: `(1/n) Σ c_i ½ (w·x_i − y_i)² + (λ/2) ‖w‖²`.
pub fn train_ridge(
    ds: &Dataset,
    y: &[f32],
    c: Option<&[f32]>,
    dim: usize,
    cfg: &TrainConfig,
) -> Result<Vec<f32>, SentimentError> {
    let n = ds.rows();
    if n == 0 || y.len() != n || c.is_some_and(|c| c.len() != n) {
        return Err(SentimentError::InvalidInput(format!(
            "{n} rows, {} targets and {:?} example weights",
            y.len(),
            c.map(<[f32]>::len)
        )));
    }
    if c.is_some_and(|c| c.iter().any(|&x| x.is_nan() || x <= 0.0 || x.is_infinite())) {
        return Err(SentimentError::InvalidInput("example weights must be > 0".into()));
    }
    if ds.idx.iter().any(|&i| i as usize >= dim) {
        return Err(SentimentError::InvalidInput("bucket index out of range".into()));
    }
    if cfg.lambda.is_nan() || cfg.lambda <= 0.0 {
        return Err(SentimentError::InvalidInput("lambda must be > 0".into()));
    }
    let ln = cfg.lambda * n as f64;
    let mut w = vec![0.0f64; dim];
    let mut alpha = vec![0.0f64; n];
    let sq: Vec<f64> = (0..n)
        .map(|r| ds.row(r).1.iter().map(|&v| f64::from(v) * f64::from(v)).sum())
        .collect();
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = Rng(cfg.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    for _ in 0..cfg.epochs {
        for i in (1..n).rev() {
            let j = (rng.next() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        for &r in &order {
            let (idx, val) = ds.row(r);
            let p: f64 = idx
                .iter()
                .zip(val)
                .map(|(&i, &v)| w[i as usize] * f64::from(v))
                .sum();
            // Closed-form dual coordinate step for the loss c/2 (z - y)^2.
            let cr = c.map_or(1.0, |c| f64::from(c[r]));
            let delta = (cr * (f64::from(y[r]) - p) - alpha[r]) / (1.0 + cr * sq[r] / ln);
            alpha[r] += delta;
            let step = delta / ln;
            for (&i, &v) in idx.iter().zip(val) {
                w[i as usize] += step * f64::from(v);
            }
        }
    }
    Ok(w.into_iter().map(|x| x as f32).collect())
}

/// Dot products of every row of an (unmerged or merged) dataset with `w`,
/// clamped to `[-1, 1]` exactly like [`crate::SentimentModel::score_features`].
pub fn predict(ds: &Dataset, w: &[f32]) -> Vec<f32> {
    (0..ds.rows())
        .map(|r| {
            let (idx, val) = ds.row(r);
            let mut s = 0.0f32;
            for (&i, &v) in idx.iter().zip(val) {
                if let Some(wi) = w.get(i as usize) {
                    s += wi * v;
                }
            }
            if s.is_finite() {
                s.clamp(-1.0, 1.0)
            } else {
                0.0
            }
        })
        .collect()
}

/// Targets used for training: valence / 4, i.e. in `[-1, 1]`.
pub fn targets(examples: &[Example]) -> Vec<f32> {
    examples.iter().map(|e| e.valence / 4.0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_toy_problem() {
        let cfg = FeatureConfig {
            hash_bits: 12,
            ..FeatureConfig::default()
        };
        let texts = [
            "good great",
            "great fun",
            "bad awful",
            "awful boring",
            "good fun",
            "bad boring",
        ];
        let y = [0.8, 0.7, -0.8, -0.7, 0.6, -0.6];
        let ds = Dataset::build(&cfg, &texts, true);
        let tc = TrainConfig {
            lambda: 1e-3,
            epochs: 50,
            seed: 1,
            ..TrainConfig::default()
        };
        let w = train_ridge(&ds, &y, None, cfg.dim(), &tc).unwrap();
        let w2 = train_ridge(&ds, &y, None, cfg.dim(), &tc).unwrap();
        assert_eq!(w, w2, "deterministic");
        let p = predict(&Dataset::build(&cfg, &["great", "awful"], false), &w);
        assert!(p[0] > 0.0 && p[1] < 0.0, "{p:?}");
    }

    #[test]
    fn train_model_end_to_end() {
        let cfg = FeatureConfig {
            hash_bits: 12,
            ..FeatureConfig::default()
        };
        let ex: Vec<Example> = [
            ("good great", 3.0),
            ("awful bad", -3.0),
            ("great fun", 2.0),
            ("boring bad", -2.0),
        ]
        .iter()
        .enumerate()
        .map(|(i, (t, v))| Example {
            domain: if i % 2 == 0 { "nyt".into() } else { "movie".into() },
            id: i.to_string(),
            valence: *v,
            text: (*t).into(),
        })
        .collect();
        let tc = TrainConfig {
            lambda: 1e-2,
            ..TrainConfig::default()
        };
        assert_eq!(example_weights(&ex, &tc), vec![3.0, 0.5, 3.0, 0.5]);
        let w = train_model(&cfg, &tc, &ex).unwrap();
        let p = predict(&Dataset::build(&cfg, &["good", "bad"], false), &w);
        assert!(p[0] > 0.0 && p[1] < 0.0, "{p:?}");
    }

    #[test]
    fn rejects_bad_input() {
        let ds = Dataset::default();
        assert!(train_ridge(&ds, &[], None, 16, &TrainConfig::default()).is_err());
    }
}
