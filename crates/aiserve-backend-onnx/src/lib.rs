//! ONNX backend for aiserve, running models on [tract](https://github.com/sonos/tract),
//! a pure-Rust inference engine (no native library to install or ship).
//!
//! * [`OnnxBackendFactory`] is registered with the model registry under the
//!   backend name `onnxruntime` and the Triton platform `onnxruntime_onnx`,
//!   so Triton model repositories work unchanged. It selects `model.onnx` in
//!   a version folder when a config names no backend.
//! * Config auto-complete ([`BackendFactory::complete_config`]) fills a
//!   config's missing `input` / `output` from the ONNX graph and checks
//!   declared ones against it.
//! * Each version is optimised once at load with symbolic batch / dynamic
//!   dimensions, so any batch size up to `max_batch_size` runs on the same
//!   optimised plan.
//!
//! ## Auto-complete rules
//!
//! * The graph's inputs are its `graph.input` entries that are not
//!   initializers; its outputs are `graph.output`, in file order.
//! * Element types map ONNX → Triton one to one (`FLOAT` → `TYPE_FP32`,
//!   `STRING` → `TYPE_STRING` (BYTES), ...). `BFLOAT16` and complex types are
//!   not supported by tract and fail the load.
//! * Dimensions: fixed dims are kept, `dim_param` and missing dims become
//!   `-1`. When the config's `max_batch_size` is > 0 the leading dimension is
//!   the batch dimension and is left out of `dims`.
//! * `max_batch_size` is never guessed: a model without `config.pbtxt` is
//!   served as non-batching (`max_batch_size: 0`) and a dynamic leading
//!   dimension shows up as `-1` in `dims` (e.g. `[-1, 4]`), so clients can
//!   still send any batch size in that dimension. (Triton's ONNX backend
//!   instead turns on batching with a default size; set `max_batch_size` in
//!   `config.pbtxt` to get that here.)
//! * A config that declares tensors is checked: every declared tensor must
//!   exist in the graph with the same element type and rank, fixed dims must
//!   agree, and every graph input must be declared. Declaring a subset of the
//!   outputs is allowed. A config that declares inputs but no outputs (or the
//!   reverse) gets the missing list from the graph.

#![warn(missing_docs)]

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aiserve_core::{Backend, BackendFactory, DataType, Error, LoadContext, ModelConfig, Tensor, TensorData};
use aiserve_proto::inference::{DataType as ConfigDataType, ModelInput, ModelOutput};
use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::ShapeFactoid;
use tract_onnx::tract_hir::internal::{DimFact, Factoid};

/// The model file looked for in a version folder when the config sets no
/// `default_model_filename`.
pub const DEFAULT_MODEL_FILENAME: &str = "model.onnx";

/// Makes ONNX [`Backend`]s running on tract. Backend name `onnxruntime`,
/// platform `onnxruntime_onnx`, model file `model.onnx`.
#[derive(Debug, Default, Clone, Copy)]
pub struct OnnxBackendFactory;

impl OnnxBackendFactory {
    /// A factory (it holds no state).
    pub fn new() -> OnnxBackendFactory {
        OnnxBackendFactory
    }
}

/// The ONNX element type codes (`TensorProto.DataType`).
mod onnx_type {
    pub const FLOAT: i32 = 1;
    pub const UINT8: i32 = 2;
    pub const INT8: i32 = 3;
    pub const UINT16: i32 = 4;
    pub const INT16: i32 = 5;
    pub const INT32: i32 = 6;
    pub const INT64: i32 = 7;
    pub const STRING: i32 = 8;
    pub const BOOL: i32 = 9;
    pub const FLOAT16: i32 = 10;
    pub const DOUBLE: i32 = 11;
    pub const UINT32: i32 = 12;
    pub const UINT64: i32 = 13;
}

fn datatype_from_onnx(code: i32) -> Option<DataType> {
    use onnx_type::*;
    Some(match code {
        FLOAT => DataType::F32,
        UINT8 => DataType::U8,
        INT8 => DataType::I8,
        UINT16 => DataType::U16,
        INT16 => DataType::I16,
        INT32 => DataType::I32,
        INT64 => DataType::I64,
        STRING => DataType::Bytes,
        BOOL => DataType::Bool,
        FLOAT16 => DataType::F16,
        DOUBLE => DataType::F64,
        UINT32 => DataType::U32,
        UINT64 => DataType::U64,
        _ => return None,
    })
}

fn datum_type(dt: DataType) -> Option<DatumType> {
    Some(match dt {
        DataType::Bool => DatumType::Bool,
        DataType::U8 => DatumType::U8,
        DataType::U16 => DatumType::U16,
        DataType::U32 => DatumType::U32,
        DataType::U64 => DatumType::U64,
        DataType::I8 => DatumType::I8,
        DataType::I16 => DatumType::I16,
        DataType::I32 => DatumType::I32,
        DataType::I64 => DatumType::I64,
        DataType::F16 => DatumType::F16,
        DataType::F32 => DatumType::F32,
        DataType::F64 => DatumType::F64,
        DataType::Bytes => DatumType::String,
        DataType::BF16 => return None,
    })
}

fn datatype_from_datum(dt: DatumType) -> Option<DataType> {
    Some(match dt {
        DatumType::Bool => DataType::Bool,
        DatumType::U8 => DataType::U8,
        DatumType::U16 => DataType::U16,
        DatumType::U32 => DataType::U32,
        DatumType::U64 => DataType::U64,
        DatumType::I8 => DataType::I8,
        DatumType::I16 => DataType::I16,
        DatumType::I32 => DataType::I32,
        DatumType::I64 | DatumType::TDim => DataType::I64,
        DatumType::F16 => DataType::F16,
        DatumType::F32 => DataType::F32,
        DatumType::F64 => DataType::F64,
        DatumType::String => DataType::Bytes,
        _ => return None,
    })
}

/// An output's element type (if it has a protocol datatype) and dims (-1
/// for symbolic ones) as tract infers them.
type InferredTensor = (Option<DataType>, Vec<i64>);

/// Output types and shapes as tract infers them, for outputs the ONNX file
/// declares without type or shape. `config` must have its inputs.
fn inferred_outputs(
    model_name: &str,
    proto: &pb::ModelProto,
    config: &ModelConfig,
) -> Result<Vec<InferredTensor>, Error> {
    let run = || -> Result<_, Error> {
        let (model, _) = import(model_name, proto, config)?;
        let typed = model.into_typed().map_err(|e| {
            Error::load(
                model_name,
                format!("tract cannot infer the output types and shapes: {e:#}"),
            )
        })?;
        let n = typed.output_outlets().map(|o| o.len()).unwrap_or(0);
        (0..n)
            .map(|i| {
                let fact = typed
                    .output_fact(i)
                    .map_err(|e| Error::load(model_name, format!("output {i}: {e:#}")))?;
                let dims = fact.shape.iter().map(|d| d.to_i64().unwrap_or(-1)).collect();
                Ok((datatype_from_datum(fact.datum_type), dims))
            })
            .collect()
    };
    catch_unwind(AssertUnwindSafe(run)).unwrap_or_else(|_| {
        Err(Error::load(
            model_name,
            "tract panicked while inferring output shapes",
        ))
    })
}

/// One input or output as the ONNX file declares it.
#[derive(Debug, Clone)]
struct GraphTensor {
    name: String,
    /// `None` when the file gives no element type.
    datatype: Option<DataType>,
    /// The raw ONNX element type code, for messages.
    onnx_type: i32,
    /// `None` when the file gives no shape; -1 for a dynamic dimension.
    dims: Option<Vec<i64>>,
}

/// The signature of an ONNX graph.
#[derive(Debug, Clone)]
struct GraphSignature {
    inputs: Vec<GraphTensor>,
    outputs: Vec<GraphTensor>,
}

fn graph_tensor(v: &pb::ValueInfoProto) -> GraphTensor {
    let tensor = match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(pb::type_proto::Value::TensorType(t)) => Some(t),
        _ => None,
    };
    let onnx_type = tensor.map(|t| t.elem_type).unwrap_or(0);
    let dims = tensor.and_then(|t| t.shape.as_ref()).map(|s| {
        s.dim
            .iter()
            .map(|d| match d.value {
                Some(pb::tensor_shape_proto::dimension::Value::DimValue(n)) if n >= 0 => n,
                _ => -1,
            })
            .collect()
    });
    GraphTensor {
        name: v.name.clone(),
        datatype: datatype_from_onnx(onnx_type),
        onnx_type,
        dims,
    }
}

fn signature(proto: &pb::ModelProto) -> GraphSignature {
    let Some(graph) = proto.graph.as_ref() else {
        return GraphSignature {
            inputs: Vec::new(),
            outputs: Vec::new(),
        };
    };
    let initializers: std::collections::HashSet<&str> =
        graph.initializer.iter().map(|t| t.name.as_str()).collect();
    GraphSignature {
        inputs: graph
            .input
            .iter()
            .filter(|i| !initializers.contains(i.name.as_str()))
            .map(graph_tensor)
            .collect(),
        outputs: graph.output.iter().map(graph_tensor).collect(),
    }
}

fn model_path(version_dir: &Path, config: &ModelConfig) -> PathBuf {
    let file = if config.default_model_filename.is_empty() {
        DEFAULT_MODEL_FILENAME
    } else {
        config.default_model_filename.as_str()
    };
    version_dir.join(file)
}

/// Reads and decodes the ONNX file. Catches panics from the decoder so a
/// corrupt file is a load error, not a crash.
fn read_proto(model: &str, path: &Path) -> Result<pb::ModelProto, Error> {
    if !path.is_file() {
        return Err(Error::load(
            model,
            format!("no ONNX model file at {}", path.display()),
        ));
    }
    let result = catch_unwind(|| tract_onnx::onnx().proto_model_for_path(path));
    match result {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(e)) => Err(Error::load(
            model,
            format!("cannot read {}: {e:#}", path.display()),
        )),
        Err(_) => Err(Error::load(
            model,
            format!("cannot read {}: the decoder panicked", path.display()),
        )),
    }
}

/// A config tensor's `data_type` as a runtime [`DataType`].
fn config_datatype(dt: i32) -> Option<DataType> {
    ConfigDataType::try_from(dt).ok().and_then(DataType::from_config)
}

fn graph_dims_for_config(t: &GraphTensor, batching: bool) -> Option<Vec<i64>> {
    let dims = t.dims.as_ref()?;
    if batching {
        dims.get(1..).map(<[i64]>::to_vec)
    } else {
        Some(dims.clone())
    }
}

/// Checks one declared tensor against the graph's.
fn check_declared(
    model: &str,
    kind: &str,
    name: &str,
    data_type: i32,
    dims: &[i64],
    graph: &[GraphTensor],
    batching: bool,
) -> Result<(), Error> {
    let Some(g) = graph.iter().find(|g| g.name == name) else {
        let have: Vec<&str> = graph.iter().map(|g| g.name.as_str()).collect();
        return Err(Error::load(
            model,
            format!("{kind} '{name}' in the config is not an {kind} of the ONNX model; it has {have:?}"),
        ));
    };
    let declared = config_datatype(data_type);
    match (declared, g.datatype) {
        (Some(d), Some(m)) if d != m => {
            return Err(Error::load(
                model,
                format!(
                    "{kind} '{name}': the config declares {} but the ONNX model has {}",
                    d.to_config().as_str_name(),
                    m.to_config().as_str_name()
                ),
            ))
        }
        (_, None) if g.onnx_type != 0 => {
            return Err(Error::load(
                model,
                format!(
                    "{kind} '{name}': ONNX element type {} is not supported",
                    g.onnx_type
                ),
            ))
        }
        _ => {}
    }
    if let Some(gdims) = &g.dims {
        if batching && gdims.is_empty() {
            return Err(Error::load(
                model,
                format!("{kind} '{name}': max_batch_size > 0 needs a leading batch dimension, but the ONNX tensor is a scalar"),
            ));
        }
        let model_dims = if batching { &gdims[1..] } else { &gdims[..] };
        let compatible = model_dims.len() == dims.len()
            && model_dims
                .iter()
                .zip(dims)
                .all(|(m, c)| *m < 0 || *c < 0 || m == c);
        if !compatible {
            return Err(Error::load(
                model,
                format!(
                    "{kind} '{name}': the config declares dims {dims:?}{} but the ONNX model has shape {gdims:?}",
                    if batching { " (plus the batch dimension)" } else { "" }
                ),
            ));
        }
    }
    Ok(())
}

/// With batching, every graph tensor's leading dimension is the batch: it
/// must be dynamic (or a fixed 1 when `max_batch_size` is 1).
fn check_batch_dims(model: &str, max_batch_size: i32, sig: &GraphSignature) -> Result<(), Error> {
    if max_batch_size <= 0 {
        return Ok(());
    }
    for (kind, list) in [("input", &sig.inputs), ("output", &sig.outputs)] {
        for t in list.iter() {
            match t.dims.as_deref() {
                Some([]) => {
                    return Err(Error::load(
                        model,
                        format!("{kind} '{}': max_batch_size > 0 needs a leading batch dimension, but the ONNX tensor is a scalar", t.name),
                    ))
                }
                Some([first, ..]) if *first >= 0 && !(*first == 1 && max_batch_size == 1) => {
                    return Err(Error::load(
                        model,
                        format!(
                            "{kind} '{}': max_batch_size is {max_batch_size} but the ONNX tensor's leading dimension is fixed at {first}; make it dynamic in the model or set max_batch_size: 0",
                            t.name
                        ),
                    ))
                }
                _ => {}
            }
        }
    }
    Ok(())
}

fn complete(model: &str, config: &mut ModelConfig, proto: &pb::ModelProto) -> Result<(), Error> {
    let sig = &signature(proto);
    let batching = config.max_batch_size > 0;
    check_batch_dims(model, config.max_batch_size, sig)?;
    let auto_dims = |kind: &str, t: &GraphTensor| -> Result<(i32, Vec<i64>), Error> {
        let dt = t.datatype.ok_or_else(|| {
            Error::load(
                model,
                format!(
                    "{kind} '{}': ONNX element type {} is not supported; declare the tensor in config.pbtxt or change the model",
                    t.name, t.onnx_type
                ),
            )
        })?;
        if datum_type(dt).is_none() {
            return Err(Error::load(
                model,
                format!("{kind} '{}': {dt} is not supported by tract", t.name),
            ));
        }
        let dims = graph_dims_for_config(t, batching).ok_or_else(|| {
            Error::load(
                model,
                format!(
                    "{kind} '{}': the ONNX model gives no shape{}; declare it in config.pbtxt",
                    t.name,
                    if batching { " with a batch dimension" } else { "" }
                ),
            )
        })?;
        Ok((dt.to_config() as i32, dims))
    };
    if config.input.is_empty() {
        for t in &sig.inputs {
            let (data_type, dims) = auto_dims("input", t)?;
            config.input.push(model_input(&t.name, data_type, dims));
        }
    } else {
        for i in &config.input {
            check_declared(
                model,
                "input",
                &i.name,
                i.data_type,
                &i.dims,
                &sig.inputs,
                batching,
            )?;
        }
        for g in &sig.inputs {
            if !config.input.iter().any(|i| i.name == g.name) {
                return Err(Error::load(
                    model,
                    format!(
                        "the ONNX model's input '{}' is not declared in the config",
                        g.name
                    ),
                ));
            }
        }
    }
    if config.output.is_empty() {
        let mut outputs = sig.outputs.clone();
        if outputs.iter().any(|o| o.datatype.is_none() || o.dims.is_none()) {
            // The file leaves some output's type or shape out: ask tract.
            let inferred = inferred_outputs(model, proto, config)?;
            for (o, (dt, dims)) in outputs.iter_mut().zip(inferred) {
                if o.onnx_type == 0 {
                    o.datatype = dt;
                }
                if o.dims.is_none() {
                    o.dims = Some(dims);
                }
            }
        }
        for t in &outputs {
            let (data_type, dims) = auto_dims("output", t)?;
            config.output.push(model_output(&t.name, data_type, dims));
        }
    } else {
        for o in &config.output {
            check_declared(
                model,
                "output",
                &o.name,
                o.data_type,
                &o.dims,
                &sig.outputs,
                batching,
            )?;
        }
    }
    Ok(())
}

fn model_input(name: &str, data_type: i32, dims: Vec<i64>) -> ModelInput {
    ModelInput {
        name: name.to_string(),
        data_type,
        dims,
        ..Default::default()
    }
}

fn model_output(name: &str, data_type: i32, dims: Vec<i64>) -> ModelOutput {
    ModelOutput {
        name: name.to_string(),
        data_type,
        dims,
        ..Default::default()
    }
}

impl BackendFactory for OnnxBackendFactory {
    fn name(&self) -> &'static str {
        "onnxruntime"
    }

    fn platforms(&self) -> &'static [&'static str] {
        &["onnxruntime_onnx"]
    }

    fn default_platform(&self) -> &'static str {
        "onnxruntime_onnx"
    }

    fn default_model_filename(&self) -> Option<&'static str> {
        Some(DEFAULT_MODEL_FILENAME)
    }

    fn complete_config(&self, config: &mut ModelConfig, version_dir: Option<&Path>) -> Result<(), Error> {
        let Some(dir) = version_dir else {
            let model = config.name.clone();
            return Err(Error::load(
                &model,
                "the ONNX backend needs a version folder with the model file",
            ));
        };
        // A config without `name` belongs to the folder above the version folder.
        let model = if config.name.is_empty() {
            dir.parent()
                .and_then(Path::file_name)
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        } else {
            config.name.clone()
        };
        let proto = read_proto(&model, &model_path(dir, config))?;
        complete(&model, config, &proto)
    }

    fn load(&self, ctx: &LoadContext<'_>) -> Result<Arc<dyn Backend>, Error> {
        let Some(dir) = ctx.version_dir else {
            return Err(Error::load(
                ctx.model,
                "the ONNX backend needs a version folder with the model file",
            ));
        };
        let path = model_path(dir, ctx.config);
        let proto = read_proto(ctx.model, &path)?;
        let backend =
            catch_unwind(AssertUnwindSafe(|| OnnxBackend::build(ctx, &proto))).unwrap_or_else(|_| {
                Err(Error::load(
                    ctx.model,
                    format!("tract panicked while loading {}", path.display()),
                ))
            })?;
        Ok(Arc::new(backend))
    }
}

/// Imports the ONNX model into tract and fixes every input's type and
/// shape: fixed dims from the graph or the config; the graph's named dims
/// (`dim_param`) as tract imports them, one symbol per name, so inputs
/// sharing a name share the dim (`tests.rs`, `seqpair`); for dims the graph
/// leaves unknown, a symbol shared by all inputs for the batch dimension and
/// a fresh symbol for the others.
/// Returns the model and its input names in tract's order.
fn import(
    model_name: &str,
    proto: &pb::ModelProto,
    config: &ModelConfig,
) -> Result<(InferenceModel, Vec<String>), Error> {
    let fail = |what: &str, e: TractError| Error::load(model_name, format!("{what}: {e:#}"));
    let mut model = tract_onnx::onnx()
        .model_for_proto_model(proto)
        .map_err(|e| fail("tract cannot import the ONNX model", e))?;
    let batching = config.max_batch_size > 0;
    // One symbol shared by every input's batch dimension, so tract knows
    // they are equal (Add(INPUT0, INPUT1) needs that).
    let batch = model.symbols.new_with_prefix("batch");
    let input_outlets = model
        .input_outlets()
        .map_err(|e| fail("model inputs", e))?
        .to_vec();
    let mut inputs = Vec::with_capacity(input_outlets.len());
    for (ix, outlet) in input_outlets.iter().enumerate() {
        let name = model.node(outlet.node).name.clone();
        let declared = config.input.iter().find(|i| i.name == name);
        let graph_fact = model.input_fact(ix).map_err(|e| fail("model inputs", e))?.clone();
        let dt = match graph_fact.datum_type.concretize() {
            Some(dt) => dt,
            None => declared
                .and_then(|d| config_datatype(d.data_type))
                .and_then(datum_type)
                .ok_or_else(|| {
                    Error::load(
                        model_name,
                        format!("input '{name}': no element type in the model or the config"),
                    )
                })?,
        };
        let graph_dims: Option<Vec<DimFact>> = if graph_fact.shape.is_open() {
            None
        } else {
            Some(graph_fact.shape.dims().cloned().collect())
        };
        // The full shape the config allows (batch dim as -1).
        let config_dims: Option<Vec<i64>> = declared.map(|d| {
            let mut v = Vec::with_capacity(d.dims.len() + 1);
            if batching {
                v.push(-1);
            }
            v.extend_from_slice(&d.dims);
            v
        });
        let rank = match (&graph_dims, &config_dims) {
            (Some(g), _) => g.len(),
            (None, Some(c)) => c.len(),
            (None, None) => {
                return Err(Error::load(
                    model_name,
                    format!("input '{name}': no shape in the model or the config"),
                ))
            }
        };
        let mut shape: TVec<TDim> = TVec::with_capacity(rank);
        for d in 0..rank {
            let from_graph = graph_dims.as_ref().and_then(|g| g[d].concretize());
            let from_config = config_dims
                .as_ref()
                .and_then(|c| c.get(d))
                .copied()
                .filter(|v| *v >= 0);
            let dim = match (from_graph, from_config) {
                (Some(g), _) => g,
                (None, Some(c)) => TDim::from(c),
                (None, None) if d == 0 && batching => TDim::Sym(batch.clone()),
                (None, None) => TDim::Sym(model.symbols.new_with_prefix("d")),
            };
            shape.push(dim);
        }
        let fact = InferenceFact::dt_shape(
            dt,
            ShapeFactoid::closed(shape.into_iter().map(DimFact::from).collect()),
        );
        model
            .set_input_fact(ix, fact)
            .map_err(|e| fail(&format!("input '{name}'"), e))?;
        inputs.push(name);
    }
    Ok((model, inputs))
}

/// One loaded version: an optimised tract plan and the name ↔ position maps.
#[derive(Debug)]
struct OnnxBackend {
    model: String,
    plan: Arc<TypedRunnableModel>,
    /// Idle run states, reused by the next calls (one per concurrent call at most).
    states: parking_lot::Mutex<Vec<TypedSimpleState>>,
    /// The graph's input names, in the plan's input order.
    inputs: Vec<String>,
    /// Output name → position in the plan's outputs.
    outputs: HashMap<String, usize>,
}

fn engine(model: &str, e: impl std::fmt::Display) -> Error {
    Error::Backend {
        model: model.to_string(),
        message: e.to_string(),
    }
}

impl OnnxBackend {
    fn build(ctx: &LoadContext<'_>, proto: &pb::ModelProto) -> Result<OnnxBackend, Error> {
        let model_name = ctx.model;
        let fail = |what: &str, e: TractError| Error::load(model_name, format!("{what}: {e:#}"));
        let sig = signature(proto);
        let (model, inputs) = import(model_name, proto, ctx.config)?;
        let output_names: Vec<String> = sig.outputs.iter().map(|o| o.name.clone()).collect();
        let n_outputs = model
            .output_outlets()
            .map_err(|e| fail("model outputs", e))?
            .len();
        if n_outputs != output_names.len() {
            return Err(Error::load(
                model_name,
                format!(
                    "tract sees {n_outputs} outputs but the ONNX graph declares {}",
                    output_names.len()
                ),
            ));
        }
        for o in &ctx.config.output {
            if !output_names.contains(&o.name) {
                return Err(Error::load(
                    model_name,
                    format!("output '{}' in the config is not an output of the ONNX model; it has {output_names:?}", o.name),
                ));
            }
        }
        let optimized = model.into_optimized().map_err(|e| {
            fail(
                "tract cannot optimise the model (unsupported operator or shape?)",
                e,
            )
        })?;
        let plan = optimized
            .into_runnable()
            .map_err(|e| fail("tract cannot plan the model", e))?;
        Ok(OnnxBackend {
            model: model_name.to_string(),
            plan,
            states: parking_lot::Mutex::new(Vec::new()),
            inputs,
            outputs: output_names
                .into_iter()
                .enumerate()
                .map(|(i, n)| (n, i))
                .collect(),
        })
    }
}

fn usize_shape(name: &str, shape: &[i64]) -> Result<Vec<usize>, Error> {
    shape
        .iter()
        .map(|d| {
            usize::try_from(*d).map_err(|_| {
                Error::invalid(format!(
                    "input '{name}': shape {shape:?} has a negative dimension"
                ))
            })
        })
        .collect()
}

fn array<T: Datum>(name: &str, shape: &[usize], data: Vec<T>) -> Result<tract_onnx::prelude::Tensor, Error> {
    tract_ndarray::ArrayD::from_shape_vec(tract_ndarray::IxDyn(shape), data)
        .map(tract_onnx::prelude::Tensor::from)
        .map_err(|e| Error::invalid(format!("input '{name}': data does not fit shape {shape:?}: {e}")))
}

/// Converts a runtime tensor to a tract tensor.
pub(crate) fn to_tract(t: Tensor) -> Result<tract_onnx::prelude::Tensor, Error> {
    let shape = usize_shape(&t.name, &t.shape)?;
    let name = t.name;
    match t.data {
        TensorData::Bool(v) => array(&name, &shape, v),
        TensorData::U8(v) => array(&name, &shape, v),
        TensorData::U16(v) => array(&name, &shape, v),
        TensorData::U32(v) => array(&name, &shape, v),
        TensorData::U64(v) => array(&name, &shape, v),
        TensorData::I8(v) => array(&name, &shape, v),
        TensorData::I16(v) => array(&name, &shape, v),
        TensorData::I32(v) => array(&name, &shape, v),
        TensorData::I64(v) => array(&name, &shape, v),
        TensorData::F16(v) => array(&name, &shape, v.into_iter().map(f16::from_bits).collect()),
        TensorData::F32(v) => array(&name, &shape, v),
        TensorData::F64(v) => array(&name, &shape, v),
        TensorData::BF16(_) => Err(Error::invalid(format!(
            "input '{name}': BF16 is not supported by the ONNX (tract) backend"
        ))),
        TensorData::Bytes(v) => {
            let strings = v
                .into_iter()
                .enumerate()
                .map(|(i, b)| {
                    String::from_utf8(b).map_err(|_| {
                        Error::invalid(format!(
                            "input '{name}': BYTES element {i} is not valid UTF-8 (ONNX string tensors hold text)"
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            array(&name, &shape, strings)
        }
    }
}

fn elements<T: Datum + Clone>(t: &tract_onnx::prelude::Tensor) -> TractResult<Vec<T>> {
    Ok(t.to_plain_array_view::<T>()?.iter().cloned().collect())
}

/// Converts a tract tensor to a runtime tensor named `name`.
pub(crate) fn from_tract(name: &str, t: &tract_onnx::prelude::Tensor) -> Result<Tensor, String> {
    let shape: Vec<i64> = t.shape().iter().map(|d| *d as i64).collect();
    let data = (|| -> TractResult<Option<TensorData>> {
        Ok(Some(match t.datum_type() {
            DatumType::Bool => TensorData::Bool(elements(t)?),
            DatumType::U8 => TensorData::U8(elements(t)?),
            DatumType::U16 => TensorData::U16(elements(t)?),
            DatumType::U32 => TensorData::U32(elements(t)?),
            DatumType::U64 => TensorData::U64(elements(t)?),
            DatumType::I8 => TensorData::I8(elements(t)?),
            DatumType::I16 => TensorData::I16(elements(t)?),
            DatumType::I32 => TensorData::I32(elements(t)?),
            DatumType::I64 => TensorData::I64(elements(t)?),
            DatumType::TDim => TensorData::I64(elements(&*t.cast_to::<i64>()?)?),
            DatumType::F16 => TensorData::F16(elements::<f16>(t)?.into_iter().map(f16::to_bits).collect()),
            DatumType::F32 => TensorData::F32(elements(t)?),
            DatumType::F64 => TensorData::F64(elements(t)?),
            DatumType::String => TensorData::Bytes(
                elements::<String>(t)?
                    .into_iter()
                    .map(String::into_bytes)
                    .collect(),
            ),
            _ => return Ok(None),
        }))
    })()
    .map_err(|e| format!("output '{name}': {e:#}"))?
    .ok_or_else(|| {
        format!(
            "output '{name}' has element type {:?}, which has no protocol datatype",
            t.datum_type()
        )
    })?;
    Ok(Tensor::new(name, shape, data))
}

impl Backend for OnnxBackend {
    fn infer(&self, inputs: Vec<Tensor>, outputs: &[String]) -> Result<Vec<Tensor>, Error> {
        let mut by_name: HashMap<String, Tensor> = inputs.into_iter().map(|t| (t.name.clone(), t)).collect();
        let mut values: TVec<TValue> = TVec::with_capacity(self.inputs.len());
        for name in &self.inputs {
            let t = by_name.remove(name).ok_or_else(|| {
                Error::invalid(format!("missing input '{name}' for model '{}'", self.model))
            })?;
            values.push(to_tract(t)?.into_tvalue());
        }
        if let Some(extra) = by_name.keys().next() {
            return Err(Error::invalid(format!(
                "unexpected input '{extra}' for model '{}'",
                self.model
            )));
        }
        let mut positions = Vec::with_capacity(outputs.len());
        for o in outputs {
            let ix = *self.outputs.get(o).ok_or_else(|| {
                Error::invalid(format!(
                    "unknown output '{o}' requested from model '{}'",
                    self.model
                ))
            })?;
            positions.push(ix);
        }
        // A run state (tract's per-execution scratch) is reused across calls:
        // setting one up costs about as much as running a tiny model. A state
        // whose run failed or panicked is dropped, not reused.
        let state = self.states.lock().pop();
        let result = catch_unwind(AssertUnwindSafe(|| {
            let mut state = match state {
                Some(s) => s,
                None => self.plan.spawn()?,
            };
            let out = state.run(values)?;
            Ok::<_, tract_onnx::prelude::TractError>((out, state))
        }))
        .map_err(|_| engine(&self.model, "tract panicked while running the model"))?
        .map_err(|e| engine(&self.model, format!("{e:#}")))?;
        let (result, state) = result;
        self.states.lock().push(state);
        outputs
            .iter()
            .zip(positions)
            .map(|(name, ix)| {
                let v = result
                    .get(ix)
                    .ok_or_else(|| engine(&self.model, format!("tract returned no output '{name}'")))?;
                from_tract(name, v).map_err(|m| engine(&self.model, m))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
