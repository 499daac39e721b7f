#!/usr/bin/env python3
"""Builds the ONNX graph of a BERT-family encoder (all-MiniLM-L6-v2 and the like) by hand from a
Hugging Face folder's model.safetensors + config.json, without torch: onnx.helper nodes, weights as
initializers (numpy_helper).

    make-minilm-onnx.py MODEL_VERSION_DIR OUT.onnx [--task embedding|classification]
                        [--no-token-type-ids]

The layout is the one Hugging Face optimum exports, which the `hf` backend's onnxruntime engine
reads (crates/aiserve-backend-hf):

* inputs `input_ids`, `attention_mask` and `token_type_ids`, int64 `[batch, sequence]` (the same
  named dimensions on every input, so engines see they are equal);
* `--task embedding` (default; also for BertForSequenceClassification folders when asked):
  output `last_hidden_state`, float `[batch, sequence, hidden]`; pooling and normalisation stay
  in the server;
* `--task classification` (default when config.json's architectures name a
  `*ForSequenceClassification`): output `logits`, float `[batch, num_labels]` (BERT's pooler,
  dense + tanh on the first token, then the classifier).

The graph uses opset 17 ops onnxruntime executes well: Gather for the embeddings,
LayerNormalization, MatMul + Add with pre-transposed weights, the attention as
Reshape/Transpose/MatMul/Div/Softmax with an additive mask computed once (onnxruntime folds the
transpose of K and the division into one FusedMatMul), and the exact (erf) GELU in the pattern
onnxruntime fuses with its bias into one BiasGelu kernel. (onnxruntime's fused Attention kernel
only replaces an opset <= 12 form of this graph; on all-MiniLM-L6-v2 at batch 32 it measured no
faster, so the graph stays at opset 17. onnxruntime runs the graph at least as fast as a torch
export of the same model.)

With onnxruntime installed, the result is checked on a random batch against a numpy forward pass of
the same weights (`--no-check` skips it).
"""

import argparse
import json
import math
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

OPSET = 17


class Weights:
    """The safetensors tensors, with or without the `bert.` prefix of *ForSequenceClassification."""

    def __init__(self, path):
        self.tensors = load_file(path)
        self.prefix = "bert." if "bert.embeddings.word_embeddings.weight" in self.tensors else ""

    def __call__(self, name, bert=True):
        key = (self.prefix if bert else "") + name
        if key not in self.tensors:
            sys.exit(f"model.safetensors has no tensor {key!r}")
        return self.tensors[key].astype(np.float32)


class Graph:
    """Nodes and initializers. Value names are the callers' (unique by construction); nodes are
    numbered."""

    def __init__(self):
        self.nodes = []
        self.initializers = []
        self.names = set()
        self.count = 0

    def const(self, name, array):
        """An initializer; a name already added is reused (shared scalars)."""
        if name not in self.names:
            self.names.add(name)
            self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type, inputs, name, **attrs):
        """Adds a node with one output, `name`, and returns that name."""
        self.count += 1
        self.nodes.append(helper.make_node(op_type, inputs, [name], name=f"{op_type}_{self.count}", **attrs))
        return name


def build(model_dir, task, token_type_ids):
    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    if config.get("model_type", "bert") != "bert":
        sys.exit(f"{model_dir}: model_type {config.get('model_type')!r}; only BERT is supported")
    act = config.get("hidden_act", "gelu")
    if act != "gelu":
        sys.exit(f"{model_dir}: hidden_act {act!r}; only the exact (erf) gelu is supported")
    if config.get("position_embedding_type", "absolute") != "absolute":
        sys.exit(f"{model_dir}: only absolute position embeddings are supported")
    hidden = config["hidden_size"]
    heads = config["num_attention_heads"]
    head_size = hidden // heads
    layers = config["num_hidden_layers"]
    eps = float(config.get("layer_norm_eps", 1e-12))
    w = Weights(os.path.join(model_dir, "model.safetensors"))

    g = Graph()
    one_f = g.const("one_f", np.array(1.0, np.float32))
    half_f = g.const("half_f", np.array(0.5, np.float32))
    sqrt2 = g.const("sqrt2_f", np.array(math.sqrt(2.0), np.float32))
    sqrt_dh = g.const("sqrt_head_size", np.array(math.sqrt(head_size), np.float32))
    heads_shape = g.const("heads_shape", np.array([0, 0, heads, head_size], np.int64))
    hidden_shape = g.const("hidden_shape", np.array([0, 0, hidden], np.int64))

    def layer_norm(x, prefix, name):
        gamma = g.const(f"{prefix}.weight", w(f"{prefix}.weight"))
        beta = g.const(f"{prefix}.bias", w(f"{prefix}.bias"))
        return g.op("LayerNormalization", [x, gamma, beta], name, axis=-1, epsilon=eps)

    def dense(x, prefix, name):
        # torch's Linear stores [out, in]; MatMul wants [in, out].
        weight = g.const(f"{prefix}.weight", w(f"{prefix}.weight").T.copy())
        bias = g.const(f"{prefix}.bias", w(f"{prefix}.bias"))
        return g.op("Add", [g.op("MatMul", [x, weight], f"{name}_mm"), bias], name)

    # Embeddings: word + position (rows 0..sequence) + token type, then LayerNorm.
    word = g.op("Gather", [g.const("word_embeddings", w("embeddings.word_embeddings.weight")), "input_ids"], "word_emb")
    seq_len = g.op("Shape", ["input_ids"], "seq_len", start=1, end=2)
    positions = g.op(
        "Slice",
        [
            g.const("position_embeddings", w("embeddings.position_embeddings.weight")),
            g.const("zero_1d", np.array([0], np.int64)),
            seq_len,
            g.const("axis0_1d", np.array([0], np.int64)),
        ],
        "pos_emb",
    )
    types = w("embeddings.token_type_embeddings.weight")
    if token_type_ids:
        type_emb = g.op("Gather", [g.const("token_type_embeddings", types), "token_type_ids"], "type_emb")
    else:
        type_emb = g.const("token_type_embedding_0", types[0])
    x = g.op("Add", [g.op("Add", [word, positions], "word_pos"), type_emb], "emb_sum")
    x = layer_norm(x, "embeddings.LayerNorm", "emb_out")

    # Additive mask [batch, 1, 1, sequence]: 0 where attended, -10000 at padding (BERT's).
    mask4 = g.op("Unsqueeze", ["attention_mask", g.const("axes_1_2", np.array([1, 2], np.int64))], "mask4")
    mask_f = g.op("Cast", [mask4], "mask_f", to=TensorProto.FLOAT)
    neg = g.op(
        "Mul",
        [g.op("Sub", [one_f, mask_f], "mask_inv"), g.const("mask_neg", np.array(-10000.0, np.float32))],
        "mask_add",
    )

    for i in range(layers):
        p = f"encoder.layer.{i}"
        a = f"{p}.attention"
        q = dense(x, f"{a}.self.query", f"l{i}_q")
        k = dense(x, f"{a}.self.key", f"l{i}_k")
        v = dense(x, f"{a}.self.value", f"l{i}_v")
        q = g.op("Transpose", [g.op("Reshape", [q, heads_shape], f"l{i}_q4")], f"l{i}_qt", perm=[0, 2, 1, 3])
        k = g.op("Transpose", [g.op("Reshape", [k, heads_shape], f"l{i}_k4")], f"l{i}_kt", perm=[0, 2, 3, 1])
        v = g.op("Transpose", [g.op("Reshape", [v, heads_shape], f"l{i}_v4")], f"l{i}_vt", perm=[0, 2, 1, 3])
        qk = g.op("Div", [g.op("MatMul", [q, k], f"l{i}_qk"), sqrt_dh], f"l{i}_qk_scaled")
        scores = g.op("Add", [qk, neg], f"l{i}_scores")
        probs = g.op("Softmax", [scores], f"l{i}_probs", axis=3)
        ctx = g.op("Transpose", [g.op("MatMul", [probs, v], f"l{i}_ctx4")], f"l{i}_ctxt", perm=[0, 2, 1, 3])
        ctx = g.op("Reshape", [ctx, hidden_shape], f"l{i}_ctx")
        attn = dense(ctx, f"{a}.output.dense", f"l{i}_attn")
        x = layer_norm(g.op("Add", [attn, x], f"l{i}_attn_res"), f"{a}.output.LayerNorm", f"l{i}_attn_out")

        h = dense(x, f"{p}.intermediate.dense", f"l{i}_ffn1")
        # Exact GELU, x * 0.5 * (1 + erf(x / sqrt 2)): onnxruntime fuses this into Gelu/BiasGelu.
        erf = g.op("Erf", [g.op("Div", [h, sqrt2], f"l{i}_gelu_div")], f"l{i}_gelu_erf")
        gelu = g.op("Mul", [g.op("Mul", [h, g.op("Add", [erf, one_f], f"l{i}_gelu_add")], f"l{i}_gelu_mul"), half_f], f"l{i}_gelu")
        out = dense(gelu, f"{p}.output.dense", f"l{i}_ffn2")
        x = layer_norm(g.op("Add", [out, x], f"l{i}_ffn_res"), f"{p}.output.LayerNorm", f"l{i}_out")

    dims = ["batch", "sequence"]
    inputs = [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, dims),
        helper.make_tensor_value_info("attention_mask", TensorProto.INT64, dims),
    ]
    if token_type_ids:
        inputs.append(helper.make_tensor_value_info("token_type_ids", TensorProto.INT64, dims))

    if task == "embedding":
        g.nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="output"))
        outputs = [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", hidden])]
    else:
        labels = w("classifier.weight", bert=False).shape[0]
        first = g.op("Gather", [x, g.const("index0", np.array(0, np.int64))], "cls", axis=1)
        pooled = g.op("Tanh", [dense(first, "pooler.dense", "pooler_dense")], "pooled")
        weight = g.const("classifier.weight", w("classifier.weight", bert=False).T.copy())
        bias = g.const("classifier.bias", w("classifier.bias", bert=False))
        g.nodes.append(helper.make_node("Gemm", [pooled, weight, bias], ["logits"], name="classifier"))
        outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", labels])]

    graph = helper.make_graph(g.nodes, "bert_encoder", inputs, outputs, g.initializers)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="aiserve scripts/make-minilm-onnx.py",
    )
    model.ir_version = 8  # the oldest IR with opset 17: more readers (onnxruntime >= 1.13)
    onnx.checker.check_model(model, full_check=True)
    return model, config, w


def numpy_forward(w, config, ids, mask, types, task):
    """The same network in numpy (float64), as transformers computes it."""
    hidden = config["hidden_size"]
    heads = config["num_attention_heads"]
    dh = hidden // heads
    eps = float(config.get("layer_norm_eps", 1e-12))
    f = lambda name, bert=True: w(name, bert).astype(np.float64)

    def ln(x, p):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + eps) * f(f"{p}.weight") + f(f"{p}.bias")

    def lin(x, p, bert=True):
        return x @ f(f"{p}.weight", bert).T + f(f"{p}.bias", bert)

    from math import erf

    gelu = np.vectorize(lambda v: 0.5 * v * (1.0 + erf(v / math.sqrt(2.0))))
    b, s = ids.shape
    x = f("embeddings.word_embeddings.weight")[ids] + f("embeddings.position_embeddings.weight")[:s]
    x = x + f("embeddings.token_type_embeddings.weight")[types]
    x = ln(x, "embeddings.LayerNorm")
    neg = (1.0 - mask[:, None, None, :]) * -10000.0
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}"
        split = lambda t: t.reshape(b, s, heads, dh).transpose(0, 2, 1, 3)
        q, k, v = (split(lin(x, f"{p}.attention.self.{n}")) for n in ("query", "key", "value"))
        sc = q @ k.transpose(0, 1, 3, 2) / math.sqrt(dh) + neg
        sc = np.exp(sc - sc.max(-1, keepdims=True))
        ctx = (sc / sc.sum(-1, keepdims=True)) @ v
        ctx = ctx.transpose(0, 2, 1, 3).reshape(b, s, hidden)
        x = ln(lin(ctx, f"{p}.attention.output.dense") + x, f"{p}.attention.output.LayerNorm")
        h = gelu(lin(x, f"{p}.intermediate.dense"))
        x = ln(lin(h, f"{p}.output.dense") + x, f"{p}.output.LayerNorm")
    if task == "embedding":
        return x
    pooled = np.tanh(lin(x[:, 0], "pooler.dense"))
    return lin(pooled, "classifier", bert=False)


def check(path, w, config, task, token_type_ids):
    try:
        import onnxruntime as ort
    except ImportError:
        print("onnxruntime is not installed: the graph is not checked", file=sys.stderr)
        return
    rng = np.random.default_rng(0)
    b, s = 3, 11
    ids = rng.integers(1, config["vocab_size"], size=(b, s), dtype=np.int64)
    mask = np.ones((b, s), np.int64)
    mask[1, 7:] = 0
    mask[2, 3:] = 0
    types = np.zeros((b, s), np.int64)
    feeds = {"input_ids": ids, "attention_mask": mask}
    if token_type_ids:
        feeds["token_type_ids"] = types
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = sess.run(None, feeds)[0]
    want = numpy_forward(w, config, ids, mask.astype(np.float64), types, task)
    if task == "embedding":
        keep = mask.astype(bool)
        got, want = got[keep], want[keep]  # padding positions are not meaningful
    err = float(np.abs(got - want).max())
    if not err < 1e-3:
        sys.exit(f"{path}: onnxruntime differs from the numpy forward pass by {err}")
    print(f"checked {path} against numpy: max abs difference {err:.2e}", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", help="folder with config.json and model.safetensors")
    parser.add_argument("out", help="the ONNX file to write")
    parser.add_argument("--task", choices=["embedding", "classification"], help="default: from config.json")
    parser.add_argument("--no-token-type-ids", action="store_true", help="no token_type_ids input (type 0 for all)")
    parser.add_argument("--no-check", action="store_true", help="skip the check against numpy")
    args = parser.parse_args()

    with open(os.path.join(args.model_dir, "config.json")) as f:
        archs = json.load(f).get("architectures") or []
    task = args.task or ("classification" if any(a.endswith("ForSequenceClassification") for a in archs) else "embedding")
    token_type_ids = not args.no_token_type_ids
    model, config, w = build(args.model_dir, task, token_type_ids)
    # Write then rename, so an interrupted run never leaves a truncated file that looks complete.
    tmp = args.out + ".partial"
    onnx.save_model(model, tmp)
    if not args.no_check:
        check(tmp, w, config, task, token_type_ids)
    os.replace(tmp, args.out)
    print(f"wrote {args.out} ({task}, {config['num_hidden_layers']} layers, hidden {config['hidden_size']})", file=sys.stderr)


if __name__ == "__main__":
    main()
