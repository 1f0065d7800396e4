#!/usr/bin/env python3
"""make_fixtures.py: reference fixtures from Hugging Face transformers for Herd's C tests.

Builds small random Llama4ForConditionalGeneration models (fixed seeds, CPU, float32, eager
attention), converts them with tools/convert_hf.py, and writes into tests/fixtures/:
GGUFs, prompts and logits, images with the HF image processor's output, vision embeddings,
a multimodal prompt, weight checksums/samples for tests/test-convert.c, and manifest.json.
See docs/fixtures.md. Never run by CI (CI has no torch).

Usage:
  /work/venv/bin/python tools/make_fixtures.py [--out tests/fixtures] [--work /tmp/herd-fixtures]
         [--compare OTHER_OUT]     # compare with an earlier run, record differences in the manifest
  /work/venv/bin/python tools/make_fixtures.py --scout-check /tmp/scout   # converter at Scout width
"""

import argparse
import hashlib
import json
import math
import os
import shutil
import sys

import numpy as np

TOOLS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(TOOLS, ".."))
sys.path.insert(0, TOOLS)
import llama4_vocab as lv  # noqa: E402
import convert_hf  # noqa: E402

import torch  # noqa: E402

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

import PIL  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402
import transformers  # noqa: E402
from transformers import (Llama4Config, Llama4ForConditionalGeneration,  # noqa: E402
                          PreTrainedTokenizerFast)
from transformers.models.llama4.image_processing_llama4_fast import Llama4ImageProcessorFast  # noqa: E402
from transformers.models.llama4.processing_llama4 import Llama4Processor, chat_template  # noqa: E402
import tokenizers  # noqa: E402
from tokenizers import Regex, decoders, models, pre_tokenizers, processors  # noqa: E402

BOS, EOT, EOM, EOTEXT, PAD = 1024, 1032, 1031, 1025, 1042
IMG_START, IMG_END, IMG, PATCH = 1104, 1105, 1114, 1116

VISION = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256,
              image_size=336, patch_size=14, norm_eps=1e-5, pixel_shuffle_ratio=0.5,
              projector_input_dim=128, projector_output_dim=128, vision_output_dim=128,
              rope_theta=10000, multi_modal_projector_bias=False, num_channels=3,
              vision_feature_select_strategy="default", hidden_act="gelu")

MODELS = {
    # RoPE + NoPE layers, dense + MoE (step 2), chunk 32 < prompt, floor 16 < prompt, QK-norm,
    # llama3 rope scaling with one pair in the smooth band (high_freq_factor 4).
    "tiny": dict(seed=1001, text=dict(
        vocab_size=3072, hidden_size=128, intermediate_size=128, intermediate_size_mlp=256,
        num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, head_dim=32,
        max_position_embeddings=4096, rms_norm_eps=1e-5, rope_theta=500000.0,
        num_local_experts=4, num_experts_per_tok=1, interleave_moe_layer_step=2,
        use_qk_norm=True, attention_chunk_size=32, floor_scale=16, attn_scale=0.1,
        attn_temperature_tuning=True,
        rope_scaling={"rope_type": "llama3", "factor": 16.0, "low_freq_factor": 1.0,
                      "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})),
    # Scout-like all-MoE, Maverick-like QK-norm off (with 4 experts: the GGUF key must say so),
    # no rope scaling, GQA group 4, head_dim 16, other theta, chunk 24, floor 12.
    "moe": dict(seed=2002, text=dict(
        vocab_size=3072, hidden_size=64, intermediate_size=64, intermediate_size_mlp=128,
        num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=1, head_dim=16,
        max_position_embeddings=2048, rms_norm_eps=1e-5, rope_theta=100000.0,
        num_local_experts=4, num_experts_per_tok=1, interleave_moe_layer_step=1,
        use_qk_norm=False, attention_chunk_size=24, floor_scale=12, attn_scale=0.1,
        attn_temperature_tuning=True, rope_scaling=None)),
}

LONG_TEXT = (
    "Llamas are domesticated South American camelids, widely used as meat and pack animals by "
    "Andean cultures since the pre-Columbian era. They are social animals and live with others "
    "as a herd. Their wool is soft and contains only a small amount of lanolin. Llamas can "
    "learn simple tasks after a few repetitions. When using a pack, they can carry about 25 to "
    "30% of their body weight for 8 to 13 km."
)

TEXT_PROMPTS = [
    # name, kind, text, rows to keep per model ("all" or "last:N")
    ("en", "bos+text", "The quick brown fox jumps over the lazy dog. Llamas live in the Andes.",
     {"tiny": "all", "moe": "last:1"}),
    ("chat", "chat", "What is the capital of France?", {"tiny": "all", "moe": "last:1"}),
    ("long", "bos+text", LONG_TEXT, {"tiny": "all", "moe": "stride:4"}),
    ("code", "bos+text", "def f(x):\n\tif x > 0:\n\t\treturn x * 2\n\treturn -x\n\nprint(f(21))\n",
     {"tiny": "last:4", "moe": "last:1"}),
    ("bos", "bos", "", {"tiny": "last:1", "moe": "last:1"}),
]


# ---------------------------------------------------------------------------------------------
# helpers

def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as fp:
        for b in iter(lambda: fp.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def save_f32(path, arr):
    a = np.ascontiguousarray(np.asarray(arr, dtype=np.float32))
    a.tofile(path)
    return list(a.shape)


class Manifest:
    def __init__(self, out):
        self.out = out
        self.files = {}

    def add(self, rel, what, **kw):
        self.files[rel] = dict(what=what, **kw)


# ---------------------------------------------------------------------------------------------
# tokenizer

def build_tokenizer(ranks, model_dir):
    vocab_strs, merges = lv.vocab_and_merges(ranks, lv.TINY_BASE)
    specials = lv.special_tokens()
    vocab = {t: i for i, t in enumerate(vocab_strs)}
    bpe = models.BPE(vocab=vocab, merges=merges, ignore_merges=True, fuse_unk=False,
                     byte_fallback=False)
    tok = tokenizers.Tokenizer(bpe)
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(lv.PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tok.add_special_tokens([tokenizers.AddedToken(s, special=True, normalized=False)
                            for s in specials])
    tok.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A $B:1",
        special_tokens=[("<|begin_of_text|>", BOS)])
    for i, s in enumerate(specials):
        assert tok.token_to_id(s) == lv.TINY_BASE + i
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|begin_of_text|>",
                                 eos_token="<|eot|>", pad_token="<|finetune_right_pad|>",
                                 chat_template=chat_template, model_max_length=4096)
    hf.save_pretrained(model_dir)
    return hf


# ---------------------------------------------------------------------------------------------
# models

def make_model(name, spec):
    text = dict(spec["text"], bos_token_id=BOS, eos_token_id=[EOTEXT, EOM, EOT], pad_token_id=PAD,
                tie_word_embeddings=False)
    cfg = Llama4Config(vision_config=dict(VISION), text_config=text, boi_token_index=IMG_START,
                       eoi_token_index=IMG_END, image_token_index=PATCH, tie_word_embeddings=False)
    torch.manual_seed(spec["seed"])
    model = Llama4ForConditionalGeneration._from_config(cfg, attn_implementation="eager",
                                                         dtype=torch.float32)
    model.eval()
    rng = np.random.default_rng(spec["seed"])
    D = cfg.text_config.hidden_size
    with torch.no_grad():
        for pname, p in model.named_parameters():
            shp = tuple(p.shape)
            base = pname.split(".")[-1]
            if pname.endswith("embed_tokens.weight"):
                std, mean = 1.0, 0.0
            elif pname.endswith("lm_head.weight"):
                std, mean = 2.0 / math.sqrt(D), 0.0
            elif ("norm" in pname or "layernorm" in pname) and base == "weight":
                std, mean = 0.1, 1.0
            elif base == "bias":
                std, mean = 0.02, 0.0
            elif base == "class_embedding":
                std, mean = 1.0, 0.0
            elif base == "positional_embedding_vlm":
                std, mean = 0.5, 0.0
            elif base == "gate_up_proj":          # [E][D][2F], x @ W
                std, mean = 1.0 / math.sqrt(shp[1]), 0.0
            elif base == "down_proj" and len(shp) == 3:   # [E][F][D], x @ W
                std, mean = 1.0 / math.sqrt(shp[1]), 0.0
            elif len(shp) == 2:                   # Linear [out][in]
                std, mean = 1.0 / math.sqrt(shp[1]), 0.0
            else:
                raise AssertionError(f"no init rule for {pname} {shp}")
            v = rng.standard_normal(shp) * std + mean
            p.copy_(torch.from_numpy(v.astype(np.float32)))
    assert model.config.text_config._attn_implementation == "eager"
    assert model.config.vision_config._attn_implementation == "eager"
    return model, cfg


class RouterProbe:
    """Records the top-1/top-2 router-logit margin of every token in every MoE layer."""

    def __init__(self, model):
        self.rows = []
        self.hooks = []
        for i, layer in enumerate(model.language_model.model.layers):
            if getattr(layer, "is_moe_layer", False):
                self.hooks.append(layer.feed_forward.router.register_forward_hook(self._hook(i)))

    def _hook(self, i):
        def f(mod, inp, out):
            logits = out[1].detach().float()
            top = torch.topk(logits, 2, dim=-1).values
            self.rows.append((i, (top[:, 0] - top[:, 1]).numpy()))
        return f

    def reset(self):
        self.rows = []

    def summary(self):
        if not self.rows:
            return None
        best = min(((float(m.min()), i, int(m.argmin())) for i, m in self.rows))
        close = sorted({int(p) for _, m in self.rows for p in np.nonzero(m < 0.01)[0]})
        return {"min_top2_margin": best[0], "layer": best[1], "position": best[2],
                "positions_with_margin_below_0.01": close}

    def close(self):
        for h in self.hooks:
            h.remove()


def rows_spec(spec, n):
    if spec == "all":
        return list(range(n))
    if spec.startswith("stride:"):
        k = int(spec.split(":")[1])
        return sorted(set(list(range(k - 1, n, k)) + [n - 1]))
    k = int(spec.split(":")[1])
    return list(range(max(0, n - k), n))


# ---------------------------------------------------------------------------------------------
# images

def draw_images():
    imgs = {}

    def base(w, h, seed):
        x = np.linspace(0, 1, w, dtype=np.float64)[None, :]
        y = np.linspace(0, 1, h, dtype=np.float64)[:, None]
        r = 255 * (0.15 + 0.7 * x) * np.ones_like(y)
        g = 255 * (0.1 + 0.8 * y) * np.ones_like(x)
        b = 255 * (0.5 + 0.4 * np.sin(seed + 6.0 * x) * np.ones_like(y))
        a = np.stack([r, g, b], -1).clip(0, 255).round().astype(np.uint8)
        im = Image.fromarray(a, "RGB")
        d = ImageDraw.Draw(im)
        m = min(w, h)
        d.ellipse([w * 0.1, h * 0.1, w * 0.1 + m * 0.4, h * 0.1 + m * 0.4], fill=(250, 240, 20),
                  outline=(0, 0, 0), width=max(1, m // 60))
        d.rectangle([w * 0.55, h * 0.5, w * 0.9, h * 0.85], fill=(20, 30, 200))
        d.polygon([(w * 0.2, h * 0.9), (w * 0.45, h * 0.55), (w * 0.6, h * 0.95)], fill=(220, 30, 40))
        for k in range(6):
            yy = int(h * (0.05 + 0.15 * k))
            d.line([(int(w * 0.6), yy), (int(w * 0.95), yy + k)], fill=(255, 255, 255),
                   width=max(1, m // 100))
        return im

    imgs["portrait"] = base(240, 400, 1)
    imgs["landscape"] = base(640, 360, 2)
    imgs["tiny"] = base(50, 30, 3)
    imgs["square"] = base(336, 336, 4)
    imgs["large"] = base(2000, 1500, 5)
    rgba = base(200, 120, 6).convert("RGBA")
    a = np.array(rgba)
    yy, xx = np.mgrid[0:120, 0:200]
    a[..., 3] = np.clip(255 * (xx / 199.0), 0, 255).astype(np.uint8)
    a[40:80, 60:140, 3] = 0
    imgs["rgba"] = Image.fromarray(a, "RGBA")
    return imgs


def white_composite(im):
    """Meta's RGBA handling (llama4-spec.md §3.1 step 0): alpha-composite over white."""
    if im.mode != "RGBA":
        return im.convert("RGB")
    bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
    bg.alpha_composite(im)
    return bg.convert("RGB")


def bf16_lut(ip):
    """HF's rescale+normalize (in bfloat16) for every 8-bit value, as float32."""
    u = torch.arange(256, dtype=torch.uint8).view(1, 1, 1, 256).expand(1, 3, 1, 256).contiguous()
    v = ip.rescale_and_normalize(u, True, ip.rescale_factor, True, ip.image_mean, ip.image_std)
    lut = v[0, 0, 0].float().numpy()
    assert np.array_equal(lut, v[0, 1, 0].float().numpy())
    return lut


# ---------------------------------------------------------------------------------------------
# independent numpy forward (text), from the converted GGUF: cross-checks HF and the converter

def numpy_forward(gguf_path, ids, hp):
    import gguf
    r = gguf.GGUFReader(gguf_path)
    T = {}
    for t in r.tensors:
        a = np.array(t.data)
        if t.tensor_type != gguf.GGMLQuantizationType.F32:
            a = gguf.quants.dequantize(a, t.tensor_type)
        T[t.name] = a.astype(np.float64).reshape([int(x) for x in reversed(t.shape)])
    D, H, Hkv, hd = hp["hidden_size"], hp["num_attention_heads"], hp["num_key_value_heads"], hp["head_dim"]
    eps, chunk, floor = hp["rms_norm_eps"], hp["attention_chunk_size"], hp["floor_scale"]
    n = len(ids)
    pos = np.arange(n)
    f = 1.0 / (hp["rope_theta"] ** (np.arange(0, hd, 2) / hd))
    if "rope_freqs.weight" in T:
        f = f / T["rope_freqs.weight"]
    ang = pos[:, None] * f[None, :]
    cos, sin = np.cos(ang), np.sin(ang)

    def rms(x, w=None):
        y = x / np.sqrt((x * x).mean(-1, keepdims=True) + eps)
        return y * w if w is not None else y

    def rope(x):  # x [n][h][hd]
        a, b = x[..., 0::2], x[..., 1::2]
        c, s = cos[:, None, :], sin[:, None, :]
        out = np.empty_like(x)
        out[..., 0::2] = a * c - b * s
        out[..., 1::2] = a * s + b * c
        return out

    silu = lambda z: z / (1 + np.exp(-z))  # noqa: E731
    h = T["token_embd.weight"][ids]
    for l in range(hp["num_hidden_layers"]):
        b = f"blk.{l}."
        a = rms(h, T[b + "attn_norm.weight"])
        q = (a @ T[b + "attn_q.weight"].T).reshape(n, H, hd)
        k = (a @ T[b + "attn_k.weight"].T).reshape(n, Hkv, hd)
        v = (a @ T[b + "attn_v.weight"].T).reshape(n, Hkv, hd)
        use_rope = (l + 1) % 4 != 0
        if use_rope:
            q, k = rope(q), rope(k)
            if hp["use_qk_norm"]:
                q, k = rms(q), rms(k)
            mask = (pos[None, :] <= pos[:, None]) & (pos[None, :] // chunk == pos[:, None] // chunk)
        else:
            temp = 1 + hp["attn_scale"] * np.log(np.floor((pos + 1) / floor) + 1)
            q = q * temp[:, None, None]
            mask = pos[None, :] <= pos[:, None]
        o = np.empty((n, H, hd))
        g = H // Hkv
        for hq in range(H):
            s = q[:, hq, :] @ k[:, hq // g, :].T / math.sqrt(hd)
            s = np.where(mask, s, -np.inf)
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            o[:, hq, :] = s @ v[:, hq // g, :]
        h = h + o.reshape(n, H * hd) @ T[b + "attn_output.weight"].T
        x = rms(h, T[b + "ffn_norm.weight"])
        if b + "ffn_gate_inp.weight" in T:
            rl = x @ T[b + "ffn_gate_inp.weight"].T
            e = rl.argmax(-1)
            gsc = 1 / (1 + np.exp(-rl[np.arange(n), e]))
            y = np.empty_like(x)
            for t in range(n):
                u = gsc[t] * x[t]
                G, U, Dn = (T[b + "ffn_gate_exps.weight"][e[t]], T[b + "ffn_up_exps.weight"][e[t]],
                            T[b + "ffn_down_exps.weight"][e[t]])
                y[t] = Dn @ (silu(G @ u) * (U @ u))
            y += (silu(x @ T[b + "ffn_gate_shexp.weight"].T) * (x @ T[b + "ffn_up_shexp.weight"].T)) \
                @ T[b + "ffn_down_shexp.weight"].T
        else:
            y = (silu(x @ T[b + "ffn_gate.weight"].T) * (x @ T[b + "ffn_up.weight"].T)) \
                @ T[b + "ffn_down.weight"].T
        h = h + y
    return rms(h, T["output_norm.weight"]) @ T["output.weight"].T


# ---------------------------------------------------------------------------------------------
# GGUF vs HF self-check, weight checksums/samples

def hf_tensors(model):
    sd = model.state_dict()
    return {k: v.detach().float().numpy() for k, v in sd.items()}


def gguf_check(path, hf, kind):
    """Every GGUF tensor equals its HF source under the documented mapping (F32 exact; others
    within the format's rounding). Returns max abs error and the tensor count."""
    import gguf
    r = gguf.GGUFReader(path)
    worst = 0.0
    for t in r.tensors:
        a = np.array(t.data)
        if t.tensor_type != gguf.GGMLQuantizationType.F32:
            a = gguf.quants.dequantize(a, t.tensor_type)
        a = a.astype(np.float32).reshape([int(x) for x in reversed(t.shape)])
        ref = expected_from_hf(t.name, hf, kind)
        if ref is None:
            continue
        assert ref.shape == a.shape, (t.name, ref.shape, a.shape)
        err = float(np.abs(ref - a).max())
        if t.tensor_type == gguf.GGMLQuantizationType.F32:
            assert err == 0.0, (t.name, err)
        worst = max(worst, err / max(1e-12, float(np.abs(ref).max())))
    return worst, len(r.tensors)


def expected_from_hf(name, hf, kind):
    if kind == "text":
        P = "language_model."
        if name == "rope_freqs.weight":
            return None
        fixed = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
                 "output.weight": "lm_head.weight"}
        if name in fixed:
            return hf[P + fixed[name]]
        _, l, rest = name.split(".", 2)
        p = f"{P}model.layers.{l}."
        m = {"attn_norm.weight": "input_layernorm.weight", "attn_q.weight": "self_attn.q_proj.weight",
             "attn_k.weight": "self_attn.k_proj.weight", "attn_v.weight": "self_attn.v_proj.weight",
             "attn_output.weight": "self_attn.o_proj.weight", "ffn_norm.weight": "post_attention_layernorm.weight",
             "ffn_gate_inp.weight": "feed_forward.router.weight",
             "ffn_gate_shexp.weight": "feed_forward.shared_expert.gate_proj.weight",
             "ffn_up_shexp.weight": "feed_forward.shared_expert.up_proj.weight",
             "ffn_down_shexp.weight": "feed_forward.shared_expert.down_proj.weight",
             "ffn_gate.weight": "feed_forward.gate_proj.weight", "ffn_up.weight": "feed_forward.up_proj.weight",
             "ffn_down.weight": "feed_forward.down_proj.weight"}
        if rest in m:
            return hf[p + m[rest]]
        gu = hf[p + "feed_forward.experts.gate_up_proj"]
        F = gu.shape[2] // 2
        if rest == "ffn_gate_exps.weight":
            return np.ascontiguousarray(gu[:, :, :F].transpose(0, 2, 1))
        if rest == "ffn_up_exps.weight":
            return np.ascontiguousarray(gu[:, :, F:].transpose(0, 2, 1))
        if rest == "ffn_down_exps.weight":
            return np.ascontiguousarray(hf[p + "feed_forward.experts.down_proj"].transpose(0, 2, 1))
        raise AssertionError(name)
    V = "vision_model."
    fixed = {"v.patch_embd.weight": "patch_embedding.linear.weight", "v.class_embd": "class_embedding",
             "v.position_embd.weight": "positional_embedding_vlm", "v.pre_ln.weight": "layernorm_pre.weight",
             "v.pre_ln.bias": "layernorm_pre.bias", "v.post_ln.weight": "layernorm_post.weight",
             "v.post_ln.bias": "layernorm_post.bias", "mm.model.mlp.1.weight": "vision_adapter.mlp.fc1.weight",
             "mm.model.mlp.2.weight": "vision_adapter.mlp.fc2.weight"}
    if name in fixed:
        return hf[V + fixed[name]]
    if name == "mm.model.fc.weight":
        return hf["multi_modal_projector.linear_1.weight"]
    _, _, l, t, wb = name.split(".")
    m = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
         "attn_out": "self_attn.o_proj", "ln1": "input_layernorm", "ln2": "post_attention_layernorm",
         "ffn_up": "mlp.fc1", "ffn_down": "mlp.fc2"}
    return hf[f"{V}model.layers.{l}.{m[t]}.{wb}"]


def weight_report(hf, seed, n_samples=24):
    """Per HF tensor: shape, sum, sum of squares (float64) and a few (index, value) samples."""
    rng = np.random.default_rng(seed)
    out = []
    for name in sorted(hf):
        a = hf[name]
        flat = a.reshape(-1).astype(np.float64)
        k = min(n_samples, flat.size)
        idx = np.sort(rng.choice(flat.size, size=k, replace=False))
        samples = [[list(map(int, np.unravel_index(i, a.shape))), float(a.reshape(-1)[i])] for i in idx]
        out.append({"name": name, "shape": list(a.shape), "sum": float(flat.sum()),
                    "sumsq": float((flat * flat).sum()), "samples": samples})
    return out


# ---------------------------------------------------------------------------------------------
# main flow

def run(args):
    out = os.path.abspath(args.out)
    work = os.path.abspath(args.work)
    for d in (out, work):
        os.makedirs(d, exist_ok=True)
    for sub in ("models", "logits", "images", "vision"):
        p = os.path.join(out, sub)
        if os.path.isdir(p):
            shutil.rmtree(p)
        os.makedirs(p)
    man = Manifest(out)
    ranks = lv.load_ranks(args.bpe)
    tiny_enc = lv.tiny_encoding(ranks)
    info = {"generator": "tools/make_fixtures.py",
            "versions": {"python": sys.version.split()[0], "torch": torch.__version__,
                         "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                         "numpy": np.__version__, "pillow": PIL.__version__,
                         "torchvision": __import__("torchvision").__version__,
                         "gguf": __import__("importlib.metadata").metadata.version("gguf"),
                         "tiktoken": __import__("importlib.metadata").metadata.version("tiktoken")},
            "settings": "CPU, float32 weights and activations, attn_implementation=eager, "
                        "use_cache=False, torch.set_num_threads(1), deterministic algorithms"}

    # ---- tokenizer + processor (shared by both models)
    tokdir = os.path.join(work, "tokenizer")
    os.makedirs(tokdir, exist_ok=True)
    hf_tok = build_tokenizer(ranks, tokdir)
    ip = Llama4ImageProcessorFast()
    proc = Llama4Processor(image_processor=ip, tokenizer=hf_tok, chat_template=chat_template)

    # HF tokenizer (BPE + merges) must agree with tiktoken on the tiny vocabulary
    checks = [p[2] for p in TEXT_PROMPTS] + [LONG_TEXT * 3]
    extra = os.path.join(ROOT, "tests", "fixtures", "tokenizer-cases-extra.json")
    if os.path.exists(extra):
        with open(extra, encoding="utf-8") as fp:
            checks += [c["text"] for c in json.load(fp)["cases"] if "tiny_vocab" in c]
    n_tok_mismatch = 0
    for s in checks:
        a = hf_tok(s, add_special_tokens=False)["input_ids"]
        if a != lv.encode_parse_special(tiny_enc, s):
            n_tok_mismatch += 1
    info["hf_tokenizer_vs_tiktoken"] = {"strings": len(checks), "mismatches": n_tok_mismatch}
    print(f"tokenizer: HF vs tiktoken on {len(checks)} strings: {n_tok_mismatch} mismatches")

    # ---- prompts
    prompts = {}
    for pname, kind, text, keep in TEXT_PROMPTS:
        if kind == "chat":
            msgs = [{"role": "user", "content": [{"type": "text", "text": text}]}]
            rendered = proc.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
            ids = hf_tok(rendered, add_special_tokens=False)["input_ids"]
            assert ids[0] == BOS and ids.count(BOS) == 1
        elif kind == "bos":
            rendered, ids = "<|begin_of_text|>", [BOS]
        else:
            rendered = text
            ids = [BOS] + lv.encode_ordinary(tiny_enc, text)
            assert ids == hf_tok(text)["input_ids"]
        prompts[pname] = {"text": text, "rendered": rendered, "ids": ids, "keep": keep}

    # ---- images and the HF image processor
    imgs = draw_images()
    lut = bf16_lut(ip)
    ip_raw = Llama4ImageProcessorFast(do_rescale=False, do_normalize=False)
    image_info = {}
    pixel_values = {}
    for iname, im in imgs.items():
        rel = f"images/{iname}.png"
        im.save(os.path.join(out, rel), optimize=True)
        rgb = white_composite(im)
        bf = ip(images=rgb, return_tensors="pt")
        raw = ip_raw(images=rgb, return_tensors="pt")
        pv = bf["pixel_values"]  # [tiles][3][336][336] bfloat16
        u8 = raw["pixel_values"]
        assert u8.dtype == torch.uint8 and pv.dtype == torch.bfloat16
        R, C = [int(x) for x in bf["aspect_ratios"][0]]
        n_tiles = pv.shape[0]
        assert n_tiles == R * C + (1 if R * C > 1 else 0)
        # the float values are exactly lut[u8]
        assert np.array_equal(lut[u8.numpy()], pv.float().numpy()), iname
        # canvas (tiles reassembled) and global tile as 8-bit PNGs
        loc = u8[:R * C].numpy().reshape(R, C, 3, 336, 336).transpose(0, 3, 1, 4, 2).reshape(R * 336, C * 336, 3)
        Image.fromarray(np.ascontiguousarray(loc), "RGB").save(os.path.join(out, f"images/{iname}.canvas.png"))
        files = {"canvas_png": f"images/{iname}.canvas.png"}
        if R * C > 1:
            g = np.ascontiguousarray(u8[R * C].numpy().transpose(1, 2, 0))
            Image.fromarray(g, "RGB").save(os.path.join(out, f"images/{iname}.global.png"))
            files["global_png"] = f"images/{iname}.global.png"
        # where the resized image sits in the canvas: the processor's own size rule
        w, h = rgb.size
        from transformers.models.llama4 import image_processing_llama4_fast as ipf
        res = torch.tensor(ipf.find_supported_resolutions(16, ipf.SizeDict(height=336, width=336)))
        th, tw = [int(x) for x in ipf.get_best_fit((h, w), res)]
        assert (th, tw) == (R * 336, C * 336)
        nh, nw = ipf.get_max_res_without_distortion((h, w), (min(max(h, 336), th), min(max(w, 336), tw)))
        if iname == "tiny":  # (the others: bf16_lut[canvas], checked equal above)
            rel_pv = f"images/{iname}.pixel_values.bin"
            shp = save_f32(os.path.join(out, rel_pv), pv.float().numpy())
            files["pixel_values_bin"] = rel_pv
            man.add(rel_pv, "HF Llama4ImageProcessorFast pixel_values (bfloat16 values stored as float32)",
                    shape=shp, dtype="float32", layout="[tile][channel R,G,B][y][x]")
        image_info[iname] = {"input_png": rel, "mode": im.mode, "width": w, "height": h,
                             "grid_rows": R, "grid_cols": C, "n_tiles": n_tiles,
                             "canvas_width": C * 336, "canvas_height": R * 336,
                             "resized_width": max(nw, 1), "resized_height": max(nh, 1), **files}
        man.add(rel, f"input image {w}x{h} {im.mode}, drawn by the script")
        man.add(files["canvas_png"], "8-bit canvas: the processor's resize (torchvision bilinear, "
                "antialias, on uint8) pasted top-left, zero padding; tiles are its 336x336 blocks, row-major",
                shape=[R * 336, C * 336, 3], dtype="uint8")
        if "global_png" in files:
            man.add(files["global_png"], "8-bit global tile: whole image resized to 336x336",
                    shape=[336, 336, 3], dtype="uint8")
        pixel_values[iname] = pv.float()
        print(f"image {iname}: {w}x{h} -> grid {R}x{C}, {n_tiles} tiles")

    # ---- models
    model_info = {}
    wrep = None
    for mname, spec in MODELS.items():
        model, cfg = make_model(mname, spec)
        mdir = os.path.join(work, mname)
        if os.path.isdir(mdir):
            shutil.rmtree(mdir)
        model.save_pretrained(mdir, safe_serialization=True)
        hf_tok.save_pretrained(mdir)
        hf = hf_tensors(model)
        mi = {"config": {"text": spec["text"], "vision": VISION}, "seed": spec["seed"],
              "n_params": int(sum(p.numel() for p in model.parameters())), "gguf": {}}
        outtypes = ["f32", "q8_0"] if mname == "tiny" else ["f32"]
        for ot in outtypes:
            t_rel = f"models/{mname}-{ot}.gguf"
            v_rel = f"models/{mname}-mmproj-{ot}.gguf"
            rc = convert_hf.main([mdir, "--outtype", ot, "--name", f"herd-fixture-{mname}",
                                  "--out-text", os.path.join(out, t_rel),
                                  "--out-mmproj", os.path.join(out, v_rel)])
            assert rc == 0
            et, nt = gguf_check(os.path.join(out, t_rel), hf, "text")
            ev, nv = gguf_check(os.path.join(out, v_rel), hf, "vision")
            mi["gguf"][ot] = {"text": t_rel, "mmproj": v_rel, "max_rel_err_vs_hf": max(et, ev)}
            man.add(t_rel, f"text GGUF ({ot}) converted by tools/convert_hf.py", tensors=nt)
            man.add(v_rel, f"mmproj GGUF ({ot}) converted by tools/convert_hf.py", tensors=nv)
            print(f"{mname} {ot}: {nt}+{nv} tensors, max rel err vs HF {max(et, ev):.3g}")
        if mname == "tiny":
            wrep = weight_report(hf, 7)
            qk = {}
            for t in ("q_proj", "k_proj"):
                rel = f"models/tiny.layer0.{t}.bin"
                shp = save_f32(os.path.join(out, rel), hf[f"language_model.model.layers.0.self_attn.{t}.weight"])
                man.add(rel, f"raw float32 HF language_model.model.layers.0.self_attn.{t}.weight [out][in]",
                        shape=shp, dtype="float32")
                qk[t] = rel
            mi["raw_tensors"] = qk

        # ---- text logits
        probe = RouterProbe(model)
        os.makedirs(os.path.join(out, "logits", mname), exist_ok=True)
        mi["logits"] = {}
        for pname, p in prompts.items():
            ids = p["ids"]
            probe.reset()
            with torch.no_grad():
                lg = model(input_ids=torch.tensor([ids]), use_cache=False).logits[0].float().numpy()
            rows = rows_spec(p["keep"][mname], len(ids))
            rel = f"logits/{mname}/{pname}.bin"
            shp = save_f32(os.path.join(out, rel), lg[rows])
            entry = {"file": rel, "rows": rows if len(rows) < len(ids) else "all", "n_tokens": len(ids),
                     "max_abs_logit": float(np.abs(lg).max()), "router": probe.summary(),
                     "argmax_last": int(lg[-1].argmax())}
            if mname == "tiny" and pname == "long":
                ref = numpy_forward(os.path.join(out, f"models/{mname}-f32.gguf"), ids, spec["text"])
                entry["numpy_float64_from_gguf_max_abs_diff"] = float(np.abs(ref - lg).max())
                print(f"numpy float64 forward from GGUF vs HF ({len(ids)} tokens): "
                      f"{entry['numpy_float64_from_gguf_max_abs_diff']:.3g}")
            if mname == "moe" and pname == "long":
                ref = numpy_forward(os.path.join(out, f"models/{mname}-f32.gguf"), ids, spec["text"])
                entry["numpy_float64_from_gguf_max_abs_diff"] = float(np.abs(ref - lg).max())
                print(f"moe: numpy float64 forward from GGUF vs HF: "
                      f"{entry['numpy_float64_from_gguf_max_abs_diff']:.3g}")
            mi["logits"][pname] = entry
            man.add(rel, f"HF logits, model {mname}, prompt {pname}", shape=shp, dtype="float32",
                    layout="[row][vocab]; rows listed in prompts.json")
        # ---- vision embeddings (tiny model: all images; moe: the small ones)
        os.makedirs(os.path.join(out, "vision", mname), exist_ok=True)
        mi["vision"] = {}
        for iname, pv in pixel_values.items():
            if mname == "moe" and iname not in ("tiny", "square"):
                continue
            with torch.no_grad():
                feats = model.get_image_features(pixel_values=pv, vision_feature_select_strategy="default")
                emb = model.multi_modal_projector(feats.reshape(-1, feats.shape[-1]))
                # sensitivity to the input rounding: the same tiles normalized in float32
                u8 = ip_raw(images=white_composite(imgs[iname]), return_tensors="pt")["pixel_values"]
                pv32 = u8.float() / 255.0 * 2.0 - 1.0
                f32 = model.get_image_features(pixel_values=pv32, vision_feature_select_strategy="default")
                emb32 = model.multi_modal_projector(f32.reshape(-1, f32.shape[-1]))
            n_t = pv.shape[0]
            emb = emb.reshape(n_t, -1, emb.shape[-1]).numpy()
            rel = f"vision/{mname}/{iname}.embd.bin"
            shp = save_f32(os.path.join(out, rel), emb)
            mi["vision"][iname] = {"file": rel, "shape": shp,
                                   "fp32_input_max_abs_diff": float(np.abs(emb32.reshape(emb.shape).numpy() - emb).max()),
                                   "max_abs": float(np.abs(emb).max())}
            man.add(rel, f"model {mname}: projected image embeddings (vision encoder + pixel shuffle + "
                    f"adapter + multi_modal_projector) of images/{iname}.png from the HF processor's "
                    "bfloat16 pixel values; these replace the <|patch|> tokens", shape=shp, dtype="float32",
                    layout="[tile][144][n_embd], tiles row-major then global")
            if mname == "tiny" and iname == "square":
                vm = model.vision_model
                with torch.no_grad():
                    x = vm.patch_embedding(pv)
                    rel_pe = f"vision/{mname}/square.patch_embd.bin"
                    man.add(rel_pe, "patch embedding output (unfold + linear), before CLS/pos-embed",
                            shape=save_f32(os.path.join(out, rel_pe), x[0].numpy()), dtype="float32",
                            layout="[576][64]")
                    cls = vm.class_embedding.expand(1, 1, -1)
                    x = torch.cat([x, cls], 1) + vm.positional_embedding_vlm
                    x = vm.layernorm_pre(x)
                    x = vm.model(x, freqs_ci=vm.rotary_embedding(pv)).last_hidden_state
                    x = vm.layernorm_post(x)[:, :-1, :]
                    rel_enc = f"vision/{mname}/square.encoder_out.bin"
                    man.add(rel_enc, "vision encoder output after layernorm_post, CLS dropped",
                            shape=save_f32(os.path.join(out, rel_enc), x[0].numpy()), dtype="float32",
                            layout="[576][64]")
                    from transformers.models.llama4.modeling_llama4 import pixel_shuffle
                    ps = pixel_shuffle(x, 0.5)
                    rel_ps = f"vision/{mname}/square.pixel_shuffle.bin"
                    man.add(rel_ps, "after pixel shuffle (row-major 12x12 tokens, features TL,TR,BL,BR)",
                            shape=save_f32(os.path.join(out, rel_ps), ps[0].numpy()), dtype="float32",
                            layout="[144][256]")
                    ad = vm.vision_adapter(x)
                    assert torch.allclose(ad, feats, atol=0, rtol=0)
                    rel_ad = f"vision/{mname}/square.adapter_out.bin"
                    man.add(rel_ad, "after the vision adapter MLP (fc1, GELU, fc2, GELU)",
                            shape=save_f32(os.path.join(out, rel_ad), ad[0].numpy()), dtype="float32",
                            layout="[144][128]")

        # ---- multimodal prompt(s)
        mm_sets = {"tiny": ("mm", ["tiny", "portrait"], "Compare these two pictures."),
                   "moe": ("mm", ["square"], "What is in this image?")}
        key, inames, question = mm_sets[mname]
        content = [{"type": "image"} for _ in inames] + [{"type": "text", "text": question}]
        rendered = proc.apply_chat_template([{"role": "user", "content": content}],
                                            add_generation_prompt=True, tokenize=False)
        batch = proc(text=rendered, images=[white_composite(imgs[i]) for i in inames],
                     add_special_tokens=False, return_tensors="pt")
        ids = batch["input_ids"][0].tolist()
        assert ids[0] == BOS and ids.count(BOS) == 1
        # the processor's layout is llama4-spec.md §4.1
        want = []
        for i in inames:
            R, C = image_info[i]["grid_rows"], image_info[i]["grid_cols"]
            blk = [IMG_START]
            if R * C > 1:
                for r in range(R):
                    for c in range(C):
                        blk += [PATCH] * 144 + ([1108] if c < C - 1 else [])
                    blk.append(1109)
            blk += [IMG] + [PATCH] * 144 + [IMG_END]
            want += blk
        start = ids.index(IMG_START)
        assert ids[start:start + len(want)] == want, "image token layout differs from spec §4.1"
        assert ids.count(PATCH) == 144 * sum(pixel_values[i].shape[0] for i in inames)
        probe.reset()
        with torch.no_grad():
            lg = model(input_ids=batch["input_ids"], pixel_values=batch["pixel_values"].float(),
                       use_cache=False).logits[0].numpy()
        n = len(ids)
        rows = sorted(set([r for r in range(n) if r % 16 == 15] + list(range(n - 8, n))))
        rel = f"logits/{mname}/{key}.bin"
        shp = save_f32(os.path.join(out, rel), lg[rows])
        mi["multimodal"] = {"file": rel, "images": inames, "question": question, "rendered": rendered,
                            "ids": ids, "rows": rows, "n_tokens": n, "router": probe.summary(),
                            "max_abs_logit": float(np.abs(lg).max())}
        man.add(rel, f"HF logits of the multimodal prompt (model {mname}, images {inames})",
                shape=shp, dtype="float32", layout="[row][vocab]; rows in prompts.json")
        probe.close()
        model_info[mname] = mi
        print(f"{mname}: multimodal prompt {n} tokens, router {mi['multimodal']['router']}")

    # ---- weights for tests/test-convert.c
    rel = "models/tiny.weights.json"
    with open(os.path.join(out, rel), "w") as fp:
        json.dump({"description": "HF safetensors tensors of the 'tiny' model: shape, float64 sum and "
                   "sum of squares, and samples [[index...], value] (float32 values, C index order)",
                   "tensors": wrep}, fp, separators=(",", ":"))
    man.add(rel, "weight checksums and samples of the tiny model, for tests/test-convert.c")

    # ---- prompts.json
    pj = {"description": "Token ids (tiny 3072-token vocabulary: ids 0..1023 = Llama 4 ranks, 1024+k = "
          "special token k) and which logits rows each file holds",
          "special_ids": {"bos": BOS, "eot": EOT, "eom": EOM, "end_of_text": EOTEXT, "pad": PAD,
                          "image_start": IMG_START, "image_end": IMG_END, "image": IMG, "patch": PATCH,
                          "tile_x_separator": 1108, "tile_y_separator": 1109,
                          "header_start": 1029, "header_end": 1030},
          "prompts": {k: {"text": v["text"], "rendered": v["rendered"], "ids": v["ids"]} for k, v in prompts.items()},
          "logits": {m: model_info[m]["logits"] for m in model_info},
          "multimodal": {m: model_info[m]["multimodal"] for m in model_info}}
    with open(os.path.join(out, "prompts.json"), "w", encoding="utf-8") as fp:
        json.dump(pj, fp, ensure_ascii=False, indent=1)
    man.add("prompts.json", "prompts, token ids, logits row lists, router margins")

    # ---- manifest
    for m in model_info:
        model_info[m] = {k: v for k, v in model_info[m].items() if k not in ("logits", "multimodal")}
    manifest = {"info": info, "models": model_info, "images": image_info,
                "preprocessing": {
                    "bf16_lut": [float(x) for x in lut],
                    "note": "pixel value = bf16_lut[u8] where u8 is the canvas/global PNG value; HF "
                            "rescales and normalizes in bfloat16: 2*bf16(bf16(u*(1/255)) - 0.5). "
                            "A float32 engine computes u/127.5 - 1 (differs by <= 1 bfloat16 ulp). "
                            "RGBA inputs are alpha-composited over white first (Meta's rule, spec §3.1 "
                            "step 0); transformers 4.57's convert_to_rgb would drop alpha instead.",
                    "max_abs_diff_bf16_vs_fp32": float(np.abs(lut - (np.arange(256) / 127.5 - 1)).max())},
                "files": man.files}
    for rel in man.files:
        p = os.path.join(out, rel)
        man.files[rel]["bytes"] = os.path.getsize(p)
        man.files[rel]["sha256"] = sha256(p)
    if args.compare:
        manifest["reproducibility"] = compare_dirs(out, os.path.abspath(args.compare), man.files)
    with open(os.path.join(out, "manifest.json"), "w", encoding="utf-8") as fp:
        json.dump(manifest, fp, ensure_ascii=False, indent=1)
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(out) for f in fs)
    print(f"fixtures: {len(man.files)} files, {total / 1e6:.1f} MB in {out}")


def compare_dirs(a, b, files):
    res = {"compared_with": "a second, independent run of tools/make_fixtures.py",
           "identical_files": 0, "differing": {}}
    for rel in files:
        pa, pb = os.path.join(a, rel), os.path.join(b, rel)
        if not os.path.exists(pb):
            res["differing"][rel] = "missing in the other run"
            continue
        if sha256(pa) == sha256(pb):
            res["identical_files"] += 1
            continue
        if rel.endswith(".bin"):
            x, y = np.fromfile(pa, np.float32), np.fromfile(pb, np.float32)
            res["differing"][rel] = {"max_abs_diff": float(np.abs(x - y).max()) if x.shape == y.shape else "shape"}
        else:
            res["differing"][rel] = "bytes differ"
    return res


# ---------------------------------------------------------------------------------------------
# Scout-width converter check (synthetic checkpoint, written to a scratch directory, deleted)

SCOUT_TEXT = dict(vocab_size=202048, hidden_size=5120, intermediate_size=8192, intermediate_size_mlp=16384,
                  num_hidden_layers=48, num_attention_heads=40, num_key_value_heads=8, head_dim=128,
                  max_position_embeddings=10485760, rms_norm_eps=1e-5, rope_theta=500000.0,
                  num_local_experts=16, num_experts_per_tok=1, interleave_moe_layer_step=1, use_qk_norm=True,
                  attention_chunk_size=8192, floor_scale=8192, attn_scale=0.1, attn_temperature_tuning=4,
                  rope_scaling={"factor": 16.0, "high_freq_factor": 1.0, "low_freq_factor": 1.0,
                                "original_max_position_embeddings": 8192, "rope_type": "llama3"},
                  bos_token_id=200000, eos_token_id=[200001, 200007, 200008], pad_token_id=200018,
                  model_type="llama4_text")
SCOUT_VISION = dict(hidden_size=1408, num_hidden_layers=34, num_attention_heads=16, intermediate_size=5632,
                    image_size=336, patch_size=14, norm_eps=1e-5, pixel_shuffle_ratio=0.5,
                    projector_input_dim=4096, projector_output_dim=4096, vision_output_dim=4096,
                    rope_theta=10000, multi_modal_projector_bias=False, num_channels=3,
                    model_type="llama4_vision_model")


def scout_check(work, n_layers, ranks):
    """Writes a Scout-shaped checkpoint (n_layers text layers, 1 vision layer, bf16, a repeated
    random pattern), converts it to bf16 GGUFs, and checks names, shapes and keys (spec §7)."""
    import gguf
    if os.path.exists(work):
        shutil.rmtree(work)
    os.makedirs(work)
    text = dict(SCOUT_TEXT, num_hidden_layers=n_layers)
    vis = dict(SCOUT_VISION, num_hidden_layers=1)
    cfg = {"architectures": ["Llama4ForConditionalGeneration"], "model_type": "llama4",
           "text_config": text, "vision_config": vis, "boi_token_index": 200080,
           "eoi_token_index": 200081, "image_token_index": 200092, "tie_word_embeddings": False}
    with open(os.path.join(work, "config.json"), "w") as fp:
        json.dump(cfg, fp)
    D, F, Fd, E, V = 5120, 8192, 16384, 16, 202048
    shapes = {"language_model.model.embed_tokens.weight": (V, D), "language_model.lm_head.weight": (V, D),
              "language_model.model.norm.weight": (D,)}
    for i in range(n_layers):
        p = f"language_model.model.layers.{i}."
        shapes.update({p + "input_layernorm.weight": (D,), p + "post_attention_layernorm.weight": (D,),
                       p + "self_attn.q_proj.weight": (5120, D), p + "self_attn.k_proj.weight": (1024, D),
                       p + "self_attn.v_proj.weight": (1024, D), p + "self_attn.o_proj.weight": (D, 5120),
                       p + "feed_forward.router.weight": (E, D),
                       p + "feed_forward.experts.gate_up_proj": (E, D, 2 * F),
                       p + "feed_forward.experts.down_proj": (E, F, D),
                       p + "feed_forward.shared_expert.gate_proj.weight": (F, D),
                       p + "feed_forward.shared_expert.up_proj.weight": (F, D),
                       p + "feed_forward.shared_expert.down_proj.weight": (D, F)})
    Dv, ffv = 1408, 5632
    v = "vision_model."
    shapes.update({v + "patch_embedding.linear.weight": (Dv, 588), v + "class_embedding": (Dv,),
                   v + "positional_embedding_vlm": (577, Dv), v + "layernorm_pre.weight": (Dv,),
                   v + "layernorm_pre.bias": (Dv,), v + "layernorm_post.weight": (Dv,),
                   v + "layernorm_post.bias": (Dv,), v + "vision_adapter.mlp.fc1.weight": (4096, ffv),
                   v + "vision_adapter.mlp.fc2.weight": (4096, 4096),
                   "multi_modal_projector.linear_1.weight": (5120, 4096)})
    p = v + "model.layers.0."
    for n in ("q_proj", "k_proj", "v_proj", "o_proj"):
        shapes[p + f"self_attn.{n}.weight"] = (Dv, Dv)
        shapes[p + f"self_attn.{n}.bias"] = (Dv,)
    for n in ("input_layernorm", "post_attention_layernorm"):
        shapes[p + n + ".weight"] = (Dv,)
        shapes[p + n + ".bias"] = (Dv,)
    shapes.update({p + "mlp.fc1.weight": (ffv, Dv), p + "mlp.fc1.bias": (ffv,), p + "mlp.fc2.weight": (Dv, ffv),
                   p + "mlp.fc2.bias": (Dv,)})
    # one safetensors file, bf16, written without torch
    pattern = (np.random.default_rng(5).standard_normal(1 << 20).astype(np.float32) * 0.02)
    pattern = (pattern.view(np.uint32) >> 16).astype(np.uint16)
    header, off = {}, 0
    for n, s in shapes.items():
        nb = int(np.prod(s)) * 2
        header[n] = {"dtype": "BF16", "shape": list(s), "data_offsets": [off, off + nb]}
        off += nb
    hb = json.dumps(header).encode()
    hb += b" " * ((-len(hb)) % 8)
    with open(os.path.join(work, "model.safetensors"), "wb") as fp:
        fp.write(len(hb).to_bytes(8, "little"))
        fp.write(hb)
        for n, s in shapes.items():
            left = int(np.prod(s))
            while left:
                k = min(left, pattern.size)
                pattern[:k].tofile(fp)
                left -= k
    build_tokenizer_real(ranks, work)
    out_t, out_v = os.path.join(work, "scout-bf16.gguf"), os.path.join(work, "scout-mmproj-bf16.gguf")
    rc = convert_hf.main([work, "--outtype", "bf16", "--out-text", out_t, "--out-mmproj", out_v])
    assert rc == 0
    r = gguf.GGUFReader(out_t)
    kv = {k: f.contents() for k, f in r.fields.items()
          if k not in ("tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.merges")}
    expect = {"general.architecture": "llama4", "llama4.vocab_size": 202048, "llama4.context_length": 10485760,
              "llama4.embedding_length": 5120, "llama4.block_count": n_layers, "llama4.feed_forward_length": 16384,
              "llama4.expert_feed_forward_length": 8192, "llama4.interleave_moe_layer_step": 1,
              "llama4.expert_count": 16, "llama4.expert_used_count": 1, "llama4.attention.head_count": 40,
              "llama4.attention.head_count_kv": 8, "llama4.rope.dimension_count": 128,
              "llama4.attention.key_length": 128, "tokenizer.ggml.bos_token_id": 200000,
              "tokenizer.ggml.eos_token_id": 200008, "general.file_type": 32, "llama4.use_qk_norm": True}
    problems = [f"{k}: {kv.get(k)!r} != {v!r}" for k, v in expect.items() if kv.get(k) != v]
    if "llama4.attention.chunk_size" in kv or "llama4.attention.temperature_floor_scale" in kv:
        problems.append("chunk/floor keys written although 8192")
    ts = {t.name: ([int(x) for x in t.shape], t.tensor_type.name) for t in r.tensors}
    want = {"token_embd.weight": [5120, 202048], "output.weight": [5120, 202048], "rope_freqs.weight": [64],
            "blk.0.attn_q.weight": [5120, 5120], "blk.0.attn_k.weight": [5120, 1024],
            "blk.0.ffn_gate_inp.weight": [5120, 16], "blk.0.ffn_gate_exps.weight": [5120, 8192, 16],
            "blk.0.ffn_up_exps.weight": [5120, 8192, 16], "blk.0.ffn_down_exps.weight": [8192, 5120, 16],
            "blk.0.ffn_gate_shexp.weight": [5120, 8192], "blk.0.ffn_down_shexp.weight": [8192, 5120]}
    for k, s in want.items():
        if ts.get(k, [None])[0] != s:
            problems.append(f"{k}: {ts.get(k)} != {s}")
    if len(ts) != 4 + 13 * n_layers:
        problems.append(f"{len(ts)} tensors, expected {4 + 13 * n_layers}")
    if ts["blk.0.ffn_gate_inp.weight"][1] != "F32" or ts["blk.0.attn_norm.weight"][1] != "F32":
        problems.append("router/norm not F32")
    rf = np.array([t for t in r.tensors if t.name == "rope_freqs.weight"][0].data)
    if not (np.all(rf[:35] == 1.0) and np.all(rf[35:] == 16.0)):
        problems.append(f"rope_freqs {rf}")
    n_params = sum(int(np.prod(t.shape)) for t in r.tensors if t.name != "rope_freqs.weight")
    rv = gguf.GGUFReader(out_v)
    vs = {t.name: [int(x) for x in t.shape] for t in rv.tensors}
    for k, s in {"v.patch_embd.weight": [588, 1408], "v.position_embd.weight": [1408, 577],
                 "v.blk.0.ln2.weight": [1408], "v.blk.0.ffn_up.weight": [1408, 5632],
                 "mm.model.mlp.1.weight": [5632, 4096], "mm.model.mlp.2.weight": [4096, 4096],
                 "mm.model.fc.weight": [4096, 5120], "v.class_embd": [1408]}.items():
        if vs.get(k) != s:
            problems.append(f"{k}: {vs.get(k)} != {s}")
    vkv = {k: f.contents() for k, f in rv.fields.items()}
    for k, v in {"clip.projector_type": "llama4", "clip.vision.projection_dim": 5120,
                 "clip.vision.embedding_length": 1408, "clip.vision.projector.scale_factor": 2}.items():
        if vkv.get(k) != v:
            problems.append(f"{k}: {vkv.get(k)!r} != {v!r}")
    sizes = {p: os.path.getsize(os.path.join(work, p)) for p in os.listdir(work) if p.endswith(("gguf", "safetensors"))}
    print(json.dumps({"scout_width_check": "ok" if not problems else "FAILED", "problems": problems,
                      "text_params_excl_rope_freqs": n_params,
                      "expected_params_for_%d_layers" % n_layers: 2 * 202048 * 5120 + 5120 + n_layers * 2202101760,
                      "sizes": sizes}, indent=1))
    shutil.rmtree(work)
    return 0 if not problems else 1


def build_tokenizer_real(ranks, d):
    """tokenizer.json for the real 202048-token vocabulary (for the Scout-width check)."""
    b2u = lv.bytes_to_unicode()
    vocab = {"".join(b2u[c] for c in b): r for b, r in ranks.items()}
    tj = {"model": {"type": "BPE", "vocab": vocab, "merges": []},
          "added_tokens": [{"id": lv.N_BASE_REAL + i, "content": s, "special": True}
                           for i, s in enumerate(lv.special_tokens())]}
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as fp:
        json.dump(tj, fp)
    with open(os.path.join(d, "tokenizer_config.json"), "w") as fp:
        json.dump({"bos_token": "<|begin_of_text|>", "eos_token": "<|eot|>",
                   "pad_token": "<|finetune_right_pad|>", "chat_template": chat_template}, fp)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures"))
    ap.add_argument("--work", default="/tmp/herd-fixtures-work")
    ap.add_argument("--bpe", default=lv.DEFAULT_BPE)
    ap.add_argument("--compare", help="fixtures directory of an earlier run to compare with")
    ap.add_argument("--scout-check", metavar="DIR", help="converter check at Scout width in DIR (deleted after)")
    ap.add_argument("--scout-layers", type=int, default=1)
    args = ap.parse_args()
    if args.scout_check:
        return scout_check(args.scout_check, args.scout_layers, lv.load_ranks(args.bpe))
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
