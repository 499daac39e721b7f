//! A BERT-family encoder from a Hugging Face folder, with its tokenizer and task head, on candle's
//! CPU device. Knows nothing of aiserve's tensors or protocols: texts in, rows of floats out.

use std::path::Path;

use candle_core::{DType, Device, IndexOp, Tensor};
use candle_nn::{Linear, Module, VarBuilder};
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use serde::Deserialize;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::pooling::{l2_normalize, Pooling};

/// What the model computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// One vector per text (pooled, optionally L2-normalised).
    Embedding,
    /// `BertForSequenceClassification`: the raw logits, one per label.
    Classification,
}

/// How to load a folder; `None` fields are read from the folder's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncoderOptions {
    /// The task.
    pub task: Task,
    /// Pooling for embeddings; default: `1_Pooling/config.json`, else mean.
    pub pooling: Option<Pooling>,
    /// L2 normalisation of embeddings; default: a `Normalize` module in `modules.json`.
    pub normalize: Option<bool>,
    /// Longest sequence in tokens, special tokens included; longer texts are truncated. Default:
    /// `sentence_bert_config.json`'s `max_seq_length`, else the model's `max_position_embeddings`
    /// (at most 512).
    pub max_length: Option<usize>,
}

impl Default for EncoderOptions {
    fn default() -> Self {
        EncoderOptions {
            task: Task::Embedding,
            pooling: None,
            normalize: None,
            max_length: None,
        }
    }
}

enum Head {
    Embedding {
        pooling: Pooling,
        normalize: bool,
    },
    /// BERT's pooler (dense + tanh on `[CLS]`) then the classifier.
    Classification {
        pooler: Linear,
        classifier: Linear,
    },
}

/// A tokenized batch, padded to its longest sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBatch {
    /// Token ids, `[batch, seq]` row-major.
    pub ids: Vec<u32>,
    /// Attention mask (1 = token, 0 = padding), `[batch, seq]` row-major.
    pub mask: Vec<u32>,
    /// The number of texts.
    pub batch: usize,
    /// The longest sequence, special tokens included.
    pub seq: usize,
}

/// A loaded encoder: tokenizer, BERT and task head.
pub struct Encoder {
    tokenizer: Tokenizer,
    bert: BertModel,
    head: Head,
    dim: usize,
    max_length: usize,
    device: Device,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("dim", &self.dim)
            .field("max_length", &self.max_length)
            .finish_non_exhaustive()
    }
}

/// The parts of `config.json` candle's `Config` leaves out.
#[derive(Deserialize)]
struct ExtraConfig {
    #[serde(default)]
    id2label: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default)]
    num_labels: Option<usize>,
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("cannot parse {}: {e}", path.display()))
}

/// The output width a folder's model has for `task`: the hidden size for embeddings, the number of
/// labels for classification. Reads only `config.json` (for config auto-complete).
pub fn output_width(dir: &Path, task: Task) -> Result<usize, String> {
    let path = dir.join("config.json");
    match task {
        Task::Embedding => {
            let c: BertConfig = read_json(&path)?;
            Ok(c.hidden_size)
        }
        Task::Classification => {
            let c: ExtraConfig = read_json(&path)?;
            c.id2label
                .as_ref()
                .map(|m| m.len())
                .or(c.num_labels)
                .ok_or_else(|| format!("{}: no id2label or num_labels for classification", path.display()))
        }
    }
}

impl Encoder {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from `dir` (plus the
    /// sentence-transformers files for embeddings). The error says which file is wrong.
    pub fn load(dir: &Path, options: &EncoderOptions) -> Result<Encoder, String> {
        let device = Device::Cpu;
        let config_path = dir.join("config.json");
        let config: BertConfig = read_json(&config_path)?;

        let max_length = match options.max_length {
            Some(n) => n,
            None => {
                #[derive(Deserialize)]
                struct SentenceBert {
                    max_seq_length: Option<usize>,
                }
                let st = dir.join("sentence_bert_config.json");
                let from_st = if st.exists() {
                    read_json::<SentenceBert>(&st)?.max_seq_length
                } else {
                    None
                };
                from_st.unwrap_or(config.max_position_embeddings.min(512))
            }
        };
        if max_length == 0 || max_length > config.max_position_embeddings {
            return Err(format!(
                "max sequence length {max_length} is outside 1..={} (max_position_embeddings)",
                config.max_position_embeddings
            ));
        }

        let tokenizer_path = dir.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| format!("cannot load {}: {e}", tokenizer_path.display()))?;
        // tokenizer.json files often carry a fixed padding and a truncation of their own (MiniLM's:
        // 128): pad each batch to its longest sequence and truncate at the model's length instead.
        let pad = tokenizer.get_padding().cloned().unwrap_or_else(|| PaddingParams {
            pad_id: config.pad_token_id as u32,
            ..PaddingParams::default()
        });
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            pad_to_multiple_of: None,
            ..pad
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length,
                ..TruncationParams::default()
            }))
            .map_err(|e| format!("cannot set truncation on {}: {e}", tokenizer_path.display()))?;

        let weights = dir.join("model.safetensors");
        if !weights.is_file() {
            return Err(format!("no weights at {}", weights.display()));
        }
        // SAFETY: the file is memory-mapped read-only; it must not be changed while the model is
        // loaded (model repositories replace versions by new folders, not by editing files).
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, &device) }
            .map_err(|e| format!("cannot read {}: {e}", weights.display()))?;
        let bert = BertModel::load(vb.clone(), &config).map_err(|e| {
            format!(
                "{} is not a BERT model this backend reads: {e}",
                weights.display()
            )
        })?;

        let (head, dim) = match options.task {
            Task::Embedding => {
                let pooling = match options.pooling {
                    Some(p) => p,
                    None => {
                        let p = dir.join("1_Pooling").join("config.json");
                        if p.exists() {
                            Pooling::from_sentence_transformers(&p)?
                        } else {
                            Pooling::Mean
                        }
                    }
                };
                let normalize = match options.normalize {
                    Some(n) => n,
                    None => crate::pooling::normalize_from_modules(&dir.join("modules.json"))?,
                };
                (Head::Embedding { pooling, normalize }, config.hidden_size)
            }
            Task::Classification => {
                let labels = output_width(dir, Task::Classification)?;
                let h = config.hidden_size;
                let pooler = candle_nn::linear(h, h, vb.pp("bert.pooler.dense"))
                    .or_else(|_| candle_nn::linear(h, h, vb.pp("pooler.dense")))
                    .map_err(|e| format!("{}: no BERT pooler weights: {e}", weights.display()))?;
                let classifier = candle_nn::linear(h, labels, vb.pp("classifier"))
                    .map_err(|e| format!("{}: no classifier weights: {e}", weights.display()))?;
                (Head::Classification { pooler, classifier }, labels)
            }
        };
        Ok(Encoder {
            tokenizer,
            bert,
            head,
            dim,
            max_length,
            device,
        })
    }

    /// The width of one output row: embedding dimension or number of labels.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The longest sequence in tokens; longer texts are truncated.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// The token ids the model sees for `text`: special tokens added, truncated at
    /// [`Encoder::max_length`], no padding.
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>, String> {
        let e = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| format!("tokenizer: {e}"))?;
        Ok(e.get_ids().to_vec())
    }

    /// Tokenizes the texts as one batch: truncated at [`Encoder::max_length`], padded to the
    /// longest.
    pub fn tokenize(&self, texts: &[&str]) -> Result<TokenBatch, String> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| format!("tokenizer: {e}"))?;
        let batch = encodings.len();
        let seq = encodings.iter().map(|e| e.len()).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(batch * seq);
        let mut mask = Vec::with_capacity(batch * seq);
        for e in &encodings {
            ids.extend_from_slice(e.get_ids());
            mask.extend_from_slice(e.get_attention_mask());
        }
        Ok(TokenBatch {
            ids,
            mask,
            batch,
            seq,
        })
    }

    /// Runs the texts as one batch, padded to the longest, and returns `texts.len()` rows of
    /// [`Encoder::dim`] floats, flattened.
    pub fn run(&self, texts: &[&str]) -> Result<Vec<f32>, String> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let tokens = self.tokenize(texts)?;
        let (batch, seq) = (tokens.batch, tokens.seq);
        let candle = |e: candle_core::Error| e.to_string();
        let ids = Tensor::from_vec(tokens.ids, (batch, seq), &self.device).map_err(candle)?;
        let mask = Tensor::from_vec(tokens.mask, (batch, seq), &self.device).map_err(candle)?;
        let type_ids = ids.zeros_like().map_err(candle)?;
        let hidden = self.bert.forward(&ids, &type_ids, Some(&mask)).map_err(candle)?;
        let out = match &self.head {
            Head::Embedding { pooling, normalize } => {
                let pooled = pooling.apply(&hidden, &mask).map_err(candle)?;
                if *normalize {
                    l2_normalize(&pooled).map_err(candle)?
                } else {
                    pooled
                }
            }
            Head::Classification { pooler, classifier } => {
                let cls = hidden.i((.., 0)).map_err(candle)?;
                let pooled = pooler.forward(&cls).and_then(|t| t.tanh()).map_err(candle)?;
                classifier.forward(&pooled).map_err(candle)?
            }
        };
        out.flatten_all().and_then(|t| t.to_vec1::<f32>()).map_err(candle)
    }
}
