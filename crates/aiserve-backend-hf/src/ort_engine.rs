//! The onnxruntime engine (cargo feature `ort`): `model.onnx` on ONNX Runtime's CPU execution
//! provider through the `ort` crate, with the library loaded at run time (never linked or
//! downloaded at build time, so the default build stays pure cargo).
//!
//! The graph is the layout Hugging Face optimum exports (and `scripts/make-minilm-onnx.py`
//! writes): int64 `input_ids`, optionally `attention_mask` and `token_type_ids`, `[batch, seq]`;
//! output `last_hidden_state` `[batch, seq, hidden]` for embeddings or `logits` `[batch, labels]`
//! for classification. Only the inputs the graph declares are fed, only the output the task needs
//! is fetched.
//!
//! One process loads one ONNX Runtime library and builds one environment; every model shares them.
//! A session runs one execution at a time (the `ort` crate's `Session::run` takes `&mut self`):
//! executions of one loaded version queue on a mutex, and one execution uses `intra_op_threads`
//! threads.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use ort::environment::Environment;
use ort::logging::LogLevel;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{HasSelectedOutputs, OutputSelector, RunOptions, Session, SessionInputValue};
use ort::value::{Tensor, TensorElementType, ValueType};

use crate::model::{EncoderOptions, Task, TokenBatch};

/// The environment variable naming the ONNX Runtime library (the `ort` crate's convention).
pub const ORT_DYLIB_PATH: &str = "ORT_DYLIB_PATH";

/// The library this process loaded and the environment built on it.
struct Runtime {
    library: PathBuf,
    environment: Environment,
}

static RUNTIME: Mutex<Option<Runtime>> = Mutex::new(None);

/// Where the library path came from, for error messages.
fn library_path(options: &EncoderOptions) -> (PathBuf, &'static str) {
    if let Some(p) = &options.onnxruntime_library {
        return (p.clone(), "parameter 'onnxruntime_library'");
    }
    match std::env::var_os(ORT_DYLIB_PATH) {
        Some(p) if !p.is_empty() => (PathBuf::from(p), ORT_DYLIB_PATH),
        _ => (
            PathBuf::from(format!(
                "{}onnxruntime{}",
                std::env::consts::DLL_PREFIX,
                std::env::consts::DLL_SUFFIX
            )),
            "the default (neither ORT_DYLIB_PATH nor parameter 'onnxruntime_library' is set)",
        ),
    }
}

fn same_library(a: &Path, b: &Path) -> bool {
    a == b
        || matches!(
            (std::fs::canonicalize(a), std::fs::canonicalize(b)),
            (Ok(x), Ok(y)) if x == y
        )
}

/// The process-wide environment, loading the library on first use. A failed load can be retried
/// (with another path); once loaded, another path is an error: a process holds one ONNX Runtime.
fn environment(options: &EncoderOptions) -> Result<Environment, String> {
    let (library, source) = library_path(options);
    let mut slot = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(rt) = slot.as_ref() {
        if same_library(&rt.library, &library) || options.onnxruntime_library.is_none() {
            return Ok(rt.environment.clone());
        }
        return Err(format!(
            "this process already loaded ONNX Runtime from {}; it cannot load {} ({source}) as well: \
             give every model the same library",
            rt.library.display(),
            library.display()
        ));
    }
    let builder = ort::init_from(&library).map_err(|e| {
        // The loader's own reason (dlerror) does not survive ort's error; a missing file is the
        // common case, so say so.
        let reason = if library.parent().is_some_and(|p| !p.as_os_str().is_empty()) && !library.exists() {
            "no such file".to_string()
        } else {
            format!("{e} (not a loadable ONNX Runtime library?)")
        };
        format!(
            "engine 'onnxruntime': cannot load the ONNX Runtime library {} (from {source}): {reason}. \
             Set {ORT_DYLIB_PATH} or the config.pbtxt parameter 'onnxruntime_library' to a \
             libonnxruntime.so >= 1.17, e.g. the onnxruntime PyPI wheel's \
             onnxruntime/capi/libonnxruntime.so.1.* (scripts/test-ort.sh shows how)",
            library.display()
        )
    })?;
    let environment = builder
        .with_name("aiserve")
        .with_telemetry(false)
        .build()
        .map_err(|e| format!("engine 'onnxruntime': cannot create the ONNX Runtime environment: {e}"))?;
    // ONNX Runtime's log goes to `tracing` (target `ort`); its info level is a page per session
    // (every graph transformer), so only warnings and errors pass.
    environment.set_log_level(LogLevel::Warning);
    tracing::info!(library = %library.display(), build = ort::info(), "ONNX Runtime loaded");
    *slot = Some(Runtime {
        library,
        environment: environment.clone(),
    });
    Ok(environment)
}

/// The graph inputs this engine knows how to fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Feed {
    InputIds,
    AttentionMask,
    TokenTypeIds,
}

/// The session and the options that select its one output; locked together for a run.
struct Runner {
    session: Session,
    run_options: RunOptions<HasSelectedOutputs>,
}

/// A loaded ONNX graph: gives the last hidden state (embeddings) or the logits (classification).
pub(crate) struct OrtEncoder {
    runner: Mutex<Runner>,
    /// The graph's inputs, in its order.
    feeds: Vec<(String, Feed)>,
    output: &'static str,
    task: Task,
    width: usize,
}

impl OrtEncoder {
    /// Loads the library (first use), builds the session (`ORT_ENABLE_ALL`, `intra_op_threads`,
    /// one inter-op thread, sequential) and checks the graph's inputs and output against the
    /// layout; `width` is the hidden size (embeddings) or the number of labels.
    pub(crate) fn load(path: &Path, options: &EncoderOptions, width: usize) -> Result<OrtEncoder, String> {
        let environment = environment(options)?;
        let threads = match options.intra_op_threads {
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let ort = |e: ort::Error<_>| format!("onnxruntime: {e}");
        let session = Session::builder(&environment)
            .map_err(|e| format!("onnxruntime: {e}"))?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(ort)?
            .with_intra_threads(threads)
            .map_err(ort)?
            .with_intra_op_spinning(options.intra_op_spinning.unwrap_or(true))
            .map_err(ort)?
            .with_inter_threads(1)
            .map_err(ort)?
            .with_parallel_execution(false)
            .map_err(ort)?
            .commit_from_file(path)
            .map_err(|e| format!("onnxruntime cannot load {}: {e}", path.display()))?;

        let mut feeds = Vec::new();
        for input in session.inputs() {
            let feed = match input.name() {
                "input_ids" => Feed::InputIds,
                "attention_mask" => Feed::AttentionMask,
                "token_type_ids" => Feed::TokenTypeIds,
                other => {
                    return Err(format!(
                        "{}: graph input '{other}' is not one of input_ids, attention_mask, token_type_ids",
                        path.display()
                    ))
                }
            };
            match input.dtype() {
                ValueType::Tensor {
                    ty: TensorElementType::Int64,
                    shape,
                    ..
                } if shape.len() == 2 => {}
                other => {
                    return Err(format!(
                        "{}: graph input '{}' is {other:?}; expected int64 [batch, sequence]",
                        path.display(),
                        input.name()
                    ))
                }
            }
            feeds.push((input.name().to_string(), feed));
        }
        if !feeds.iter().any(|(_, f)| *f == Feed::InputIds) {
            return Err(format!("{}: the graph has no input 'input_ids'", path.display()));
        }

        let (output, rank) = match options.task {
            Task::Embedding => ("last_hidden_state", 3),
            Task::Classification => ("logits", 2),
        };
        let Some(outlet) = session.outputs().iter().find(|o| o.name() == output) else {
            let names: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
            return Err(format!(
                "{}: the graph has no output '{output}' (the {} task's); it has {names:?}",
                path.display(),
                match options.task {
                    Task::Embedding => "embedding",
                    Task::Classification => "classification",
                }
            ));
        };
        match outlet.dtype() {
            ValueType::Tensor {
                ty: TensorElementType::Float32,
                shape,
                ..
            } if shape.len() == rank && matches!(shape.last(), Some(&d) if d < 0 || d as usize == width) => {}
            other => {
                return Err(format!(
                    "{}: graph output '{output}' is {other:?}; expected float32 of rank {rank} with a last dimension of {width} (config.json)",
                    path.display()
                ))
            }
        }
        let run_options = RunOptions::new()
            .map_err(|e| format!("onnxruntime: {e}"))?
            .with_outputs(OutputSelector::no_default().with(output));
        tracing::debug!(graph = %path.display(), intra_op_threads = threads, ?feeds, output, "onnxruntime session ready");
        Ok(OrtEncoder {
            runner: Mutex::new(Runner { session, run_options }),
            feeds,
            output,
            task: options.task,
            width,
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
        let shape = [batch as i64, seq as i64];
        let mut inputs: Vec<(&str, SessionInputValue<'_>)> = Vec::with_capacity(self.feeds.len());
        for (name, feed) in &self.feeds {
            let values = match feed {
                Feed::InputIds => &tokens.ids,
                Feed::AttentionMask => &tokens.mask,
                Feed::TokenTypeIds => &tokens.type_ids,
            };
            let data: Vec<i64> = values.iter().map(|&v| i64::from(v)).collect();
            let tensor =
                Tensor::from_array((shape, data)).map_err(|e| format!("onnxruntime: input '{name}': {e}"))?;
            inputs.push((name.as_str(), tensor.into()));
        }
        let mut runner = self.runner.lock().unwrap_or_else(PoisonError::into_inner);
        let Runner { session, run_options } = &mut *runner;
        let outputs = session
            .run_with_options(inputs, &*run_options)
            .map_err(|e| format!("onnxruntime: {e}"))?;
        let value = outputs
            .get(self.output)
            .ok_or_else(|| format!("onnxruntime gave no output '{}'", self.output))?;
        let (got, data) = value
            .try_extract_tensor::<f32>()
            .map_err(|e| format!("onnxruntime: output '{}': {e}", self.output))?;
        let expected: &[i64] = match self.task {
            Task::Embedding => &[batch as i64, seq as i64, self.width as i64],
            Task::Classification => &[batch as i64, self.width as i64],
        };
        if **got != *expected {
            return Err(format!(
                "onnxruntime gave '{}' of shape {:?}; expected {expected:?}",
                self.output, &**got
            ));
        }
        Ok(post(data))
    }
}
