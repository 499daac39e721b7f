"""NVIDIA's HTTP client, tritonclient[http], against aiserve's REST API
(the Open Inference Protocol over HTTP/JSON) at $AISERVE_HTTP_ADDR, over the
same repository as test_tritonclient.py."""
import os

import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

ADDR = os.environ["AISERVE_HTTP_ADDR"]


@pytest.fixture(scope="module")
def client():
    c = httpclient.InferenceServerClient(url=ADDR)
    yield c
    c.close()


def test_health_and_metadata(client):
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("simple")
    meta = client.get_model_metadata("simple")
    assert meta["platform"] == "onnxruntime_onnx"
    assert [i["name"] for i in meta["inputs"]] == ["INPUT0", "INPUT1"]
    assert client.get_server_metadata()["name"] == "aiserve"


def test_infer_json(client):
    a = np.arange(16, dtype=np.int32).reshape(1, 16)
    b = np.full((1, 16), 2, dtype=np.int32)
    inputs = [httpclient.InferInput("INPUT0", [1, 16], "INT32"), httpclient.InferInput("INPUT1", [1, 16], "INT32")]
    inputs[0].set_data_from_numpy(a, binary_data=False)
    inputs[1].set_data_from_numpy(b, binary_data=False)
    outputs = [httpclient.InferRequestedOutput("OUTPUT0", binary_data=False),
               httpclient.InferRequestedOutput("OUTPUT1", binary_data=False)]
    r = client.infer("simple", inputs, outputs=outputs)
    np.testing.assert_array_equal(r.as_numpy("OUTPUT0"), a + b)
    np.testing.assert_array_equal(r.as_numpy("OUTPUT1"), a - b)


def test_infer_text(client):
    text = httpclient.InferInput("text", [1, 1], "BYTES")
    text.set_data_from_numpy(np.array([["what a wonderful day"]], dtype=object), binary_data=False)
    r = client.infer("sentiment", [text], outputs=[httpclient.InferRequestedOutput("score", binary_data=False)])
    assert r.as_numpy("score")[0][0] > 0


def test_errors(client):
    with pytest.raises(InferenceServerException) as e:
        client.get_model_metadata("no_such_model")
    assert "no_such_model" in e.value.message()


def test_load_unload(client):
    client.unload_model("simple")
    assert not client.is_model_ready("simple")
    client.load_model("simple")
    assert client.is_model_ready("simple")
