#!/usr/bin/env python3
"""Write a Llama 4 vision projector (mmproj GGUF) of the real shape with random weights, for
benchmarks: 336 px tiles, patch 14, width 1408, 34 layers, 16 heads, MLP 5632, adapter 4096,
projection to --proj-dim (5120 for Scout/Maverick, 2048 for the `mini` benchmark shape).

    /work/venv/bin/python tools/make_synthetic_mmproj.py --out /tmp/vision.gguf [--proj-dim 2048]

Needs numpy and gguf (PyPI). The file is ~1.7 GB in F16; weights ~ N(0, 1/fan_in)."""
import argparse

import numpy as np
import gguf


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--proj-dim", type=int, default=5120)
    ap.add_argument("--layers", type=int, default=34)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    W, F, H, A, L = 1408, 5632, 16, 4096, a.layers
    w = gguf.GGUFWriter(a.out, "clip")
    w.add_string("general.type", "mmproj")
    w.add_string("general.name", "synthetic-llama4-vision")
    w.add_bool("clip.has_vision_encoder", True)
    w.add_string("clip.projector_type", "llama4")
    w.add_bool("clip.use_gelu", True)
    for k, v in [("image_size", 336), ("patch_size", 14), ("embedding_length", W),
                 ("feed_forward_length", F), ("block_count", L), ("attention.head_count", H),
                 ("projection_dim", a.proj_dim), ("projector.scale_factor", 2)]:
        w.add_uint32("clip.vision." + k, v)
    w.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-5)
    w.add_array("clip.vision.image_mean", [0.5, 0.5, 0.5])
    w.add_array("clip.vision.image_std", [0.5, 0.5, 0.5])

    def mat(name, out_f, in_f):  # PyTorch [out][in] = ggml ne [in, out]
        x = rng.standard_normal((out_f, in_f), dtype=np.float32) / np.sqrt(in_f)
        w.add_tensor(name, x.astype(np.float16))

    def vec(name, n, one=False):
        x = rng.standard_normal(n, dtype=np.float32) * 0.02 + (1.0 if one else 0.0)
        w.add_tensor(name, x.astype(np.float32))

    mat("v.patch_embd.weight", W, 588)
    vec("v.class_embd", W)
    w.add_tensor("v.position_embd.weight",
                 (rng.standard_normal((577, W), dtype=np.float32) * 0.02).astype(np.float32))
    vec("v.pre_ln.weight", W, True)
    vec("v.pre_ln.bias", W)
    for l in range(L):
        p = f"v.blk.{l}."
        for t in ("attn_q", "attn_k", "attn_v", "attn_out"):
            mat(p + t + ".weight", W, W)
            vec(p + t + ".bias", W)
        vec(p + "ln1.weight", W, True)
        vec(p + "ln1.bias", W)
        vec(p + "ln2.weight", W, True)
        vec(p + "ln2.bias", W)
        mat(p + "ffn_up.weight", F, W)
        vec(p + "ffn_up.bias", F)
        mat(p + "ffn_down.weight", W, F)
        vec(p + "ffn_down.bias", W)
    vec("v.post_ln.weight", W, True)
    vec("v.post_ln.bias", W)
    mat("mm.model.mlp.1.weight", A, 4 * W)
    mat("mm.model.mlp.2.weight", A, A)
    mat("mm.model.fc.weight", a.proj_dim, A)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
