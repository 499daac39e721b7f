//! The registry of models: loads them from the repository, swaps versions in
//! and out while serving, checks requests against each model's signature and
//! runs them on the inference pool.
//!
//! Reloads never fail a request: a request holds `Arc`s of the version it
//! resolved, so the old version finishes what it started while new requests
//! go to the new one.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use tokio::sync::{Mutex, Semaphore};

use crate::backend::{Backend, BackendFactory, LoadContext};
use crate::batcher::{BatchPolicy, Batcher, Executed};
use crate::config::{ModelSpec, TensorSpec};
use crate::metrics::VersionMetrics;
use crate::pool::InferencePool;
use crate::repository::{ModelRepository, ModelSource};
use crate::stats::VersionStats;
use crate::tensor::element_count;
use crate::{DataType, Error, Tensor, TensorData};

/// How the set of loaded models may change while serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelControl {
    /// Models are loaded at start and never change.
    None,
    /// Load and unload requests change them (the default).
    Explicit,
    /// The repository is polled and changes are applied; explicit load and
    /// unload requests are refused.
    Poll,
}

/// The state of a model, as the repository index reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelState {
    /// Being loaded for the first time.
    Loading,
    /// Serving.
    Ready,
    /// Not serving: unloaded, or its load failed.
    Unavailable,
}

impl ModelState {
    /// The protocol's name for the state.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelState::Loading => "LOADING",
            ModelState::Ready => "READY",
            ModelState::Unavailable => "UNAVAILABLE",
        }
    }
}

/// One loaded version of a model.
pub struct LoadedVersion {
    /// The version number.
    pub version: u64,
    backend: Arc<dyn Backend>,
    instances: Arc<Semaphore>,
    /// Cumulative statistics.
    pub stats: Arc<VersionStats>,
    metrics: VersionMetrics,
    cost: CostEstimate,
    /// The dynamic batcher, for models configured with `dynamic_batching`.
    batcher: Option<Batcher>,
}

impl LoadedVersion {
    /// The dynamic batching policy in force, if the model batches dynamically.
    pub fn batch_policy(&self) -> Option<&BatchPolicy> {
        self.batcher.as_ref().map(Batcher::policy)
    }
}

/// Executions that take less than this on average run on the calling task:
/// handing them to the inference pool (a thread wake-up there and back, tens
/// of microseconds on a busy core) would cost more than the work itself.
const INLINE_BELOW: Duration = Duration::from_micros(20);

/// How many executions are measured on the pool before a version may run
/// inline.
const INLINE_AFTER_SAMPLES: u64 = 16;

/// A running estimate of one version's execution time (an exponentially
/// weighted mean, weight 1/8), which decides where its executions run.
#[derive(Debug, Default)]
struct CostEstimate {
    mean_ns: AtomicU64,
    samples: AtomicU64,
}

impl CostEstimate {
    fn observe(&self, took: Duration) {
        let x = took.as_nanos().min(u64::MAX as u128) as u64;
        let n = self.samples.fetch_add(1, Ordering::Relaxed);
        let old = self.mean_ns.load(Ordering::Relaxed);
        let new = if n == 0 { x } else { old - old / 8 + x / 8 };
        self.mean_ns.store(new, Ordering::Relaxed);
    }

    fn is_cheap(&self) -> bool {
        self.samples.load(Ordering::Relaxed) >= INLINE_AFTER_SAMPLES
            && Duration::from_nanos(self.mean_ns.load(Ordering::Relaxed)) < INLINE_BELOW
    }
}

impl fmt::Debug for LoadedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedVersion")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// A loaded model: its checked config and its served versions.
#[derive(Debug)]
pub struct LoadedModel {
    /// The checked configuration.
    pub spec: ModelSpec,
    /// The served versions, by number.
    pub versions: BTreeMap<u64, Arc<LoadedVersion>>,
}

impl LoadedModel {
    /// Picks a version: the newest when `version` is empty.
    pub fn version(&self, version: &str) -> Result<&Arc<LoadedVersion>, Error> {
        let not_found = || Error::VersionNotFound {
            model: self.spec.name.clone(),
            version: version.to_string(),
        };
        if version.is_empty() {
            return self.versions.values().next_back().ok_or_else(not_found);
        }
        let v: u64 = version.parse().map_err(|_| not_found())?;
        self.versions.get(&v).ok_or_else(not_found)
    }
}

#[derive(Clone)]
struct Slot {
    state: ModelState,
    reason: String,
    model: Option<Arc<LoadedModel>>,
    fingerprint: u64,
}

/// One row of the repository index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// The model.
    pub name: String,
    /// The version, empty for a model that is not loaded.
    pub version: String,
    /// `READY`, `LOADING` or `UNAVAILABLE`.
    pub state: &'static str,
    /// Why it is not ready, if it is not.
    pub reason: String,
}

/// An inference request in runtime terms.
#[derive(Debug, Clone, Default)]
pub struct InferRequest {
    /// The model.
    pub model: String,
    /// The version; empty for the newest.
    pub version: String,
    /// The inputs.
    pub inputs: Vec<Tensor>,
    /// The outputs wanted; empty for all.
    pub outputs: Vec<String>,
    /// When the caller stops waiting (gRPC's `grpc-timeout`); a request
    /// still waiting for the engine then fails with
    /// [`Error::DeadlineExceeded`] and is not computed.
    pub deadline: Option<Instant>,
}

/// The result of an inference.
#[derive(Debug, Clone)]
pub struct InferResponse {
    /// The model that answered.
    pub model: String,
    /// The version that answered.
    pub version: u64,
    /// The outputs, in the order asked (or signature order).
    pub outputs: Vec<Tensor>,
}

/// The result of a text prediction.
#[derive(Debug, Clone)]
pub struct Prediction {
    /// The model that answered.
    pub model: String,
    /// The version that answered.
    pub version: u64,
    /// One score per text.
    pub scores: Vec<f32>,
    /// One label per text, when the model defines labels.
    pub labels: Vec<String>,
}

/// The result of embedding texts.
#[derive(Debug, Clone)]
pub struct Embeddings {
    /// The model that answered.
    pub model: String,
    /// The version that answered.
    pub version: u64,
    /// The length of each vector.
    pub dimensions: usize,
    /// The vectors back to back, one per text, in the texts' order.
    pub values: Vec<f32>,
}

/// Settings of the registry.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Inference threads.
    pub threads: usize,
    /// The model `predict` uses when a request names none.
    pub default_model: Option<String>,
    /// How models may change while serving.
    pub control: ModelControl,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            threads: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            default_model: None,
            control: ModelControl::Explicit,
        }
    }
}

/// The models a server serves.
pub struct ModelRegistry {
    repository: ModelRepository,
    factories: Vec<Arc<dyn BackendFactory>>,
    slots: RwLock<BTreeMap<String, Slot>>,
    control_lock: Mutex<()>,
    pool: InferencePool,
    options: RegistryOptions,
    started: AtomicBool,
    changes: tokio::sync::watch::Sender<u64>,
}

impl fmt::Debug for ModelRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelRegistry")
            .field("repository", &self.repository.describe())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl ModelRegistry {
    /// Makes a registry over `repository` with the given backends. Nothing is
    /// loaded until [`ModelRegistry::load_all`].
    pub fn new(
        repository: ModelRepository,
        factories: Vec<Arc<dyn BackendFactory>>,
        options: RegistryOptions,
    ) -> Arc<ModelRegistry> {
        Arc::new(ModelRegistry {
            repository,
            factories,
            slots: RwLock::new(BTreeMap::new()),
            control_lock: Mutex::new(()),
            pool: InferencePool::new(options.threads),
            options,
            started: AtomicBool::new(false),
            changes: tokio::sync::watch::Sender::new(0),
        })
    }

    /// The repository this registry reads.
    pub fn repository(&self) -> &ModelRepository {
        &self.repository
    }

    /// How models may change while serving.
    pub fn control(&self) -> ModelControl {
        self.options.control
    }

    /// Loads every model of the repository. A model that fails to load is
    /// logged and marked unavailable with its reason; the others serve.
    /// Returns the models that failed, with their errors.
    pub async fn load_all(self: &Arc<Self>) -> Vec<(String, Error)> {
        let mut failed = Vec::new();
        match self.repository.list() {
            Ok(names) => {
                for name in names {
                    if let Err(e) = self.load_model(&name).await {
                        tracing::error!(model = %name, error = %e, "model failed to load");
                        failed.push((name, e));
                    }
                }
            }
            Err(e) => failed.push((self.repository.describe(), e)),
        }
        self.started.store(true, Ordering::Release);
        self.changed();
        failed
    }

    /// A receiver that sees a new value whenever a model's state changes
    /// (loaded, reloaded, unloaded, failed), e.g. to keep health checks current.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn changed(&self) {
        self.changes.send_modify(|g| *g += 1);
    }

    /// True once start-up loading has finished.
    pub fn is_ready(&self) -> bool {
        self.started.load(Ordering::Acquire)
    }

    /// The model `predict` uses when a request names none.
    pub fn default_model(&self) -> Option<String> {
        if let Some(m) = &self.options.default_model {
            return Some(m.clone());
        }
        let slots = self.slots.read();
        if slots.contains_key("sentiment") {
            return Some("sentiment".to_string());
        }
        if slots.len() == 1 {
            return slots.keys().next().cloned();
        }
        None
    }

    /// Loads (or reloads) a model by an explicit request. Refused when the
    /// server's model control does not allow it.
    pub async fn load(self: &Arc<Self>, name: &str) -> Result<(), Error> {
        self.check_explicit("load")?;
        self.load_model(name).await
    }

    /// Unloads a model by an explicit request. Requests already running on it
    /// finish; later ones get [`Error::Unavailable`].
    pub async fn unload(self: &Arc<Self>, name: &str) -> Result<(), Error> {
        self.check_explicit("unload")?;
        self.unload_model(name).await
    }

    fn check_explicit(&self, what: &str) -> Result<(), Error> {
        match self.options.control {
            ModelControl::Explicit => Ok(()),
            other => Err(Error::FailedPrecondition(format!(
                "explicit model {what} is not allowed in model control mode {other:?}; start the server with --model-control explicit"
            ))),
        }
    }

    async fn load_model(self: &Arc<Self>, name: &str) -> Result<(), Error> {
        let _guard = self.control_lock.lock().await;
        let source = self.repository.read(name)?;
        let fingerprint = source.fingerprint;
        {
            let mut slots = self.slots.write();
            let slot = slots.entry(name.to_string()).or_insert(Slot {
                state: ModelState::Loading,
                reason: "loading".into(),
                model: None,
                fingerprint,
            });
            if slot.model.is_none() {
                slot.state = ModelState::Loading;
                slot.reason = "loading".into();
                crate::metrics::set_model_state(name, ModelState::Loading);
            }
        }
        let this = Arc::clone(self);
        let built = tokio::task::spawn_blocking(move || this.build(source))
            .await
            .unwrap_or_else(|e| Err(Error::load(name, format!("loader panicked: {e}"))));
        let result = self.install(name, fingerprint, built);
        self.changed();
        result
    }

    fn install(&self, name: &str, fingerprint: u64, built: Result<LoadedModel, Error>) -> Result<(), Error> {
        let mut slots = self.slots.write();
        let slot = slots.get_mut(name).expect("slot inserted before loading");
        match built {
            Ok(model) => {
                tracing::info!(model = %name, versions = ?model.versions.keys().collect::<Vec<_>>(), "model ready");
                slot.state = ModelState::Ready;
                slot.reason.clear();
                slot.model = Some(Arc::new(model));
                slot.fingerprint = fingerprint;
                crate::metrics::set_model_state(name, ModelState::Ready);
                Ok(())
            }
            Err(e) => {
                slot.fingerprint = fingerprint;
                if slot.model.is_none() {
                    slot.state = ModelState::Unavailable;
                    slot.reason = e.to_string();
                    crate::metrics::set_model_state(name, ModelState::Unavailable);
                }
                // A failed reload keeps the old versions serving.
                Err(e)
            }
        }
    }

    async fn unload_model(&self, name: &str) -> Result<(), Error> {
        let _guard = self.control_lock.lock().await;
        let result = self.mark_unloaded(name);
        self.changed();
        result
    }

    fn mark_unloaded(&self, name: &str) -> Result<(), Error> {
        let mut slots = self.slots.write();
        match slots.get_mut(name) {
            Some(slot) => {
                slot.state = ModelState::Unavailable;
                slot.reason = "unloaded".into();
                slot.model = None;
                crate::metrics::set_model_state(name, ModelState::Unavailable);
                tracing::info!(model = %name, "model unloaded");
                Ok(())
            }
            None if self.repository.read(name).is_ok() => Ok(()),
            None => Err(Error::ModelNotFound(name.to_string())),
        }
    }

    /// Applies the repository's changes once: loads new and changed models,
    /// unloads removed ones. Used by the polling mode.
    pub async fn poll_once(self: &Arc<Self>) {
        let names = match self.repository.list() {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "repository poll failed");
                return;
            }
        };
        let present: BTreeSet<&String> = names.iter().collect();
        let known: Vec<(String, u64)> = self
            .slots
            .read()
            .iter()
            .map(|(n, s)| (n.clone(), s.fingerprint))
            .collect();
        for (name, _) in known.iter().filter(|(n, _)| !present.contains(n)) {
            if let Err(e) = self.unload_model(name).await {
                tracing::warn!(model = %name, error = %e, "unload on poll failed");
            }
            self.slots.write().remove(name);
        }
        for name in &names {
            let Ok(source) = self.repository.read(name) else {
                continue;
            };
            let changed = known
                .iter()
                .find(|(n, _)| n == name)
                .is_none_or(|(_, fp)| *fp != source.fingerprint);
            if changed {
                tracing::info!(model = %name, "repository change: loading");
                if let Err(e) = self.load_model(name).await {
                    tracing::error!(model = %name, error = %e, "model failed to load");
                }
            }
        }
    }

    fn factory_for(&self, source: &ModelSource) -> Result<Arc<dyn BackendFactory>, Error> {
        let c = &source.config;
        let found = if !c.backend.is_empty() {
            self.factories.iter().find(|f| f.name() == c.backend)
        } else if !c.platform.is_empty() {
            self.factories
                .iter()
                .find(|f| f.platforms().contains(&c.platform.as_str()))
        } else {
            let newest = source.versions.values().next_back().and_then(|p| p.as_ref());
            self.factories
                .iter()
                .find(|f| match (f.default_model_filename(), newest) {
                    (Some(file), Some(dir)) => dir.join(file).exists(),
                    _ => false,
                })
        };
        found.cloned().ok_or_else(|| {
            let known: Vec<&str> = self.factories.iter().map(|f| f.name()).collect();
            Error::load(
                &source.name,
                if c.backend.is_empty() && c.platform.is_empty() {
                    format!("no backend: set `backend` (one of {known:?}) or `platform` in config.pbtxt, or add a model file a backend recognises")
                } else {
                    format!(
                        "no backend '{}{}' in this server (backends: {known:?})",
                        c.backend, c.platform
                    )
                },
            )
        })
    }

    fn build(&self, source: ModelSource) -> Result<LoadedModel, Error> {
        let factory = self.factory_for(&source)?;
        let name = source.name.clone();
        let mut config = source.config.clone();
        if config.backend.is_empty() {
            config.backend = factory.name().to_string();
        }
        if config.platform.is_empty() {
            config.platform = factory.default_platform().to_string();
        }
        let newest = source.versions.values().next_back().and_then(|p| p.as_deref());
        factory.complete_config(&mut config, newest)?;
        let spec = ModelSpec::from_config(&name, config)?;
        let chosen = spec.version_policy.select(&source.version_numbers());
        if chosen.is_empty() {
            return Err(Error::load(
                &name,
                format!(
                    "no version to serve: version folders {:?}, policy {:?}",
                    source.version_numbers(),
                    spec.version_policy
                ),
            ));
        }
        let mut versions = BTreeMap::new();
        for v in chosen {
            let dir = source.versions.get(&v).and_then(|p| p.as_deref());
            let backend = factory.load(&LoadContext {
                model: &name,
                version: v,
                version_dir: dir,
                config: &spec.config,
            })?;
            let instances = Arc::new(Semaphore::new(spec.instance_count));
            let stats = Arc::new(VersionStats::default());
            let metrics = VersionMetrics::new(&name, v);
            let batcher = BatchPolicy::from_spec(&spec).map(|policy| {
                Batcher::new(
                    &name,
                    policy,
                    Arc::clone(&backend),
                    Arc::clone(&instances),
                    self.pool.clone(),
                    Arc::clone(&stats),
                    metrics.clone(),
                )
            });
            versions.insert(
                v,
                Arc::new(LoadedVersion {
                    version: v,
                    backend,
                    instances,
                    stats,
                    metrics,
                    cost: CostEstimate::default(),
                    batcher,
                }),
            );
        }
        Ok(LoadedModel { spec, versions })
    }

    /// The loaded model of that name; [`Error::ModelNotFound`] when the
    /// repository has no such model, [`Error::Unavailable`] when it is not
    /// loaded.
    pub fn model(&self, name: &str) -> Result<Arc<LoadedModel>, Error> {
        if let Some(slot) = self.slots.read().get(name) {
            return slot.model.clone().ok_or_else(|| Error::Unavailable {
                model: name.to_string(),
                reason: slot.reason.clone(),
            });
        }
        if name.is_empty() {
            return Err(Error::invalid("no model named: the model name is empty"));
        }
        match self.repository.read(name) {
            Err(Error::ModelNotFound(_)) => Err(Error::ModelNotFound(name.to_string())),
            _ => Err(Error::Unavailable {
                model: name.to_string(),
                reason: "not loaded".into(),
            }),
        }
    }

    /// True when the model (and version, if given) is ready.
    pub fn model_ready(&self, name: &str, version: &str) -> bool {
        self.model(name)
            .map(|m| m.version(version).is_ok())
            .unwrap_or(false)
    }

    /// The repository index: every model present or loaded, one row per
    /// loaded version or one row for a model that is not loaded.
    pub fn index(&self, ready_only: bool) -> Vec<IndexEntry> {
        let mut names: BTreeSet<String> = self.repository.list().unwrap_or_default().into_iter().collect();
        let slots = self.slots.read();
        names.extend(slots.keys().cloned());
        let mut rows = Vec::new();
        for name in names {
            match slots.get(&name) {
                Some(Slot { model: Some(m), .. }) => {
                    for v in m.versions.keys() {
                        rows.push(IndexEntry {
                            name: name.clone(),
                            version: v.to_string(),
                            state: ModelState::Ready.as_str(),
                            reason: String::new(),
                        });
                    }
                }
                Some(slot) if !ready_only => rows.push(IndexEntry {
                    name: name.clone(),
                    version: String::new(),
                    state: slot.state.as_str(),
                    reason: slot.reason.clone(),
                }),
                None if !ready_only => rows.push(IndexEntry {
                    name: name.clone(),
                    version: String::new(),
                    state: ModelState::Unavailable.as_str(),
                    reason: "not loaded".into(),
                }),
                _ => {}
            }
        }
        rows
    }

    /// Every loaded model.
    pub fn loaded_models(&self) -> Vec<Arc<LoadedModel>> {
        self.slots
            .read()
            .values()
            .filter_map(|s| s.model.clone())
            .collect()
    }

    /// Runs one inference: resolves the model and version, checks the inputs
    /// against the signature, waits for a free instance and runs it on the
    /// inference pool.
    pub async fn infer(&self, request: InferRequest) -> Result<InferResponse, Error> {
        let model = self.model(&request.model)?;
        let version = Arc::clone(model.version(&request.version)?);
        let timer = version.metrics.request();
        let result = async {
            let (inputs, batch) = check_inputs(&model.spec, request.inputs)?;
            let outputs = check_outputs(&model.spec, request.outputs)?;
            self.execute(&model, &version, inputs, outputs, batch, request.deadline)
                .await
        }
        .await;
        timer.finish(result.is_ok());
        Ok(InferResponse {
            model: model.spec.name.clone(),
            version: version.version,
            outputs: result?,
        })
    }

    async fn execute(
        &self,
        model: &LoadedModel,
        version: &Arc<LoadedVersion>,
        inputs: Vec<Tensor>,
        outputs: Vec<String>,
        batch: u64,
        deadline: Option<Instant>,
    ) -> Result<Vec<Tensor>, Error> {
        let start = Instant::now();
        let result = if let Some(batcher) = &version.batcher {
            batcher.submit(inputs, outputs, batch as usize, deadline).await
        } else if version.backend.runs_inline() || version.cost.is_cheap() {
            let began = Instant::now();
            let out = crate::pool::guarded(&model.spec.name, || version.backend.infer(inputs, &outputs));
            let took = began.elapsed();
            version.cost.observe(took);
            out.map(|outputs| Executed {
                outputs,
                queued: began - start,
                compute: took,
            })
        } else {
            let pooled = self.on_pool(model, version, inputs, outputs);
            match deadline {
                Some(d) => tokio::time::timeout_at(d.into(), pooled)
                    .await
                    .unwrap_or_else(|_| {
                        Err(Error::DeadlineExceeded(format!(
                            "model '{}': the request's deadline passed before the engine answered",
                            model.spec.name
                        )))
                    }),
                None => pooled.await,
            }
        };
        match &result {
            Ok(done) => {
                version.stats.queue.record(done.queued);
                version.stats.compute_infer.record(done.compute);
                version.stats.success.record(start.elapsed());
                version.metrics.request_times(done.queued, Some(done.compute));
                if version.batcher.is_none() {
                    version.stats.record_execution(batch);
                    version.metrics.batch(batch);
                }
            }
            Err(_) => {
                version.stats.fail.record(start.elapsed());
                version.metrics.request_times(start.elapsed(), None);
            }
        }
        result.map(|done| done.outputs)
    }

    /// Runs one execution on the inference pool once an instance is free.
    /// Dropped while waiting (the caller went away, or its deadline passed),
    /// the execution does not start.
    async fn on_pool(
        &self,
        model: &LoadedModel,
        version: &Arc<LoadedVersion>,
        inputs: Vec<Tensor>,
        outputs: Vec<String>,
    ) -> Result<Executed, Error> {
        let arrived = Instant::now();
        let permit = Arc::clone(&version.instances)
            .acquire_owned()
            .await
            .map_err(|_| Error::ShuttingDown)?;
        let v = Arc::clone(version);
        self.pool
            .run(&model.spec.name, move || {
                let _permit = permit;
                let began = Instant::now();
                let out = v.backend.infer(inputs, &outputs);
                let took = began.elapsed();
                v.cost.observe(took);
                out.map(|outputs| Executed {
                    outputs,
                    queued: began - arrived,
                    compute: took,
                })
            })
            .await
    }

    /// Scores texts with a model that takes one `BYTES` input and gives one
    /// number per text (the seed's `predict`; a classifier with one score).
    /// An empty `model` selects the default model. See
    /// [`InferRequest::deadline`] for `deadline`.
    pub async fn predict(
        &self,
        model: &str,
        version: &str,
        texts: Vec<String>,
        deadline: Option<Instant>,
    ) -> Result<Prediction, Error> {
        let (name, loaded, v) = self.text_model(model, version)?;
        let timer = v.metrics.request();
        let result = self
            .run_texts("predict", &name, &loaded, &v, texts, deadline)
            .await;
        let result = result.and_then(|(scores, width)| match width {
            1 => Ok(scores),
            _ => Err(Error::invalid(format!(
                "model '{name}' gives {width} values per text; predict needs one score per text (use Embed or ModelInfer)"
            ))),
        });
        timer.finish(result.is_ok());
        let scores = result?;
        let labels = labels_for(&loaded.spec, &scores);
        Ok(Prediction {
            model: name,
            version: v.version,
            scores,
            labels,
        })
    }

    /// Embeds texts with a model that takes one `BYTES` input and gives one
    /// vector per text (a sentence embedding model). An empty `model`
    /// selects the default model. See [`InferRequest::deadline`] for
    /// `deadline`.
    pub async fn embed(
        &self,
        model: &str,
        version: &str,
        texts: Vec<String>,
        deadline: Option<Instant>,
    ) -> Result<Embeddings, Error> {
        let (name, loaded, v) = self.text_model(model, version)?;
        let timer = v.metrics.request();
        let result = self.run_texts("embed", &name, &loaded, &v, texts, deadline).await;
        timer.finish(result.is_ok());
        let (values, dimensions) = result?;
        Ok(Embeddings {
            model: name,
            version: v.version,
            dimensions,
            values,
        })
    }

    fn text_model(
        &self,
        model: &str,
        version: &str,
    ) -> Result<(String, Arc<LoadedModel>, Arc<LoadedVersion>), Error> {
        let name = if model.is_empty() {
            self.default_model().ok_or_else(|| {
                Error::invalid("no model named and this server has no default model; set `model`")
            })?
        } else {
            model.to_string()
        };
        let loaded = self.model(&name)?;
        let v = Arc::clone(loaded.version(version)?);
        Ok((name, loaded, v))
    }

    /// Runs texts, one item each, through a model with one `BYTES` input, in
    /// chunks of its `max_batch_size`. Returns its first output's values as
    /// numbers and how many there are per text.
    async fn run_texts(
        &self,
        method: &str,
        name: &str,
        loaded: &LoadedModel,
        v: &Arc<LoadedVersion>,
        texts: Vec<String>,
        deadline: Option<Instant>,
    ) -> Result<(Vec<f32>, usize), Error> {
        let spec = &loaded.spec;
        let [input] = spec.inputs.as_slice() else {
            return Err(Error::invalid(format!(
                "model '{name}' takes {} inputs; {method} needs a model with one BYTES input (use ModelInfer)",
                spec.inputs.len()
            )));
        };
        if input.datatype != DataType::Bytes {
            return Err(Error::invalid(format!(
                "model '{name}' takes {} input '{}'; {method} needs a BYTES (text) input (use ModelInfer)",
                input.datatype, input.name
            )));
        }
        let output = &spec.outputs[0];
        let per_item: Vec<i64> = input.dims.iter().map(|d| if *d < 0 { 1 } else { *d }).collect();
        if per_item.iter().product::<i64>() != 1 {
            return Err(Error::invalid(format!(
                "model '{name}' input '{}' has dims {:?}; {method} needs one text per item",
                input.name, input.dims
            )));
        }
        let chunk = if spec.batching() { spec.max_batch_size } else { 1 };
        let mut values = Vec::new();
        let mut width = None;
        let mut texts = texts.into_iter().map(String::into_bytes).peekable();
        while texts.peek().is_some() {
            let items: Vec<Vec<u8>> = texts.by_ref().take(chunk).collect();
            let n = items.len();
            let mut shape = Vec::with_capacity(per_item.len() + 1);
            if spec.batching() {
                shape.push(n as i64);
            }
            shape.extend_from_slice(&per_item);
            let tensor = Tensor::new(input.name.clone(), shape, TensorData::Bytes(items));
            let out = self
                .execute(
                    loaded,
                    v,
                    vec![tensor],
                    vec![output.name.clone()],
                    n as u64,
                    deadline,
                )
                .await?;
            let got = out.first().and_then(|t| to_f32(&t.data)).ok_or_else(|| {
                Error::invalid(format!(
                    "model '{name}' output '{}' is not numeric; {method} needs a numeric output",
                    output.name
                ))
            })?;
            if got.is_empty() || got.len() % n != 0 || width.is_some_and(|w| w != got.len() / n) {
                return Err(Error::invalid(format!(
                    "model '{name}' gives {} values for {n} texts; {method} needs the same number per text",
                    got.len()
                )));
            }
            width = Some(got.len() / n);
            values.extend(got);
        }
        Ok((
            values,
            width.unwrap_or_else(|| output.dims.iter().product::<i64>().max(1) as usize),
        ))
    }
}

/// Labels from the config parameter `predict_labels` ("negative,neutral,positive")
/// and `predict_neutral_band` (half-width of the neutral band around 0).
fn labels_for(spec: &ModelSpec, scores: &[f32]) -> Vec<String> {
    let Some(labels) = spec.config.parameters.get("predict_labels") else {
        return Vec::new();
    };
    let names: Vec<&str> = labels.string_value.split(',').map(str::trim).collect();
    let [neg, neutral, pos] = names.as_slice() else {
        return Vec::new();
    };
    let band: f32 = spec
        .config
        .parameters
        .get("predict_neutral_band")
        .and_then(|p| p.string_value.parse().ok())
        .unwrap_or(0.0);
    scores
        .iter()
        .map(|s| {
            if *s > band {
                pos
            } else if *s < -band {
                neg
            } else {
                neutral
            }
            .to_string()
        })
        .collect()
}

fn to_f32(data: &TensorData) -> Option<Vec<f32>> {
    Some(match data {
        TensorData::F32(v) => v.clone(),
        TensorData::F64(v) => v.iter().map(|x| *x as f32).collect(),
        TensorData::I32(v) => v.iter().map(|x| *x as f32).collect(),
        TensorData::I64(v) => v.iter().map(|x| *x as f32).collect(),
        TensorData::U8(v) => v.iter().map(|x| *x as f32).collect(),
        _ => return None,
    })
}

fn shape_matches(dims: &[i64], shape: &[i64]) -> bool {
    dims.len() == shape.len() && dims.iter().zip(shape).all(|(d, s)| *d == -1 || d == s)
}

/// Checks request inputs against the model's signature and puts them in
/// signature order. Returns the batch size (1 for non-batching models).
pub fn check_inputs(spec: &ModelSpec, inputs: Vec<Tensor>) -> Result<(Vec<Tensor>, u64), Error> {
    let expected = || {
        spec.inputs
            .iter()
            .map(|i| format!("'{}' {} {:?}", i.name, i.datatype, i.full_shape(spec.batching())))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut by_name: BTreeMap<String, Tensor> = BTreeMap::new();
    for t in inputs {
        if !spec.inputs.iter().any(|i| i.name == t.name) {
            return Err(Error::invalid(format!(
                "unexpected input '{}' for model '{}'; it takes {}",
                t.name,
                spec.name,
                expected()
            )));
        }
        let name = t.name.clone();
        if by_name.insert(name.clone(), t).is_some() {
            return Err(Error::invalid(format!("input '{name}' is given twice")));
        }
    }
    let mut ordered = Vec::with_capacity(spec.inputs.len());
    let mut batch: Option<i64> = None;
    for want in &spec.inputs {
        let Some(t) = by_name.remove(&want.name) else {
            return Err(Error::invalid(format!(
                "missing input '{}' for model '{}'; it takes {}",
                want.name,
                spec.name,
                expected()
            )));
        };
        check_tensor(spec, want, &t, &mut batch)?;
        ordered.push(t);
    }
    Ok((ordered, batch.unwrap_or(1).max(1) as u64))
}

fn check_tensor(
    spec: &ModelSpec,
    want: &TensorSpec,
    t: &Tensor,
    batch: &mut Option<i64>,
) -> Result<(), Error> {
    if t.datatype() != want.datatype {
        return Err(Error::invalid(format!(
            "input '{}': datatype {}, but model '{}' expects {}",
            t.name,
            t.datatype(),
            spec.name,
            want.datatype
        )));
    }
    let full = want.full_shape(spec.batching());
    let dims_ok = if spec.batching() {
        !t.shape.is_empty() && shape_matches(&want.dims, &t.shape[1..])
    } else {
        shape_matches(&want.dims, &t.shape)
    };
    if !dims_ok || t.shape.iter().any(|d| *d < 0) {
        return Err(Error::invalid(format!(
            "input '{}': shape {:?} does not match model '{}' shape {:?}",
            t.name, t.shape, spec.name, full
        )));
    }
    if spec.batching() {
        let b = t.shape[0];
        if b < 1 || b as usize > spec.max_batch_size {
            return Err(Error::invalid(format!(
                "input '{}': batch size {b} is outside 1..={} for model '{}'",
                t.name, spec.max_batch_size, spec.name
            )));
        }
        match batch {
            Some(prev) if *prev != b => {
                return Err(Error::invalid(format!(
                    "input '{}': batch size {b} differs from the other inputs' {prev}",
                    t.name
                )))
            }
            _ => *batch = Some(b),
        }
    }
    let n = element_count(&t.name, &t.shape)?;
    if t.data.len() != n {
        return Err(Error::invalid(format!(
            "input '{}': {} elements given, but shape {:?} needs {n}",
            t.name,
            t.data.len(),
            t.shape
        )));
    }
    Ok(())
}

/// Checks requested output names; empty means every output.
pub fn check_outputs(spec: &ModelSpec, outputs: Vec<String>) -> Result<Vec<String>, Error> {
    if outputs.is_empty() {
        return Ok(spec.outputs.iter().map(|o| o.name.clone()).collect());
    }
    for o in &outputs {
        if !spec.outputs.iter().any(|s| &s.name == o) {
            let have: Vec<&str> = spec.outputs.iter().map(|s| s.name.as_str()).collect();
            return Err(Error::invalid(format!(
                "unknown output '{o}' requested from model '{}'; it has {have:?}",
                spec.name
            )));
        }
    }
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_estimate_decides_inline_only_after_enough_cheap_samples() {
        let cost = CostEstimate::default();
        assert!(!cost.is_cheap(), "unmeasured: use the pool");
        for _ in 0..INLINE_AFTER_SAMPLES - 1 {
            cost.observe(Duration::from_micros(2));
        }
        assert!(!cost.is_cheap(), "too few samples");
        cost.observe(Duration::from_micros(2));
        assert!(cost.is_cheap());
        for _ in 0..8 {
            cost.observe(Duration::from_millis(1));
        }
        assert!(
            !cost.is_cheap(),
            "a model that became expensive goes back to the pool"
        );
    }
}
