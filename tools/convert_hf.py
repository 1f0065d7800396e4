#!/usr/bin/env python3
"""convert_hf.py: Hugging Face Llama 4 checkpoint -> two GGUF files (text model + vision mmproj).

Input: a directory with config.json, *.safetensors (single file or sharded with an index) and
the tokenizer files (tokenizer.json, tokenizer_config.json, optionally chat_template.jinja /
chat_template.json). Output (llama.cpp layout, see docs/gguf-layout.md and llama4-spec.md §7):

  text:   general.architecture = llama4, tensors token_embd/blk.N.*/output_norm/output
          (+ rope_freqs.weight when config.rope_scaling is set), byte-level BPE vocabulary.
  mmproj: general.architecture = clip, clip.projector_type = llama4, v.* and mm.* tensors.

Transforms: no q/k permutation (Llama 4 rotates adjacent pairs, spec §2.4); MoE experts
gate_up_proj [E][D][2F] (x @ W orientation) split into gate = [..., :F] and up = [..., F:] and
transposed to [E][F][D]; down_proj [E][F][D] transposed to [E][D][F]; the router, norms, biases,
rope_freqs, class/position embeddings stay F32 whatever --outtype says.

Needs only numpy and the `gguf` package (reads safetensors itself, memory-mapped, one tensor or
one expert at a time, so Scout-size checkpoints convert in bounded memory).

Usage:
  convert_hf.py MODEL_DIR [--outtype f32|f16|bf16|q8_0] [--out-text F] [--out-mmproj F]
                [--no-mmproj] [--name NAME] [--chunk-size N] [--temp-floor N]
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np

try:
    import gguf
    from gguf import GGMLQuantizationType as QT
    import gguf.quants as gq
except ImportError:  # pragma: no cover
    sys.exit("convert_hf.py: the 'gguf' Python package is required (pip install gguf)")

DEFAULT_CHUNK = 8192
DEFAULT_FLOOR = 8192
DEFAULT_NOPE_INTERVAL = 4

OUTTYPES = {
    "f32": (QT.F32, 0),
    "f16": (QT.F16, 1),
    "q8_0": (QT.Q8_0, 7),
    "bf16": (QT.BF16, 32),
}

# token types (llama.cpp)
TT_NORMAL, TT_UNKNOWN, TT_CONTROL, TT_USER_DEFINED, TT_UNUSED, TT_BYTE = 1, 2, 3, 4, 5, 6


class ConvertError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# safetensors (read directly, memory-mapped)

_ST_DTYPES = {
    "F32": np.float32, "F16": np.float16, "BF16": np.uint16, "F64": np.float64,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8,
    "BOOL": np.bool_,
}


class SafeTensors:
    """All tensors of a checkpoint directory, by name; values are read lazily."""

    def __init__(self, model_dir):
        files = sorted(f for f in os.listdir(model_dir) if f.endswith(".safetensors"))
        if not files:
            raise ConvertError(f"{model_dir}: no *.safetensors files")
        self.entries = {}
        for f in files:
            path = os.path.join(model_dir, f)
            with open(path, "rb") as fp:
                (hlen,) = struct.unpack("<Q", fp.read(8))
                header = json.loads(fp.read(hlen))
            base = 8 + hlen
            for name, info in header.items():
                if name == "__metadata__":
                    continue
                if info["dtype"] not in _ST_DTYPES:
                    raise ConvertError(f"{path}: tensor {name}: unsupported dtype {info['dtype']}"
                                       " (quantized FP8/INT checkpoints are not supported)")
                if name in self.entries:
                    raise ConvertError(f"tensor {name} appears in two safetensors files")
                b0, b1 = info["data_offsets"]
                self.entries[name] = (path, info["dtype"], tuple(info["shape"]), base + b0, b1 - b0)
        self._maps = {}

    def names(self):
        return list(self.entries)

    def shape(self, name):
        return self.entries[name][2]

    def dtype(self, name):
        return self.entries[name][1]

    def raw(self, name):
        """Memory-mapped array in the file's dtype (BF16 as uint16)."""
        path, dt, shape, off, nbytes = self.entries[name]
        npdt = np.dtype(_ST_DTYPES[dt])
        count = int(np.prod(shape)) if shape else 1
        if count * npdt.itemsize != nbytes:
            raise ConvertError(f"{path}: tensor {name}: size mismatch")
        if path not in self._maps:
            self._maps[path] = np.memmap(path, dtype=np.uint8, mode="r")
        buf = self._maps[path][off:off + nbytes]
        return buf.view(npdt).reshape(shape)

    def f32(self, name, index=None):
        """float32 copy of the tensor (or of tensor[index] for a leading-axis index)."""
        a = self.raw(name)
        if index is not None:
            a = a[index]
        if self.dtype(name) == "BF16":
            return (np.asarray(a, dtype=np.uint32) << 16).view(np.float32)
        return np.asarray(a, dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# config

def load_config(model_dir):
    path = os.path.join(model_dir, "config.json")
    try:
        with open(path) as fp:
            cfg = json.load(fp)
    except OSError as e:
        raise ConvertError(f"{path}: {e.strerror}")
    archs = cfg.get("architectures") or []
    mtype = cfg.get("model_type", "")
    ok_arch = any(a in ("Llama4ForConditionalGeneration", "Llama4ForCausalLM") for a in archs)
    if not (ok_arch or mtype in ("llama4", "llama4_text")):
        raise ConvertError(
            f"{path}: not a Llama 4 checkpoint (architectures={archs}, model_type={mtype!r}); "
            "this converter only handles Llama4ForConditionalGeneration / Llama4ForCausalLM")
    if mtype == "llama4_text" or ("text_config" not in cfg and "hidden_size" in cfg):
        text, vision = cfg, None
    else:
        text, vision = cfg.get("text_config"), cfg.get("vision_config")
        if text is None:
            raise ConvertError(f"{path}: model_type llama4 without text_config")
    return cfg, text, vision


def text_hparams(t):
    """Normalized text hyper-parameters (HF Llama4TextConfig defaults where absent)."""
    g = lambda k, d=None: t.get(k, d)  # noqa: E731
    L = g("num_hidden_layers", 48)
    hp = {
        "vocab_size": g("vocab_size", 202048),
        "hidden": g("hidden_size", 5120),
        "n_layer": L,
        "n_head": g("num_attention_heads", 40),
        "n_head_kv": g("num_key_value_heads", None) or g("num_attention_heads", 40),
        "ff_expert": g("intermediate_size", 8192),
        "ff_dense": g("intermediate_size_mlp", 16384),
        "ctx": g("max_position_embeddings", 4096 * 32),
        "eps": g("rms_norm_eps", 1e-5),
        "theta": g("rope_theta", 500000.0),
        "n_expert": g("num_local_experts", 16),
        "n_expert_used": g("num_experts_per_tok", 1),
        "step": g("interleave_moe_layer_step", 1),
        "use_qk_norm": bool(g("use_qk_norm", True)),
        "rope_scaling": g("rope_scaling", None),
        "chunk": g("attention_chunk_size", DEFAULT_CHUNK),
        "floor": g("floor_scale", DEFAULT_FLOOR),
        "attn_scale": g("attn_scale", 0.1),
        "temp_tuning": bool(g("attn_temperature_tuning", True)),
        "tie": bool(g("tie_word_embeddings", False)),
    }
    hp["head_dim"] = g("head_dim", None) or hp["hidden"] // hp["n_head"]
    if hp["n_expert_used"] != 1:
        raise ConvertError(f"num_experts_per_tok={hp['n_expert_used']}: Llama 4 routes top-1 only")
    moe = g("moe_layers", None)
    std_moe = list(range(hp["step"] - 1, L, hp["step"]))
    if moe is not None and list(moe) != std_moe:
        raise ConvertError(f"moe_layers={moe} is not the interleave_moe_layer_step={hp['step']} "
                           "pattern; GGUF cannot express it")
    interval = g("no_rope_layer_interval", DEFAULT_NOPE_INTERVAL)
    nrl = g("no_rope_layers", None) or [int((i + 1) % interval != 0) for i in range(L)]
    std = [int((i + 1) % DEFAULT_NOPE_INTERVAL != 0) for i in range(L)]
    if list(nrl)[:L] != std:
        raise ConvertError(f"no_rope_layers={nrl} is not 'every 4th layer is NoPE'; the GGUF layout "
                           "hard-codes that pattern")
    if hp["chunk"] is None:
        raise ConvertError("attention_chunk_size is null (no chunked attention): not supported")
    return hp


def rope_freq_factors(hp):
    """llama3 rope scaling as per-pair divisors (spec §2.4): f_i' = f_i / factor_i."""
    rs = hp["rope_scaling"]
    dim = hp["head_dim"]
    # inverse frequencies exactly as HF computes them (fp32)
    idx = np.arange(0, dim, 2, dtype=np.int64).astype(np.float32) / np.float32(dim)
    inv = (1.0 / (np.float32(hp["theta"]) ** idx)).astype(np.float32)
    factor = float(rs.get("factor", 8.0))
    low = float(rs.get("low_freq_factor", 1.0))
    high = float(rs.get("high_freq_factor", 4.0))
    old = float(rs.get("original_max_position_embeddings", 8192))
    out = np.empty(dim // 2, dtype=np.float32)
    for i, f in enumerate(inv.astype(np.float64)):
        wavelen = 2.0 * math.pi / f
        if wavelen < old / high:
            out[i] = 1.0
        elif wavelen > old / low:
            out[i] = factor
        else:
            smooth = (old / wavelen - low) / (high - low)
            out[i] = 1.0 / ((1.0 - smooth) / factor + smooth)
    return out


# ---------------------------------------------------------------------------------------------
# tokenizer

def _bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def load_tokenizer(model_dir, vocab_size):
    tj_path = os.path.join(model_dir, "tokenizer.json")
    if not os.path.exists(tj_path):
        raise ConvertError(f"{model_dir}: tokenizer.json missing")
    with open(tj_path, encoding="utf-8") as fp:
        tj = json.load(fp)
    model = tj.get("model", {})
    if model.get("type") != "BPE":
        raise ConvertError(f"{tj_path}: model type {model.get('type')!r}, expected byte-level BPE")
    tokens = [None] * vocab_size
    types = [TT_UNUSED] * vocab_size
    for tok, i in model["vocab"].items():
        if i >= vocab_size:
            raise ConvertError(f"{tj_path}: token id {i} >= vocab_size {vocab_size}")
        tokens[i] = tok
        types[i] = TT_NORMAL
    for at in tj.get("added_tokens", []):
        i = at["id"]
        if i >= vocab_size:
            raise ConvertError(f"{tj_path}: added token id {i} >= vocab_size {vocab_size}")
        tokens[i] = at["content"]
        types[i] = TT_CONTROL if at.get("special", False) else TT_USER_DEFINED
    for i in range(vocab_size):
        if tokens[i] is None:
            tokens[i] = f"[PAD{i}]"
    merges = []
    for m in model.get("merges", []):
        merges.append(m if isinstance(m, str) else " ".join(m))

    cfg = {}
    tc_path = os.path.join(model_dir, "tokenizer_config.json")
    if os.path.exists(tc_path):
        with open(tc_path, encoding="utf-8") as fp:
            cfg = json.load(fp)
    ids = {t: i for i, t in enumerate(tokens)}

    def tok_id(key, fallback):
        v = cfg.get(key, fallback)
        if isinstance(v, dict):
            v = v.get("content")
        if v is None:
            return None
        if v not in ids:
            raise ConvertError(f"{tc_path}: {key} {v!r} is not in the vocabulary")
        return ids[v]

    bos = tok_id("bos_token", "<|begin_of_text|>")
    eos = tok_id("eos_token", "<|eot|>")
    pad = tok_id("pad_token", None)
    template = None
    for name in ("chat_template.jinja",):
        p = os.path.join(model_dir, name)
        if os.path.exists(p):
            with open(p, encoding="utf-8") as fp:
                template = fp.read()
    if template is None:
        p = os.path.join(model_dir, "chat_template.json")
        if os.path.exists(p):
            with open(p, encoding="utf-8") as fp:
                template = json.load(fp).get("chat_template")
    if template is None:
        template = cfg.get("chat_template")
    if isinstance(template, list):  # [{"name":..., "template":...}]
        template = next((t["template"] for t in template if t.get("name") == "default"),
                        template[0]["template"])
    return {"tokens": tokens, "types": types, "merges": merges, "bos": bos, "eos": eos,
            "pad": pad, "add_bos": True, "chat_template": template}


# ---------------------------------------------------------------------------------------------
# tensor plans

class Item:
    """One output tensor: name, numpy shape (row-major, i.e. reversed ggml ne), a producer that
    returns float32 chunks along axis 0 (a generator), and the ggml type."""

    def __init__(self, name, shape, produce, qtype):
        self.name, self.shape, self.produce, self.qtype = name, tuple(shape), produce, qtype


def _choose(qtype_out, shape, keep_f32):
    if keep_f32 or len(shape) < 2:
        return QT.F32
    if qtype_out == QT.Q8_0 and shape[-1] % 32 != 0:
        return QT.F16
    return qtype_out


def _nbytes(shape, qt):
    n = int(np.prod(shape))
    bs, ts = gguf.GGML_QUANT_SIZES[qt]
    return n // bs * ts


def _encode(a, qt):
    a = np.ascontiguousarray(a, dtype=np.float32)
    if qt == QT.F32:
        return a
    if qt == QT.F16:
        return a.astype(np.float16)
    return gq.quantize(a, qt)


class Planner:
    def __init__(self, st, prefix_map):
        self.st = st
        self.used = set()
        self.prefix_map = prefix_map

    def find(self, name):
        for p in self.prefix_map:
            if p + name in self.st.entries:
                return p + name
        return None

    def need(self, name):
        full = self.find(name)
        if full is None:
            raise ConvertError(f"checkpoint lacks tensor {self.prefix_map[0] + name}")
        self.used.add(full)
        return full

    def plain(self, out, hf, qt_out, keep_f32=False, expect=None):
        full = self.need(hf)
        shape = self.st.shape(full)
        if expect is not None and tuple(shape) != tuple(expect):
            raise ConvertError(f"{full}: shape {shape}, expected {tuple(expect)}")
        qt = _choose(qt_out, shape, keep_f32)
        st = self.st

        def produce():
            n = int(np.prod(shape))
            if len(shape) < 2 or n <= (1 << 25):
                yield st.f32(full)
                return
            step = max(1, (1 << 25) // int(np.prod(shape[1:])))  # bounded memory for big tensors
            for r in range(0, shape[0], step):
                yield st.f32(full, slice(r, r + step))
        return Item(out, shape, produce, qt)


def plan_text(st, hp, qt_out):
    pl = Planner(st, ["language_model.", "model.language_model.", ""])
    D, L, E = hp["hidden"], hp["n_layer"], hp["n_expert"]
    hd, H, Hkv = hp["head_dim"], hp["n_head"], hp["n_head_kv"]
    F, Fd, V = hp["ff_expert"], hp["ff_dense"], hp["vocab_size"]
    items = []
    if hp["rope_scaling"] is not None:
        rf = rope_freq_factors(hp)
        items.append(Item("rope_freqs.weight", rf.shape, lambda: iter([rf]), QT.F32))
    items.append(pl.plain("token_embd.weight", "model.embed_tokens.weight", qt_out, expect=(V, D)))
    for i in range(L):
        p = f"model.layers.{i}."
        b = f"blk.{i}."
        items.append(pl.plain(b + "attn_norm.weight", p + "input_layernorm.weight", qt_out, True, (D,)))
        items.append(pl.plain(b + "attn_q.weight", p + "self_attn.q_proj.weight", qt_out, expect=(H * hd, D)))
        items.append(pl.plain(b + "attn_k.weight", p + "self_attn.k_proj.weight", qt_out, expect=(Hkv * hd, D)))
        items.append(pl.plain(b + "attn_v.weight", p + "self_attn.v_proj.weight", qt_out, expect=(Hkv * hd, D)))
        items.append(pl.plain(b + "attn_output.weight", p + "self_attn.o_proj.weight", qt_out, expect=(D, H * hd)))
        items.append(pl.plain(b + "ffn_norm.weight", p + "post_attention_layernorm.weight", qt_out, True, (D,)))
        moe = (i + 1) % hp["step"] == 0
        if moe:
            items.append(pl.plain(b + "ffn_gate_inp.weight", p + "feed_forward.router.weight", qt_out, True, (E, D)))
            items.extend(plan_experts(pl, st, p + "feed_forward.experts.", b, E, D, F, qt_out))
            items.append(pl.plain(b + "ffn_gate_shexp.weight", p + "feed_forward.shared_expert.gate_proj.weight", qt_out, expect=(F, D)))
            items.append(pl.plain(b + "ffn_up_shexp.weight", p + "feed_forward.shared_expert.up_proj.weight", qt_out, expect=(F, D)))
            items.append(pl.plain(b + "ffn_down_shexp.weight", p + "feed_forward.shared_expert.down_proj.weight", qt_out, expect=(D, F)))
        else:
            items.append(pl.plain(b + "ffn_gate.weight", p + "feed_forward.gate_proj.weight", qt_out, expect=(Fd, D)))
            items.append(pl.plain(b + "ffn_up.weight", p + "feed_forward.up_proj.weight", qt_out, expect=(Fd, D)))
            items.append(pl.plain(b + "ffn_down.weight", p + "feed_forward.down_proj.weight", qt_out, expect=(D, Fd)))
    items.append(pl.plain("output_norm.weight", "model.norm.weight", qt_out, True, (D,)))
    if pl.find("lm_head.weight") is not None:
        items.append(pl.plain("output.weight", "lm_head.weight", qt_out, expect=(V, D)))
    elif hp["tie"]:
        items.append(pl.plain("output.weight", "model.embed_tokens.weight", qt_out, expect=(V, D)))
    else:
        raise ConvertError("checkpoint lacks lm_head.weight and tie_word_embeddings is false")
    return items, pl.used


def plan_experts(pl, st, p, b, E, D, F, qt_out):
    """HF fused experts (gate_up_proj [E][D][2F], down_proj [E][F][D], x @ W orientation) or
    per-expert Linears (experts.{e}.{gate,up,down}_proj.weight [out][in])."""
    fused = pl.find(p + "gate_up_proj")
    shape_gu, shape_d = (E, F, D), (E, D, F)
    qt_gu = _choose(qt_out, shape_gu, False)
    qt_d = _choose(qt_out, shape_d, False)
    if fused is not None:
        gu = pl.need(p + "gate_up_proj")
        dn = pl.need(p + "down_proj")
        if st.shape(gu) != (E, D, 2 * F):
            raise ConvertError(f"{gu}: shape {st.shape(gu)}, expected {(E, D, 2 * F)}")
        if st.shape(dn) != (E, F, D):
            raise ConvertError(f"{dn}: shape {st.shape(dn)}, expected {(E, F, D)}")

        def gate():
            for e in range(E):
                yield st.f32(gu, e)[:, :F].T[None]

        def up():
            for e in range(E):
                yield st.f32(gu, e)[:, F:].T[None]

        def down():
            for e in range(E):
                yield st.f32(dn, e).T[None]
    else:
        names = {}
        for e in range(E):
            for w, shp in (("gate", (F, D)), ("up", (F, D)), ("down", (D, F))):
                n = pl.need(f"{p}{e}.{w}_proj.weight")
                if st.shape(n) != shp:
                    raise ConvertError(f"{n}: shape {st.shape(n)}, expected {shp}")
                names[(w, e)] = n

        def per(w):
            def gen():
                for e in range(E):
                    yield st.f32(names[(w, e)])[None]
            return gen
        gate, up, down = per("gate"), per("up"), per("down")
    return [Item(b + "ffn_gate_exps.weight", shape_gu, gate, qt_gu),
            Item(b + "ffn_up_exps.weight", shape_gu, up, qt_gu),
            Item(b + "ffn_down_exps.weight", shape_d, down, qt_d)]


def vision_hparams(v, text_hidden):
    g = lambda k, d=None: v.get(k, d)  # noqa: E731
    hp = {
        "hidden": g("hidden_size", 768), "n_layer": g("num_hidden_layers", 34),
        "n_head": g("num_attention_heads", 16), "ff": g("intermediate_size", 5632),
        "image_size": g("image_size", 448), "patch": g("patch_size", 14),
        "eps": g("norm_eps", 1e-5), "ratio": g("pixel_shuffle_ratio", 0.5),
        "proj_in": g("projector_input_dim", 4096), "proj_out": g("projector_output_dim", 4096),
        "out_dim": g("vision_output_dim", 7680), "channels": g("num_channels", 3),
        "rope_theta": g("rope_theta", 10000), "text_hidden": text_hidden,
    }
    if g("multi_modal_projector_bias", False):
        raise ConvertError("multi_modal_projector_bias=true is not Llama 4's layout")
    return hp


def plan_vision(st, hp, qt_out):
    pl = Planner(st, ["vision_model.", "model.vision_model."])
    pm = Planner(st, ["multi_modal_projector.", "model.multi_modal_projector."])
    Dv, ff, C, P = hp["hidden"], hp["ff"], hp["channels"], hp["patch"]
    n_pos = (hp["image_size"] // P) ** 2 + 1
    items = [
        pl.plain("v.patch_embd.weight", "patch_embedding.linear.weight", qt_out, expect=(Dv, C * P * P)),
        pl.plain("v.class_embd", "class_embedding", qt_out, True, (Dv,)),
        pl.plain("v.position_embd.weight", "positional_embedding_vlm", qt_out, True, (n_pos, Dv)),
        pl.plain("v.pre_ln.weight", "layernorm_pre.weight", qt_out, True, (Dv,)),
        pl.plain("v.pre_ln.bias", "layernorm_pre.bias", qt_out, True, (Dv,)),
    ]
    for i in range(hp["n_layer"]):
        p = f"model.layers.{i}."
        b = f"v.blk.{i}."
        for o, h in (("attn_q", "q_proj"), ("attn_k", "k_proj"), ("attn_v", "v_proj"), ("attn_out", "o_proj")):
            items.append(pl.plain(b + o + ".weight", p + "self_attn." + h + ".weight", qt_out, expect=(Dv, Dv)))
            items.append(pl.plain(b + o + ".bias", p + "self_attn." + h + ".bias", qt_out, True, (Dv,)))
        for o, h in (("ln1", "input_layernorm"), ("ln2", "post_attention_layernorm")):
            items.append(pl.plain(b + o + ".weight", p + h + ".weight", qt_out, True, (Dv,)))
            items.append(pl.plain(b + o + ".bias", p + h + ".bias", qt_out, True, (Dv,)))
        items.append(pl.plain(b + "ffn_up.weight", p + "mlp.fc1.weight", qt_out, expect=(ff, Dv)))
        items.append(pl.plain(b + "ffn_up.bias", p + "mlp.fc1.bias", qt_out, True, (ff,)))
        items.append(pl.plain(b + "ffn_down.weight", p + "mlp.fc2.weight", qt_out, expect=(Dv, ff)))
        items.append(pl.plain(b + "ffn_down.bias", p + "mlp.fc2.bias", qt_out, True, (Dv,)))
    items.append(pl.plain("v.post_ln.weight", "layernorm_post.weight", qt_out, True, (Dv,)))
    items.append(pl.plain("v.post_ln.bias", "layernorm_post.bias", qt_out, True, (Dv,)))
    shuffled = int(round(Dv / (hp["ratio"] ** 2)))
    items.append(pl.plain("mm.model.mlp.1.weight", "vision_adapter.mlp.fc1.weight", qt_out,
                          expect=(hp["proj_in"], shuffled)))
    items.append(pl.plain("mm.model.mlp.2.weight", "vision_adapter.mlp.fc2.weight", qt_out,
                          expect=(hp["proj_out"], hp["proj_out"])))
    items.append(pm.plain("mm.model.fc.weight", "linear_1.weight", qt_out,
                          expect=(hp["text_hidden"], hp["out_dim"])))
    return items, pl.used | pm.used


# ---------------------------------------------------------------------------------------------
# writing

def write_gguf(path, arch, kvs, items):
    """kvs: list of (key, kind, value) with kind in u32/f32/bool/str/arr_str/arr_i32/arr_f32.
    Tensors are streamed: one producer chunk in memory at a time."""
    w = gguf.GGUFWriter(path, arch)
    add = {
        "u32": w.add_uint32, "f32": w.add_float32, "bool": w.add_bool, "str": w.add_string,
    }
    for key, kind, val in kvs:
        if key == "general.architecture":
            continue
        if kind in add:
            add[kind](key, val)
        elif kind == "arr_str":
            w.add_array(key, list(val))
        elif kind == "arr_i32":
            w.add_key_value(key, list(val), gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.INT32)
        elif kind == "arr_f32":
            w.add_key_value(key, [float(x) for x in val], gguf.GGUFValueType.ARRAY,
                            gguf.GGUFValueType.FLOAT32)
        else:
            raise AssertionError(kind)
    for it in items:
        nb = _nbytes(it.shape, it.qtype)
        if it.qtype == QT.F32:
            w.add_tensor_info(it.name, it.shape, np.dtype(np.float32), nb)
        elif it.qtype == QT.F16:
            w.add_tensor_info(it.name, it.shape, np.dtype(np.float16), nb)
        else:
            byte_shape = gq.quant_shape_to_byte_shape(it.shape, it.qtype)
            w.add_tensor_info(it.name, byte_shape, np.dtype(np.uint8), nb, raw_dtype=it.qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    fout = w.fout[0]
    align = w.data_alignment
    for it in items:
        pad = (-fout.tell()) % align
        fout.write(b"\0" * pad)
        written = 0
        rows = 0
        for chunk in it.produce():
            chunk = np.asarray(chunk, dtype=np.float32)
            if chunk.shape[1:] != it.shape[1:]:
                raise ConvertError(f"{it.name}: internal shape mismatch {chunk.shape} vs {it.shape}")
            if not np.all(np.isfinite(chunk)):
                raise ConvertError(f"{it.name}: non-finite values in the checkpoint")
            enc = _encode(chunk, it.qtype)
            fout.write(enc.tobytes())
            written += enc.nbytes
            rows += chunk.shape[0]
        if rows != it.shape[0] or written != _nbytes(it.shape, it.qtype):
            raise ConvertError(f"{it.name}: wrote {written} bytes, expected "
                               f"{_nbytes(it.shape, it.qtype)}")
        fout.write(b"\0" * ((-written) % align))
    w.close()


def text_kvs(hp, tok, name, ftype, quantized, args):
    kv = [
        ("general.architecture", "str", "llama4"),
        ("general.type", "str", "model"),
        ("general.name", "str", name),
        ("llama4.block_count", "u32", hp["n_layer"]),
        ("llama4.context_length", "u32", hp["ctx"]),
        ("llama4.embedding_length", "u32", hp["hidden"]),
        ("llama4.feed_forward_length", "u32", hp["ff_dense"]),
        ("llama4.attention.head_count", "u32", hp["n_head"]),
        ("llama4.attention.head_count_kv", "u32", hp["n_head_kv"]),
        ("llama4.rope.freq_base", "f32", float(hp["theta"])),
        ("llama4.attention.layer_norm_rms_epsilon", "f32", float(hp["eps"])),
        ("llama4.expert_count", "u32", hp["n_expert"]),
        ("llama4.expert_used_count", "u32", hp["n_expert_used"]),
        ("llama4.attention.key_length", "u32", hp["head_dim"]),
        ("llama4.attention.value_length", "u32", hp["head_dim"]),
        ("general.file_type", "u32", ftype),
        ("llama4.vocab_size", "u32", hp["vocab_size"]),
        ("llama4.rope.dimension_count", "u32", hp["head_dim"]),
        ("llama4.interleave_moe_layer_step", "u32", hp["step"]),
        ("llama4.expert_feed_forward_length", "u32", hp["ff_expert"]),
        ("tokenizer.ggml.model", "str", "gpt2"),
        ("tokenizer.ggml.pre", "str", "llama4"),
        ("tokenizer.ggml.tokens", "arr_str", tok["tokens"]),
        ("tokenizer.ggml.token_type", "arr_i32", tok["types"]),
        ("tokenizer.ggml.merges", "arr_str", tok["merges"]),
    ]
    if tok["bos"] is not None:
        kv.append(("tokenizer.ggml.bos_token_id", "u32", tok["bos"]))
    if tok["eos"] is not None:
        kv.append(("tokenizer.ggml.eos_token_id", "u32", tok["eos"]))
    if tok["pad"] is not None:
        kv.append(("tokenizer.ggml.padding_token_id", "u32", tok["pad"]))
    kv.append(("tokenizer.ggml.add_bos_token", "bool", tok["add_bos"]))
    if tok["chat_template"]:
        kv.append(("tokenizer.chat_template", "str", tok["chat_template"]))
    if quantized:
        kv.append(("general.quantization_version", "u32", gguf.GGML_QUANT_VERSION))
    # Herd's own keys (docs/gguf-layout.md): absent in llama.cpp files, which means 8192.
    chunk = args.chunk_size if args.chunk_size is not None else hp["chunk"]
    floor = args.temp_floor if args.temp_floor is not None else hp["floor"]
    if args.chunk_size is not None or chunk != DEFAULT_CHUNK:
        kv.append(("llama4.attention.chunk_size", "u32", int(chunk)))
    if args.temp_floor is not None or floor != DEFAULT_FLOOR:
        kv.append(("llama4.attention.temperature_floor_scale", "u32", int(floor)))
    kv.append(("llama4.attention.temperature_scale", "f32",
               float(hp["attn_scale"]) if hp["temp_tuning"] else 0.0))
    kv.append(("llama4.use_qk_norm", "bool", hp["use_qk_norm"]))
    return kv


def vision_kvs(vp, name, ftype, quantized):
    kv = [
        ("general.architecture", "str", "clip"),
        ("general.type", "str", "mmproj"),
        ("general.name", "str", name),
        ("general.file_type", "u32", ftype),
        ("clip.has_vision_encoder", "bool", True),
        ("clip.vision.projection_dim", "u32", vp["text_hidden"]),
        ("clip.vision.image_size", "u32", vp["image_size"]),
        ("clip.vision.patch_size", "u32", vp["patch"]),
        ("clip.vision.embedding_length", "u32", vp["hidden"]),
        ("clip.vision.feed_forward_length", "u32", vp["ff"]),
        ("clip.vision.block_count", "u32", vp["n_layer"]),
        ("clip.vision.attention.head_count", "u32", vp["n_head"]),
        ("clip.vision.image_mean", "arr_f32", [0.5, 0.5, 0.5]),
        ("clip.vision.image_std", "arr_f32", [0.5, 0.5, 0.5]),
        ("clip.projector_type", "str", "llama4"),
        ("clip.vision.attention.layer_norm_epsilon", "f32", float(vp["eps"])),
        ("clip.vision.projector.scale_factor", "u32", int(round(1.0 / vp["ratio"]))),
        ("clip.use_gelu", "bool", True),
    ]
    if quantized:
        kv.append(("general.quantization_version", "u32", gguf.GGML_QUANT_VERSION))
    return kv


def convert(args):
    cfg, tcfg, vcfg = load_config(args.model_dir)
    hp = text_hparams(tcfg)
    qt_out, ftype = OUTTYPES[args.outtype]
    quantized = qt_out not in (QT.F32, QT.F16, QT.BF16)
    name = args.name or os.path.basename(os.path.normpath(args.model_dir))
    st = SafeTensors(args.model_dir)
    tok = load_tokenizer(args.model_dir, hp["vocab_size"])

    t_items, used = plan_text(st, hp, qt_out)
    v_items = []
    if vcfg is not None and not args.no_mmproj:
        vp = vision_hparams(vcfg, hp["hidden"])
        if vp["image_size"] != 336 or vp["patch"] != 14:
            print(f"convert_hf.py: warning: image_size {vp['image_size']} / patch {vp['patch']} "
                  "differ from Llama 4's 336 / 14", file=sys.stderr)
        v_items, vused = plan_vision(st, vp, qt_out)
        used |= vused
    leftovers = [n for n in st.names() if n not in used]
    if args.no_mmproj or vcfg is None:
        leftovers = [n for n in leftovers if "vision_model." not in n and
                     "multi_modal_projector." not in n]
    if leftovers:
        raise ConvertError(f"{len(leftovers)} checkpoint tensors have no GGUF name, e.g. "
                           f"{leftovers[:5]}")

    out_text = args.out_text or os.path.join(args.model_dir, f"{name}-{args.outtype}.gguf")
    write_gguf(out_text, "llama4", text_kvs(hp, tok, name, ftype, quantized, args), t_items)
    print(f"wrote {out_text} ({len(t_items)} tensors)")
    if v_items:
        out_mm = args.out_mmproj or os.path.join(args.model_dir, f"mmproj-{name}-{args.outtype}.gguf")
        write_gguf(out_mm, "clip", vision_kvs(vp, name, ftype, quantized), v_items)
        print(f"wrote {out_mm} ({len(v_items)} tensors)")


def main(argv=None):
    ap = argparse.ArgumentParser(description="Convert a Hugging Face Llama 4 checkpoint to GGUF "
                                 "(text model + mmproj)")
    ap.add_argument("model_dir")
    ap.add_argument("--outtype", choices=sorted(OUTTYPES), default="f32")
    ap.add_argument("--out-text", help="text GGUF path (default MODEL_DIR/NAME-OUTTYPE.gguf)")
    ap.add_argument("--out-mmproj", help="mmproj GGUF path (default MODEL_DIR/mmproj-NAME-OUTTYPE.gguf)")
    ap.add_argument("--no-mmproj", action="store_true", help="skip the vision tower")
    ap.add_argument("--name", help="general.name (default: the directory name)")
    ap.add_argument("--chunk-size", type=int, help="write llama4.attention.chunk_size (default: "
                    "config attention_chunk_size, written only if not 8192)")
    ap.add_argument("--temp-floor", type=int, help="write llama4.attention.temperature_floor_scale "
                    "(default: config floor_scale, written only if not 8192)")
    args = ap.parse_args(argv)
    try:
        convert(args)
    except ConvertError as e:
        print(f"convert_hf.py: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
