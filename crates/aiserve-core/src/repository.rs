//! Where models come from: a folder laid out as Triton lays it out
//! (`<model>/config.pbtxt`, `<model>/<version>/model.onnx`), or models
//! embedded in the binary.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use aiserve_proto::inference::ModelConfig;

use crate::config::parse_pbtxt;
use crate::Error;

/// A model built into the binary: its config text and its versions.
#[derive(Debug, Clone)]
pub struct EmbeddedModel {
    /// The model's name.
    pub name: String,
    /// Its `config.pbtxt` text.
    pub config: String,
    /// Its versions (the backend holds the weights).
    pub versions: Vec<u64>,
}

/// A source of models.
#[derive(Debug, Clone)]
pub enum ModelRepository {
    /// A folder with one sub-folder per model.
    Directory(PathBuf),
    /// Models compiled into the binary.
    Embedded(Vec<EmbeddedModel>),
}

/// What the repository holds for one model, read fresh from its source.
#[derive(Debug, Clone)]
pub struct ModelSource {
    /// The model's name.
    pub name: String,
    /// Its configuration as written (possibly empty, to be completed).
    pub config: ModelConfig,
    /// Versions present, with their folders (`None` for embedded models).
    pub versions: BTreeMap<u64, Option<PathBuf>>,
    /// Changes whenever the config or any file of the model changes; the
    /// polling mode reloads a model whose fingerprint moved.
    pub fingerprint: u64,
}

impl ModelSource {
    /// The version numbers present.
    pub fn version_numbers(&self) -> BTreeSet<u64> {
        self.versions.keys().copied().collect()
    }
}

impl ModelRepository {
    /// A short description for logs and `repository_name`.
    pub fn describe(&self) -> String {
        match self {
            ModelRepository::Directory(p) => p.display().to_string(),
            ModelRepository::Embedded(_) => "embedded".to_string(),
        }
    }

    /// The names of the models present, sorted.
    pub fn list(&self) -> Result<Vec<String>, Error> {
        match self {
            ModelRepository::Embedded(models) => {
                let mut names: Vec<String> = models.iter().map(|m| m.name.clone()).collect();
                names.sort();
                Ok(names)
            }
            ModelRepository::Directory(root) => {
                let entries = std::fs::read_dir(root).map_err(|e| {
                    Error::FailedPrecondition(format!("cannot read model repository {}: {e}", root.display()))
                })?;
                let mut names = Vec::new();
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().to_string();
                    if name.starts_with('.') || !entry.path().is_dir() {
                        continue;
                    }
                    names.push(name);
                }
                names.sort();
                Ok(names)
            }
        }
    }

    /// Reads one model's config and versions. [`Error::ModelNotFound`] when
    /// the repository has no such model.
    pub fn read(&self, name: &str) -> Result<ModelSource, Error> {
        match self {
            ModelRepository::Embedded(models) => {
                let m = models
                    .iter()
                    .find(|m| m.name == name)
                    .ok_or_else(|| Error::ModelNotFound(name.to_string()))?;
                let config =
                    parse_pbtxt(&m.config).map_err(|e| Error::load(name, format!("config.pbtxt: {e}")))?;
                let mut h = DefaultHasher::new();
                m.config.hash(&mut h);
                Ok(ModelSource {
                    name: name.to_string(),
                    config,
                    versions: m.versions.iter().map(|v| (*v, None)).collect(),
                    fingerprint: h.finish(),
                })
            }
            ModelRepository::Directory(root) => read_dir_model(root, name),
        }
    }
}

fn read_dir_model(root: &Path, name: &str) -> Result<ModelSource, Error> {
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(Error::ModelNotFound(name.to_string()));
    }
    let dir = root.join(name);
    if !dir.is_dir() {
        return Err(Error::ModelNotFound(name.to_string()));
    }
    let mut hasher = DefaultHasher::new();
    let config_path = dir.join("config.pbtxt");
    let config = match std::fs::read_to_string(&config_path) {
        Ok(text) => {
            text.hash(&mut hasher);
            parse_pbtxt(&text).map_err(|e| Error::load(name, format!("config.pbtxt: {e}")))?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => ModelConfig::default(),
        Err(e) => return Err(Error::load(name, format!("cannot read config.pbtxt: {e}"))),
    };
    let mut versions = BTreeMap::new();
    let entries = std::fs::read_dir(&dir)
        .map_err(|e| Error::load(name, format!("cannot read {}: {e}", dir.display())))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(v) = entry.file_name().to_str().and_then(|s| s.parse::<u64>().ok()) else {
            continue;
        };
        if path.is_dir() {
            fingerprint_dir(&path, &mut hasher);
            versions.insert(v, Some(path));
        }
    }
    versions.keys().for_each(|v| v.hash(&mut hasher));
    Ok(ModelSource {
        name: name.to_string(),
        config,
        versions,
        fingerprint: hasher.finish(),
    })
}

fn fingerprint_dir(dir: &Path, hasher: &mut DefaultHasher) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<_> = entries.flatten().collect();
    files.sort_by_key(|e| e.file_name());
    for entry in files {
        entry.file_name().hash(hasher);
        if let Ok(meta) = entry.metadata() {
            meta.len().hash(hasher);
            if let Ok(m) = meta.modified() {
                m.duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_nanos()
                    .hash(hasher);
            }
            if meta.is_dir() {
                fingerprint_dir(&entry.path(), hasher);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_triton_layout() {
        let root = tempfile::tempdir().unwrap();
        let m = root.path().join("m");
        std::fs::create_dir_all(m.join("1")).unwrap();
        std::fs::create_dir_all(m.join("3")).unwrap();
        std::fs::create_dir_all(m.join("notes")).unwrap();
        std::fs::write(m.join("config.pbtxt"), "max_batch_size: 4").unwrap();
        std::fs::create_dir_all(root.path().join(".hidden")).unwrap();
        let repo = ModelRepository::Directory(root.path().to_path_buf());
        assert_eq!(repo.list().unwrap(), vec!["m"]);
        let src = repo.read("m").unwrap();
        assert_eq!(src.config.max_batch_size, 4);
        assert_eq!(src.version_numbers(), [1, 3].into());
        let before = src.fingerprint;
        std::fs::write(m.join("3").join("model.onnx"), "x").unwrap();
        assert_ne!(repo.read("m").unwrap().fingerprint, before);
        assert!(matches!(repo.read("nope"), Err(Error::ModelNotFound(_))));
        assert!(matches!(repo.read("../m"), Err(Error::ModelNotFound(_))));
        std::fs::write(m.join("config.pbtxt"), "max_batch_size: \"x\"").unwrap();
        let err = repo.read("m").unwrap_err().to_string();
        assert!(err.contains("config.pbtxt"), "{err}");
    }
}
