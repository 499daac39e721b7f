//! Sentence embeddings from token embeddings: sentence-transformers' `Pooling` module (read from
//! `1_Pooling/config.json`) and its `Normalize` module (listed in `modules.json`).

use std::path::Path;

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

    /// Pools token embeddings `hidden`, `[batch, seq, dim]` row-major, over the tokens `mask`
    /// `[batch, seq]` keeps (1 = token, 0 = padding), into `[batch, dim]` row-major. Shared by every
    /// engine: they hand over their last hidden state as plain floats.
    pub fn apply(self, hidden: &[f32], mask: &[u32], batch: usize, seq: usize, dim: usize) -> Vec<f32> {
        debug_assert_eq!(hidden.len(), batch * seq * dim);
        debug_assert_eq!(mask.len(), batch * seq);
        let mut out = vec![0f32; batch * dim];
        for ((row, tokens), keep) in out
            .chunks_exact_mut(dim)
            .zip(hidden.chunks_exact(seq * dim))
            .zip(mask.chunks_exact(seq))
        {
            match self {
                Pooling::Cls => row.copy_from_slice(&tokens[..dim]),
                Pooling::Mean | Pooling::MeanSqrtLen => {
                    let mut count = 0f32;
                    for (token, _) in tokens.chunks_exact(dim).zip(keep).filter(|(_, k)| **k != 0) {
                        count += 1.0;
                        for (o, x) in row.iter_mut().zip(token) {
                            *o += x;
                        }
                    }
                    // sentence-transformers clamps the token count at 1e-9 (an all-padding row
                    // gives 0s).
                    let count = count.max(1e-9);
                    let divisor = if self == Pooling::Mean {
                        count
                    } else {
                        count.sqrt()
                    };
                    row.iter_mut().for_each(|o| *o /= divisor);
                }
                Pooling::Max => {
                    // Padding positions get a large negative value so they never win (as in
                    // sentence-transformers, which sets them to -1e9).
                    row.fill(f32::NEG_INFINITY);
                    for (token, k) in tokens.chunks_exact(dim).zip(keep) {
                        let penalty = if *k != 0 { 0.0 } else { -1e9 };
                        for (o, x) in row.iter_mut().zip(token) {
                            *o = o.max(x + penalty);
                        }
                    }
                }
            }
        }
        out
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

/// Divides each `dim`-wide row of `rows` by its L2 norm (at least 1e-12, as
/// `torch.nn.functional.normalize`), in place.
pub fn l2_normalize(rows: &mut [f32], dim: usize) {
    for row in rows.chunks_exact_mut(dim) {
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        row.iter_mut().for_each(|x| *x /= norm);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two sequences of 3 tokens, dim 2; the second has one padding token.
    fn sample() -> (Vec<f32>, Vec<u32>) {
        let hidden = vec![1f32, 2., 3., 4., 5., 6., 1., -1., 3., 1., 100., 100.];
        let mask = vec![1u32, 1, 1, 1, 1, 0];
        (hidden, mask)
    }

    fn pool(p: Pooling) -> Vec<f32> {
        let (h, m) = sample();
        p.apply(&h, &m, 2, 3, 2)
    }

    #[test]
    fn mean_skips_padding() {
        assert_eq!(pool(Pooling::Mean), vec![3., 4., 2., 0.]);
    }

    #[test]
    fn cls_takes_the_first_token() {
        assert_eq!(pool(Pooling::Cls), vec![1., 2., 1., -1.]);
    }

    #[test]
    fn max_ignores_padding() {
        assert_eq!(pool(Pooling::Max), vec![5., 6., 3., 1.]);
    }

    #[test]
    fn mean_sqrt_len_divides_by_the_root_of_the_count() {
        let got = pool(Pooling::MeanSqrtLen);
        let s3 = 3f32.sqrt();
        let s2 = 2f32.sqrt();
        let want = [9. / s3, 12. / s3, 4. / s2, 0.];
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-5, "{got:?}");
        }
    }

    #[test]
    fn all_padding_row_gives_zeros_not_nan() {
        assert_eq!(Pooling::Mean.apply(&[1., 2.], &[0], 1, 1, 2), vec![0., 0.]);
    }

    #[test]
    fn l2_normalize_gives_unit_rows_and_keeps_zero_rows() {
        let mut x = vec![3f32, 4., 0., 0.];
        l2_normalize(&mut x, 2);
        assert_eq!(x, vec![0.6, 0.8, 0., 0.]);
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
