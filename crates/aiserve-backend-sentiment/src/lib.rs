//! Serves aiserve's built-in sentiment model ([`aiserve_sentiment`]) behind
//! the runtime's [`Backend`] interface, like every other model, and provides
//! the embedded repository the server uses when given none.
//!
//! Signature: input `text` BYTES `[-1, 1]`, output `score` FP32 `[-1, 1]`.

#![warn(missing_docs)]

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use aiserve_core::{
    Backend, BackendFactory, EmbeddedModel, Error, LoadContext, ModelRepository, Tensor, TensorData,
};
use aiserve_sentiment::SentimentModel;

/// The backend's name, as written in `config.pbtxt`.
pub const BACKEND_NAME: &str = "sentiment";

/// The name of the built-in model.
pub const MODEL_NAME: &str = "sentiment";

/// The weights file a version folder may hold instead of the built-in weights.
pub const MODEL_FILENAME: &str = "sentiment.bin";

/// The built-in model's `config.pbtxt`.
pub const CONFIG: &str = include_str!("config.pbtxt");

/// The repository of models built into the binary: `sentiment`, version 1.
pub fn embedded_repository() -> ModelRepository {
    ModelRepository::Embedded(vec![EmbeddedModel {
        name: MODEL_NAME.to_string(),
        config: CONFIG.to_string(),
        versions: vec![1],
    }])
}

/// Makes sentiment backends: from a version folder's `sentiment.bin` when
/// there is one, else from the weights built into the binary.
#[derive(Debug, Default, Clone, Copy)]
pub struct SentimentBackendFactory;

impl BackendFactory for SentimentBackendFactory {
    fn name(&self) -> &'static str {
        BACKEND_NAME
    }

    fn default_platform(&self) -> &'static str {
        "aiserve_sentiment"
    }

    fn default_model_filename(&self) -> Option<&'static str> {
        Some(MODEL_FILENAME)
    }

    fn load(&self, ctx: &LoadContext<'_>) -> Result<Arc<dyn Backend>, Error> {
        let file = ctx.version_dir.map(|d| d.join(MODEL_FILENAME));
        let model = match file.as_deref().filter(|f| f.exists()) {
            Some(path) => Cow::Owned(load_file(ctx.model, path)?),
            None => Cow::Borrowed(SentimentModel::embedded()),
        };
        let [input] = ctx.config.input.as_slice() else {
            return Err(Error::load(
                ctx.model,
                "the sentiment backend takes exactly one input",
            ));
        };
        let [output] = ctx.config.output.as_slice() else {
            return Err(Error::load(
                ctx.model,
                "the sentiment backend gives exactly one output",
            ));
        };
        Ok(Arc::new(SentimentBackend {
            model,
            input: input.name.clone(),
            output: output.name.clone(),
        }))
    }
}

fn load_file(model: &str, path: &Path) -> Result<SentimentModel, Error> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::load(model, format!("cannot read {}: {e}", path.display())))?;
    SentimentModel::from_bytes(&bytes).map_err(|e| Error::load(model, format!("{}: {e}", path.display())))
}

/// One loaded sentiment model.
#[derive(Debug)]
pub struct SentimentBackend {
    model: Cow<'static, SentimentModel>,
    input: String,
    output: String,
}

impl Backend for SentimentBackend {
    /// Scoring takes ~2 µs a text: cheaper than a hop to the pool.
    fn runs_inline(&self) -> bool {
        true
    }

    fn infer(&self, inputs: Vec<Tensor>, outputs: &[String]) -> Result<Vec<Tensor>, Error> {
        let Some(Tensor {
            shape,
            data: TensorData::Bytes(texts),
            ..
        }) = inputs.into_iter().next()
        else {
            return Err(Error::invalid(format!("input '{}' must be BYTES", self.input)));
        };
        let mut scores = Vec::with_capacity(texts.len());
        for (i, t) in texts.iter().enumerate() {
            let text = std::str::from_utf8(t).map_err(|e| {
                Error::invalid(format!(
                    "input '{}': element {i} is not valid UTF-8 text ({e})",
                    self.input
                ))
            })?;
            scores.push(self.model.score(text));
        }
        Ok(outputs
            .iter()
            .filter(|o| **o == self.output)
            .map(|o| Tensor::new(o.clone(), shape.clone(), TensorData::F32(scores.clone())))
            .collect())
    }
}
