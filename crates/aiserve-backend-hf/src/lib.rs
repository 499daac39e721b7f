//! Hugging Face model folders for aiserve: BERT-family encoders (BERT, MiniLM, ...) as sentence
//! embedding models and as sequence classifiers, tokenized in the server with the `tokenizers`
//! crate and run by one of two engines:
//!
//! * **candle** ([candle](https://github.com/huggingface/candle)'s CPU backend, pure Rust) on
//!   `model.safetensors`; always built.
//! * **onnxruntime** (ONNX Runtime through the [`ort`](https://ort.pyke.io) crate) on `model.onnx`;
//!   cargo feature `ort`, off by default. `libonnxruntime.so` is loaded when the first such model
//!   loads — from the `onnxruntime_library` parameter, else `ORT_DYLIB_PATH`, else the dynamic
//!   loader's search path — so the build needs nothing but cargo (the PyPI `onnxruntime` wheel
//!   ships the library as `onnxruntime/capi/libonnxruntime.so.1.*`). The graph is the layout
//!   Hugging Face optimum exports: int64 `input_ids`, optionally `attention_mask` and
//!   `token_type_ids`, `[batch, sequence]`; output `last_hidden_state` `[batch, sequence, hidden]`
//!   (embeddings) or `logits` `[batch, labels]` (classification). `scripts/make-minilm-onnx.py`
//!   writes one from `model.safetensors` without torch. 4-4.5x candle's throughput on
//!   all-MiniLM-L6-v2 (BENCHMARKS.md, "Embedding engine choice").
//!
//! Tokenization, padding, truncation, pooling and normalisation are the same code for both
//! engines; the engines only turn token ids into the network's output.
//!
//! * [`HfBackendFactory`] is registered under the backend name `hf`. A version folder holds
//!   `config.json`, `tokenizer.json` and `model.safetensors` and/or `model.onnx`, plus for
//!   sentence-transformers models `1_Pooling/config.json`, `modules.json` and
//!   `sentence_bert_config.json`.
//! * Input: one `BYTES` tensor of UTF-8 texts, `[batch, 1]` (or any shape; every element is one
//!   text). Output: one `FP32` tensor, `[batch, dim]` — the input's shape with its trailing `1`
//!   replaced by `dim` (or `dim` appended when the last dimension is not 1).
//! * A batch is tokenized and padded to its longest sequence; texts longer than the model's
//!   maximum length are truncated (as sentence-transformers does).
//!
//! ## `config.pbtxt` parameters
//!
//! | key | values | default |
//! | --- | --- | --- |
//! | `task` | `embedding`, `classification` | `embedding` |
//! | `pooling` | `mean`, `cls`, `max`, `mean_sqrt_len` | `1_Pooling/config.json`, else `mean` |
//! | `normalize` | `true`, `false` | `true` when `modules.json` lists a `Normalize` module |
//! | `max_sequence_length` | tokens, special tokens included | `sentence_bert_config.json`'s `max_seq_length`, else `max_position_embeddings` (at most 512) |
//! | `engine` | `auto`, `candle`, `onnxruntime` | `auto`: `onnxruntime` when built with the `ort` feature and the folder has `model.onnx`, else `candle` |
//! | `intra_op_threads` | threads for one execution (onnxruntime) | the cores available |
//! | `hf_model_id` | a Hugging Face hub id, e.g. `sentence-transformers/all-MiniLM-L6-v2`: the files come from the hub cache, downloaded on first use (cargo feature `hub`), instead of the version folder | unset |
//! | `hf_revision` | the hub branch, tag or commit for `hf_model_id` | `main` |
//! | `intra_op_spinning` | `true`, `false`: intra-op threads spin-wait between executions (onnxruntime) | `true` |
//! | `onnxruntime_library` | path of `libonnxruntime.so` (onnxruntime) | `ORT_DYLIB_PATH`, else `libonnxruntime.so` on the loader's path |
//!
//! `classification` reads `BertForSequenceClassification` weights (pooler + classifier) with
//! candle, or a graph's `logits` with onnxruntime, and returns the raw logits, `[batch,
//! num_labels]`. One process loads one ONNX Runtime library: models naming different libraries
//! fail to load. With onnxruntime, one loaded version runs one execution at a time (several
//! instances queue); candle runs them concurrently on rayon's pool.
//!
//! Config auto-complete fills a missing input (`text`, `TYPE_STRING`, dims `[1]` when batching)
//! and output (`embedding` or `logits`, `TYPE_FP32`, dims `[width]` read from `config.json`).

#![warn(missing_docs)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aiserve_core::{Backend, BackendFactory, Error, LoadContext, ModelConfig, Tensor, TensorData};
use aiserve_proto::inference::{DataType as ConfigDataType, ModelInput, ModelOutput};

mod candle_engine;
#[cfg(feature = "hub")]
pub mod hub;
mod model;
#[cfg(feature = "ort")]
mod ort_engine;
mod pooling;

pub use model::{
    output_width, resolve_engine, Encoder, EncoderOptions, EngineKind, Task, TokenBatch, ONNX_FILENAME,
    SAFETENSORS_FILENAME,
};
#[cfg(feature = "ort")]
pub use ort_engine::ORT_DYLIB_PATH;
pub use pooling::{l2_normalize, normalize_from_modules, Pooling};

/// The backend name a `config.pbtxt` selects this backend with.
pub const BACKEND_NAME: &str = "hf";

/// The weights file looked for in a version folder (the candle engine's).
pub const DEFAULT_MODEL_FILENAME: &str = SAFETENSORS_FILENAME;

/// Makes [`Backend`]s for Hugging Face encoder folders. Backend name `hf`.
#[derive(Debug, Default, Clone, Copy)]
pub struct HfBackendFactory;

impl HfBackendFactory {
    /// A factory (it holds no state).
    pub fn new() -> HfBackendFactory {
        HfBackendFactory
    }
}

/// Reads the `config.pbtxt` parameters (see the crate docs) into [`EncoderOptions`].
pub fn encoder_options(model: &str, config: &ModelConfig) -> Result<EncoderOptions, Error> {
    let param = |key: &str| config.parameters.get(key).map(|p| p.string_value.trim());
    let mut options = EncoderOptions::default();
    match param("task") {
        None | Some("embedding") => {}
        Some("classification") => options.task = Task::Classification,
        Some(other) => {
            return Err(Error::load(
                model,
                format!("parameter 'task' is '{other}'; expected 'embedding' or 'classification'"),
            ))
        }
    }
    if let Some(p) = param("pooling") {
        options.pooling = Some(Pooling::from_name(p).ok_or_else(|| {
            Error::load(
                model,
                format!("parameter 'pooling' is '{p}'; expected mean, cls, max or mean_sqrt_len"),
            )
        })?);
    }
    if let Some(n) = param("normalize") {
        options.normalize = Some(match n {
            "true" => true,
            "false" => false,
            _ => {
                return Err(Error::load(
                    model,
                    format!("parameter 'normalize' is '{n}'; expected true or false"),
                ))
            }
        });
    }
    if let Some(n) = param("max_sequence_length") {
        options.max_length = Some(n.parse().map_err(|_| {
            Error::load(
                model,
                format!("parameter 'max_sequence_length' is '{n}'; expected a number of tokens"),
            )
        })?);
    }
    match param("engine") {
        None | Some("auto") => {}
        Some(e) => {
            options.engine = Some(EngineKind::from_name(e).ok_or_else(|| {
                Error::load(
                    model,
                    format!("parameter 'engine' is '{e}'; expected auto, candle or onnxruntime"),
                )
            })?)
        }
    }
    if let Some(n) = param("intra_op_threads") {
        options.intra_op_threads = Some(n.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
            Error::load(
                model,
                format!("parameter 'intra_op_threads' is '{n}'; expected a number of threads (>= 1)"),
            )
        })?);
    }
    if let Some(b) = param("intra_op_spinning") {
        options.intra_op_spinning = Some(match b {
            "true" => true,
            "false" => false,
            _ => {
                return Err(Error::load(
                    model,
                    format!("parameter 'intra_op_spinning' is '{b}'; expected true or false"),
                ))
            }
        });
    }
    if let Some(p) = param("onnxruntime_library") {
        if p.is_empty() {
            return Err(Error::load(
                model,
                "parameter 'onnxruntime_library' is empty; expected the path of libonnxruntime.so",
            ));
        }
        options.onnxruntime_library = Some(PathBuf::from(p));
    }
    Ok(options)
}

fn model_name(config: &ModelConfig, dir: &Path) -> String {
    if config.name.is_empty() {
        dir.parent()
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        config.name.clone()
    }
}

/// The folder holding the model's files: the version folder, or, when the config sets
/// `hf_model_id`, the Hugging Face hub cache's snapshot of that model (downloaded on first use;
/// cargo feature `hub`; `hf_revision` picks a branch, tag or commit, default `main`).
fn files_dir(model: &str, config: &ModelConfig, version_dir: &Path) -> Result<PathBuf, Error> {
    let param = |key: &str| {
        config
            .parameters
            .get(key)
            .map(|p| p.string_value.trim())
            .filter(|v| !v.is_empty())
    };
    let Some(id) = param("hf_model_id") else {
        return Ok(version_dir.to_path_buf());
    };
    #[cfg(feature = "hub")]
    {
        hub::download(id, param("hf_revision")).map_err(|e| Error::load(model, e))
    }
    #[cfg(not(feature = "hub"))]
    {
        Err(Error::load(
            model,
            format!(
                "parameter 'hf_model_id' is '{id}', but this build cannot download from the Hugging Face hub: \
                 build aiserve with --features hub, or put the model's files in the version folder {}",
                version_dir.display()
            ),
        ))
    }
}

impl BackendFactory for HfBackendFactory {
    fn name(&self) -> &'static str {
        BACKEND_NAME
    }

    fn complete_config(&self, config: &mut ModelConfig, version_dir: Option<&Path>) -> Result<(), Error> {
        let Some(dir) = version_dir else {
            return Err(Error::load(
                &config.name,
                "the hf backend needs a version folder with the model files",
            ));
        };
        let model = model_name(config, dir);
        let files = files_dir(&model, config, dir)?;
        let dir = files.as_path();
        let options = encoder_options(&model, config)?;
        let batching = config.max_batch_size > 0;
        if config.input.is_empty() {
            config.input.push(ModelInput {
                name: "text".into(),
                data_type: ConfigDataType::TypeString as i32,
                dims: if batching { vec![1] } else { vec![-1] },
                ..Default::default()
            });
        }
        if config.output.is_empty() {
            let width = output_width(dir, options.task).map_err(|e| Error::load(&model, e))? as i64;
            let name = match options.task {
                Task::Embedding => "embedding",
                Task::Classification => "logits",
            };
            config.output.push(ModelOutput {
                name: name.into(),
                data_type: ConfigDataType::TypeFp32 as i32,
                dims: if batching { vec![width] } else { vec![-1, width] },
                ..Default::default()
            });
        }
        if config.input.len() != 1 || config.output.len() != 1 {
            return Err(Error::load(
                &model,
                format!(
                    "the hf backend takes one BYTES input and gives one FP32 output; the config declares {} inputs and {} outputs",
                    config.input.len(),
                    config.output.len()
                ),
            ));
        }
        if config.input[0].data_type != ConfigDataType::TypeString as i32 {
            return Err(Error::load(
                &model,
                format!("input '{}' must be TYPE_STRING (text)", config.input[0].name),
            ));
        }
        if config.output[0].data_type != ConfigDataType::TypeFp32 as i32 {
            return Err(Error::load(
                &model,
                format!("output '{}' must be TYPE_FP32", config.output[0].name),
            ));
        }
        Ok(())
    }

    fn load(&self, ctx: &LoadContext<'_>) -> Result<Arc<dyn Backend>, Error> {
        let Some(dir) = ctx.version_dir else {
            return Err(Error::load(
                ctx.model,
                "the hf backend needs a version folder with the model files",
            ));
        };
        let files = files_dir(ctx.model, ctx.config, dir)?;
        let dir = files.as_path();
        let options = encoder_options(ctx.model, ctx.config)?;
        let encoder = catch_unwind(AssertUnwindSafe(|| Encoder::load(dir, &options)))
            .unwrap_or_else(|_| Err(format!("the encoder panicked while loading {}", dir.display())))
            .map_err(|e| Error::load(ctx.model, e))?;
        tracing::info!(
            model = ctx.model,
            version = ctx.version,
            engine = encoder.engine().name(),
            dim = encoder.dim(),
            max_length = encoder.max_length(),
            "hf encoder loaded"
        );
        Ok(Arc::new(HfBackend {
            model: ctx.model.to_string(),
            encoder,
        }))
    }
}

/// One loaded version: an [`Encoder`] behind the [`Backend`] trait.
#[derive(Debug)]
pub struct HfBackend {
    model: String,
    encoder: Encoder,
}

impl HfBackend {
    /// Wraps an encoder loaded by hand (e.g. by the `hub` module or a benchmark).
    pub fn new(model: impl Into<String>, encoder: Encoder) -> HfBackend {
        HfBackend {
            model: model.into(),
            encoder,
        }
    }
}

/// The texts of a `BYTES` tensor, or an `INVALID_ARGUMENT` naming the tensor and the element.
fn texts(input: &Tensor) -> Result<Vec<&str>, Error> {
    let TensorData::Bytes(items) = &input.data else {
        return Err(Error::invalid(format!(
            "input '{}': the hf backend takes BYTES text, got {}",
            input.name,
            input.datatype()
        )));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, b)| {
            std::str::from_utf8(b).map_err(|e| {
                Error::invalid(format!(
                    "input '{}': element {i} is not valid UTF-8 ({e})",
                    input.name
                ))
            })
        })
        .collect()
}

/// The output shape for an input of shape `input`: its trailing 1 replaced by `width`, or `width`
/// appended.
fn output_shape(input: &[i64], width: usize) -> Vec<i64> {
    let mut shape = input.to_vec();
    if shape.last() == Some(&1) {
        shape.pop();
    }
    shape.push(width as i64);
    shape
}

impl Backend for HfBackend {
    fn infer(&self, inputs: Vec<Tensor>, outputs: &[String]) -> Result<Vec<Tensor>, Error> {
        let [input] = inputs.as_slice() else {
            return Err(Error::invalid(format!(
                "model '{}' takes one input (text), got {}",
                self.model,
                inputs.len()
            )));
        };
        let texts = texts(input)?;
        let rows = catch_unwind(AssertUnwindSafe(|| self.encoder.run(&texts)))
            .unwrap_or_else(|_| Err(format!("the {} engine panicked", self.encoder.engine().name())))
            .map_err(|message| Error::Backend {
                model: self.model.clone(),
                message,
            })?;
        let shape = output_shape(&input.shape, self.encoder.dim());
        Ok(outputs
            .iter()
            .map(|name| Tensor::new(name.clone(), shape.clone(), TensorData::F32(rows.clone())))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use aiserve_core::config::parse_pbtxt;

    use super::*;

    #[test]
    fn non_utf8_text_is_invalid_argument_naming_the_tensor() {
        let t = Tensor::new(
            "text",
            vec![2, 1],
            TensorData::Bytes(vec![b"fine".to_vec(), vec![0xff, 0xfe]]),
        );
        let err = texts(&t).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains("'text'") && msg.contains("element 1") && msg.contains("UTF-8"),
            "{msg}"
        );
    }

    #[test]
    fn non_bytes_input_is_invalid_argument() {
        let t = Tensor::new("text", vec![1], TensorData::F32(vec![1.0]));
        let err = texts(&t).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)) && err.to_string().contains("'text'"));
    }

    #[test]
    fn output_shapes() {
        assert_eq!(output_shape(&[4, 1], 384), vec![4, 384]);
        assert_eq!(output_shape(&[3], 384), vec![3, 384]);
        assert_eq!(output_shape(&[0, 1], 384), vec![0, 384]);
    }

    #[test]
    fn parameters() {
        let c = parse_pbtxt(
            r#"parameters { key: "task" value: { string_value: "classification" } }
               parameters { key: "pooling" value: { string_value: "cls" } }
               parameters { key: "normalize" value: { string_value: "false" } }
               parameters { key: "max_sequence_length" value: { string_value: "128" } }
               parameters { key: "engine" value: { string_value: "onnxruntime" } }
               parameters { key: "intra_op_threads" value: { string_value: "2" } }
               parameters { key: "intra_op_spinning" value: { string_value: "false" } }
               parameters { key: "onnxruntime_library" value: { string_value: "/opt/ort/libonnxruntime.so" } }"#,
        )
        .unwrap();
        let o = encoder_options("m", &c).unwrap();
        assert_eq!(
            o,
            EncoderOptions {
                task: Task::Classification,
                pooling: Some(Pooling::Cls),
                normalize: Some(false),
                max_length: Some(128),
                engine: Some(EngineKind::OnnxRuntime),
                intra_op_threads: Some(2),
                intra_op_spinning: Some(false),
                onnxruntime_library: Some(PathBuf::from("/opt/ort/libonnxruntime.so")),
            }
        );
        assert_eq!(
            encoder_options("m", &ModelConfig::default()).unwrap(),
            EncoderOptions::default()
        );
        let bad = parse_pbtxt(r#"parameters { key: "task" value: { string_value: "chat" } }"#).unwrap();
        let err = encoder_options("m", &bad).unwrap_err().to_string();
        assert!(err.contains("'task'") && err.contains("chat"), "{err}");
        for (key, value) in [
            ("engine", "tract"),
            ("intra_op_threads", "0"),
            ("intra_op_threads", "two"),
            ("intra_op_spinning", "yes"),
        ] {
            let bad = parse_pbtxt(&format!(
                r#"parameters {{ key: "{key}" value: {{ string_value: "{value}" }} }}"#
            ))
            .unwrap();
            let err = encoder_options("m", &bad).unwrap_err().to_string();
            assert!(err.contains(key) && err.contains(value), "{err}");
        }
        let auto = parse_pbtxt(r#"parameters { key: "engine" value: { string_value: "auto" } }"#).unwrap();
        assert_eq!(encoder_options("m", &auto).unwrap().engine, None);
    }

    /// A folder with only `model.onnx` (no weights for candle).
    fn onnx_only_folder() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(ONNX_FILENAME), b"not really a graph").unwrap();
        dir
    }

    #[test]
    fn engine_resolution() {
        let dir = onnx_only_folder();
        let auto = EncoderOptions::default();
        let candle = EncoderOptions {
            engine: Some(EngineKind::Candle),
            ..EncoderOptions::default()
        };
        let onnxruntime = EncoderOptions {
            engine: Some(EngineKind::OnnxRuntime),
            ..EncoderOptions::default()
        };
        let err = resolve_engine(dir.path(), &candle).unwrap_err();
        assert!(
            err.contains("model.safetensors") && err.contains("'engine' to 'onnxruntime'"),
            "{err}"
        );
        if cfg!(feature = "ort") {
            assert_eq!(
                resolve_engine(dir.path(), &auto).unwrap(),
                EngineKind::OnnxRuntime
            );
            assert_eq!(
                resolve_engine(dir.path(), &onnxruntime).unwrap(),
                EngineKind::OnnxRuntime
            );
        } else {
            let err = resolve_engine(dir.path(), &auto).unwrap_err();
            assert!(
                err.contains("model.onnx is there") && err.contains("`ort`"),
                "{err}"
            );
            let err = resolve_engine(dir.path(), &onnxruntime).unwrap_err();
            assert!(
                err.contains("not in this build") && err.contains("--features ort"),
                "{err}"
            );
        }
        std::fs::remove_file(dir.path().join(ONNX_FILENAME)).unwrap();
        std::fs::write(dir.path().join(SAFETENSORS_FILENAME), b"").unwrap();
        assert_eq!(resolve_engine(dir.path(), &auto).unwrap(), EngineKind::Candle);
        if cfg!(feature = "ort") {
            let err = resolve_engine(dir.path(), &onnxruntime).unwrap_err();
            assert!(err.contains("no ONNX graph") && err.contains("'candle'"), "{err}");
        }
    }

    #[cfg(not(feature = "hub"))]
    #[test]
    fn a_hub_id_without_the_hub_feature_fails_the_load_saying_how_to_fix_it() {
        let dir = tempfile::tempdir().unwrap();
        let config = parse_pbtxt(
            r#"parameters { key: "hf_model_id" value: { string_value: "sentence-transformers/all-MiniLM-L6-v2" } }"#,
        )
        .unwrap();
        let Err(err) = HfBackendFactory.load(&LoadContext {
            model: "m",
            version: 1,
            version_dir: Some(dir.path()),
            config: &config,
        }) else {
            panic!("loaded without the hub feature");
        };
        let msg = err.to_string();
        assert!(
            msg.contains("'m'") && msg.contains("all-MiniLM-L6-v2") && msg.contains("--features hub"),
            "{msg}"
        );
    }

    #[test]
    fn missing_files_fail_the_load_naming_the_model() {
        let dir = tempfile::tempdir().unwrap();
        let vdir = dir.path().join("1");
        std::fs::create_dir(&vdir).unwrap();
        let config = ModelConfig::default();
        let Err(err) = HfBackendFactory.load(&LoadContext {
            model: "m",
            version: 1,
            version_dir: Some(&vdir),
            config: &config,
        }) else {
            panic!("an empty folder loaded");
        };
        assert!(
            matches!(err, Error::Load { .. }) && err.to_string().contains("config.json"),
            "{err}"
        );
    }
}
