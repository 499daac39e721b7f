"""A reflection client (grpcio-reflection) lists aiserve's services and
calls AIService.predict and the health service knowing only what reflection
tells it."""
import os

import grpc
from google.protobuf import descriptor_pool, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

ADDR = os.environ["AISERVE_ADDR"]


def test_lists_and_calls_every_service():
    with grpc.insecure_channel(ADDR) as channel:
        db = ProtoReflectionDescriptorDatabase(channel)
        services = set(db.get_services())
        assert {"AIService", "inference.GRPCInferenceService", "grpc.health.v1.Health"} <= services
        pool = descriptor_pool.DescriptorPool(db)
        for name in services:
            assert pool.FindServiceByName(name).methods, name
        predict = pool.FindMethodByName("AIService.predict")
        req_cls = message_factory.GetMessageClass(predict.input_type)
        resp_cls = message_factory.GetMessageClass(predict.output_type)
        call = channel.unary_unary("/AIService/predict", request_serializer=req_cls.SerializeToString,
                                   response_deserializer=resp_cls.FromString)
        resp = call(req_cls(data="what a wonderful day"))
        assert resp.result > 0
        live = pool.FindMethodByName("inference.GRPCInferenceService.ServerLive")
        live_req = message_factory.GetMessageClass(live.input_type)
        live_resp = message_factory.GetMessageClass(live.output_type)
        call = channel.unary_unary("/inference.GRPCInferenceService/ServerLive",
                                   request_serializer=live_req.SerializeToString,
                                   response_deserializer=live_resp.FromString)
        assert call(live_req()).live
        check = pool.FindMethodByName("grpc.health.v1.Health.Check")
        hreq = message_factory.GetMessageClass(check.input_type)
        hresp = message_factory.GetMessageClass(check.output_type)
        call = channel.unary_unary("/grpc.health.v1.Health/Check", request_serializer=hreq.SerializeToString,
                                   response_deserializer=hresp.FromString)
        assert call(hreq(service="")).status == 1  # SERVING
        assert call(hreq(service="sentiment")).status == 1
