//! A BERT-family encoder from a Hugging Face folder: the tokenizer, one engine that runs the network
//! (candle on `model.safetensors`, or onnxruntime on `model.onnx` with the `ort` feature), and the
//! task's post-processing (pooling and normalisation for embeddings). Knows nothing of aiserve's
//! tensors or protocols: texts in, rows of floats out.
//!
//! The engines only map a [`TokenBatch`] to the network's raw output (the last hidden state for
//! embeddings, the logits for classification); tokenization, padding, truncation, pooling and
//! normalisation are shared here, so both engines give the same answers for the same folder.

use std::path::{Path, PathBuf};

use candle_transformers::models::bert::Config as BertConfig;
use serde::Deserialize;
use tokenizers::utils::padding::pad_encodings;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::candle_engine::CandleEncoder;
use crate::pooling::{l2_normalize, Pooling};

/// The weights file the candle engine reads from a version folder.
pub const SAFETENSORS_FILENAME: &str = "model.safetensors";

/// The graph the onnxruntime engine reads from a version folder.
pub const ONNX_FILENAME: &str = "model.onnx";

/// What the model computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// One vector per text (pooled, optionally L2-normalised).
    Embedding,
    /// `BertForSequenceClassification`: the raw logits, one per label.
    Classification,
}

/// The engine that runs the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    /// candle's CPU backend (pure Rust) on `model.safetensors`.
    Candle,
    /// ONNX Runtime, loaded at run time from `libonnxruntime.so`, on `model.onnx` (cargo feature
    /// `ort`).
    OnnxRuntime,
}

impl EngineKind {
    /// Parses an `engine` model parameter: `candle` or `onnxruntime` (`auto` is `None`).
    pub fn from_name(name: &str) -> Option<EngineKind> {
        match name {
            "candle" => Some(EngineKind::Candle),
            "onnxruntime" => Some(EngineKind::OnnxRuntime),
            _ => None,
        }
    }

    /// The name the `engine` parameter uses.
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Candle => "candle",
            EngineKind::OnnxRuntime => "onnxruntime",
        }
    }

    /// True when this build includes the engine (onnxruntime needs the cargo feature `ort`).
    pub fn is_built(self) -> bool {
        match self {
            EngineKind::Candle => true,
            EngineKind::OnnxRuntime => cfg!(feature = "ort"),
        }
    }
}

/// How to load a folder; `None` fields are read from the folder's files or take their defaults.
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
    /// The engine; default (`auto`): onnxruntime when this build has it and the folder has
    /// `model.onnx`, else candle.
    pub engine: Option<EngineKind>,
    /// onnxruntime's intra-op threads (one execution's parallelism); default: the cores available.
    pub intra_op_threads: Option<usize>,
    /// Whether onnxruntime's intra-op threads spin-wait for work between executions (lower
    /// latency, but they burn CPU the server's network threads could use); default: true.
    pub intra_op_spinning: Option<bool>,
    /// The ONNX Runtime library to load; default: `ORT_DYLIB_PATH`, else `libonnxruntime.so` from
    /// the dynamic loader's search path.
    pub onnxruntime_library: Option<PathBuf>,
}

impl Default for EncoderOptions {
    fn default() -> Self {
        EncoderOptions {
            task: Task::Embedding,
            pooling: None,
            normalize: None,
            max_length: None,
            engine: None,
            intra_op_threads: None,
            intra_op_spinning: None,
            onnxruntime_library: None,
        }
    }
}

/// What happens to the engine's output.
#[derive(Debug, Clone, Copy)]
enum Head {
    /// The engine gives the last hidden state; pool it, then maybe normalise.
    Embedding { pooling: Pooling, normalize: bool },
    /// The engine gives the logits as they are.
    Classification,
}

/// A tokenized batch, padded to its longest sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBatch {
    /// Token ids, `[batch, seq]` row-major.
    pub ids: Vec<u32>,
    /// Attention mask (1 = token, 0 = padding), `[batch, seq]` row-major.
    pub mask: Vec<u32>,
    /// Token type (segment) ids, `[batch, seq]` row-major: all 0 for single texts.
    pub type_ids: Vec<u32>,
    /// The number of texts.
    pub batch: usize,
    /// The longest sequence, special tokens included.
    pub seq: usize,
}

/// The engine behind an [`Encoder`].
enum Engine {
    Candle(CandleEncoder),
    #[cfg(feature = "ort")]
    OnnxRuntime(crate::ort_engine::OrtEncoder),
}

/// A loaded encoder: tokenizer, engine and task head.
pub struct Encoder {
    tokenizer: Tokenizer,
    engine: Engine,
    head: Head,
    dim: usize,
    max_length: usize,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("engine", &self.engine())
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

pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, String> {
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

/// The engine `options` ask for in `dir`: the explicit choice, else (`auto`) onnxruntime when it is
/// built and `model.onnx` exists, else candle. Errors when the chosen engine is not built or its
/// model file is missing, saying what to do.
pub fn resolve_engine(dir: &Path, options: &EncoderOptions) -> Result<EngineKind, String> {
    let onnx = dir.join(ONNX_FILENAME);
    let safetensors = dir.join(SAFETENSORS_FILENAME);
    let engine = match options.engine {
        Some(e) => e,
        None if EngineKind::OnnxRuntime.is_built() && onnx.is_file() => EngineKind::OnnxRuntime,
        None => EngineKind::Candle,
    };
    if !engine.is_built() {
        return Err(format!(
            "engine '{}' is not in this build (cargo feature `ort` of aiserve-backend-hf); rebuild with \
             `--features ort` or set parameter 'engine' to 'candle' (needs {})",
            engine.name(),
            safetensors.display()
        ));
    }
    let file = match engine {
        EngineKind::Candle => &safetensors,
        EngineKind::OnnxRuntime => &onnx,
    };
    if !file.is_file() {
        let hint = match engine {
            EngineKind::Candle if onnx.is_file() && options.engine.is_none() => format!(
                "; {} is there, but this build has no onnxruntime engine (cargo feature `ort`)",
                onnx.display()
            ),
            EngineKind::Candle if onnx.is_file() => {
                format!(
                    "; {} is there: set parameter 'engine' to 'onnxruntime'",
                    onnx.display()
                )
            }
            EngineKind::OnnxRuntime if safetensors.is_file() => format!(
                "; {} is there: set parameter 'engine' to 'candle' or 'auto'",
                safetensors.display()
            ),
            _ => String::new(),
        };
        let what = match engine {
            EngineKind::Candle => "weights",
            EngineKind::OnnxRuntime => "ONNX graph",
        };
        return Err(format!(
            "engine '{}': no {what} at {}{hint}",
            engine.name(),
            file.display()
        ));
    }
    Ok(engine)
}

impl Encoder {
    /// Loads `config.json` and `tokenizer.json` from `dir` (plus the sentence-transformers files
    /// for embeddings) and the engine's model file (see [`resolve_engine`]). The error says which
    /// file or setting is wrong.
    pub fn load(dir: &Path, options: &EncoderOptions) -> Result<Encoder, String> {
        let config_path = dir.join("config.json");
        let config: BertConfig = read_json(&config_path)?;
        let engine_kind = resolve_engine(dir, options)?;

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
            Task::Classification => (Head::Classification, output_width(dir, Task::Classification)?),
        };

        let engine = match engine_kind {
            EngineKind::Candle => Engine::Candle(CandleEncoder::load(
                &dir.join(SAFETENSORS_FILENAME),
                &config,
                options.task,
                dim,
            )?),
            #[cfg(feature = "ort")]
            EngineKind::OnnxRuntime => {
                let encoder = crate::ort_engine::OrtEncoder::load(&dir.join(ONNX_FILENAME), options, dim);
                Engine::OnnxRuntime(encoder.map_err(|e| {
                    // `auto` chose onnxruntime: say how to fall back to candle.
                    if options.engine.is_none() && dir.join(SAFETENSORS_FILENAME).is_file() {
                        format!("{e}; or set parameter 'engine' to 'candle' to run {SAFETENSORS_FILENAME}")
                    } else {
                        e
                    }
                })?)
            }
            #[cfg(not(feature = "ort"))]
            EngineKind::OnnxRuntime => unreachable!("resolve_engine refuses engines not built"),
        };
        Ok(Encoder {
            tokenizer,
            engine,
            head,
            dim,
            max_length,
        })
    }

    /// The engine running the network.
    pub fn engine(&self) -> EngineKind {
        match self.engine {
            Engine::Candle(_) => EngineKind::Candle,
            #[cfg(feature = "ort")]
            Engine::OnnxRuntime(_) => EngineKind::OnnxRuntime,
        }
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
            .encode_fast(text, true)
            .map_err(|e| format!("tokenizer: {e}"))?;
        Ok(e.get_ids().to_vec())
    }

    /// Tokenizes the texts as one batch: truncated at [`Encoder::max_length`], padded to the
    /// longest.
    ///
    /// On the calling thread, one text after the other, without offsets: a batch of sentences
    /// takes about a millisecond that way, while the `tokenizers` crate's parallel `encode_batch`
    /// took longer (rayon's workers waking up, and competing with onnxruntime's spinning threads).
    pub fn tokenize(&self, texts: &[&str]) -> Result<TokenBatch, String> {
        let mut encodings = texts
            .iter()
            .map(|t| self.tokenizer.encode_fast(*t, true))
            .collect::<tokenizers::Result<Vec<_>>>()
            .map_err(|e| format!("tokenizer: {e}"))?;
        if let Some(params) = self.tokenizer.get_padding() {
            pad_encodings(&mut encodings, params).map_err(|e| format!("tokenizer: {e}"))?;
        }
        let batch = encodings.len();
        let seq = encodings.iter().map(|e| e.len()).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(batch * seq);
        let mut mask = Vec::with_capacity(batch * seq);
        let mut type_ids = Vec::with_capacity(batch * seq);
        for e in &encodings {
            ids.extend_from_slice(e.get_ids());
            mask.extend_from_slice(e.get_attention_mask());
            type_ids.extend_from_slice(e.get_type_ids());
        }
        Ok(TokenBatch {
            ids,
            mask,
            type_ids,
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
        self.run_tokens(&tokens)
    }

    /// Runs an already tokenized batch (see [`Encoder::tokenize`]); returns `tokens.batch` rows of
    /// [`Encoder::dim`] floats, flattened.
    pub fn run_tokens(&self, tokens: &TokenBatch) -> Result<Vec<f32>, String> {
        let (batch, seq, dim) = (tokens.batch, tokens.seq, self.dim);
        // The engine checked the output's shape: [batch, seq, dim] or [batch, dim].
        let post = |out: &[f32]| match self.head {
            Head::Embedding { pooling, normalize } => {
                let mut rows = pooling.apply(out, &tokens.mask, batch, seq, dim);
                if normalize {
                    l2_normalize(&mut rows, dim);
                }
                rows
            }
            Head::Classification => out.to_vec(),
        };
        match &self.engine {
            Engine::Candle(e) => e.forward(tokens, post),
            #[cfg(feature = "ort")]
            Engine::OnnxRuntime(e) => e.forward(tokens, post),
        }
    }
}
