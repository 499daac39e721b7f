#!/usr/bin/env python3
"""Builds the small ONNX test models under testdata/models/ in Triton's
repository layout (<model>/<version>/model.onnx, optional config.pbtxt).

The .onnx files are committed, so the Rust tests need no Python; rerun this
only to change the models:

    python3 -m venv /tmp/mk && /tmp/mk/bin/pip install -r scripts/requirements-test-models.txt
    /tmp/mk/bin/python scripts/make-test-models.py

It prints the expected outputs the Rust tests check (also in
testdata/models/README.md). Output is deterministic: same bytes every run.
"""

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "models")
OPSET = 14
IR_VERSION = 8


def save(model_name, version, graph, config=None, output_shapes=None):
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="aiserve make-test-models.py",
    )
    model.ir_version = IR_VERSION
    # The checker insists on a shape for every graph output; `fixed` leaves
    # one out on purpose (onnxruntime and tract accept it), so it is checked
    # with the shapes given in `output_shapes`.
    checked = model
    if output_shapes:
        checked = onnx.ModelProto()
        checked.CopyFrom(model)
        for o in checked.graph.output:
            for d in output_shapes[o.name]:
                o.type.tensor_type.shape.dim.add().dim_value = d
    onnx.checker.check_model(checked, full_check=True)
    d = os.path.join(ROOT, model_name, str(version))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(model.SerializeToString())
    if config is not None:
        with open(os.path.join(ROOT, model_name, "config.pbtxt"), "w") as f:
            f.write(config)


def simple():
    """Triton's classic `simple` example: OUTPUT0 = INPUT0 + INPUT1, OUTPUT1 = INPUT0 - INPUT1."""
    shape = ["batch", 16]
    graph = helper.make_graph(
        [
            helper.make_node("Add", ["INPUT0", "INPUT1"], ["OUTPUT0"], name="add"),
            helper.make_node("Sub", ["INPUT0", "INPUT1"], ["OUTPUT1"], name="sub"),
        ],
        "simple",
        [
            helper.make_tensor_value_info("INPUT0", TensorProto.INT32, shape),
            helper.make_tensor_value_info("INPUT1", TensorProto.INT32, shape),
        ],
        [
            helper.make_tensor_value_info("OUTPUT0", TensorProto.INT32, shape),
            helper.make_tensor_value_info("OUTPUT1", TensorProto.INT32, shape),
        ],
    )
    config = """name: "simple"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [
  {
    name: "INPUT0"
    data_type: TYPE_INT32
    dims: [ 16 ]
  },
  {
    name: "INPUT1"
    data_type: TYPE_INT32
    dims: [ 16 ]
  }
]
output [
  {
    name: "OUTPUT0"
    data_type: TYPE_INT32
    dims: [ 16 ]
  },
  {
    name: "OUTPUT1"
    data_type: TYPE_INT32
    dims: [ 16 ]
  }
]
"""
    save("simple", 1, graph, config)


def mlp_weights(version):
    """Fixed weights: exact binary fractions so every engine agrees to the last bit."""
    rng = np.random.default_rng(version)
    w1 = (rng.integers(-8, 9, size=(4, 8)) / 8.0).astype(np.float32)
    b1 = (rng.integers(-4, 5, size=(8,)) / 4.0).astype(np.float32)
    w2 = (rng.integers(-8, 9, size=(8, 3)) / 8.0).astype(np.float32)
    b2 = (rng.integers(-4, 5, size=(3,)) / 4.0).astype(np.float32)
    return w1, b1, w2, b2


def mlp_reference(x, version):
    w1, b1, w2, b2 = mlp_weights(version)
    h = np.maximum(x @ w1 + b1, 0.0)
    return h @ w2 + b2


def mlp():
    """x [batch, 4] FP32 -> Dense(8) -> Relu -> Dense(3) -> y [batch, 3]. No config.pbtxt."""
    for version in (1, 2):
        w1, b1, w2, b2 = mlp_weights(version)
        graph = helper.make_graph(
            [
                helper.make_node("MatMul", ["x", "w1"], ["h0"]),
                helper.make_node("Add", ["h0", "b1"], ["h1"]),
                helper.make_node("Relu", ["h1"], ["h2"]),
                helper.make_node("MatMul", ["h2", "w2"], ["h3"]),
                helper.make_node("Add", ["h3", "b2"], ["y"]),
            ],
            "mlp",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
            initializer=[
                numpy_helper.from_array(w1, "w1"),
                numpy_helper.from_array(b1, "b1"),
                numpy_helper.from_array(w2, "w2"),
                numpy_helper.from_array(b2, "b2"),
            ],
        )
        save("mlp", version, graph)


def strings():
    """BYTES in, BYTES out: Identity on a string tensor, [batch, 1], max_batch_size 4."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["TEXT"], ["ECHO"])],
        "strings",
        [helper.make_tensor_value_info("TEXT", TensorProto.STRING, ["batch", 1])],
        [helper.make_tensor_value_info("ECHO", TensorProto.STRING, ["batch", 1])],
    )
    config = """name: "strings"
backend: "onnxruntime"
max_batch_size: 4
input [ { name: "TEXT" data_type: TYPE_STRING dims: [ 1 ] } ]
output [ { name: "ECHO" data_type: TYPE_STRING dims: [ 1 ] } ]
"""
    save("strings", 1, graph, config)


def types():
    """One model covering the other element types. Non-batching (no config):
    each input has its own dynamic length, except a and b which are added."""
    T = TensorProto
    inputs = [
        ("a", T.DOUBLE, "n_ab"),
        ("b", T.DOUBLE, "n_ab"),
        ("i64", T.INT64, "n_i64"),
        ("u8", T.UINT8, "n_u8"),
        ("flag", T.BOOL, "n_flag"),
        ("h", T.FLOAT16, "n_h"),
        ("i8", T.INT8, "n_i8"),
        ("i16", T.INT16, "n_i16"),
        ("u16", T.UINT16, "n_u16"),
        ("u32", T.UINT32, "n_u32"),
        ("u64", T.UINT64, "n_u64"),
    ]
    nodes = [
        helper.make_node("Add", ["a", "b"], ["a_plus_b"]),
        helper.make_node("Mul", ["i64", "two_i64"], ["i64_times_2"]),
        helper.make_node("Add", ["u8", "one_u8"], ["u8_plus_1"]),
        helper.make_node("Not", ["flag"], ["not_flag"]),
        helper.make_node("Cast", ["flag"], ["flag_as_i32"], to=T.INT32),
        helper.make_node("Add", ["h", "h"], ["h_doubled"]),
        helper.make_node("Neg", ["i8"], ["i8_neg"]),
        helper.make_node("Identity", ["i16"], ["i16_out"]),
        helper.make_node("Identity", ["u16"], ["u16_out"]),
        helper.make_node("Identity", ["u32"], ["u32_out"]),
        helper.make_node("Identity", ["u64"], ["u64_out"]),
    ]
    outputs = [
        ("a_plus_b", T.DOUBLE, "n_ab"),
        ("i64_times_2", T.INT64, "n_i64"),
        ("u8_plus_1", T.UINT8, "n_u8"),
        ("not_flag", T.BOOL, "n_flag"),
        ("flag_as_i32", T.INT32, "n_flag"),
        ("h_doubled", T.FLOAT16, "n_h"),
        ("i8_neg", T.INT8, "n_i8"),
        ("i16_out", T.INT16, "n_i16"),
        ("u16_out", T.UINT16, "n_u16"),
        ("u32_out", T.UINT32, "n_u32"),
        ("u64_out", T.UINT64, "n_u64"),
    ]
    graph = helper.make_graph(
        nodes,
        "types",
        [helper.make_tensor_value_info(n, t, [d]) for n, t, d in inputs],
        [helper.make_tensor_value_info(n, t, [d]) for n, t, d in outputs],
        initializer=[
            numpy_helper.from_array(np.array(2, dtype=np.int64), "two_i64"),
            numpy_helper.from_array(np.array(1, dtype=np.uint8), "one_u8"),
        ],
    )
    save("types", 1, graph)


def fixed():
    """Fixed shapes, no dynamic dim: x FP32 [2, 3] -> y = -x. No config.pbtxt.
    The output is declared without a shape, so auto-complete must infer it."""
    graph = helper.make_graph(
        [helper.make_node("Neg", ["x"], ["y"])],
        "fixed",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    save("fixed", 1, graph, output_shapes={"y": [2, 3]})


def vec384():
    """A wide FP32 output for the V2 infer benchmark: x FP32 [batch, 4] -> MatMul -> y FP32 [batch, 384],
    max_batch_size 8. Weights are multiples of 1/8, so results are exact in FP32."""
    rng = np.random.default_rng(384)
    w = (rng.integers(-8, 9, size=(4, 384)) / 8.0).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "vec384",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 384])],
        initializer=[numpy_helper.from_array(w, "w")],
    )
    config = """name: "vec384"
backend: "onnxruntime"
max_batch_size: 8
input [ { name: "x" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 384 ] } ]
"""
    save("vec384", 1, graph, config)


def seqpair():
    """Two inputs sharing named dynamic dims, as transformer exports have them: ids and mask INT64
    ["batch", "sequence"] -> y = ids * mask (needs both inputs' dims to be the same). No config."""
    graph = helper.make_graph(
        [helper.make_node("Mul", ["ids", "mask"], ["y"])],
        "seqpair",
        [
            helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info("mask", TensorProto.INT64, ["batch", "sequence"]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.INT64, ["batch", "sequence"])],
    )
    save("seqpair", 1, graph)


def main():
    simple()
    seqpair()
    fixed()
    mlp()
    strings()
    types()
    vec384()
    x = np.array([[1.0, 2.0, 3.0, 4.0], [-1.0, 0.5, 0.0, 2.0]], dtype=np.float32)
    for v in (1, 2):
        y = mlp_reference(x, v)
        print(f"mlp v{v}: x={x.tolist()} -> y={y.tolist()}")
    for dirpath, _, files in sorted(os.walk(ROOT)):
        for f in sorted(files):
            if f.endswith(".onnx"):
                p = os.path.join(dirpath, f)
                print(f"{os.path.relpath(p, ROOT)}: {os.path.getsize(p)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
