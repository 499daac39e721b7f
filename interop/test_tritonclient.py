"""NVIDIA's own client, tritonclient[grpc], against aiserve.

The server under test is at $AISERVE_ADDR, serving a repository with the
ONNX test models (testdata/models) and the sentiment model, in explicit
model control mode.
"""
import os
import queue

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.grpc.service_pb2 as pb
import tritonclient.grpc.service_pb2_grpc as pb_grpc
import grpc
from tritonclient.utils import InferenceServerException

ADDR = os.environ["AISERVE_ADDR"]


@pytest.fixture(scope="module")
def client():
    c = grpcclient.InferenceServerClient(url=ADDR)
    yield c
    c.close()


def simple_inputs(batch=1):
    a = np.arange(16 * batch, dtype=np.int32).reshape(batch, 16)
    b = np.full((batch, 16), 3, dtype=np.int32)
    inputs = [grpcclient.InferInput("INPUT0", [batch, 16], "INT32"),
              grpcclient.InferInput("INPUT1", [batch, 16], "INT32")]
    inputs[0].set_data_from_numpy(a)
    inputs[1].set_data_from_numpy(b)
    return a, b, inputs


def test_live_ready_and_metadata(client):
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("simple")
    assert client.is_model_ready("sentiment")
    meta = client.get_server_metadata()
    assert meta.name == "aiserve"
    assert "model_repository" in meta.extensions
    m = client.get_model_metadata("simple")
    assert m.platform == "onnxruntime_onnx"
    assert [(i.name, i.datatype, list(i.shape)) for i in m.inputs] == [
        ("INPUT0", "INT32", [-1, 16]), ("INPUT1", "INT32", [-1, 16])]
    assert [o.name for o in m.outputs] == ["OUTPUT0", "OUTPUT1"]
    s = client.get_model_metadata("sentiment")
    assert s.inputs[0].datatype == "BYTES" and s.outputs[0].datatype == "FP32"


def test_model_config(client):
    cfg = client.get_model_config("simple").config
    assert cfg.name == "simple"
    assert cfg.max_batch_size == 8
    assert cfg.input[0].name == "INPUT0"
    assert list(cfg.input[0].dims) == [16]


def test_infer_raw(client):
    a, b, inputs = simple_inputs(batch=2)
    outputs = [grpcclient.InferRequestedOutput("OUTPUT0"), grpcclient.InferRequestedOutput("OUTPUT1")]
    r = client.infer("simple", inputs, outputs=outputs)
    np.testing.assert_array_equal(r.as_numpy("OUTPUT0"), a + b)
    np.testing.assert_array_equal(r.as_numpy("OUTPUT1"), a - b)


def test_infer_bytes(client):
    text = grpcclient.InferInput("text", [2, 1], "BYTES")
    text.set_data_from_numpy(np.array([[b"what a wonderful day"], [b"this is awful"]], dtype=object))
    r = client.infer("sentiment", [text])
    scores = r.as_numpy("score")
    assert scores.shape == (2, 1) and scores.dtype == np.float32
    assert scores[0, 0] > 0 > scores[1, 0]


def test_infer_typed_contents():
    # tritonclient sends raw tensors; this sends typed contents with its stubs.
    with grpc.insecure_channel(ADDR) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        req = pb.ModelInferRequest(model_name="simple")
        for name, values in (("INPUT0", list(range(16))), ("INPUT1", [1] * 16)):
            t = req.inputs.add(name=name, datatype="INT32", shape=[1, 16])
            t.contents.int_contents.extend(values)
        resp = stub.ModelInfer(req)
        out = {o.name: list(o.contents.int_contents) for o in resp.outputs}
        assert out["OUTPUT0"] == [i + 1 for i in range(16)]
        assert out["OUTPUT1"] == [i - 1 for i in range(16)]


def test_stream_infer(client):
    results = queue.Queue()
    client.start_stream(callback=lambda result, error: results.put((result, error)))
    try:
        for i in range(5):
            a, b, inputs = simple_inputs()
            client.async_stream_infer("simple", inputs, request_id=str(i))
        got = [results.get(timeout=30) for _ in range(5)]
    finally:
        client.stop_stream()
    for result, error in got:
        assert error is None
        np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), a + b)


def test_errors_have_the_right_status(client):
    with pytest.raises(InferenceServerException) as e:
        client.get_model_metadata("no_such_model")
    assert "NOT_FOUND" in e.value.status()
    bad = grpcclient.InferInput("INPUT0", [1, 16], "FP32")
    bad.set_data_from_numpy(np.zeros((1, 16), dtype=np.float32))
    _, _, inputs = simple_inputs()
    with pytest.raises(InferenceServerException) as e:
        client.infer("simple", [bad, inputs[1]])
    assert "INVALID_ARGUMENT" in e.value.status()
    assert "INPUT0" in e.value.message()


def test_statistics(client):
    _, _, inputs = simple_inputs()
    client.infer("simple", inputs)
    stats = client.get_inference_statistics("simple")
    s = stats.model_stats[0]
    assert s.name == "simple"
    assert s.inference_count >= 1 and s.execution_count >= 1
    assert s.inference_stats.success.count >= 1


def test_repository_load_unload(client):
    index = {m.name: m for m in client.get_model_repository_index().models}
    assert index["simple"].state == "READY"
    client.unload_model("simple")
    assert not client.is_model_ready("simple")
    index = {m.name: m for m in client.get_model_repository_index().models}
    assert index["simple"].state == "UNAVAILABLE"
    _, _, inputs = simple_inputs()
    with pytest.raises(InferenceServerException) as e:
        client.infer("simple", inputs)
    assert "UNAVAILABLE" in e.value.status()
    client.load_model("simple")
    assert client.is_model_ready("simple")
    a, b, inputs = simple_inputs()
    np.testing.assert_array_equal(client.infer("simple", inputs).as_numpy("OUTPUT0"), a + b)
