"""int8 quantization of an exported encoder graph: per-token (default) or per-tensor activations.

    coderag embedder export-onnx --model bundled --quantize int8                      # per-token
    coderag embedder export-onnx --model bundled --quantize int8 --int8-scheme per-tensor

Both schemes store every weight MatMul as int8 with one scale per output column and quantize the
activations at run time; they differ in how many scales the activations get:

* **per-tensor** is onnxruntime's `quantize_dynamic`: one scale for the whole activation tensor of
  a batch, so a token with a wide range coarsens every other token of the batch. Fastest, but on
  all-MiniLM-L6-v2 it changed 9% of the test questions' top-3 documents and cost the bundled
  Recall@3 4 points (0.077 → 0.036).
* **per-token** gives every token (row) its own scale, and first moves part of each input
  channel's range into the weights (SmoothQuant, Xiao et al. 2023: x·W = (x/s)·(s·W), with
  s = max|x|^α / max|W|^(1-α) calibrated on a few hundred corpus texts), so that outlier channels
  do not dominate a token's scale. Measured on the bundled model (benchmarks/compare_int8.py):
  top-3 agreement with torch 0.97, Recall@3 and MRR@10 equal to fp32, 2.4× torch docs/s (per-tensor:
  2.6×).

onnxruntime's quantizers have no per-token mode for MatMulInteger (MatMulNBits with
accuracy_level 4 quantizes activations per block and kept agreement at 0.99, but its 8-bit kernel
ran at only 1.4× torch here), so the per-token graph is written with standard ONNX operators plus
onnxruntime's MatMulIntegerToFloat: per row r, s_r = max|x_r| / 127, QuantizeLinear along axis 0
(zero point 128, uint8), MatMulIntegerToFloat(xq, Wq, a_scale = s_r as [rows, 1], b_scale = per
column). Matrices multiplying the same input (Q, K and V) share one quantized copy of it and run as
one wider MatMul whose output is split. The rewrite starts from the plain exported graph and
leaves the rest to onnxruntime's session-level fusions: starting from the transformer optimizer's
graph (attention fused into MultiHeadAttention) measured 2.0× torch instead of 2.4×.

Weights are rounded to 7 bits (±63, WEIGHT_LEVELS): without VNNI, onnxruntime's AVX2 u8×s8 kernel
adds pairs of products in int16 and saturates with full 8-bit weights (measured on an AMD EPYC
without VNNI: the bundled model's int8 mean cosine to torch fell to 0.994, and a numpy reference
disagreed on 8% of the outputs); with 7-bit weights the kernel is exact on every CPU, so the
parity `export-onnx` records on one machine holds on the others.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.encoders import batch_feed

SCHEMES = ("per-token", "per-tensor")
DEFAULT_SCHEME = "per-token"
SMOOTHING_ALPHA = 0.5
# Weights use 7 bits (±63): the u8×s8 kernels without VNNI (AVX2's vpmaddubsw) add two u8·s8
# products in int16, and 2·255·63 = 32130 fits where 2·255·127 = 64770 saturates (onnxruntime's
# `reduce_range` is the same remedy). Exact on every x86 CPU; measured in the README.
WEIGHT_LEVELS = 63
CALIBRATION_TEXTS = 320
MS_DOMAIN = "com.microsoft"


def calibration_texts(template: str = "question_sql", limit: int = CALIBRATION_TEXTS) -> list[str]:
    """Documents and questions of the bundled train split: the shapes of text the encoder serves."""
    from rag.corpus import load_bundled
    from rag.documents import render

    examples = load_bundled("train")
    texts = [render(ex, template) for ex in examples] + [ex.question for ex in examples]
    step = max(1, len(texts) // limit)
    return texts[::step][:limit]


def feeds(tokenizer: Any, texts: Sequence[str], batch_size: int = 32) -> list[dict[str, np.ndarray]]:
    """onnxruntime inputs for `texts`, batch by batch."""
    return [batch_feed(tokenizer, texts[start : start + batch_size]) for start in range(0, len(texts), batch_size)]


def per_tensor_int8(src: Path, dst: Path) -> None:
    """onnxruntime's dynamic quantization: int8 weights per column, one activation scale per tensor."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to pre-process first does not apply: shape inference fails on these graphs
    try:
        quantize_dynamic(src, dst, weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"])
    finally:
        root.setLevel(level)


def _weight_matmuls(graph: Any) -> dict[str, list[Any]]:
    """MatMuls whose second input is a 2-D initializer (the linear layers), grouped by their input tensor."""
    shapes = {init.name: tuple(init.dims) for init in graph.initializer}
    groups: dict[str, list[Any]] = {}
    for node in graph.node:
        if node.op_type == "MatMul" and len(shapes.get(node.input[1], ())) == 2:
            groups.setdefault(node.input[0], []).append(node)
    return groups


def channel_ranges(model: Any, tensors: Iterable[str], batches: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """max |x| per last-axis channel of each named tensor of `model` (an onnx ModelProto, left unchanged) over `batches` (real tokens only)."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    names = list(tensors)
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for name in names:
        probe.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(probe.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"])
    outputs = [o.name for o in session.get_outputs()]
    ranges: dict[str, np.ndarray] = {}
    for batch in batches:
        values = dict(zip(outputs, session.run(None, batch)))
        mask = batch["attention_mask"].astype(bool)
        for name in names:
            x = values[name]
            rows = x[mask] if x.ndim == 3 and x.shape[:2] == mask.shape else x.reshape(-1, x.shape[-1])
            ranges[name] = np.maximum(ranges.get(name, 0.0), np.abs(rows).max(axis=0))
    return ranges


def per_token_int8(
    src: Path,
    dst: Path,
    calibration: Sequence[dict[str, np.ndarray]] | None = None,
    *,
    alpha: float = SMOOTHING_ALPHA,
    weight_levels: int = WEIGHT_LEVELS,
) -> int:
    """Rewrite every weight MatMul of `src` as per-token int8 (module docstring); returns how many quantized MatMuls remain.

    With `calibration` batches, SmoothQuant scales with exponent `alpha` are folded into the
    weights and one Mul per input tensor divides the activations by them; without, no smoothing.
    Weights are rounded to ±`weight_levels` per column (WEIGHT_LEVELS: exact without VNNI too).
    """
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    if not any(o.domain == MS_DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    weights = {init.name: init for init in graph.initializer}
    groups = _weight_matmuls(graph)
    ranges = channel_ranges(model, groups, calibration) if calibration else {}
    added: list[Any] = []

    def constant(name: str, value: np.ndarray) -> str:
        added.append(numpy_helper.from_array(value, name))
        return name

    eps, levels, one_axis = (
        constant("pt_eps", np.array(1e-8, np.float32)),
        constant("pt_127", np.array(127.0, np.float32)),
        constant("pt_axis1", np.array([1], np.int64)),
    )
    zero_point, first, last = (
        constant("pt_zp", np.array(128, np.uint8)),
        constant("pt_0", np.array([0], np.int64)),
        constant("pt_m1", np.array([-1], np.int64)),
    )

    def row_reduce(op: str, x: str, out: str) -> Any:
        if opset >= 18:  # axes became an input in opset 18
            return helper.make_node(op, [x, one_axis], [out], keepdims=0)
        return helper.make_node(op, [x], [out], axes=[1], keepdims=0)

    first_of = {id(nodes[0]): x for x, nodes in groups.items()}
    grouped = {id(n) for nodes in groups.values() for n in nodes}
    rewritten: list[Any] = []
    count = 0
    for node in graph.node:
        if id(node) not in grouped:
            rewritten.append(node)
            continue
        if id(node) not in first_of:
            continue  # emitted with the first MatMul of its group
        x = first_of[id(node)]
        members = groups[x]
        p = f"pt{count}_"
        count += 1
        parts = [numpy_helper.to_array(weights[m.input[1]]).astype(np.float32) for m in members]
        w = np.concatenate(parts, axis=1)
        k, n = w.shape
        source = x
        if x in ranges:
            smooth = np.power(np.maximum(ranges[x], 1e-5), alpha) / np.power(np.maximum(np.abs(w).max(axis=1), 1e-5), 1 - alpha)
            w = w * smooth[:, None]
            rewritten.append(
                helper.make_node("Mul", [x, constant(p + "inv_smooth", (1.0 / smooth).astype(np.float32))], [p + "x"], name=p + "smooth")
            )
            source = p + "x"
        column_scale = (np.maximum(np.abs(w).max(axis=0), 1e-12) / weight_levels).astype(np.float32)
        quantized = np.clip(np.round(w / column_scale), -weight_levels, weight_levels).astype(np.int8)
        out = p + "y" if len(members) > 1 else members[0].output[0]
        rewritten += [
            helper.make_node("Reshape", [source, constant(p + "rows", np.array([-1, k], np.int64))], [p + "x2"]),
            row_reduce("ReduceMax", p + "x2", p + "max"),
            row_reduce("ReduceMin", p + "x2", p + "min"),
            helper.make_node("Neg", [p + "min"], [p + "neg_min"]),
            helper.make_node("Max", [p + "max", p + "neg_min", eps], [p + "absmax"]),
            helper.make_node("Div", [p + "absmax", levels], [p + "row_scale"]),
            helper.make_node("Shape", [p + "row_scale"], [p + "count"]),
            helper.make_node("ConstantOfShape", [p + "count"], [p + "row_zp"], value=numpy_helper.from_array(np.array([128], np.uint8))),
            helper.make_node("QuantizeLinear", [p + "x2", p + "row_scale", p + "row_zp"], [p + "xq"], axis=0),
            helper.make_node("Unsqueeze", [p + "row_scale", one_axis], [p + "a_scale"]),
            helper.make_node(
                "MatMulIntegerToFloat",
                [p + "xq", constant(p + "wq", quantized), p + "a_scale", constant(p + "w_scale", column_scale), zero_point],
                [p + "y2"],
                name=p + "matmul",
                domain=MS_DOMAIN,
            ),
            helper.make_node("Shape", [x], [p + "in_shape"]),
            helper.make_node("Slice", [p + "in_shape", first, last], [p + "lead"]),
            helper.make_node("Concat", [p + "lead", constant(p + "cols", np.array([n], np.int64))], [p + "out_shape"], axis=0),
            helper.make_node("Reshape", [p + "y2", p + "out_shape"], [out]),
        ]
        if len(members) > 1:
            sizes = constant(p + "split", np.array([part.shape[1] for part in parts], np.int64))
            rewritten.append(helper.make_node("Split", [out, sizes], [m.output[0] for m in members], axis=-1))
    del graph.node[:]
    graph.node.extend(rewritten)
    referenced = {name for node in graph.node for name in node.input}
    kept = [init for init in graph.initializer if init.name in referenced]
    del graph.initializer[:]
    graph.initializer.extend(kept + [a for a in added if a.name in referenced])
    onnx.save(model, str(dst))
    return sum(1 for node in graph.node if node.op_type == "MatMulIntegerToFloat")


def half_lookup_tables(path: Path, min_elements: int = 1 << 20) -> list[str]:
    """Store the large float tables that Gather looks rows up in (the word embeddings) as fp16, with a
    Cast back to float after the lookup; rewrites `path` and returns the tables' names.

    The word-embedding table is half of a MiniLM-sized model; it is looked up, never multiplied, so
    fp16 rounding (about 1e-3 relative) changes the embeddings far less than the int8 MatMuls do.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    tables = {
        init.name: init for init in graph.initializer if init.data_type == TensorProto.FLOAT and int(np.prod(init.dims)) >= min_elements
    }
    lookups = [node for node in graph.node if node.op_type == "Gather" and node.input[0] in tables]
    users = {name for node in graph.node if node.op_type != "Gather" for name in node.input}
    halved = sorted({node.input[0] for node in lookups} - users)  # tables read by anything else stay float
    if not halved:
        return []
    for name in halved:
        tables[name].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tables[name]).astype(np.float16), name))
    rewritten: list[Any] = []
    for node in graph.node:
        rewritten.append(node)
        if node.op_type == "Gather" and node.input[0] in halved:
            output = node.output[0]
            node.output[0] = f"{output}_fp16"
            rewritten.append(helper.make_node("Cast", [node.output[0]], [output], to=TensorProto.FLOAT, name=f"{node.name}_to_float"))
    del graph.node[:]
    graph.node.extend(rewritten)
    onnx.save(model, str(path))
    return halved
