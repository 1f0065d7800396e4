#!/usr/bin/env python3
"""Writes small GGUF files, valid and broken, for the fuzz seed corpus and the CLI tests.

usage: tools/gen_gguf_corpus.py [OUTDIR]      (default: tests/fuzz/corpus-gguf)

File name prefixes say what herd-cli info must do with each file:
  ok-*      opens and passes every check (exit 0)
  bad-*     the GGUF reader rejects it (exit 1)
  layout-*  the reader opens it, but the llama4/clip layout or tokenizer check rejects it (exit 1)
Plain python3, no packages. Every file is far below 64 KiB. Output is deterministic.
"""
import os
import struct
import sys

U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
FMT = {U8: "B", I8: "b", U16: "H", I16: "h", U32: "I", I32: "i", F32: "f", BOOL: "B",
       U64: "Q", I64: "q", F64: "d"}
T_F32, T_F16, T_Q4_0, T_Q8_0, T_Q2_K = 0, 1, 2, 8, 10
BLOCK = {T_F32: (1, 4), T_F16: (1, 2), T_Q4_0: (32, 18), T_Q8_0: (32, 34), T_Q2_K: (256, 84)}


def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def value(vtype, v):
    """Serialized value; arrays are (elem_type, [values])."""
    if vtype == STRING:
        return gstr(v)
    if vtype == ARRAY:
        et, items = v
        out = struct.pack("<IQ", et, len(items))
        return out + b"".join(value(et, x) for x in items)
    return struct.pack("<" + FMT[vtype], v)


class Writer:
    def __init__(self, alignment=32):
        self.alignment = alignment
        self.kv = bytearray()
        self.ti = bytearray()
        self.data = bytearray()
        self.n_kv = self.n_t = 0
        self.marks = {}

    def mark(self, tag, sec):
        self.marks[tag] = (sec, len(getattr(self, sec)))

    def add(self, key, vtype, v):
        self.mark("kv:" + key, "kv")
        self.kv += gstr(key) + struct.pack("<I", vtype)
        self.mark("kv:%s:val" % key, "kv")
        self.kv += value(vtype, v)
        self.n_kv += 1
        return self

    def tensor(self, name, ne, ttype=T_F32, fill=None):
        blck, bts = BLOCK[ttype]
        n = 1
        for d in ne:
            n *= d
        size = n // blck * bts
        while len(self.data) % self.alignment:
            self.data.append(0)
        self.mark("t:" + name, "ti")
        self.ti += gstr(name) + struct.pack("<I", len(ne))
        self.mark("t:%s:ne" % name, "ti")
        self.ti += b"".join(struct.pack("<Q", d) for d in ne)
        self.mark("t:%s:type" % name, "ti")
        self.ti += struct.pack("<I", ttype)
        self.mark("t:%s:off" % name, "ti")
        self.ti += struct.pack("<Q", len(self.data))
        if fill is None:  # small deterministic pattern
            fill = bytes((i * 37 + len(name)) & 0x3F for i in range(size))
        assert len(fill) == size
        self.data += fill
        self.n_t += 1
        return self

    def build(self, version=3):
        head = struct.pack("<IIQQ", 0x46554747, version, self.n_t, self.n_kv)
        out = bytearray(head)
        starts = {"kv": len(out)}
        out += self.kv
        starts["ti"] = len(out)
        out += self.ti
        if self.n_t:
            while len(out) % self.alignment:
                out.append(0)
        starts["data"] = len(out)
        out += self.data
        self.pos = {tag: starts[sec] + off for tag, (sec, off) in self.marks.items()}
        return out


def f32s(*xs):
    return b"".join(struct.pack("<f", x) for x in xs)


# ------------------------------------------------------------------------------------------------
# Valid files

def minimal(version=3, alignment=32):
    w = Writer(alignment)
    w.add("general.architecture", STRING, "test")
    w.add("general.alignment", U32, alignment)
    for t, v in ((U8, 200), (I8, -100), (U16, 60000), (I16, -30000), (U32, 4000000000),
                 (I32, -2000000000), (F32, 1.5), (BOOL, 1), (U64, 1 << 40), (I64, -(1 << 40)),
                 (F64, 0.25)):
        w.add("t.%d" % t, t, v)
        w.add("t.arr.%d" % t, ARRAY, (t, [v, v, v]))
    w.add("t.str", STRING, "hello \xe2\x80\x94 world")
    w.add("t.arr.str", ARRAY, (STRING, ["a", "bc", "", "d"]))
    w.add("t.arr.nested", ARRAY, (ARRAY, [(U32, [1, 2, 3]), (U32, [4])]))
    w.add("t.arr.nested_str", ARRAY, (ARRAY, [(STRING, ["x"]), (STRING, ["y", "z"])]))
    w.add("t.arr.empty", ARRAY, (I32, []))
    w.tensor("tok.f32", [4, 3])
    w.tensor("w.q8", [64, 2], T_Q8_0)
    w.tensor("w.q4", [32, 1], T_Q4_0)
    w.tensor("v.f16", [5], T_F16)
    w.tensor("x.3d", [2, 3, 2])
    return w


def llama4(n_embd=16, n_vocab=32, n_head=2, n_head_kv=1, n_layer=2, n_ff=32, n_ff_exp=16,
           n_expert=2, step=2, vocab=True, skip=(), reshape=None, ttype=None, extra_kv=()):
    hd = n_embd // n_head
    w = Writer()
    w.add("general.architecture", STRING, "llama4")
    w.add("general.name", STRING, "gen-tiny-llama4")
    for k, v in (("block_count", n_layer), ("context_length", 256), ("embedding_length", n_embd),
                 ("feed_forward_length", n_ff), ("attention.head_count", n_head),
                 ("attention.head_count_kv", n_head_kv), ("expert_count", n_expert),
                 ("expert_used_count", 1), ("attention.key_length", hd),
                 ("attention.value_length", hd), ("vocab_size", n_vocab),
                 ("rope.dimension_count", hd), ("interleave_moe_layer_step", step),
                 ("expert_feed_forward_length", n_ff_exp)):
        w.add("llama4." + k, U32, v)
    w.add("llama4.rope.freq_base", F32, 500000.0)
    w.add("llama4.attention.layer_norm_rms_epsilon", F32, 1e-5)
    if vocab:
        w.add("tokenizer.ggml.model", STRING, "gpt2")
        w.add("tokenizer.ggml.tokens", ARRAY, (STRING, ["t%d" % i for i in range(n_vocab)]))
        w.add("tokenizer.ggml.token_type", ARRAY, (I32, [1] * n_vocab))
        w.add("tokenizer.ggml.bos_token_id", U32, 1)
        w.add("tokenizer.ggml.eos_token_id", U32, 2)
    for k, t, v in extra_kv:
        w.add(k, t, v)
    tensors = [("rope_freqs.weight", [hd // 2]), ("token_embd.weight", [n_embd, n_vocab])]
    for l in range(n_layer):
        b = "blk.%d." % l
        tensors += [(b + "attn_norm.weight", [n_embd]), (b + "attn_q.weight", [n_embd, n_head * hd]),
                    (b + "attn_k.weight", [n_embd, n_head_kv * hd]),
                    (b + "attn_v.weight", [n_embd, n_head_kv * hd]),
                    (b + "attn_output.weight", [n_head * hd, n_embd]),
                    (b + "ffn_norm.weight", [n_embd])]
        if (l + 1) % step == 0:
            tensors += [(b + "ffn_gate_inp.weight", [n_embd, n_expert]),
                        (b + "ffn_gate_exps.weight", [n_embd, n_ff_exp, n_expert]),
                        (b + "ffn_up_exps.weight", [n_embd, n_ff_exp, n_expert]),
                        (b + "ffn_down_exps.weight", [n_ff_exp, n_embd, n_expert]),
                        (b + "ffn_gate_shexp.weight", [n_embd, n_ff_exp]),
                        (b + "ffn_up_shexp.weight", [n_embd, n_ff_exp]),
                        (b + "ffn_down_shexp.weight", [n_ff_exp, n_embd])]
        else:
            tensors += [(b + "ffn_gate.weight", [n_embd, n_ff]), (b + "ffn_up.weight", [n_embd, n_ff]),
                        (b + "ffn_down.weight", [n_ff, n_embd])]
    tensors += [("output_norm.weight", [n_embd]), ("output.weight", [n_embd, n_vocab])]
    for name, ne in tensors:
        if name in skip:
            continue
        if reshape and name in reshape:
            ne = reshape[name]
        w.tensor(name, ne, (ttype or {}).get(name, T_F32))
    return w


def clip(n_embd=16, n_ff=32, n_layer=1, img=8, patch=4, proj=16, ln2="ln2"):
    w = Writer()
    w.add("general.architecture", STRING, "clip")
    w.add("clip.projector_type", STRING, "llama4")
    w.add("clip.has_vision_encoder", BOOL, 1)
    for k, v in (("projection_dim", proj), ("image_size", img), ("patch_size", patch),
                 ("embedding_length", n_embd), ("feed_forward_length", n_ff),
                 ("block_count", n_layer), ("attention.head_count", 2),
                 ("projector.scale_factor", 2)):
        w.add("clip.vision." + k, U32, v)
    w.add("clip.vision.image_mean", ARRAY, (F32, [0.5, 0.5, 0.5]))
    w.add("clip.vision.image_std", ARRAY, (F32, [0.5, 0.5, 0.5]))
    w.add("clip.vision.attention.layer_norm_epsilon", F32, 1e-5)
    n_patch = (img // patch) ** 2
    w.tensor("v.patch_embd.weight", [3 * patch * patch, n_embd], T_F16)
    w.tensor("v.class_embd", [n_embd])
    w.tensor("v.position_embd.weight", [n_embd, n_patch + 1], T_F16)
    for nm in ("pre_ln", "post_ln"):
        w.tensor("v.%s.weight" % nm, [n_embd])
        w.tensor("v.%s.bias" % nm, [n_embd])
    for l in range(n_layer):
        b = "v.blk.%d." % l
        for nm in ("attn_q", "attn_k", "attn_v", "attn_out"):
            w.tensor(b + nm + ".weight", [n_embd, n_embd], T_F16)
            w.tensor(b + nm + ".bias", [n_embd])
        for nm in ("ln1", ln2):
            w.tensor(b + nm + ".weight", [n_embd])
            w.tensor(b + nm + ".bias", [n_embd])
        w.tensor(b + "ffn_up.weight", [n_embd, n_ff], T_F16)
        w.tensor(b + "ffn_up.bias", [n_ff])
        w.tensor(b + "ffn_down.weight", [n_ff, n_embd], T_F16)
        w.tensor(b + "ffn_down.bias", [n_embd])
    w.tensor("mm.model.mlp.1.weight", [n_ff * 2, 32], T_F16)
    w.tensor("mm.model.mlp.2.weight", [32, 32], T_F16)
    w.tensor("mm.model.fc.weight", [32, proj], T_F16)
    return w


def vocab_only():
    w = Writer()
    w.add("general.architecture", STRING, "llama4")
    w.add("tokenizer.ggml.model", STRING, "gpt2")
    w.add("tokenizer.ggml.tokens", ARRAY, (STRING, ["<s>", "</s>", "a", "b"]))
    w.add("tokenizer.ggml.bos_token_id", U32, 0)
    return w


# ------------------------------------------------------------------------------------------------
# Broken variants of the minimal file

def patched(w, **patches):
    """w's bytes with fields overwritten: name=(struct format, value); '__' stands for ':'."""
    b = w.build(3)
    for spec, (fmt, v) in patches.items():
        tag = spec.replace("__", ":")
        pos = {"version": 4, "n_tensors": 8, "n_kv": 16}.get(tag)
        if pos is None:
            pos = w.pos[tag]
        struct.pack_into(fmt, b, pos, v)
    return bytes(b)


def files():
    out = {}
    out["ok-minimal-v3.gguf"] = minimal(3).build(3)
    out["ok-minimal-v2.gguf"] = minimal(2).build(2)
    out["ok-minimal-align64.gguf"] = minimal(3, 64).build(3)
    out["ok-llama4-tiny.gguf"] = llama4().build()
    out["ok-llama4-allmoe.gguf"] = llama4(step=1).build()
    out["ok-clip-tiny.gguf"] = clip().build()
    out["ok-clip-attn-post-norm.gguf"] = clip(ln2="attn_post_norm").build()
    out["ok-vocab-only.gguf"] = vocab_only().build()
    out["ok-header-only.gguf"] = Writer().build()

    m = minimal()
    raw = m.build()
    out["bad-magic.gguf"] = b"GGUF"[::-1] + raw[4:]
    out["bad-version-1.gguf"] = patched(m, version=("<I", 1))
    out["bad-version-4.gguf"] = patched(m, version=("<I", 4))
    out["bad-version-ffffffff.gguf"] = patched(m, version=("<I", 0xFFFFFFFF))
    out["bad-big-endian.gguf"] = patched(m, version=("<I", 0x03000000))
    out["bad-kv-count-huge.gguf"] = patched(m, n_kv=("<Q", 1 << 62))
    out["bad-kv-count-plus-one.gguf"] = patched(m, n_kv=("<Q", m.n_kv + 1))
    out["bad-tensor-count-huge.gguf"] = patched(m, n_tensors=("<Q", 0xFFFFFFFFFFFFFFFF))
    out["bad-tensor-count-plus-one.gguf"] = patched(m, n_tensors=("<Q", m.n_t + 1))
    out["bad-key-length.gguf"] = patched(m, **{"kv__t.str": ("<Q", 1 << 63)})
    out["bad-string-length.gguf"] = patched(m, **{"kv__t.str__val": ("<Q", 1 << 62)})
    b = bytearray(raw)
    struct.pack_into("<Q", b, m.pos["kv:t.arr.10:val"] + 4, 1 << 61)
    out["bad-array-count.gguf"] = bytes(b)
    b = bytearray(raw)
    struct.pack_into("<Q", b, m.pos["kv:t.arr.str:val"] + 4, 1 << 60)
    out["bad-string-array-count.gguf"] = bytes(b)
    b = bytearray(raw)
    struct.pack_into("<Q", b, m.pos["kv:t.arr.nested:val"] + 12 + 4, 1 << 61)
    out["bad-nested-array-count.gguf"] = bytes(b)
    b = bytearray(raw)
    struct.pack_into("<I", b, m.pos["kv:t.str:val"] - 4, 13)
    out["bad-value-type.gguf"] = bytes(b)
    out["bad-alignment-0.gguf"] = patched(m, **{"kv__general.alignment__val": ("<I", 0)})
    out["bad-alignment-3.gguf"] = patched(m, **{"kv__general.alignment__val": ("<I", 3)})
    out["bad-tensor-offset-eof.gguf"] = patched(m, **{"t__w.q8__off": ("<Q", 1 << 40)})
    out["bad-tensor-offset-misaligned.gguf"] = patched(m, **{"t__w.q8__off": ("<Q", 68)})
    out["bad-dim-zero.gguf"] = patched(m, **{"t__tok.f32__ne": ("<Q", 0)})
    out["bad-dim-2e62.gguf"] = patched(m, **{"t__tok.f32__ne": ("<Q", 1 << 62)})
    b = bytearray(raw)
    struct.pack_into("<QQ", b, m.pos["t:tok.f32:ne"], 1 << 32, 1 << 32)
    out["bad-dim-product-overflow.gguf"] = bytes(b)
    out["bad-block-multiple.gguf"] = patched(m, **{"t__w.q8__ne": ("<Q", 48)})
    b = bytearray(raw)
    struct.pack_into("<I", b, m.pos["t:w.q8:ne"] - 4, 5)
    out["bad-n-dims-5.gguf"] = bytes(b)
    out["bad-tensor-type-99.gguf"] = patched(m, **{"t__w.q8__type": ("<I", 99)})
    b = bytearray(raw)
    nm = m.pos["t:x.3d"] + 8
    b[nm:nm + 4] = b"w.q8"
    out["bad-duplicate-tensor.gguf"] = bytes(b)
    out["bad-tensor-name-length.gguf"] = patched(m, **{"t__v.f16": ("<Q", 1 << 63)})
    out["bad-truncated-header.gguf"] = raw[:20]
    out["bad-truncated-kv.gguf"] = raw[:m.pos["kv:t.arr.str"] + 10]
    out["bad-truncated-tensor-info.gguf"] = raw[:m.pos["t:w.q8:type"] + 2]
    out["bad-truncated-data.gguf"] = raw[:-1]
    deep = Writer()
    v = (U8, [7])
    for _ in range(9):
        v = (ARRAY, [v])
    deep.add("deep", ARRAY, v[1][0])
    out["bad-nested-too-deep.gguf"] = deep.build()

    out["layout-llama4-missing-tensor.gguf"] = llama4(skip=("blk.1.ffn_gate_exps.weight",)).build()
    out["layout-llama4-bad-shape.gguf"] = llama4(reshape={"blk.0.attn_k.weight": [16, 16]}).build()
    out["layout-llama4-expert-shape.gguf"] = llama4(
        reshape={"blk.1.ffn_down_exps.weight": [16, 16, 3]}).build()
    out["layout-llama4-vocab-mismatch.gguf"] = llama4(
        reshape={"output.weight": [16, 33]}).build()
    q2 = Writer()
    q2.add("general.architecture", STRING, "test")
    q2.tensor("lowbit.weight", [256, 2], T_Q2_K)  # opens fine; the engine does not compute Q2_K
    out["layout-low-bit-type.gguf"] = q2.build()
    w = llama4()
    raw2 = w.build()
    b = bytearray(raw2)
    k = w.pos["kv:llama4.embedding_length"] + 8
    b[k:k + 6] = b"LLAMA4"
    out["layout-llama4-missing-key.gguf"] = bytes(b)
    out["layout-llama4-bad-bos.gguf"] = patched(
        w, **{"kv__tokenizer.ggml.bos_token_id__val": ("<I", 32)})
    c = clip()
    rawc = c.build()
    b = bytearray(rawc)
    k = c.pos["t:mm.model.fc.weight"] + 8
    b[k:k + 2] = b"MM"
    out["layout-clip-missing-projector.gguf"] = bytes(b)
    return {k: v for k, v in out.items() if v is not None}


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.normpath(os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fuzz", "corpus-gguf"))
    os.makedirs(outdir, exist_ok=True)
    for name, data in sorted(files().items()):
        assert len(data) < 65536, (name, len(data))
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(data)
    print("wrote %d files to %s" % (len(files()), outdir))


if __name__ == "__main__":
    main()
