//! Sentence embeddings from token embeddings: sentence-transformers' `Pooling` module (read from
//! `1_Pooling/config.json`) and its `Normalize` module (listed in `modules.json`).

use std::path::Path;

use candle_core::{DType, IndexOp, Result, Tensor, D};
use serde::Deserialize;

/// How token embeddings become one sentence embedding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// The mean over the tokens the attention mask keeps (padding excluded).
    Mean,
    /// The first token's (`[CLS]`) embedding.
    Cls,
    /// The element-wise maximum over the kept tokens.
    Max,
    /// The sum over the kept tokens divided by the square root of their count.
    MeanSqrtLen,
}

impl Pooling {
    /// Parses a `pooling` model parameter: `mean`, `cls`, `max` or `mean_sqrt_len`.
    pub fn from_name(name: &str) -> Option<Pooling> {
        Some(match name {
            "mean" => Pooling::Mean,
            "cls" => Pooling::Cls,
            "max" => Pooling::Max,
            "mean_sqrt_len" => Pooling::MeanSqrtLen,
            _ => return None,
        })
    }

    /// Reads sentence-transformers' `1_Pooling/config.json`. Exactly one mode must be on: several
    /// modes concatenate their vectors in sentence-transformers, which is not supported here.
    pub fn from_sentence_transformers(path: &Path) -> std::result::Result<Pooling, String> {
        #[derive(Deserialize)]
        struct PoolingConfig {
            #[serde(default)]
            pooling_mode_cls_token: bool,
            #[serde(default)]
            pooling_mode_mean_tokens: bool,
            #[serde(default)]
            pooling_mode_max_tokens: bool,
            #[serde(default)]
            pooling_mode_mean_sqrt_len_tokens: bool,
            #[serde(default)]
            pooling_mode: Option<String>,
        }
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let c: PoolingConfig =
            serde_json::from_str(&text).map_err(|e| format!("cannot parse {}: {e}", path.display()))?;
        // Newer sentence-transformers write the mode by name as well.
        if let Some(mode) = c.pooling_mode.as_deref() {
            let by_name = match mode {
                "mean" => Some(Pooling::Mean),
                "cls" => Some(Pooling::Cls),
                "max" => Some(Pooling::Max),
                "mean_sqrt_len_tokens" => Some(Pooling::MeanSqrtLen),
                _ => None,
            };
            if let Some(p) = by_name {
                return Ok(p);
            }
        }
        let on: Vec<Pooling> = [
            (c.pooling_mode_mean_tokens, Pooling::Mean),
            (c.pooling_mode_cls_token, Pooling::Cls),
            (c.pooling_mode_max_tokens, Pooling::Max),
            (c.pooling_mode_mean_sqrt_len_tokens, Pooling::MeanSqrtLen),
        ]
        .into_iter()
        .filter_map(|(set, p)| set.then_some(p))
        .collect();
        match on.as_slice() {
            [p] => Ok(*p),
            [] => Err(format!("{}: no pooling mode is on", path.display())),
            _ => Err(format!(
                "{}: several pooling modes are on ({on:?}); only one is supported",
                path.display()
            )),
        }
    }

    /// Pools `hidden` `[batch, seq, dim]` over the tokens `mask` `[batch, seq]` (1 = token, 0 =
    /// padding) keeps, into `[batch, dim]` FP32.
    pub fn apply(self, hidden: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let hidden = hidden.to_dtype(DType::F32)?;
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(D::Minus1)?; // [batch, seq, 1]
        match self {
            Pooling::Cls => hidden.i((.., 0))?.contiguous(),
            Pooling::Mean | Pooling::MeanSqrtLen => {
                let summed = hidden.broadcast_mul(&mask)?.sum(1)?; // [batch, dim]
                                                                   // sentence-transformers clamps the token count at 1e-9 (an all-padding row gives 0s).
                let count = mask.sum(1)?.clamp(1e-9f32, f32::MAX)?; // [batch, 1]
                let divisor = if self == Pooling::Mean {
                    count
                } else {
                    count.sqrt()?
                };
                summed.broadcast_div(&divisor)
            }
            Pooling::Max => {
                // Padding positions get a large negative value so they never win (as in
                // sentence-transformers, which sets them to -1e9).
                let penalty = ((mask.ones_like()? - &mask)? * -1e9)?;
                hidden.broadcast_add(&penalty)?.max(1)
            }
        }
    }
}

/// True when sentence-transformers' `modules.json` lists a `Normalize` module (its embeddings are
/// L2-normalised). A folder without `modules.json` is not normalised.
pub fn normalize_from_modules(path: &Path) -> std::result::Result<bool, String> {
    #[derive(Deserialize)]
    struct Module {
        #[serde(rename = "type")]
        kind: String,
    }
    if !path.exists() {
        return Ok(false);
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let modules: Vec<Module> =
        serde_json::from_str(&text).map_err(|e| format!("cannot parse {}: {e}", path.display()))?;
    Ok(modules.iter().any(|m| m.kind.ends_with(".Normalize")))
}

/// Divides each row of `x` `[batch, dim]` by its L2 norm (at least 1e-12, as `torch.nn.functional.normalize`).
pub fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    let norm = x
        .sqr()?
        .sum_keepdim(D::Minus1)?
        .sqrt()?
        .clamp(1e-12f32, f32::MAX)?;
    x.broadcast_div(&norm)
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    fn rows(t: &Tensor) -> Vec<Vec<f32>> {
        t.to_vec2::<f32>().unwrap()
    }

    /// Two sequences of 3 tokens, dim 2; the second has one padding token.
    fn sample() -> (Tensor, Tensor) {
        let hidden = Tensor::new(
            &[
                [[1f32, 2.], [3., 4.], [5., 6.]],
                [[1., -1.], [3., 1.], [100., 100.]],
            ],
            &Device::Cpu,
        )
        .unwrap();
        let mask = Tensor::new(&[[1u32, 1, 1], [1, 1, 0]], &Device::Cpu).unwrap();
        (hidden, mask)
    }

    #[test]
    fn mean_skips_padding() {
        let (h, m) = sample();
        assert_eq!(
            rows(&Pooling::Mean.apply(&h, &m).unwrap()),
            vec![vec![3., 4.], vec![2., 0.]]
        );
    }

    #[test]
    fn cls_takes_the_first_token() {
        let (h, m) = sample();
        assert_eq!(
            rows(&Pooling::Cls.apply(&h, &m).unwrap()),
            vec![vec![1., 2.], vec![1., -1.]]
        );
    }

    #[test]
    fn max_ignores_padding() {
        let (h, m) = sample();
        assert_eq!(
            rows(&Pooling::Max.apply(&h, &m).unwrap()),
            vec![vec![5., 6.], vec![3., 1.]]
        );
    }

    #[test]
    fn mean_sqrt_len_divides_by_the_root_of_the_count() {
        let (h, m) = sample();
        let got = rows(&Pooling::MeanSqrtLen.apply(&h, &m).unwrap());
        let s3 = 3f32.sqrt();
        let s2 = 2f32.sqrt();
        let want = [[9. / s3, 12. / s3], [4. / s2, 0.]];
        for (g, w) in got.iter().flatten().zip(want.iter().flatten()) {
            assert!((g - w).abs() < 1e-5, "{got:?}");
        }
    }

    #[test]
    fn all_padding_row_gives_zeros_not_nan() {
        let h = Tensor::new(&[[[1f32, 2.]]], &Device::Cpu).unwrap();
        let m = Tensor::new(&[[0u32]], &Device::Cpu).unwrap();
        assert_eq!(rows(&Pooling::Mean.apply(&h, &m).unwrap()), vec![vec![0., 0.]]);
    }

    #[test]
    fn l2_normalize_gives_unit_rows_and_keeps_zero_rows() {
        let x = Tensor::new(&[[3f32, 4.], [0., 0.]], &Device::Cpu).unwrap();
        assert_eq!(
            rows(&l2_normalize(&x).unwrap()),
            vec![vec![0.6, 0.8], vec![0., 0.]]
        );
    }

    #[test]
    fn sentence_transformers_configs() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.json");
        std::fs::write(
            &p,
            r#"{"word_embedding_dimension": 384, "pooling_mode_cls_token": false,
                "pooling_mode_mean_tokens": true, "pooling_mode_max_tokens": false}"#,
        )
        .unwrap();
        assert_eq!(Pooling::from_sentence_transformers(&p).unwrap(), Pooling::Mean);
        std::fs::write(&p, r#"{"pooling_mode_cls_token": true}"#).unwrap();
        assert_eq!(Pooling::from_sentence_transformers(&p).unwrap(), Pooling::Cls);
        std::fs::write(
            &p,
            r#"{"pooling_mode_cls_token": true, "pooling_mode_mean_tokens": true}"#,
        )
        .unwrap();
        let err = Pooling::from_sentence_transformers(&p).unwrap_err();
        assert!(err.contains("several pooling modes"), "{err}");

        let modules = dir.path().join("modules.json");
        assert!(
            !normalize_from_modules(&modules).unwrap(),
            "no modules.json: not normalised"
        );
        std::fs::write(
            &modules,
            r#"[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]"#,
        )
        .unwrap();
        assert!(normalize_from_modules(&modules).unwrap());
    }
}
