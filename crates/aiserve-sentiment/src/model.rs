//! The sentiment model and its binary file format.
//!
//! File layout (all integers little-endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `AISNTMDL` |
//! | 8 | 4 | format version (u32, currently 1) |
//! | 12 | 1 | `hash_bits` |
//! | 13 | 1 | `word_bigrams` (0/1) |
//! | 14 | 1 | `char_min` |
//! | 15 | 1 | `char_max` |
//! | 16 | 1 | `negation` (0/1) |
//! | 17 | 1 | `dense` (0/1) |
//! | 18 | 2 | reserved (0) |
//! | 20 | 4 | `char_weight` (f32) |
//! | 24 | 4 | weight scale (f32): `weight = q as f32 * scale` |
//! | 28 | 4 | number of weights (u32) = `2^hash_bits` |
//! | 32 | 2·n | quantised weights (i16) |
//! | 32+2n | 8 | FNV-1a 64 checksum of all preceding bytes |

use std::cell::RefCell;
use std::sync::OnceLock;

use crate::featurize::{featurize, fnv1a64, FeatureConfig, Scratch};
use crate::SentimentError;

/// Magic bytes at the start of a model file.
pub const MAGIC: [u8; 8] = *b"AISNTMDL";
/// Current model file format version.
pub const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = 32;

static EMBEDDED_BYTES: &[u8] = include_bytes!("../model/sentiment.bin");
static EMBEDDED: OnceLock<Result<SentimentModel, SentimentError>> = OnceLock::new();

thread_local! {
    static SCRATCH: RefCell<(Scratch, Vec<(u32, f32)>)> = RefCell::new((Scratch::new(), Vec::new()));
}

/// A hashed-feature linear sentiment model: `score(text) = clamp(w · x(text), -1, 1)`
/// where `x` is [`featurize`] and `w` the (dequantised) weights.
#[derive(Debug, Clone, PartialEq)]
pub struct SentimentModel {
    config: FeatureConfig,
    weights: Vec<f32>,
    scale: f32,
    quantized: Vec<i16>,
}

impl SentimentModel {
    /// Builds a model from float weights by quantising them to i16 with one
    /// global scale (the same precision as a model loaded from file).
    pub fn from_weights(config: FeatureConfig, weights: &[f32]) -> Result<Self, SentimentError> {
        config.validate().map_err(SentimentError::InvalidConfig)?;
        if weights.len() != config.dim() {
            return Err(SentimentError::InvalidConfig(format!(
                "{} weights for a {}-bucket feature space",
                weights.len(),
                config.dim()
            )));
        }
        if weights.iter().any(|w| !w.is_finite()) {
            return Err(SentimentError::InvalidConfig("non-finite weight".into()));
        }
        let max = weights.iter().fold(0.0f32, |m, w| m.max(w.abs()));
        let scale = if max > 0.0 { max / f32::from(i16::MAX) } else { 1.0 };
        let quantized: Vec<i16> = weights
            .iter()
            .map(|w| (w / scale).round().clamp(-32767.0, 32767.0) as i16)
            .collect();
        Ok(Self::from_quantized(config, scale, quantized))
    }

    fn from_quantized(config: FeatureConfig, scale: f32, quantized: Vec<i16>) -> Self {
        let weights = quantized.iter().map(|&q| f32::from(q) * scale).collect();
        Self {
            config,
            weights,
            scale,
            quantized,
        }
    }

    /// Parses a model file (see the module documentation for the layout).
    /// Any malformed, truncated, corrupted or mismatched input gives an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SentimentError> {
        if bytes.len() < HEADER_LEN + 8 {
            return Err(SentimentError::Truncated {
                expected: HEADER_LEN + 8,
                actual: bytes.len(),
            });
        }
        if bytes[..8] != MAGIC {
            return Err(SentimentError::BadMagic);
        }
        let u32_at = |o: usize| u32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]);
        let f32_at = |o: usize| f32::from_bits(u32_at(o));
        let version = u32_at(8);
        if version != FORMAT_VERSION {
            return Err(SentimentError::UnsupportedVersion(version));
        }
        let flag = |o: usize| match bytes[o] {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(SentimentError::InvalidConfig(format!(
                "flag at offset {o} is {v}, expected 0 or 1"
            ))),
        };
        let config = FeatureConfig {
            hash_bits: bytes[12],
            word_bigrams: flag(13)?,
            char_min: bytes[14],
            char_max: bytes[15],
            negation: flag(16)?,
            dense: flag(17)?,
            char_weight: f32_at(20),
        };
        config.validate().map_err(SentimentError::InvalidConfig)?;
        let scale = f32_at(24);
        if !scale.is_finite() || scale <= 0.0 {
            return Err(SentimentError::InvalidConfig(format!("weight scale {scale}")));
        }
        let n = u32_at(28) as usize;
        if n != config.dim() {
            return Err(SentimentError::InvalidConfig(format!(
                "{n} weights for hash_bits {}",
                config.hash_bits
            )));
        }
        let expected = HEADER_LEN + 2 * n + 8;
        if bytes.len() != expected {
            return Err(SentimentError::Truncated {
                expected,
                actual: bytes.len(),
            });
        }
        let body = &bytes[..expected - 8];
        let mut sum = [0u8; 8];
        sum.copy_from_slice(&bytes[expected - 8..]);
        let stored = u64::from_le_bytes(sum);
        let computed = fnv1a64(body);
        if stored != computed {
            return Err(SentimentError::ChecksumMismatch { stored, computed });
        }
        let quantized = body[HEADER_LEN..]
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect();
        Ok(Self::from_quantized(config, scale, quantized))
    }

    /// Serialises the model in the format read by [`SentimentModel::from_bytes`].
    pub fn to_bytes(&self) -> Vec<u8> {
        let c = &self.config;
        let mut out = Vec::with_capacity(HEADER_LEN + 2 * self.quantized.len() + 8);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&[
            c.hash_bits,
            u8::from(c.word_bigrams),
            c.char_min,
            c.char_max,
            u8::from(c.negation),
            u8::from(c.dense),
            0,
            0,
        ]);
        out.extend_from_slice(&c.char_weight.to_bits().to_le_bytes());
        out.extend_from_slice(&self.scale.to_bits().to_le_bytes());
        out.extend_from_slice(&(self.quantized.len() as u32).to_le_bytes());
        for q in &self.quantized {
            out.extend_from_slice(&q.to_le_bytes());
        }
        let sum = fnv1a64(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// The model compiled into this crate (`model/sentiment.bin`), parsed once.
    ///
    /// Returns an error only if the embedded file is broken, which the crate's
    /// tests rule out.
    pub fn try_embedded() -> Result<&'static SentimentModel, SentimentError> {
        EMBEDDED
            .get_or_init(|| SentimentModel::from_bytes(EMBEDDED_BYTES))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The model compiled into this crate (`model/sentiment.bin`), parsed once on
    /// first use.
    ///
    /// # Panics
    /// Only if the embedded model file is malformed, a build defect caught by
    /// this crate's tests; use [`SentimentModel::try_embedded`] to get an error
    /// instead.
    pub fn embedded() -> &'static SentimentModel {
        match Self::try_embedded() {
            Ok(m) => m,
            Err(e) => panic!("embedded sentiment model is invalid: {e}"),
        }
    }

    /// The feature configuration the model was trained with.
    pub fn config(&self) -> &FeatureConfig {
        &self.config
    }

    /// The dequantised weights (one per hash bucket).
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }

    /// Scores an already featurised vector (output of [`featurize`] with this
    /// model's config): `clamp(Σ w[i]·v, -1, 1)`. Out-of-range buckets are ignored.
    pub fn score_features(&self, features: &[(u32, f32)]) -> f32 {
        let mut s = 0.0f32;
        for &(i, v) in features {
            if let Some(w) = self.weights.get(i as usize) {
                s += w * v;
            }
        }
        if s.is_finite() {
            s.clamp(-1.0, 1.0)
        } else {
            0.0
        }
    }

    /// Sentiment of `text` in `[-1, 1]`: below 0 negative, above 0 positive
    /// (trained on human valence ratings divided by 4). Never panics; any string
    /// (empty, huge, odd unicode) gets a finite score.
    pub fn score(&self, text: &str) -> f32 {
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut guard) => {
                let (scratch, feats) = &mut *guard;
                featurize(&self.config, text, scratch, feats);
                self.score_features(feats)
            }
            Err(_) => {
                let mut feats = Vec::new();
                featurize(&self.config, text, &mut Scratch::new(), &mut feats);
                self.score_features(&feats)
            }
        })
    }

    /// Scores several texts; `result[i] == self.score(texts[i])`.
    pub fn score_batch(&self, texts: &[&str]) -> Vec<f32> {
        texts.iter().map(|t| self.score(t)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> SentimentModel {
        let cfg = FeatureConfig {
            hash_bits: 10,
            ..FeatureConfig::default()
        };
        let w: Vec<f32> = (0..cfg.dim()).map(|i| ((i % 7) as f32 - 3.0) * 0.01).collect();
        SentimentModel::from_weights(cfg, &w).unwrap()
    }

    #[test]
    fn roundtrip() {
        let m = tiny();
        let bytes = m.to_bytes();
        let back = SentimentModel::from_bytes(&bytes).unwrap();
        assert_eq!(m, back);
        assert_eq!(m.score("good stuff"), back.score("good stuff"));
    }

    #[test]
    fn corrupted_file_is_rejected() {
        let bytes = tiny().to_bytes();
        // Flip one weight byte: checksum mismatch.
        let mut b = bytes.clone();
        b[HEADER_LEN + 5] ^= 0x40;
        assert!(matches!(
            SentimentModel::from_bytes(&b),
            Err(SentimentError::ChecksumMismatch { .. })
        ));
        // Bad magic.
        let mut b = bytes.clone();
        b[0] = b'X';
        assert!(matches!(
            SentimentModel::from_bytes(&b),
            Err(SentimentError::BadMagic)
        ));
        // Unknown version.
        let mut b = bytes.clone();
        b[8] = 99;
        assert!(matches!(
            SentimentModel::from_bytes(&b),
            Err(SentimentError::UnsupportedVersion(99))
        ));
        // Mismatched hash space.
        let mut b = bytes.clone();
        b[12] = 11;
        assert!(matches!(
            SentimentModel::from_bytes(&b),
            Err(SentimentError::InvalidConfig(_))
        ));
        // Bad flag.
        let mut b = bytes.clone();
        b[13] = 7;
        assert!(SentimentModel::from_bytes(&b).is_err());
        // Truncated / empty / garbage.
        assert!(SentimentModel::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        assert!(SentimentModel::from_bytes(&[]).is_err());
        assert!(SentimentModel::from_bytes(&[0xff; 100]).is_err());
        // Every possible truncation errors without panicking.
        for len in 0..bytes.len() {
            assert!(SentimentModel::from_bytes(&bytes[..len]).is_err());
        }
    }

    #[test]
    fn mutated_files_never_panic() {
        let bytes = tiny().to_bytes();
        let mut state = 0x1234_5678_9abc_def0u64;
        for _ in 0..2000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut b = bytes.clone();
            let pos = (state as usize) % b.len();
            b[pos] = b[pos].wrapping_add(((state >> 32) as u8) | 1);
            // Any single-byte change is caught (checksum or header validation).
            assert!(
                SentimentModel::from_bytes(&b).is_err(),
                "byte {pos} change accepted"
            );
        }
    }

    #[test]
    fn from_weights_validates() {
        let cfg = FeatureConfig {
            hash_bits: 10,
            ..FeatureConfig::default()
        };
        assert!(SentimentModel::from_weights(cfg, &[0.0; 3]).is_err());
        let mut w = vec![0.0; cfg.dim()];
        w[0] = f32::NAN;
        assert!(SentimentModel::from_weights(cfg, &w).is_err());
        let zero = SentimentModel::from_weights(cfg, &vec![0.0; cfg.dim()]).unwrap();
        assert_eq!(zero.score("anything"), 0.0);
    }

    #[test]
    fn embedded_model_loads_and_scores_any_input() {
        let m = SentimentModel::try_embedded().expect("embedded model parses");
        let long = "great ".repeat(100_000);
        let inputs = [
            "",
            " ",
            "good",
            "\u{0}\u{FFFD}\u{1F600}",
            long.as_str(),
            "ÀÉÎ!!!???",
        ];
        for t in inputs {
            let s = m.score(t);
            assert!((-1.0..=1.0).contains(&s), "{s} for {t:?}");
        }
        let batch = m.score_batch(&inputs);
        assert_eq!(batch.len(), inputs.len());
        assert_eq!(batch[2], m.score("good"));
    }
}
