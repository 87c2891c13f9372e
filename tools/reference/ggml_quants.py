#!/usr/bin/python3
"""Reference Q8_0 and Q4_0 quantizers in numpy, written from GGML's block layout.

GGML (ggml-common.h) stores both types in blocks of 32 weights:
  block_q8_0: F16 scale d, then 32 int8 quants qs;        x = d * qs[i]
  block_q4_0: F16 scale d, then 16 bytes of 4-bit quants; x = d * (q - 8),
              weight j in the low nibble of byte j and weight j + 16 in its high nibble.
The reference quantizers (ggml-quants.c, quantize_row_q8_0_ref and
quantize_row_q4_0_ref) pick d = max|x| / 127 with q = roundf(x / d) for Q8_0,
and d = m / -8 with q = min(15, (int8)(x / d + 8.5)) for Q4_0, where m is the
value of largest magnitude with its sign. x / d is computed as x * (1 / d) in
F32 from the F32 d, before d is rounded to F16.

Usage: ggml_quants.py quantize|dequantize q8_0|q4_0 INPUT OUTPUT
  quantize:   INPUT is raw little-endian F32, OUTPUT receives the blocks.
  dequantize: INPUT is blocks, OUTPUT receives raw F32.
"""

import sys

import numpy as np

QK = 32


def round_half_away(x32):
    """C's roundf on F32 values, computed exactly in F64."""
    x = x32.astype(np.float64)
    return np.trunc(x + np.copysign(0.5, x))


def quantize_q8_0(x):
    blocks = x.reshape(-1, QK).astype(np.float32)
    amax = np.abs(blocks).max(axis=1)
    d = (amax / np.float32(127)).astype(np.float32)
    with np.errstate(divide="ignore"):
        inv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    q = round_half_away((blocks * inv[:, None]).astype(np.float32)).astype(np.int8)
    out = np.zeros((blocks.shape[0], 34), dtype=np.uint8)
    out[:, 0:2] = d.astype(np.float16).view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q.view(np.uint8)
    return out.tobytes()


def quantize_q4_0(x):
    blocks = x.reshape(-1, QK).astype(np.float32)
    # The first element of largest magnitude, keeping its sign.
    index = np.argmax(np.abs(blocks), axis=1)
    m = blocks[np.arange(blocks.shape[0]), index]
    d = (m / np.float32(-8)).astype(np.float32)
    with np.errstate(divide="ignore"):
        inv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    shifted = ((blocks * inv[:, None]).astype(np.float32) + np.float32(8.5)).astype(np.float32)
    q = np.minimum(15, np.trunc(shifted).astype(np.int64)).astype(np.uint8)
    packed = q[:, : QK // 2] | (q[:, QK // 2 :] << 4)
    out = np.zeros((blocks.shape[0], 18), dtype=np.uint8)
    out[:, 0:2] = d.astype(np.float16).view(np.uint8).reshape(-1, 2)
    out[:, 2:] = packed
    return out.tobytes()


def dequantize_q8_0(data):
    blocks = np.frombuffer(data, dtype=np.uint8).reshape(-1, 34)
    d = blocks[:, 0:2].copy().view(np.float16).astype(np.float32)
    q = blocks[:, 2:].copy().view(np.int8).astype(np.float32)
    return (d * q).astype(np.float32).reshape(-1).tobytes()


def dequantize_q4_0(data):
    blocks = np.frombuffer(data, dtype=np.uint8).reshape(-1, 18)
    d = blocks[:, 0:2].copy().view(np.float16).astype(np.float32)
    qs = blocks[:, 2:]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8
    return (d * q).astype(np.float32).reshape(-1).tobytes()


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in ("quantize", "dequantize") or sys.argv[2] not in ("q8_0", "q4_0"):
        sys.exit(__doc__)
    action, kind, source, target = sys.argv[1:]
    with open(source, "rb") as f:
        data = f.read()
    if action == "quantize":
        values = np.frombuffer(data, dtype=np.float32)
        result = quantize_q8_0(values) if kind == "q8_0" else quantize_q4_0(values)
    else:
        result = dequantize_q8_0(data) if kind == "q8_0" else dequantize_q4_0(data)
    with open(target, "wb") as f:
        f.write(result)


if __name__ == "__main__":
    main()
