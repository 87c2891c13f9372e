#!/usr/bin/python3
"""Independent numpy forward pass of a Llama 4 text model, for golden logits.

Reads a Hugging Face Llama 4 checkpoint directory (config.json plus one or
more .safetensors files) and returns float64 logits for a token sequence,
computing the whole sequence at once with explicit masks and no KV cache.
It is written from the published architecture, not from brasa's C++:

- Layer structure, RMSNorm, SwiGLU MLPs: Hugging Face transformers
  `models/llama4/modeling_llama4.py` (Llama4TextDecoderLayer, Llama4TextMLP)
  and Meta's llama-models `models/llama4/model.py`.
- RoPE: both sources rotate adjacent pairs (x[2i], x[2i+1]) as one complex
  number (`view_as_complex` on a reshape to [..., -1, 2]), not the two halves
  of the head as in Hugging Face's Llama 3 code. Frequencies follow HF's
  llama3 `rope_scaling` from config.json (Meta's code fixes the original
  context at 8192 and low_freq_factor at 1; the config here sets both).
- QK norm: a weightless RMS norm with eps = rms_norm_eps over each head of q
  and k, after RoPE, in RoPE layers only and only when use_qk_norm is set.
- Temperature tuning: NoPE layers multiply q by
  log(floor((pos + 1) / floor_scale) + 1) * attn_scale + 1 (model.py and HF).
- Masks: RoPE layers ("chunked_attention") let a token see earlier tokens of
  its own attention_chunk_size-aligned chunk; NoPE layers are fully causal.
- MoE (moe.py, HF Llama4TextMoe): the router logits x @ W_router^T pick the
  top-k experts. Each chosen expert gets its input scaled by the sigmoid of
  its logit, and the shared expert's output is added to the routed sum.
- Layer i is MoE when (i + 1) % interleave_moe_layer_step == 0, else a dense
  MLP of width intermediate_size_mlp; layer i is NoPE when no_rope_layers[i]
  is 0.
- Weights: HF's fused expert tensors (`experts.gate_up_proj` [E, D, 2F] with
  the gate in the first half, `experts.down_proj` [E, F, D], both applied as
  x @ W) or one Linear per expert (`experts.N.{gate,up,down}_proj.weight`).
  FP8 E4M3 weights are decoded with a 256-entry table and multiplied by their
  `weight_scale` ([rows, 1], one scale per output row).

Everything is computed in float64 from the stored weights, so the output is
the exact-arithmetic answer for those weights up to float64 rounding.
"""

import json
import math
import os
import struct
import sys

import numpy as np

WEIGHT_PREFIXES = ("language_model.model.", "model.")


# --------------------------------------------------------------------------
# Checkpoint reading


def fp8_e4m3_table():
    """Return the float64 value of each of the 256 FP8 E4M3 ("fn") codes."""
    table = np.zeros(256, dtype=np.float64)
    for code in range(256):
        sign = -1.0 if code & 0x80 else 1.0
        exponent = (code >> 3) & 0xF
        mantissa = code & 0x7
        if exponent == 0xF and mantissa == 0x7:
            table[code] = np.nan
        elif exponent == 0:
            table[code] = sign * mantissa / 8.0 * 2.0**-6
        else:
            table[code] = sign * (1.0 + mantissa / 8.0) * 2.0 ** (exponent - 7)
    return table


FP8_TABLE = fp8_e4m3_table()


def decode_tensor(raw, dtype, shape):
    """Decode little-endian safetensors bytes into a float64 array."""
    if dtype == "F32":
        values = np.frombuffer(raw, dtype="<f4").astype(np.float64)
    elif dtype == "F64":
        values = np.frombuffer(raw, dtype="<f8").copy()
    elif dtype == "F16":
        values = np.frombuffer(raw, dtype="<f2").astype(np.float64)
    elif dtype == "BF16":
        bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        values = bits.view(np.float32).astype(np.float64)
    elif dtype == "F8_E4M3":
        values = FP8_TABLE[np.frombuffer(raw, dtype=np.uint8)]
    else:
        raise ValueError(f"unsupported safetensors dtype {dtype}")
    return values.reshape(shape)


def read_safetensors(path):
    """Return {name: (dtype, float64 array)} for every tensor in one file."""
    with open(path, "rb") as f:
        data = f.read()
    (header_size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_size])
    base = 8 + header_size
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = data[base + begin : base + end]
        tensors[name] = (info["dtype"], decode_tensor(raw, info["dtype"], info["shape"]))
    return tensors


def read_checkpoint(model_dir):
    """Read all safetensors files of a directory (sharded or not)."""
    index_path = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index_path):
        with open(index_path) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    tensors = {}
    for name in files:
        tensors.update(read_safetensors(os.path.join(model_dir, name)))
    return tensors


# --------------------------------------------------------------------------
# Math helpers


def rms_norm(x, eps, weight=None):
    y = x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)
    return y if weight is None else y * weight


def silu(x):
    return x / (1.0 + np.exp(-x))


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def rope_inverse_frequencies(head_dim, theta, rope_scaling):
    """Per-pair inverse frequencies, with llama3 scaling when configured."""
    inv_freq = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    if not rope_scaling:
        return inv_freq
    kind = rope_scaling.get("rope_type", rope_scaling.get("type"))
    if kind != "llama3":
        raise ValueError(f"unsupported rope_scaling type {kind}")
    factor = rope_scaling["factor"]
    low = rope_scaling["low_freq_factor"]
    high = rope_scaling["high_freq_factor"]
    original = rope_scaling["original_max_position_embeddings"]
    wavelen = 2.0 * math.pi / inv_freq
    low_freq_wavelen = original / low
    high_freq_wavelen = original / high

    # Long wavelengths are divided by factor, short ones kept, and the band
    # between them interpolated linearly in original / wavelen.
    scaled = np.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth = (original / wavelen - low) / (high - low)
    smoothed = (1.0 - smooth) * scaled / factor + smooth * scaled
    medium = (wavelen >= high_freq_wavelen) & (wavelen <= low_freq_wavelen)
    return np.where(medium, smoothed, scaled)


def apply_rope(x, positions, inv_freq):
    """Rotate adjacent pairs of x [T, heads, head_dim] by position * inv_freq."""
    angles = positions[:, None].astype(np.float64) * inv_freq[None, :]  # [T, head_dim / 2]
    cos = np.cos(angles)[:, None, :]
    sin = np.sin(angles)[:, None, :]
    even = x[..., 0::2]
    odd = x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = even * sin + odd * cos
    return out


def attention_mask(positions, chunk_size):
    """Boolean [T, T] mask: causal, and within one aligned chunk if chunk_size."""
    query = positions[:, None]
    key = positions[None, :]
    allowed = key <= query
    if chunk_size:
        allowed &= (key // chunk_size) == (query // chunk_size)
    return allowed


def logsumexp(row):
    top = np.max(row)
    return float(top + np.log(np.sum(np.exp(row - top))))


# --------------------------------------------------------------------------
# Model


class Llama4Reference:
    """Float64 Llama 4 text model built from a checkpoint directory."""

    def __init__(self, model_dir, overrides=None):
        with open(os.path.join(model_dir, "config.json")) as f:
            config = json.load(f)
        self.config = dict(config.get("text_config", config))
        self.config.update(overrides or {})
        self.weights = {}
        for name, (_, value) in read_checkpoint(model_dir).items():
            self.weights[self._strip_prefix(name)] = value
        self._fold_fp8_scales()

        c = self.config
        self.n_layers = c["num_hidden_layers"]
        self.n_heads = c["num_attention_heads"]
        self.n_kv_heads = c["num_key_value_heads"]
        self.head_dim = c.get("head_dim") or c["hidden_size"] // self.n_heads
        self.eps = c["rms_norm_eps"]
        self.inv_freq = rope_inverse_frequencies(self.head_dim, c["rope_theta"], c.get("rope_scaling"))
        interval = c.get("no_rope_layer_interval", 4)
        self.no_rope_layers = c.get("no_rope_layers") or [int((i + 1) % interval != 0) for i in range(self.n_layers)]
        self.lm_head = self.weights.get("lm_head.weight", self.weights["embed_tokens.weight"])

    @staticmethod
    def _strip_prefix(name):
        if name.startswith("language_model.lm_head."):
            return name[len("language_model.") :]
        for prefix in WEIGHT_PREFIXES:
            if name.startswith(prefix):
                return name[len(prefix) :]
        return name

    def _fold_fp8_scales(self):
        """Multiply each FP8 weight by its per-row weight_scale and drop the scale."""
        for name in [n for n in self.weights if n.endswith("weight_scale")]:
            scale = self.weights.pop(name)
            weight_name = name[: -len("_scale")]
            self.weights[weight_name] = self.weights[weight_name] * scale.reshape(-1, 1)

    def _w(self, name):
        return self.weights[name]

    def _mlp(self, x, prefix):
        gate = x @ self._w(prefix + "gate_proj.weight").T
        up = x @ self._w(prefix + "up_proj.weight").T
        return (silu(gate) * up) @ self._w(prefix + "down_proj.weight").T

    def _expert(self, x, prefix, expert):
        fused = prefix + "experts.gate_up_proj"
        if fused in self.weights:
            gate_up = x @ self.weights[fused][expert]  # [T, 2F]
            inter = gate_up.shape[1] // 2
            hidden = silu(gate_up[:, :inter]) * gate_up[:, inter:]
            return hidden @ self.weights[prefix + "experts.down_proj"][expert]
        return self._mlp(x, f"{prefix}experts.{expert}.")

    def _moe(self, x, prefix):
        c = self.config
        top_k = c["num_experts_per_tok"]
        router_logits = x @ self._w(prefix + "router.weight").T  # [T, E]
        out = self._mlp(x, prefix + "shared_expert.")
        for t in range(x.shape[0]):
            # A stable sort breaks ties by the lower expert index. Random weights make ties unlikely.
            chosen = np.argsort(-router_logits[t], kind="stable")[:top_k]
            for expert in chosen:
                score = sigmoid(router_logits[t, expert])
                out[t] += self._expert(x[t : t + 1] * score, prefix, int(expert))[0]
        return out

    def _attention(self, x, layer, positions):
        c = self.config
        prefix = f"layers.{layer}.self_attn."
        n_tokens = x.shape[0]
        q = (x @ self._w(prefix + "q_proj.weight").T).reshape(n_tokens, self.n_heads, self.head_dim)
        k = (x @ self._w(prefix + "k_proj.weight").T).reshape(n_tokens, self.n_kv_heads, self.head_dim)
        v = (x @ self._w(prefix + "v_proj.weight").T).reshape(n_tokens, self.n_kv_heads, self.head_dim)

        use_rope = bool(self.no_rope_layers[layer])
        if use_rope:
            q = apply_rope(q, positions, self.inv_freq)
            k = apply_rope(k, positions, self.inv_freq)
            if c.get("use_qk_norm"):
                q = rms_norm(q, self.eps)
                k = rms_norm(k, self.eps)
        elif c.get("attn_temperature_tuning"):
            scales = np.log(np.floor((positions + 1.0) / c["floor_scale"]) + 1.0) * c["attn_scale"] + 1.0
            q = q * scales[:, None, None]

        chunk = c.get("attention_chunk_size") if use_rope else None
        allowed = attention_mask(positions, chunk)
        group = self.n_heads // self.n_kv_heads
        out = np.empty((n_tokens, self.n_heads, self.head_dim))
        for head in range(self.n_heads):
            kv_head = head // group
            scores = (q[:, head, :] @ k[:, kv_head, :].T) / math.sqrt(self.head_dim)
            scores = np.where(allowed, scores, -np.inf)
            scores -= scores.max(axis=1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(axis=1, keepdims=True)
            out[:, head, :] = probs @ v[:, kv_head, :]
        return out.reshape(n_tokens, -1) @ self._w(prefix + "o_proj.weight").T

    def hidden_states(self, tokens):
        """Final normed hidden states [T, hidden] for tokens at positions 0..T-1."""
        c = self.config
        tokens = np.asarray(tokens, dtype=np.int64)
        positions = np.arange(len(tokens), dtype=np.int64)
        h = self._w("embed_tokens.weight")[tokens]
        step = c.get("interleave_moe_layer_step", 1)
        for layer in range(self.n_layers):
            prefix = f"layers.{layer}."
            h = h + self._attention(rms_norm(h, self.eps, self._w(prefix + "input_layernorm.weight")), layer, positions)
            normed = rms_norm(h, self.eps, self._w(prefix + "post_attention_layernorm.weight"))
            if (layer + 1) % step == 0:
                h = h + self._moe(normed, prefix + "feed_forward.")
            else:
                h = h + self._mlp(normed, prefix + "feed_forward.")
        return rms_norm(h, self.eps, self._w("norm.weight"))

    def logits(self, tokens):
        """Float64 logits [T, vocab_size], one row per position."""
        return self.hidden_states(tokens) @ self.lm_head.T


# --------------------------------------------------------------------------
# Self-checks: properties the math must have, independent of any other code.


def self_check(model_dir):
    """Run sanity checks on one checkpoint; raise AssertionError on failure."""
    reference = Llama4Reference(model_dir)
    c = reference.config
    chunk = c["attention_chunk_size"]
    floor_scale = c["floor_scale"]
    rng = np.random.default_rng(1)
    tokens = rng.integers(0, 200000, size=chunk + 8)
    logits = reference.logits(tokens)

    # Causality: a prefix gives the same rows as the full sequence.
    prefix = reference.logits(tokens[:10])
    assert np.allclose(prefix, logits[:10], rtol=0, atol=1e-9), "prefix rows differ from the full sequence"

    # The chunked mask matters only past the first chunk.
    unchunked = Llama4Reference(model_dir, {"attention_chunk_size": None}).logits(tokens)
    assert np.allclose(unchunked[:chunk], logits[:chunk], rtol=0, atol=1e-9), "chunking changed the first chunk"
    assert not np.allclose(unchunked[chunk:], logits[chunk:]), "chunking changed nothing past the first chunk"

    # Temperature tuning is exactly 1 below position floor_scale - 1.
    untuned = Llama4Reference(model_dir, {"attn_temperature_tuning": False}).logits(tokens)
    edge = floor_scale - 1
    if 0 in reference.no_rope_layers:
        assert np.allclose(untuned[:edge], logits[:edge], rtol=0, atol=1e-9), "tuning acted before floor_scale - 1"
        assert not np.allclose(untuned[edge:], logits[edge:]), "tuning did nothing from floor_scale - 1 on"

    # The fused expert layout and one Linear per expert give the same model.
    fused_names = [n for n in reference.weights if n.endswith("experts.gate_up_proj")]
    if fused_names:
        split = Llama4Reference(model_dir)
        for name in fused_names:
            prefix = name[: -len("gate_up_proj")]
            gate_up = split.weights.pop(name)
            down = split.weights.pop(prefix + "down_proj")
            inter = gate_up.shape[2] // 2
            for expert in range(gate_up.shape[0]):
                split.weights[f"{prefix}{expert}.gate_proj.weight"] = gate_up[expert, :, :inter].T
                split.weights[f"{prefix}{expert}.up_proj.weight"] = gate_up[expert, :, inter:].T
                split.weights[f"{prefix}{expert}.down_proj.weight"] = down[expert].T
        assert np.allclose(split.logits(tokens[:12]), logits[:12], rtol=0, atol=1e-9), "expert layouts disagree"

    # FP8 table: known codes of E4M3 "fn".
    assert FP8_TABLE[0x38] == 1.0, "FP8 0x38 must be 1"
    assert FP8_TABLE[0x7E] == 448.0, "FP8 0x7e must be the max, 448"
    assert FP8_TABLE[0x01] == 2.0**-9, "FP8 0x01 must be the smallest subnormal, 2^-9"
    assert FP8_TABLE[0xB8] == -1.0, "FP8 0xb8 must be -1"
    assert np.isnan(FP8_TABLE[0x7F]), "FP8 0x7f must be NaN"
    print(f"self-check passed: {model_dir}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print("usage: llama4_reference.py MODEL_DIR [TOKEN_ID ...]   (no token ids: run the self-checks)")
        sys.exit(2)
    if len(sys.argv) == 2:
        self_check(sys.argv[1])
    else:
        row = Llama4Reference(sys.argv[1]).logits([int(t) for t in sys.argv[2:]])[-1]
        print(json.dumps({"argmax": int(np.argmax(row)), "logsumexp": logsumexp(row)}))
