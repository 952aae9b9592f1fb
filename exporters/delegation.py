"""What the LiteRT runtime does with each signature of a `.tflite` file: ops, XNNPACK, latency.

- `signature_ops`: the operators of every signature's subgraph, read from the
  flatbuffer (`ai_edge_litert.tools.flatbuffer_utils`), named as the
  interpreter names them; `non_builtin` lists those outside
  `BuiltinOperator` (custom ops, Flex ops "Flex...").
- `xnnpack`: which of those ops the XNNPACK delegate (the CPU delegate the
  interpreter applies by default) takes. The Python interpreter lists the
  nodes of the primary subgraph only (`_get_ops_details`), where each
  delegated partition appears as one extra "DELEGATE" node whose inputs and
  outputs are the tensors crossing the partition boundary; the original
  nodes stay listed. The nodes of a partition are the producers reached by
  walking back from its outputs without crossing its inputs. To see another
  signature, the file is re-packed (in memory) with that signature's
  subgraph first; the operators and weights are unchanged.
- `latency_us`: batch-`B` median call time of each signature with the
  XNNPACK delegate on (the default resolver) and off
  (`BUILTIN_WITHOUT_DEFAULT_DELEGATES`).
"""

import os
import time

import numpy as np

_DELEGATE = "DELEGATE"


def _read(path):
    from ai_edge_litert.tools import flatbuffer_utils

    return flatbuffer_utils.read_model(os.fspath(path))


def _name(value):
    return value.decode() if isinstance(value, bytes) else value


def _builtin_names():
    from ai_edge_litert import schema_py_generated as schema

    return {name for name in vars(schema.BuiltinOperator) if not name.startswith("_")}


def _op_name(model, op):
    """The builtin operator's name, or a custom op's code (e.g. "FlexAddV2"), as the
    interpreter names its nodes."""
    from ai_edge_litert.tools import flatbuffer_utils

    name = flatbuffer_utils.opcode_to_name(model, op.opcodeIndex)
    if name == "CUSTOM" or name is None:
        return _name(model.operatorCodes[op.opcodeIndex].customCode) or "CUSTOM"
    return name


def signature_ops(path):
    """{signature key: [op name, ...] in execution order} of a `.tflite` file."""
    model = _read(path)
    return {_name(sig.signatureKey): [_op_name(model, op)
                                      for op in model.subgraphs[sig.subgraphIndex].operators]
            for sig in model.signatureDefs}


def non_builtin(ops):
    """The op names of `signature_ops` that are not TFLite builtins (custom or Flex ops)."""
    builtin = _builtin_names() - {"CUSTOM"}
    return sorted({op for names in ops.values() for op in names if op not in builtin})


def _with_primary(model, subgraph_index):
    """The flatbuffer bytes of `model` with subgraph `subgraph_index` moved first."""
    import copy

    from ai_edge_litert.tools import flatbuffer_utils

    model = copy.copy(model)
    order = [subgraph_index] + [i for i in range(len(model.subgraphs)) if i != subgraph_index]
    model.subgraphs = [model.subgraphs[i] for i in order]
    signature_defs = []
    for sig in model.signatureDefs:
        sig = copy.copy(sig)
        sig.subgraphIndex = order.index(sig.subgraphIndex)
        signature_defs.append(sig)
    model.signatureDefs = signature_defs
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def delegated_nodes(ops_details):
    """(indices of delegated nodes, number of partitions) from `_get_ops_details()`."""
    nodes = [op for op in ops_details if op["op_name"] != _DELEGATE]
    producer = {int(t): op["index"] for op in nodes for t in op["outputs"]}
    delegated, partitions = set(), 0
    for node in ops_details:
        if node["op_name"] != _DELEGATE:
            continue
        partitions += 1
        boundary = {int(t) for t in node["inputs"]}
        stack = [int(t) for t in node["outputs"]]
        while stack:
            tensor = stack.pop()
            index = producer.get(tensor)
            if tensor in boundary or index is None or index in delegated:
                continue
            delegated.add(index)
            stack += [int(t) for t in ops_details[index]["inputs"] if t >= 0]
    return delegated, partitions


def xnnpack(path):
    """{signature: {"delegated": [...], "cpu": [...], "partitions": n, "fully_delegated"}}.

    "delegated" and "cpu" list op names (with repeats, in execution order);
    "cpu" holds the ops the XNNPACK delegate left to the interpreter's kernels.
    """
    from ai_edge_litert.interpreter import Interpreter

    model, report = _read(path), {}
    for sig in model.signatureDefs:
        interpreter = Interpreter(model_content=_with_primary(model, sig.subgraphIndex))
        interpreter.allocate_tensors()
        details = interpreter._get_ops_details()
        delegated, partitions = delegated_nodes(details)
        nodes = [op for op in details if op["op_name"] != _DELEGATE]
        cpu = [op["op_name"] for op in nodes if op["index"] not in delegated]
        report[_name(sig.signatureKey)] = {
            "delegated": [op["op_name"] for op in nodes if op["index"] in delegated],
            "cpu": cpu, "partitions": partitions, "fully_delegated": not cpu}
    return report


def example_inputs(runner, batch_size=1, seed=0):
    """Seeded float32 inputs for a signature runner; a dynamic batch axis gets `batch_size`."""
    rng = np.random.default_rng(seed)
    inputs = {}
    for name, detail in runner.get_input_details().items():
        shape = [batch_size if s < 0 else int(s) for s in detail["shape_signature"]]
        inputs[name] = (rng.uniform(size=shape) if name == "x"
                        else rng.standard_normal(shape)).astype("float32")
    return inputs


def latency_us(path, calls=50, warmup=5, batch_size=1):
    """{signature: {"xnnpack": µs, "no_delegate": µs}}: median of `calls` calls."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolvers = {"xnnpack": OpResolverType.AUTO,
                 "no_delegate": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
    report = {}
    for mode, resolver in resolvers.items():
        interpreter = Interpreter(model_path=os.fspath(path),
                                  experimental_op_resolver_type=resolver)
        for key in interpreter.get_signature_list():
            runner = interpreter.get_signature_runner(key)
            inputs = example_inputs(runner, batch_size)
            for _ in range(warmup):
                runner(**inputs)
            seconds = []
            for _ in range(calls):
                start = time.perf_counter()
                runner(**inputs)
                seconds.append(time.perf_counter() - start)
            report.setdefault(key, {})[mode] = 1e6 * float(np.median(seconds))
    return report


def report(path, batch_size=None, calls=50):
    """The delegation section of the metadata: ops, builtin check, XNNPACK, latency.

    Args:
        path: str, a `.tflite` file with signatures.
        batch_size: the file's static batch size, or None (dynamic: timed at 1).
        calls: int, timed calls per signature and mode.
    """
    ops = signature_ops(path)
    delegation = xnnpack(path)
    latency = latency_us(path, calls, batch_size=batch_size or 1)
    return {
        "tflite_ops": sorted({op for names in ops.values() for op in names}),
        "non_builtin_ops": non_builtin(ops),
        "delegation": {key: {"ops": ops[key], "xnnpack": delegation[key],
                             "latency_us": latency[key]} for key in ops},
        "latency": {"batch_size": batch_size or 1, "calls": calls,
                    "statistic": "median microseconds per call"},
    }
