//! Model configuration: Triton's `ModelConfig` schema, read from
//! `config.pbtxt` (protobuf text format) and checked into a [`ModelSpec`].

use std::collections::BTreeSet;
use std::sync::OnceLock;

use aiserve_proto::inference::{model_version_policy::PolicyChoice, ModelConfig};
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};

use crate::{DataType, Error};

fn model_config_descriptor() -> &'static MessageDescriptor {
    static DESCRIPTOR: OnceLock<MessageDescriptor> = OnceLock::new();
    DESCRIPTOR.get_or_init(|| {
        DescriptorPool::decode(aiserve_proto::FILE_DESCRIPTOR_SET)
            .expect("the built-in descriptor set decodes")
            .get_message_by_name("inference.ModelConfig")
            .expect("inference.ModelConfig is in the descriptor set")
    })
}

/// Parses a `config.pbtxt` (protobuf text format of `inference.ModelConfig`).
/// The error names the line and the field that could not be read.
pub fn parse_pbtxt(text: &str) -> Result<ModelConfig, String> {
    let text = colon_before_lists(text);
    let message = DynamicMessage::parse_text_format(model_config_descriptor().clone(), &text)
        .map_err(|e| e.to_string())?;
    message.transcode_to::<ModelConfig>().map_err(|e| e.to_string())
}

/// Protobuf's own text parser accepts a list of messages without a colon
/// (`input [ { ... } ]`), and Triton's configs are written that way; the
/// parser used here wants `input: [ ... ]`. This inserts the colon between a
/// field name and `[`, outside strings and comments.
fn colon_before_lists(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut chars = text.chars().peekable();
    let mut last_ident_end = false; // the last token was an identifier
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' => {
                out.push(c);
                let mut escaped = false;
                for d in chars.by_ref() {
                    out.push(d);
                    if escaped {
                        escaped = false;
                    } else if d == '\\' {
                        escaped = true;
                    } else if d == c {
                        break;
                    }
                }
                last_ident_end = false;
            }
            '#' => {
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == '\n' {
                        break;
                    }
                }
            }
            '[' if last_ident_end => {
                out.push_str(": [");
                last_ident_end = false;
            }
            c if c.is_whitespace() => out.push(c),
            c => {
                out.push(c);
                last_ident_end = c.is_alphanumeric() || c == '_';
            }
        }
    }
    out
}

/// Writes a config in protobuf text format (for `aiserve models config`, and tests).
pub fn to_pbtxt(config: &ModelConfig) -> String {
    let mut message = DynamicMessage::new(model_config_descriptor().clone());
    message
        .transcode_from(config)
        .expect("a ModelConfig transcodes to its own descriptor");
    message.to_text_format_with_options(&prost_reflect::text_format::FormatOptions::new().pretty(true))
}

/// One input or output of a model's signature.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorSpec {
    /// The tensor's name.
    pub name: String,
    /// Its element type.
    pub datatype: DataType,
    /// Its dimensions without the batch dimension; -1 is any size.
    pub dims: Vec<i64>,
}

impl TensorSpec {
    /// The full shape clients see: `[-1] + dims` for batching models.
    pub fn full_shape(&self, batching: bool) -> Vec<i64> {
        let mut shape = Vec::with_capacity(self.dims.len() + 1);
        if batching {
            shape.push(-1);
        }
        shape.extend_from_slice(&self.dims);
        shape
    }
}

/// Which versions of a model are served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionPolicy {
    /// The newest `n` versions (Triton's default is 1).
    Latest(usize),
    /// Every version in the repository.
    All,
    /// Exactly these versions.
    Specific(BTreeSet<u64>),
}

impl VersionPolicy {
    /// Picks the versions to serve out of those present.
    pub fn select(&self, present: &BTreeSet<u64>) -> BTreeSet<u64> {
        match self {
            VersionPolicy::Latest(n) => present.iter().rev().take(*n).copied().collect(),
            VersionPolicy::All => present.clone(),
            VersionPolicy::Specific(wanted) => present.intersection(wanted).copied().collect(),
        }
    }
}

/// A checked model configuration: what the runtime needs to validate
/// requests and schedule them, engine-agnostic.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    /// The model's name.
    pub name: String,
    /// The backend that runs it (e.g. `onnxruntime`, `sentiment`).
    pub backend: String,
    /// The platform reported in metadata (e.g. `onnxruntime_onnx`).
    pub platform: String,
    /// Largest batch in one execution; 0 means the model does not batch and
    /// shapes carry no batch dimension.
    pub max_batch_size: usize,
    /// Inputs, in signature order.
    pub inputs: Vec<TensorSpec>,
    /// Outputs, in signature order.
    pub outputs: Vec<TensorSpec>,
    /// How many executions of one version may run at once.
    pub instance_count: usize,
    /// Which versions are served.
    pub version_policy: VersionPolicy,
    /// The configuration as read (and completed by the backend).
    pub config: ModelConfig,
}

impl ModelSpec {
    /// Checks a (completed) config. `name` is the model's folder name.
    pub fn from_config(name: &str, config: ModelConfig) -> Result<ModelSpec, Error> {
        let fail = |m: String| Error::load(name, m);
        if !config.name.is_empty() && config.name != name {
            return Err(fail(format!(
                "config names the model '{}' but its folder is '{name}'",
                config.name
            )));
        }
        let max_batch_size = usize::try_from(config.max_batch_size)
            .map_err(|_| fail(format!("max_batch_size {} is negative", config.max_batch_size)))?;
        let tensor = |kind: &str, tname: &str, dt: i32, dims: &[i64]| -> Result<TensorSpec, Error> {
            if tname.is_empty() {
                return Err(fail(format!("an {kind} has no name")));
            }
            let datatype = aiserve_proto::inference::DataType::try_from(dt)
                .ok()
                .and_then(DataType::from_config)
                .ok_or_else(|| fail(format!("{kind} '{tname}' has no valid data_type")))?;
            if let Some(d) = dims.iter().find(|d| **d < -1) {
                return Err(fail(format!("{kind} '{tname}' has an invalid dimension {d}")));
            }
            Ok(TensorSpec {
                name: tname.to_string(),
                datatype,
                dims: dims.to_vec(),
            })
        };
        let inputs = config
            .input
            .iter()
            .map(|i| tensor("input", &i.name, i.data_type, &i.dims))
            .collect::<Result<Vec<_>, _>>()?;
        let outputs = config
            .output
            .iter()
            .map(|o| tensor("output", &o.name, o.data_type, &o.dims))
            .collect::<Result<Vec<_>, _>>()?;
        if inputs.is_empty() {
            return Err(fail("the config declares no input".into()));
        }
        if outputs.is_empty() {
            return Err(fail("the config declares no output".into()));
        }
        for list in [&inputs, &outputs] {
            let mut seen = BTreeSet::new();
            for t in list.iter() {
                if !seen.insert(&t.name) {
                    return Err(fail(format!("tensor '{}' is declared twice", t.name)));
                }
            }
        }
        let instance_count = config
            .instance_group
            .iter()
            .map(|g| g.count.max(1) as usize)
            .sum::<usize>()
            .max(1);
        let version_policy = match config
            .version_policy
            .as_ref()
            .and_then(|p| p.policy_choice.as_ref())
        {
            None => VersionPolicy::Latest(1),
            Some(PolicyChoice::Latest(l)) => VersionPolicy::Latest(l.num_versions.max(1) as usize),
            Some(PolicyChoice::All(_)) => VersionPolicy::All,
            Some(PolicyChoice::Specific(s)) => VersionPolicy::Specific(
                s.versions
                    .iter()
                    .map(|v| u64::try_from(*v).map_err(|_| fail(format!("version {v} is negative"))))
                    .collect::<Result<_, _>>()?,
            ),
        };
        let mut config = config;
        config.name = name.to_string();
        Ok(ModelSpec {
            name: name.to_string(),
            backend: config.backend.clone(),
            platform: config.platform.clone(),
            max_batch_size,
            inputs,
            outputs,
            instance_count,
            version_policy,
            config,
        })
    }

    /// True when shapes carry a leading batch dimension.
    pub fn batching(&self) -> bool {
        self.max_batch_size > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRITON_STYLE: &str = r#"
# A config as Triton users write it.
name: "densenet"
platform: "onnxruntime_onnx"
max_batch_size : 8
input [
  {
    name: "data_0"
    data_type: TYPE_FP32
    format: FORMAT_NCHW
    dims: [ 3, 224, 224 ]
  }
]
output [
  {
    name: "fc6_1"
    data_type: TYPE_FP32
    dims: [ 1000 ]
    label_filename: "labels.txt"
  }
]
instance_group [ { count: 2, kind: KIND_CPU } ]
version_policy: { latest: { num_versions: 2 } }
dynamic_batching { max_queue_delay_microseconds: 100 }
parameters { key: "k" value: { string_value: "v" } }
"#;

    #[test]
    fn reads_a_triton_config() {
        let config = parse_pbtxt(TRITON_STYLE).unwrap();
        let spec = ModelSpec::from_config("densenet", config).unwrap();
        assert_eq!(spec.platform, "onnxruntime_onnx");
        assert_eq!(spec.max_batch_size, 8);
        assert_eq!(spec.inputs[0].dims, vec![3, 224, 224]);
        assert_eq!(spec.inputs[0].full_shape(true), vec![-1, 3, 224, 224]);
        assert_eq!(spec.outputs[0].datatype, DataType::F32);
        assert_eq!(spec.instance_count, 2);
        assert_eq!(spec.version_policy, VersionPolicy::Latest(2));
        assert_eq!(spec.config.parameters["k"].string_value, "v");
        let again = parse_pbtxt(&to_pbtxt(&spec.config)).unwrap();
        assert_eq!(again, spec.config);
    }

    #[test]
    fn rejects_bad_configs_with_a_reason() {
        let err = parse_pbtxt("name: \"x\"\noptimization { }").unwrap_err();
        assert!(err.contains("optimization"), "{err}");
        let config = parse_pbtxt("name: \"other\"").unwrap();
        let err = ModelSpec::from_config("m", config).unwrap_err().to_string();
        assert!(err.contains("'other'") && err.contains("'m'"), "{err}");
        let config = parse_pbtxt("input { name: \"a\" data_type: TYPE_FP32 dims: [1] }").unwrap();
        let err = ModelSpec::from_config("m", config).unwrap_err().to_string();
        assert!(err.contains("no output"), "{err}");
        let config = parse_pbtxt(
            "input { name: \"a\" dims: [1] } output { name: \"b\" data_type: TYPE_FP32 dims: [1] }",
        )
        .unwrap();
        let err = ModelSpec::from_config("m", config).unwrap_err().to_string();
        assert!(err.contains("input 'a' has no valid data_type"), "{err}");
    }

    #[test]
    fn version_policy_selects() {
        let present: BTreeSet<u64> = [1, 2, 5].into();
        assert_eq!(VersionPolicy::Latest(1).select(&present), [5].into());
        assert_eq!(VersionPolicy::Latest(2).select(&present), [2, 5].into());
        assert_eq!(VersionPolicy::All.select(&present), present);
        assert_eq!(
            VersionPolicy::Specific([1, 3].into()).select(&present),
            [1].into()
        );
    }
}
