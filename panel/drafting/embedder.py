"""all-MiniLM-L6-v2 on ONNX Runtime, without torch: sentence embeddings for panel diversity.

The weights come from the model package's ``model.safetensors``. The BERT encoder (its
``config.json``: layers, heads, GELU, LayerNorm epsilon) is written here as an ONNX graph
by a small protobuf writer: the ``onnx`` package alone takes about a second to import.

Its linear layers run in int8 (ONNX Runtime's DynamicQuantizeMatMul: activations
quantised per tensor at run time, weights here with one scale per output column): about
2.5x less CPU than float32, cosines within 0.05 of sentence-transformers' (the collapse
threshold is calibrated on this runtime: see diversity.py). Weights use 7 bits, so the
u8 x s8 products never saturate on CPUs without VNNI: the same numbers everywhere.

One ``encode`` is one run: a Loop embeds each text alone (no padding; and since
activations are quantised per tensor, a text's vector never depends on the others).
Tokens are cut at the folder's ``max_seq_length``; pooling is its ``1_Pooling`` (the mean
of the token vectors), then L2 normalisation.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

Vectors = NDArray[np.float32]

# ONNX enums (onnx.proto): tensor element types, attribute types.
_FLOAT, _INT8, _INT64, _BOOL = 1, 3, 7, 9
_ATTR_FLOAT, _ATTR_INT, _ATTR_GRAPH, _ATTR_INTS = 1, 2, 5, 7
_ELEMENT = {np.dtype(np.float32): _FLOAT, np.dtype(np.int8): _INT8, np.dtype(np.int64): _INT64}
_OPSETS = {"": 17, "com.microsoft": 1}
_IR_VERSION = 8
WEIGHT_LEVELS = 63
"""int8 weights in [-63, 63]: 255 x 63 x 2 fits in int16, so VPMADDUBSW never saturates."""


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # a negative int64 as its two's complement
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _int(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def _bytes(field: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _attribute(name: str, value: float | int | list[int] | bytes) -> bytes:
    """An AttributeProto: a float, an int, a list of ints, or a subgraph (bytes)."""
    if isinstance(value, bytes):
        return _bytes(1, name) + _bytes(6, value) + _int(20, _ATTR_GRAPH)
    if isinstance(value, list):
        return _bytes(1, name) + b"".join(_int(8, v) for v in value) + _int(20, _ATTR_INTS)
    if isinstance(value, float):
        f = _varint(2 << 3 | 5) + struct.pack("<f", value)
        return _bytes(1, name) + f + _int(20, _ATTR_FLOAT)
    return _bytes(1, name) + _int(3, value) + _int(20, _ATTR_INT)


def _tensor(name: str, array: NDArray[Any]) -> bytes:
    """A TensorProto with its data inline (little-endian)."""
    dims = b"".join(_int(1, d) for d in array.shape)
    raw = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
    return dims + _int(2, _ELEMENT[array.dtype]) + _bytes(8, name) + _bytes(9, raw)


def _value_info(name: str, element: int, dims: Iterable[int | str]) -> bytes:
    """A ValueInfoProto: a tensor's name, element type and shape (str: a named dimension)."""
    shape = b"".join(_bytes(1, _bytes(2, d) if isinstance(d, str) else _int(1, d)) for d in dims)
    return _bytes(1, name) + _bytes(2, _bytes(1, _int(1, element) + _bytes(2, shape)))


class _Graph:
    """An ONNX graph being written: its nodes (outputs named ``prefix``, op, count) and
    initializers."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.nodes: list[bytes] = []
        self.initializers: list[bytes] = []

    def const(self, name: str, array: NDArray[Any]) -> str:
        self.initializers.append(_tensor(name, array))
        return name

    def node(self, op: str, inputs: list[str], domain: str = "", **attrs: Any) -> str:
        output = f"{self.prefix}{op}_{len(self.nodes)}"
        self.add(op, inputs, [output], domain, **attrs)
        return output

    def add(
        self, op: str, inputs: list[str], outputs: list[str], domain: str = "", **attrs: Any
    ) -> None:
        self.nodes.append(
            b"".join(_bytes(1, i) for i in inputs)
            + b"".join(_bytes(2, o) for o in outputs)
            + _bytes(4, op)
            + b"".join(_bytes(5, _attribute(k, v)) for k, v in attrs.items())
            + _bytes(7, domain)
        )

    def graph(self, name: str, inputs: list[bytes], outputs: list[bytes]) -> bytes:
        return (
            b"".join(_bytes(1, n) for n in self.nodes)
            + _bytes(2, name)
            + b"".join(_bytes(5, t) for t in self.initializers)
            + b"".join(_bytes(11, i) for i in inputs)
            + b"".join(_bytes(12, o) for o in outputs)
        )


def quantised(weight: Vectors) -> tuple[NDArray[np.int8], Vectors]:
    """A linear layer's ``[in, out]`` weight in int8, with one symmetric scale per column."""
    scale = np.maximum(np.abs(weight).max(axis=0), 1e-12) / WEIGHT_LEVELS
    return np.round(weight / scale).astype(np.int8), scale.astype(np.float32)


def encoder_model(weights: dict[str, Vectors], config: dict[str, Any]) -> bytes:
    """The encoder as a serialised ONNX model: word embeddings in, a unit vector per text out.

    Inputs: ``words`` (the word embeddings of the texts' tokens, end to end: the 47 MB
    table stays in numpy), ``starts`` and ``ends`` (each text's slice of them) and
    ``count`` (how many texts); output ``vectors``.
    """
    outer = _Graph("")  # the weights and the Loop
    g = _Graph("t_")  # the Loop's body: one text
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    const = outer.const

    def dense(x: str, name: str, weight: Vectors, bias: Vectors) -> str:
        levels, scale = quantised(np.ascontiguousarray(weight.T))
        zero = np.zeros(scale.shape, np.int8)
        inputs = [const(name + ".q", levels), const(name + ".scale", scale)]
        inputs += [const(name + ".zero", zero), const(name + ".bias", bias)]
        return g.node("DynamicQuantizeMatMul", [x, *inputs], "com.microsoft")

    def linear(x: str, name: str) -> str:
        return dense(x, name, weights[name + ".weight"], weights[name + ".bias"])

    def norm(x: str, name: str) -> str:
        gamma = const(name + ".weight", weights[name + ".weight"])
        beta = const(name + ".bias", weights[name + ".bias"])
        epsilon = float(config["layer_norm_eps"])
        return g.node("LayerNormalization", [x, gamma, beta], axis=-1, epsilon=epsilon)

    first = const("first", np.array([0], np.int64))
    at = g.node("Unsqueeze", ["i", first])
    start, end = g.node("Gather", ["starts", at]), g.node("Gather", ["ends", at])
    words = g.node("Slice", ["words", start, end])
    table = const("positions", weights["embeddings.position_embeddings.weight"])
    positions = g.node("Slice", [table, first, g.node("Shape", [words], end=1)])
    token_type = const("token_type", weights["embeddings.token_type_embeddings.weight"][0])
    summed = g.node("Add", [g.node("Add", [words, positions]), token_type])
    x = norm(g.node("Unsqueeze", [summed, first]), "embeddings.LayerNorm")
    for i in range(int(config["num_hidden_layers"])):
        layer = f"encoder.layer.{i}."
        qkv = [f"{layer}attention.self.{part}" for part in ("query", "key", "value")]
        weight = np.concatenate([weights[n + ".weight"] for n in qkv])
        packed = dense(
            x, layer + "qkv", weight, np.concatenate([weights[n + ".bias"] for n in qkv])
        )
        parts = [f"{g.prefix}{layer}{part}" for part in "qkv"]
        sizes = const(layer + "sizes", np.array([hidden] * 3, np.int64))
        g.add("Split", [packed, sizes], parts, axis=-1)
        attended = g.node("MultiHeadAttention", parts, "com.microsoft", num_heads=heads)
        x = g.node("Add", [linear(attended, layer + "attention.output.dense"), x])
        x = norm(x, layer + "attention.output.LayerNorm")
        inner = g.node("Gelu", [linear(x, layer + "intermediate.dense")], "com.microsoft")
        x = norm(
            g.node("Add", [linear(inner, layer + "output.dense"), x]), layer + "output.LayerNorm"
        )
    mean = g.node("ReduceMean", [x], axes=[0, 1], keepdims=0)
    unit = g.node("Div", [mean, g.node("ReduceL2", [mean], keepdims=1)])
    body = g.graph(
        "text",
        [_value_info("i", _INT64, []), _value_info("cond", _BOOL, [])],
        [_value_info(g.node("Identity", ["cond"]), _BOOL, []), _value_info(unit, _FLOAT, [hidden])],
    )
    outer.add("Loop", ["count", ""], ["vectors"], body=body)
    graph = outer.graph(
        "all-MiniLM-L6-v2",
        [
            _value_info("words", _FLOAT, ["tokens", hidden]),
            _value_info("starts", _INT64, ["texts"]),
            _value_info("ends", _INT64, ["texts"]),
            _value_info("count", _INT64, []),
        ],
        [_value_info("vectors", _FLOAT, ["texts", hidden])],
    )
    opsets = b"".join(_bytes(8, _bytes(1, d) + _int(2, v)) for d, v in _OPSETS.items())
    return _int(1, _IR_VERSION) + _bytes(2, "panel") + _bytes(7, graph) + opsets


class Embedder:
    """all-MiniLM-L6-v2 from its sentence-transformers folder, on ONNX Runtime's CPU."""

    def __init__(self, folder: Path) -> None:
        import onnxruntime
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((folder / "config.json").read_text())
        pipeline = json.loads((folder / "sentence_bert_config.json").read_text())
        weights = load_file(str(folder / "model.safetensors"))
        self.words = weights.pop("embeddings.word_embeddings.weight")
        model = encoder_model(weights, config)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # one core: the other keeps the event loop going
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(
            model, options, providers=["CPUExecutionProvider"]
        )
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()  # tokenizer.json pads to 128; each text runs alone
        self.tokenizer.enable_truncation(int(pipeline["max_seq_length"]))

    def encode(self, texts: list[str]) -> Vectors:
        """Unit-length embeddings of ``texts``, one row each (whitespace-stripped first)."""
        if not texts:
            return np.empty((0, self.words.shape[1]), np.float32)
        encodings = self.tokenizer.encode_batch([text.strip() for text in texts])
        lengths = np.array([len(e.ids) for e in encodings], np.int64)
        ends = np.cumsum(lengths)
        feed = {
            "words": self.words[np.concatenate([np.array(e.ids, np.int64) for e in encodings])],
            "starts": ends - lengths,
            "ends": ends,
            "count": np.array(len(texts), np.int64),
        }
        (vectors,) = self.session.run(["vectors"], feed)
        return np.asarray(vectors, np.float32)
