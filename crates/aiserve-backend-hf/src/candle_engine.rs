//! The candle engine: BERT from `model.safetensors` on candle's CPU device (pure Rust), plus
//! `BertForSequenceClassification`'s pooler and classifier for classification.

use std::path::Path;

use candle_core::{DType, Device, IndexOp, Tensor};
use candle_nn::{Linear, Module, VarBuilder};
use candle_transformers::models::bert::{BertModel, Config as BertConfig};

use crate::model::{Task, TokenBatch};

/// BERT's pooler (dense + tanh on `[CLS]`) then the classifier.
struct ClassifierHead {
    pooler: Linear,
    classifier: Linear,
}

/// BERT on candle; gives the last hidden state (embeddings) or the logits (classification).
pub(crate) struct CandleEncoder {
    bert: BertModel,
    classifier: Option<ClassifierHead>,
    width: usize,
    device: Device,
}

impl CandleEncoder {
    /// Loads the weights; `width` is the hidden size (embeddings) or the number of labels.
    pub(crate) fn load(
        weights: &Path,
        config: &BertConfig,
        task: Task,
        width: usize,
    ) -> Result<CandleEncoder, String> {
        let device = Device::Cpu;
        // SAFETY: the file is memory-mapped read-only; it must not be changed while the model is
        // loaded (model repositories replace versions by new folders, not by editing files).
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[weights], DType::F32, &device) }
            .map_err(|e| format!("cannot read {}: {e}", weights.display()))?;
        let bert = BertModel::load(vb.clone(), config).map_err(|e| {
            format!(
                "{} is not a BERT model this backend reads: {e}",
                weights.display()
            )
        })?;
        let classifier = match task {
            Task::Embedding => None,
            Task::Classification => {
                let h = config.hidden_size;
                let pooler = candle_nn::linear(h, h, vb.pp("bert.pooler.dense"))
                    .or_else(|_| candle_nn::linear(h, h, vb.pp("pooler.dense")))
                    .map_err(|e| format!("{}: no BERT pooler weights: {e}", weights.display()))?;
                let classifier = candle_nn::linear(h, width, vb.pp("classifier"))
                    .map_err(|e| format!("{}: no classifier weights: {e}", weights.display()))?;
                Some(ClassifierHead { pooler, classifier })
            }
        };
        Ok(CandleEncoder {
            bert,
            classifier,
            width,
            device,
        })
    }

    /// Runs the batch and hands `post` the output: the last hidden state `[batch, seq, width]`, or
    /// the logits `[batch, width]`, row-major.
    pub(crate) fn forward<R>(
        &self,
        tokens: &TokenBatch,
        post: impl FnOnce(&[f32]) -> R,
    ) -> Result<R, String> {
        let (batch, seq) = (tokens.batch, tokens.seq);
        let candle = |e: candle_core::Error| e.to_string();
        let tensor = |v: &[u32]| Tensor::from_slice(v, (batch, seq), &self.device).map_err(candle);
        let ids = tensor(&tokens.ids)?;
        let mask = tensor(&tokens.mask)?;
        let type_ids = tensor(&tokens.type_ids)?;
        let hidden = self.bert.forward(&ids, &type_ids, Some(&mask)).map_err(candle)?;
        let out = match &self.classifier {
            None => hidden,
            Some(ClassifierHead { pooler, classifier }) => {
                let cls = hidden.i((.., 0)).map_err(candle)?;
                let pooled = pooler.forward(&cls).and_then(|t| t.tanh()).map_err(candle)?;
                classifier.forward(&pooled).map_err(candle)?
            }
        };
        let flat = out
            .to_dtype(DType::F32)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(candle)?;
        let expected = match self.classifier {
            None => batch * seq * self.width,
            Some(_) => batch * self.width,
        };
        if flat.len() != expected {
            return Err(format!(
                "candle gave {} floats for a batch of {batch} x {seq} tokens; expected {expected}",
                flat.len()
            ));
        }
        Ok(post(&flat))
    }
}
