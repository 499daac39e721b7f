"""Checks that aiserve's protocol definitions are wire-compatible with the
published ones, as shipped in `tritonclient` (Open Inference Protocol and
Triton's model config) and in the seed (AIService).

For every message aiserve defines that the reference also defines, every field
must have the same number, type, label and message/enum type; every enum value
must have the same number. Every RPC of the reference's GRPCInferenceService
that aiserve implements must have the same request/response types and
streaming. Exits non-zero and names each difference otherwise.

Usage: python check_proto_compat.py PROTO_DIR SEED_PROTO_DIR
"""
import os
import subprocess
import sys
import tempfile

from google.protobuf import descriptor_pb2
import tritonclient.grpc.service_pb2 as triton_service
import tritonclient.grpc.model_config_pb2 as triton_config


def compile_set(proto_dir, files):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "set.pb")
        subprocess.run(
            [sys.executable, "-m", "grpc_tools.protoc", f"--proto_path={proto_dir}",
             "--include_imports", f"--descriptor_set_out={out}", *files],
            check=True,
        )
        fds = descriptor_pb2.FileDescriptorSet()
        with open(out, "rb") as f:
            fds.ParseFromString(f.read())
        return fds


def index(fds):
    """Maps full names to message/enum/service descriptor protos."""
    messages, enums, services = {}, {}, {}

    def walk(prefix, msg):
        name = f"{prefix}.{msg.name}" if prefix else msg.name
        messages[name] = msg
        for nested in msg.nested_type:
            walk(name, nested)
        for enum in msg.enum_type:
            enums[f"{name}.{enum.name}"] = enum

    for f in fds.file:
        pkg = f.package
        for msg in f.message_type:
            walk(pkg, msg)
        for enum in f.enum_type:
            enums[f"{pkg}.{enum.name}" if pkg else enum.name] = enum
        for svc in f.service:
            services[f"{pkg}.{svc.name}" if pkg else svc.name] = svc
    return messages, enums, services


def reference_set():
    fds = descriptor_pb2.FileDescriptorSet()
    for module in (triton_config, triton_service):
        fdp = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(fdp)
        fds.file.append(fdp)
    return fds


def compare(ours, ref, errors, checked):
    our_msgs, our_enums, our_svcs = index(ours)
    ref_msgs, ref_enums, ref_svcs = index(ref)
    for name, msg in our_msgs.items():
        if name not in ref_msgs:
            continue
        checked[0] += 1
        ref_fields = {f.name: f for f in ref_msgs[name].field}
        for field in msg.field:
            rf = ref_fields.get(field.name)
            if rf is None:
                # An addition: allowed as long as its number is not taken.
                taken = {f.number for f in ref_fields.values()}
                if field.number in taken:
                    errors.append(f"{name}.{field.name}: number {field.number} is taken in the reference")
                continue
            for attr in ("number", "type", "label", "type_name"):
                if getattr(field, attr) != getattr(rf, attr):
                    errors.append(
                        f"{name}.{field.name}: {attr} {getattr(field, attr)!r} != reference {getattr(rf, attr)!r}")
    for name, enum in our_enums.items():
        if name not in ref_enums:
            continue
        checked[0] += 1
        ref_values = {v.name: v.number for v in ref_enums[name].value}
        for value in enum.value:
            if ref_values.get(value.name) != value.number:
                errors.append(f"enum {name}.{value.name} = {value.number}, reference {ref_values.get(value.name)}")
    for name, svc in our_svcs.items():
        if name not in ref_svcs:
            continue
        ref_methods = {m.name: m for m in ref_svcs[name].method}
        for m in svc.method:
            checked[0] += 1
            rm = ref_methods.get(m.name)
            if rm is None:
                continue  # an added method
            for attr in ("input_type", "output_type", "client_streaming", "server_streaming"):
                if getattr(m, attr) != getattr(rm, attr):
                    errors.append(f"rpc {name}.{m.name}: {attr} differs")


def main():
    proto_dir, seed_dir = sys.argv[1], sys.argv[2]
    errors, checked = [], [0]
    ours = compile_set(proto_dir, ["grpc_service.proto", "model_config.proto", "ai_service.proto"])
    compare(ours, reference_set(), errors, checked)
    compare(ours, compile_set(seed_dir, ["ai_service.proto"]), errors, checked)
    # Every reference message we define must be present in full for the
    # messages on the wire of the services we implement.
    our_msgs, _, our_svcs = index(ours)
    for rpc in our_svcs["inference.GRPCInferenceService"].method:
        for t in (rpc.input_type, rpc.output_type):
            if t.lstrip(".") not in our_msgs:
                errors.append(f"{t}: used by {rpc.name} but not defined")
    for e in errors:
        print("MISMATCH", e)
    print(f"checked {checked[0]} definitions against the references: {len(errors)} mismatches")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
