//! The interface every engine implements. Engines know nothing of protocols:
//! they get checked tensors and return tensors.

use std::path::Path;
use std::sync::Arc;

use aiserve_proto::inference::ModelConfig;

use crate::{Error, Tensor};

/// A loaded model version, ready to run. Called from the inference pool's
/// threads, possibly from several at once (up to the model's instance count).
pub trait Backend: Send + Sync + 'static {
    /// Runs one execution. `inputs` match the model's signature (names,
    /// datatypes and shapes were checked, in signature order); `outputs`
    /// names the outputs to return, in that order.
    fn infer(&self, inputs: Vec<Tensor>, outputs: &[String]) -> Result<Vec<Tensor>, Error>;

    /// True when one execution takes a few microseconds, so that handing it
    /// to the inference pool (a thread wake-up and a wake-up back) would cost
    /// more than the work: the registry then runs it on the calling task.
    /// Engines with real compute keep the default, `false`.
    fn runs_inline(&self) -> bool {
        false
    }
}

/// What a backend gets to load one version of a model.
#[derive(Debug)]
pub struct LoadContext<'a> {
    /// The model's name.
    pub model: &'a str,
    /// The version being loaded.
    pub version: u64,
    /// The version's folder, or `None` for a model embedded in the binary.
    pub version_dir: Option<&'a Path>,
    /// The model's (completed) configuration.
    pub config: &'a ModelConfig,
}

/// Makes [`Backend`]s of one kind: one per engine (ONNX, the built-in
/// sentiment model, ...). Registered with the model registry by the binary.
pub trait BackendFactory: Send + Sync + 'static {
    /// The backend's name, as written in a config's `backend` field.
    fn name(&self) -> &'static str;

    /// Triton `platform` names that select this backend (e.g. `onnxruntime_onnx`).
    fn platforms(&self) -> &'static [&'static str] {
        &[]
    }

    /// The platform reported in metadata when the config sets none.
    fn default_platform(&self) -> &'static str {
        self.name()
    }

    /// The model file in a version folder whose presence selects this
    /// backend when the config names none (e.g. `model.onnx`).
    fn default_model_filename(&self) -> Option<&'static str> {
        None
    }

    /// Fills in what the config leaves out, such as inputs and outputs read
    /// from the model file (Triton's auto-complete). `version_dir` is the
    /// newest version's folder.
    fn complete_config(&self, _config: &mut ModelConfig, _version_dir: Option<&Path>) -> Result<(), Error> {
        Ok(())
    }

    /// Loads one version.
    fn load(&self, ctx: &LoadContext<'_>) -> Result<Arc<dyn Backend>, Error>;
}
