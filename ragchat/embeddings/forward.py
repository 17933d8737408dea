"""The forward pass of a BERT / XLM-RoBERTa encoder in NumPy, float32 throughout.

Texts are packed end to end, without padding: every matrix product runs over real tokens
only, and attention runs text by text over the text's own tokens (so no attention mask is
needed, and a text gets the same vector alone or in any batch). After attention, a layer
runs in blocks of rows: the output projection, both layer norms and the feed-forward block
with its GELU stay in the CPU cache and reuse their buffers. Fresh large temporaries are
what made the earlier version slow: each one costs a page fault per 4 KiB on first touch,
and its GELU alone took longer than all the matrix products.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ROWS = 128  # rows (tokens) per block after attention: a block's buffers stay in the cache
ERF_CLAMP = np.float32(4.0)  # |erf(x)| rounds to 1 in float32 beyond 4
# erf(x) = x P(x^2) / Q(x^2) on [-4, 4]: the rational approximation Eigen uses for float32
# (within 5e-7 of erf everywhere, tested against math.erf); multiplies and adds only.
ERF_P = tuple(np.float32(c) for c in (
    -2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06,
    -5.69250639462346e-05, -7.34990630326855e-04, -2.95459980854025e-03,
    -1.60960333262415e-02))
ERF_Q = tuple(np.float32(c) for c in (
    -1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03,
    -7.37332916720468e-03, -1.42647390514189e-02))
HALF, ONE, SQRT_HALF = np.float32(0.5), np.float32(1.0), np.float32(0.7071067811865476)


@dataclass(frozen=True)
class Layer:
    """One transformer layer's weights as contiguous (in, out) matrices, x @ W + b: the
    matrix products run 5-20 % faster than on the transposed (out, in) matrices as stored."""

    qkv: np.ndarray  # (hidden, 3 hidden): query (scaled by 1/sqrt(head size)), key, value
    qkv_bias: np.ndarray
    out: np.ndarray
    out_bias: np.ndarray
    norm1: tuple[np.ndarray, np.ndarray]  # layer norm after attention: weight, bias
    up: np.ndarray  # (hidden, intermediate)
    up_bias: np.ndarray
    down: np.ndarray  # (intermediate, hidden)
    down_bias: np.ndarray
    norm2: tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Model:
    heads: int
    eps: np.float32
    layers: tuple[Layer, ...]


def run_layers(model: Model, x: np.ndarray, lengths: list[int]) -> np.ndarray:
    """Every layer over packed texts x (tokens, hidden), in place; returns x."""
    tokens, hidden = x.shape
    qkv = np.empty((tokens, 3 * hidden), dtype=np.float32)
    context = np.empty((tokens, hidden), dtype=np.float32)
    longest = max(lengths)
    scores = np.empty(model.heads * longest * longest, dtype=np.float32)
    block = Block(min(ROWS, tokens), hidden, model.layers[0].up.shape[1])
    for layer in model.layers:
        np.matmul(x, layer.qkv, out=qkv)
        qkv += layer.qkv_bias
        attend(qkv, lengths, model.heads, context, scores)
        for start in range(0, tokens, ROWS):
            rows = slice(start, min(start + ROWS, tokens))
            block.run(layer, model.eps, x[rows], context[rows])
    return x


def attend(qkv: np.ndarray, lengths: list[int], heads: int, context: np.ndarray,
           buffer: np.ndarray) -> None:
    """Self-attention of each text over its own tokens, all heads at once."""
    hidden = context.shape[1]
    size = hidden // heads
    start = 0
    for length in lengths:
        rows = qkv[start:start + length].reshape(length, 3, heads, size)
        query, key, value = (np.ascontiguousarray(rows[:, i].transpose(1, 0, 2))
                             for i in range(3))
        scores = buffer[:heads * length * length].reshape(heads, length, length)
        np.matmul(query, key.transpose(0, 2, 1), out=scores)
        softmax_(scores)
        mixed = np.matmul(scores, value)  # (heads, length, size)
        context[start:start + length] = mixed.transpose(1, 0, 2).reshape(length, hidden)
        start += length


class Block:
    """Buffers for one block of rows after attention, reused by every block and layer."""

    def __init__(self, rows: int, hidden: int, inner: int) -> None:
        self.attended = np.empty((rows, hidden), dtype=np.float32)
        self.inner = np.empty((rows, inner), dtype=np.float32)
        self.scratch = tuple(np.empty((rows, inner), dtype=np.float32) for _ in range(3))

    def run(self, layer: Layer, eps: np.float32, x: np.ndarray, context: np.ndarray) -> None:
        """x (these rows) <- the layer's output, from its input x and attention's context."""
        n = len(x)
        attended, inner = self.attended[:n], self.inner[:n]
        np.matmul(context, layer.out, out=attended)
        attended += layer.out_bias
        attended += x
        layer_norm_(attended, *layer.norm1, eps)
        np.matmul(attended, layer.up, out=inner)
        inner += layer.up_bias
        gelu_(inner, *(buffer[:n] for buffer in self.scratch))
        np.matmul(inner, layer.down, out=x)
        x += layer.down_bias
        x += attended
        layer_norm_(x, *layer.norm2, eps)


def layer_norm_(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: np.float32) -> None:
    """LayerNorm over the last axis, in place."""
    x -= x.mean(-1, keepdims=True)
    variance = np.einsum("ij,ij->i", x, x) / np.float32(x.shape[-1])
    x *= (ONE / np.sqrt(variance + eps))[:, None]
    x *= weight
    x += bias


def softmax_(scores: np.ndarray) -> None:
    """Softmax over the last axis, in place."""
    scores -= scores.max(-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(-1, keepdims=True)


def gelu_(x: np.ndarray, z: np.ndarray, square: np.ndarray, erf: np.ndarray) -> None:
    """The exact (erf) GELU of BERT, 0.5 x (1 + erf(x / sqrt 2)), in place; z, square and
    erf are scratch buffers of x's shape."""
    np.multiply(x, SQRT_HALF, out=z)
    np.clip(z, -ERF_CLAMP, ERF_CLAMP, out=z)
    np.multiply(z, z, out=square)
    _polynomial(square, ERF_P, out=erf)
    erf *= z
    erf /= _polynomial(square, ERF_Q, out=z)
    erf *= HALF
    erf += HALF
    x *= erf


def _polynomial(x: np.ndarray, coefficients: tuple, out: np.ndarray) -> np.ndarray:
    """sum c_i x^(n-i) by Horner's rule, into out."""
    np.multiply(x, coefficients[0], out=out)
    for c in coefficients[1:-1]:
        out += c
        out *= x
    out += coefficients[-1]
    return out
