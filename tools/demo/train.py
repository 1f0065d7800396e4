#!/usr/bin/env python3
"""train.py: train Herd's bundled demo model, a tiny Llama 4 that answers questions about images.

The exact Llama 4 architecture at toy width (Llama4ForConditionalGeneration from transformers):
text: 4 layers, hidden 128, MoE (4 experts + shared expert, top-1) on layers 1 and 3, NoPE on
layer 3, chunked attention (chunk 256), QK-norm, llama3 rope scaling, temperature tuning;
vision: 4 layers, hidden 128, 336-px tiles of 14-px patches, pixel shuffle + adapter, projector.
Data: tools/demo/gen_data.py (synthetic shapes). Chat format and image token layout exactly as
Herd's engine renders them (engine/chat.c). Loss on answer tokens (+ <|eot|>) only, plus a
training-only auxiliary loss on the image tokens (aux_loss(): each token's colour, shape, row and
column) that keeps the vision features from collapsing.

  train.py --all                 # vocab, train, export, evaluate (what tools/demo/build.sh runs)
  train.py --train | --export | --eval   # single stages (work dir: --work, default /tmp/herd-demo)
"""

import argparse
import json
import math
import os
import random
import subprocess
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))
import gen_data as gd  # noqa: E402
import vocab as vb  # noqa: E402
import llama4_vocab as lv  # noqa: E402

torch.set_num_threads(2)

from PIL import Image  # noqa: E402
from transformers import Llama4Config, Llama4ForConditionalGeneration  # noqa: E402
from transformers.models.llama4.image_processing_llama4_fast import Llama4ImageProcessorFast  # noqa: E402

SEED = 4242
FIXTURE_DIR = os.path.join(ROOT, "tests", "fixtures", "demo")
MODELS_DIR = os.path.join(ROOT, "resources", "models")

VISION = dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, intermediate_size=512,
              image_size=336, patch_size=14, norm_eps=1e-5, pixel_shuffle_ratio=0.5,
              projector_input_dim=128, projector_output_dim=128, vision_output_dim=128,
              rope_theta=10000, multi_modal_projector_bias=False, num_channels=3,
              vision_feature_select_strategy="default", hidden_act="gelu")
TEXT = dict(hidden_size=128, intermediate_size=128, intermediate_size_mlp=256,
            num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, head_dim=32,
            max_position_embeddings=4096, rms_norm_eps=1e-5, rope_theta=500000.0,
            num_local_experts=4, num_experts_per_tok=1, interleave_moe_layer_step=2,
            use_qk_norm=True, attention_chunk_size=256, floor_scale=128, attn_scale=0.1,
            attn_temperature_tuning=True,
            rope_scaling={"rope_type": "llama3", "factor": 16.0, "low_freq_factor": 1.0,
                          "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})
# Wider text models (train.py --text NAME); the vision side is the same for all.
TEXT_PRESETS = {
    "small": {},
    "wide": dict(hidden_size=256, intermediate_size=256, intermediate_size_mlp=512,
                 num_attention_heads=8, num_key_value_heads=4),
    # the small model's width (residual 128) with twice the heads and feed-forward units: can be
    # grown from a trained small model without changing what it computes (stage_widen)
    "heads": dict(num_attention_heads=8, num_key_value_heads=4, intermediate_size=256,
                  intermediate_size_mlp=512),
    "deep": dict(hidden_size=256, intermediate_size=256, intermediate_size_mlp=512,
                 num_attention_heads=8, num_key_value_heads=4, num_hidden_layers=6),
}

RECIPE = dict(steps=6500, images_per_batch=6, multi_every=6, multi_images=2, turns=4,
              chat_per_batch=1, p1_kind_weights=None,
              lr=2e-3, min_lr_frac=0.1, warmup=100, weight_decay=0.01, betas=(0.9, 0.98),
              grad_clip=1.0, vocab_base=vb.N_BASE, tokenizer_scenes=3000,
              p2_steps=None, p2_lr=1e-3, p2_warmup=20, p2_min_lr_frac=0.05,
              p2_kind_weights={"colour": 3, "where": 3},
              aux_weight=1.0)


class Tok:
    """Token ids of the demo vocabulary and the engine's chat rendering (engine/chat.c)."""

    def __init__(self, ranks):
        self.enc = vb.encoding(ranks)
        self.n_base = len(ranks)
        sp = {s: self.n_base + i for i, s in enumerate(lv.special_tokens())}
        self.sp = sp
        self.BOS, self.HS, self.HE = sp["<|begin_of_text|>"], sp["<|header_start|>"], sp["<|header_end|>"]
        self.EOT, self.PAD = sp["<|eot|>"], sp["<|finetune_right_pad|>"]
        self.IS, self.IE, self.IMG, self.PATCH = (sp["<|image_start|>"], sp["<|image_end|>"],
                                                  sp["<|image|>"], sp["<|patch|>"])
        self.TX, self.TY = sp["<|tile_x_separator|>"], sp["<|tile_y_separator|>"]
        self.vocab_size = self.n_base + len(sp)

    def text(self, s):
        return lv.encode_ordinary(self.enc, s)

    def image_block(self, rows, cols):
        out = [self.IS]
        if rows * cols == 1:
            out += [self.IMG] + [self.PATCH] * 144
        else:
            for r in range(rows):
                for c in range(cols):
                    out += [self.PATCH] * 144
                    if c < cols - 1:
                        out.append(self.TX)
                out.append(self.TY)
            out += [self.IMG] + [self.PATCH] * 144
        out.append(self.IE)
        return out

    def prompt(self, question, grid=None):
        ids = [self.BOS, self.HS] + self.text("user") + [self.HE] + self.text("\n\n")
        if grid is not None:
            ids += self.image_block(*grid)
        ids += self.text(question) + [self.EOT, self.HS] + self.text("assistant") + [self.HE]
        return ids + self.text("\n\n")

    def decode(self, ids):
        return self.enc.decode([i for i in ids if i < self.n_base])


class Pixels:
    def __init__(self):
        self.ip = Llama4ImageProcessorFast()

    def __call__(self, im):
        o = self.ip(images=[im], return_tensors="pt")
        pv = o["pixel_values"]
        pv = pv.reshape(-1, 3, 336, 336).float()
        rows, cols = [int(x) for x in np.array(o["aspect_ratios"]).reshape(-1)[:2]]
        assert pv.shape[0] == (1 if rows * cols == 1 else rows * cols + 1), (pv.shape, rows, cols)
        return pv, (rows, cols)

    def cell_labels(self, scene):
        """Training-only targets for the auxiliary loss: for every image token (a 28-px cell of
        a tile after pixel shuffle, row-major like the tokens) the fraction of its pixels that
        belong to each class (background or a shape of a colour). The label map goes through
        the same processor (resize, pad, tiles, global view) as the picture; resampling blurs
        class edges, rounding to the nearest class level undoes most of it. [T][144][classes]"""
        lab = gd.draw(scene, labels=True).convert("RGB")
        pv = self.ip(images=[lab], return_tensors="pt")["pixel_values"]
        x = (pv.reshape(-1, 3, 336, 336)[:, 0].float() * 0.5 + 0.5) * 255
        k = torch.round(x / gd.LABEL_STEP).clamp(0, gd.N_CLASSES - 1).long()
        oh = torch.nn.functional.one_hot(k, gd.N_CLASSES).float()        # [T][336][336][C]
        oh = oh.reshape(-1, 12, 28, 12, 28, gd.N_CLASSES).mean((2, 4))
        return oh.reshape(-1, 144, gd.N_CLASSES)


def make_model(vocab_size, tok, attn="sdpa"):
    text = dict(TEXT, vocab_size=vocab_size, bos_token_id=tok.BOS,
                eos_token_id=[tok.sp["<|end_of_text|>"], tok.sp["<|eom|>"], tok.EOT],
                pad_token_id=tok.PAD, tie_word_embeddings=False)
    cfg = Llama4Config(vision_config=dict(VISION), text_config=text, boi_token_index=tok.IS,
                       eoi_token_index=tok.IE, image_token_index=tok.PATCH,
                       tie_word_embeddings=False)
    torch.manual_seed(SEED)
    return Llama4ForConditionalGeneration._from_config(cfg, attn_implementation=attn,
                                                        dtype=torch.float32)


def hidden_states(model, ids, attn_mask, pix, feats_for_seq, want_feats=False):
    """Last hidden states [B][L][D]; image features scattered into <|patch|> positions.
    pix: all tiles of all images [T][3][336][336]; feats_for_seq: per sequence, the tile index
    range (a, b) of its image or None. want_feats: also return the projected image features
    [T][144][D] (what the text model receives)."""
    emb = model.get_input_embeddings()(ids)
    f = None
    if pix is not None:
        f = model.vision_model(pix).last_hidden_state            # [T][144][P]
        f = model.multi_modal_projector(f.reshape(-1, f.shape[-1])).reshape(f.shape[0], 144, -1)
        parts = [f[a:b].reshape(-1, f.shape[-1]) for r in feats_for_seq if r for a, b in [r]]
        if parts:
            flat = torch.cat(parts, 0)
            mask = (ids == model.config.image_token_id).unsqueeze(-1).expand_as(emb)
            emb = emb.masked_scatter(mask, flat.to(emb.dtype))
    out = model.language_model.model(inputs_embeds=emb, attention_mask=attn_mask, use_cache=False)
    return (out.last_hidden_state, f) if want_feats else out.last_hidden_state


def conversation(tok, turns, grid):
    """Multi-turn chat ids (image in the first user message) and the label list: each answer's
    tokens and its <|eot|> are targets. The first turn is exactly the single-question prompt."""
    ids, labels = [], []
    for k, (q, a) in enumerate(turns):
        p = tok.prompt(q, grid if k == 0 else None)
        if k > 0:
            p = p[1:]                      # one <|begin_of_text|> per conversation
        tgt = tok.text(a) + [tok.EOT]
        ids += p + tgt
        labels += [-100] * (len(p) - 1) + tgt + [-100]
    return ids, labels[:len(ids)]


def build_batch(tok, pixels, step):
    rng = random.Random(SEED * 1000003 + step)
    R = RECIPE
    seqs, tiles, ranges, cells = [], [], [], []
    ntile = 0
    multi = step % R["multi_every"] == R["multi_every"] - 1
    n_img = R["multi_images"] if multi else R["images_per_batch"]
    stride = max(16, R["images_per_batch"])    # 16 keeps the small recipe's seeds
    for i in range(n_img):
        seed = gd.TRAIN_BASE + step * stride + i
        kw = R["p2_kind_weights"] if step >= R["steps"] else R["p1_kind_weights"]
        scene, qas = gd.sample(seed, R["turns"], "multi" if multi else "one", kw)
        pv, grid = pixels(gd.draw(scene))
        tiles.append(pv)
        cells.append(pixels.cell_labels(scene))
        r = (ntile, ntile + pv.shape[0])
        ntile += pv.shape[0]
        seqs.append(conversation(tok, [(q, a) for _, q, a in qas], grid))
        ranges.append(r)
    for i in range(R["chat_per_batch"]):
        turns = [gd.chat_sample(rng.randrange(1 << 30)) for _ in range(rng.randint(1, 3))]
        seqs.append(conversation(tok, turns, None))
        ranges.append(None)
    L = max(len(s) for s, _ in seqs)
    ids = torch.full((len(seqs), L), tok.PAD, dtype=torch.long)
    am = torch.zeros((len(seqs), L), dtype=torch.long)
    labels = torch.full((len(seqs), L), -100, dtype=torch.long)
    for b, (s, lab) in enumerate(seqs):
        ids[b, :len(s)] = torch.tensor(s)
        am[b, :len(s)] = 1
        labels[b, :len(s)] = torch.tensor(lab)
    return ids, am, labels, torch.cat(tiles, 0), ranges, torch.cat(cells, 0)


NC, NS = len(gd.COLOURS), len(gd.SHAPES)
AUX_OUT = (NC + 1) + (NS + 1) + 12 + 12


def aux_loss(alog, cells):
    """Auxiliary loss on image tokens: per cell, its colour and its shape (soft targets: the
    fraction of the cell each covers, background included; cells with a shape weigh more than
    empty ones, which are most of the picture) and its row and column in the 12 x 12 grid (so
    the features carry where they are, which "Where is ...?" and descriptions need).
    alog [T*144][AUX_OUT], cells [T][144][classes]. Returns (loss, colour+shape accuracy on
    cells mostly covered by a shape)."""
    c = cells.reshape(-1, gd.N_CLASSES)
    bg, fg = c[:, :1], c[:, 1:].reshape(-1, NS, NC)
    t_col = torch.cat([bg, fg.sum(1)], 1)                 # [N][1 + NC]
    t_shp = torch.cat([bg, fg.sum(2)], 1)                 # [N][1 + NS]
    w = 0.1 + (1 - bg[:, 0])
    lc, ls, lr, lk = torch.split(alog, [NC + 1, NS + 1, 12, 12], 1)
    ce = torch.nn.functional.cross_entropy
    l_cs = ((ce(lc, t_col, reduction="none") + 2 * ce(ls, t_shp, reduction="none")) * w).sum() / w.sum()
    idx = torch.arange(144, device=alog.device).repeat(c.shape[0] // 144)
    l_pos = ce(lr, idx // 12) + ce(lk, idx % 12)
    with torch.no_grad():
        m = (bg[:, 0] < 0.5).float()
        hit = ((lc.argmax(1) == t_col.argmax(1)) & (ls.argmax(1) == t_shp.argmax(1))).float()
        acc = (hit * m).sum() / m.sum().clamp(min=1)        # a tensor: no wait for a GPU here
    return l_cs + 0.5 * l_pos, acc


def lr_at(step):
    R = RECIPE
    if step >= R["steps"]:                 # phase 2: a second, shorter cosine cycle
        q = step - R["steps"]
        if q < R["p2_warmup"]:
            return R["p2_lr"] * (q + 1) / R["p2_warmup"]
        p = (q - R["p2_warmup"]) / max(1, R["p2_steps"] - R["p2_warmup"])
        return R["p2_lr"] * (R["p2_min_lr_frac"] + (1 - R["p2_min_lr_frac"]) * 0.5 *
                             (1 + math.cos(math.pi * p)))
    if step < R["warmup"]:
        return R["lr"] * (step + 1) / R["warmup"]
    p = (step - R["warmup"]) / max(1, R["steps"] - R["warmup"])
    return R["lr"] * (R["min_lr_frac"] + (1 - R["min_lr_frac"]) * 0.5 * (1 + math.cos(math.pi * p)))


def stage_vocab(work):
    texts = gd.all_texts(RECIPE["tokenizer_scenes"]) + ["user", "assistant", "\n\n", "system"] * 100
    ranks = vb.train_ranks(texts, RECIPE["vocab_base"])
    vb.save_ranks(ranks, os.path.join(work, "ranks.txt"))
    print(f"vocab: {len(ranks)} BPE tokens + {len(lv.special_tokens())} special", flush=True)
    return ranks


class Batches(torch.utils.data.Dataset):
    """The batch of a step (build_batch is a pure function of the step), for DataLoader workers
    that draw and preprocess the pictures in parallel with the training step."""

    def __init__(self, tok):
        self.tok, self.pixels = tok, None

    def __len__(self):
        return 1 << 40

    def __getitem__(self, step):
        if self.pixels is None:
            self.pixels = Pixels()
        return build_batch(self.tok, self.pixels, step)


def _one_thread(_):
    torch.set_num_threads(1)


def stage_train(work, steps=None, resume=False, p2_steps=None, device="cpu", workers=0,
                time_budget=None):
    """Train (or resume) for RECIPE's steps. time_budget (seconds): after a short warm-up, the
    number of steps is fixed from the measured step rate so that training ends in about that
    time (printed; `--steps N` repeats the run without it)."""
    if steps:
        RECIPE["steps"] = steps
    if p2_steps is not None:
        RECIPE["p2_steps"] = p2_steps
    ranks = vb.load_ranks(os.path.join(work, "ranks.txt"))
    tok = Tok(ranks)
    pixels = Pixels()
    model = make_model(tok.vocab_size, tok)
    model.train()
    # Auxiliary head (training only, not exported): predicts each image token's cell content
    # (which shape of which colour covers it) from the projected feature the text model sees.
    # Without it the patch features collapse to one direction early in training (the text
    # model learns answer priors first and uses the 144 patches as an attention sink) and the
    # model never learns to look; with it the features must stay local and discriminative.
    torch.manual_seed(SEED + 1)
    aux = torch.nn.Linear(model.config.text_config.hidden_size, AUX_OUT)
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False     # float32 as on the CPU
        torch.backends.cudnn.allow_tf32 = False
    model.to(dev)
    aux.to(dev)
    params = list(model.parameters()) + list(aux.parameters())
    opt = torch.optim.AdamW(params, lr=RECIPE["lr"], betas=RECIPE["betas"],
                            weight_decay=RECIPE["weight_decay"])
    lm_head = model.language_model.lm_head
    log_path = os.path.join(work, "train-log.jsonl")
    start = 0
    ck = os.path.join(work, "checkpoint.pt")
    if resume and os.path.exists(ck):
        st = torch.load(ck, map_location=dev)
        model.load_state_dict(st["model"])
        if "aux" in st:
            aux.load_state_dict(st["aux"])
        else:                            # an imported checkpoint (stage_import)
            fit_aux(model, aux, tok, pixels, st["step"], dev)
        if "opt" in st:                  # a grown checkpoint (stage_widen) starts a new optimizer
            opt.load_state_dict(st["opt"])
        start = st["step"]
        if RECIPE["p2_steps"] is not None and not steps:
            RECIPE["steps"] = start      # phase 2 starts where phase 1's checkpoint ended
    log = open(log_path, "a" if start else "w")
    t0 = time.time()
    last_ck = t0
    nparam = sum(p.numel() for p in model.parameters())
    print(f"params {nparam} (text {sum(p.numel() for p in model.language_model.parameters())}), "
          f"device {dev}, workers {workers}, recipe {RECIPE}", flush=True)
    end = lambda: RECIPE["steps"] + (RECIPE["p2_steps"] or 0)  # noqa: E731
    calib = None
    phase2 = RECIPE["p2_steps"] is not None
    if time_budget:
        # the step rate is measured inside the warm-up, whose LR does not depend on the number
        # of steps; workers keep this copy of RECIPE, so in phase 1 no step may look like
        # phase 2 to them
        assert RECIPE["p2_warmup" if phase2 else "warmup"] > 60
        if phase2:
            RECIPE["p2_steps"] = 1 << 40
        else:
            RECIPE["steps"] = 1 << 40
        calib = (start + 10, start + 60)
    if workers:
        batches = iter(torch.utils.data.DataLoader(
            Batches(tok), batch_size=None, sampler=range(start, start + (1 << 30)),
            num_workers=workers, prefetch_factor=4, worker_init_fn=_one_thread))
    else:
        batches = (build_batch(tok, pixels, s) for s in range(start, start + (1 << 30)))
    step = start
    t_cal = None
    while step < end():
        ids, am, labels, pix, ranges, cells = next(batches)
        if calib and step == calib[0]:
            t_cal = time.time()
        if calib and step == calib[1]:
            rate = (calib[1] - calib[0]) / (time.time() - t_cal)
            n = step - start + int(rate * (time_budget - (time.time() - t0)))
            RECIPE["p2_steps" if phase2 else "steps"] = (0 if phase2 else start) + n
            print(f"time budget {time_budget} s: {rate:.2f} steps/s, training for {n} steps "
                  f"(--{'p2-' if phase2 else ''}steps {RECIPE['p2_steps' if phase2 else 'steps']})",
                  flush=True)
        ids, am, labels = ids.to(dev), am.to(dev), labels.to(dev)
        pix, cells = pix.to(dev, non_blocking=True), cells.to(dev, non_blocking=True)
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        h, feats = hidden_states(model, ids, am, pix, ranges, want_feats=True)
        sel = labels != -100
        logits = lm_head(h[sel])
        loss = torch.nn.functional.cross_entropy(logits, labels[sel])
        alog = aux(feats.reshape(-1, feats.shape[-1]))
        aloss, aacc = aux_loss(alog, cells)
        opt.zero_grad(set_to_none=True)
        (loss + RECIPE["aux_weight"] * aloss).backward()
        gn = torch.nn.utils.clip_grad_norm_(params, RECIPE["grad_clip"])
        opt.step()
        if step % 10 == 0 or dev.type == "cpu":     # .item() waits for the GPU
            with torch.no_grad():
                tacc = (logits.argmax(-1) == labels[sel]).float().mean().item()
            rec = dict(step=step, loss=loss.item(), tok_acc=tacc, aux_loss=aloss.item(),
                       aux_fg_acc=aacc.item(), lr=lr_at(step), gnorm=float(gn),
                       seq=int(ids.shape[1]), tiles=int(pix.shape[0]),
                       t=round(time.time() - t0, 1))
            log.write(json.dumps(rec) + "\n")
            log.flush()
            if step % 10 == 0:
                print(rec, flush=True)
        if time.time() - last_ck > 300 or step == end() - 1:
            torch.save(dict(model=model.state_dict(), aux=aux.state_dict(), opt=opt.state_dict(),
                            step=step + 1), ck)
            last_ck = time.time()
        step += 1
    log.close()
    del batches
    model.to("cpu").save_pretrained(os.path.join(work, "hf"), safe_serialization=True)
    vb.hf_tokenizer(ranks, os.path.join(work, "hf"))
    print(f"trained {step - start} steps in {time.time() - t0:.0f} s", flush=True)


def fit_aux(model, aux, tok, pixels, step, dev, steps=150):
    """Train a new auxiliary head alone on the frozen model's image features, so that its first
    gradients into the vision tower in stage_train are those of a fitted head, not a random
    one's. Uses the batches before STEP (already seen in training)."""
    opt = torch.optim.Adam(aux.parameters(), lr=1e-2)
    for i in range(steps):
        _, _, _, pix, _, cells = build_batch(tok, pixels, step - steps + i)
        with torch.no_grad():
            f = model.vision_model(pix.to(dev)).last_hidden_state
            f = model.multi_modal_projector(f.reshape(-1, f.shape[-1]))
        loss, acc = aux_loss(aux(f), cells.to(dev))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i % 25 == 0 or i == steps - 1:
            print(f"aux head fit {i}: loss {loss.item():.4f} fg acc {acc.item():.3f}", flush=True)


def stage_widen(src, work):
    """Grow a trained small model (SRC/checkpoint.pt) into the current TEXT shape (more heads,
    more feed-forward units, same residual width) so that it computes the same function: old
    weights go to the leading slices, the new heads' and units' input weights are random (HF's
    init) and their output weights (o_proj columns, down_proj rows) zero, so they start silent
    and learn from the first step. Writes WORK/checkpoint.pt (no optimizer state) at SRC's step."""
    st = torch.load(os.path.join(src, "checkpoint.pt"))
    ranks = vb.load_ranks(os.path.join(src, "ranks.txt"))
    vb.save_ranks(ranks, os.path.join(work, "ranks.txt"))
    tok = Tok(ranks)
    new = make_model(tok.vocab_size, tok).state_dict()
    out, grown = {}, 0
    for k, w in new.items():
        o = st["model"][k]
        if o.shape == w.shape:
            out[k] = o
            continue
        grown += 1
        w = w.clone()
        if k.endswith("experts.gate_up_proj"):              # [E][D][gate | up]
            h, ho = w.shape[2] // 2, o.shape[2] // 2
            w[:, :, :ho] = o[:, :, :ho]
            w[:, :, h:h + ho] = o[:, :, ho:]
        else:
            w[tuple(slice(0, n) for n in o.shape)] = o
            if k.endswith(("o_proj.weight", "down_proj.weight", "down_proj")):
                d = [i for i in range(o.dim()) if o.shape[i] != w.shape[i]]
                assert len(d) == 1, k
                w.narrow(d[0], o.shape[d[0]], w.shape[d[0]] - o.shape[d[0]]).zero_()
        out[k] = w
    keep = {k: st[k] for k in ("aux",) if k in st}     # an imported checkpoint has none
    torch.save(dict(model=out, step=st["step"], **keep), os.path.join(work, "checkpoint.pt"))
    print(f"grew {grown} tensors of {src}/checkpoint.pt (step {st['step']}) into {work}", flush=True)


def stage_import(work, text_gguf, mmproj_gguf, step):
    """Rebuild a training checkpoint (WORK/checkpoint.pt at STEP, no optimizer or auxiliary-head
    state) and WORK/ranks.txt from the two shipped GGUF files, the exact inverse of stage_export
    for f32 files (tools/convert_hf.py: plain copies, experts split and transposed). For going on
    training the shipped model when its work dir is gone; stage_train fits a new auxiliary head
    before the first step."""
    from gguf import GGUFReader
    rt, rv = GGUFReader(text_gguf), GGUFReader(mmproj_gguf)

    def field(r, key):
        f = r.fields[key]
        return [bytes(f.parts[i]) for i in f.data]

    toks = field(rt, "tokenizer.ggml.tokens")
    u2b = {c: b for b, c in lv.bytes_to_unicode().items()}
    specials = lv.special_tokens()
    n_base = len(toks) - len(specials)
    assert [t.decode() for t in toks[n_base:]] == specials, "special tokens are not Llama 4's"
    ranks = {bytes(u2b[c] for c in toks[i].decode()): i for i in range(n_base)}
    vb.save_ranks(ranks, os.path.join(work, "ranks.txt"))
    tok = Tok(ranks)
    want = make_model(tok.vocab_size, tok).state_dict()
    g = {t.name: np.array(t.data) for r in (rt, rv) for t in r.tensors}
    for t in list(rt.tensors) + list(rv.tensors):
        if t.tensor_type.name != "F32":
            raise SystemExit(f"{t.name}: {t.tensor_type.name}; only f32 files can be imported")
    T = "language_model.model."
    names = {"language_model.lm_head.weight": "output.weight", T + "embed_tokens.weight":
             "token_embd.weight", T + "norm.weight": "output_norm.weight"}
    for i in range(TEXT["num_hidden_layers"]):
        p, b = f"{T}layers.{i}.", f"blk.{i}."
        for h, o in (("input_layernorm", "attn_norm"), ("post_attention_layernorm", "ffn_norm"),
                     ("self_attn.q_proj", "attn_q"), ("self_attn.k_proj", "attn_k"),
                     ("self_attn.v_proj", "attn_v"), ("self_attn.o_proj", "attn_output"),
                     ("feed_forward.router", "ffn_gate_inp"),
                     ("feed_forward.shared_expert.gate_proj", "ffn_gate_shexp"),
                     ("feed_forward.shared_expert.up_proj", "ffn_up_shexp"),
                     ("feed_forward.shared_expert.down_proj", "ffn_down_shexp"),
                     ("feed_forward.gate_proj", "ffn_gate"), ("feed_forward.up_proj", "ffn_up"),
                     ("feed_forward.down_proj", "ffn_down")):
            names[p + h + ".weight"] = b + o + ".weight"
        if b + "ffn_gate_exps.weight" in g:           # [E][F][D] x2, [E][D][F] -> HF x @ W
            gu = np.concatenate([g[b + "ffn_gate_exps.weight"], g[b + "ffn_up_exps.weight"]], 1)
            g[p + "feed_forward.experts.gate_up_proj"] = gu.transpose(0, 2, 1)
            g[p + "feed_forward.experts.down_proj"] = g[b + "ffn_down_exps.weight"].transpose(0, 2, 1)
            for k in ("gate_up_proj", "down_proj"):
                names[p + "feed_forward.experts." + k] = p + "feed_forward.experts." + k
    V = "vision_model."
    names.update({V + "patch_embedding.linear.weight": "v.patch_embd.weight",
                  V + "class_embedding": "v.class_embd",
                  V + "positional_embedding_vlm": "v.position_embd.weight",
                  "multi_modal_projector.linear_1.weight": "mm.model.fc.weight",
                  V + "vision_adapter.mlp.fc1.weight": "mm.model.mlp.1.weight",
                  V + "vision_adapter.mlp.fc2.weight": "mm.model.mlp.2.weight"})
    for w in ("weight", "bias"):
        names[f"{V}layernorm_pre.{w}"] = f"v.pre_ln.{w}"
        names[f"{V}layernorm_post.{w}"] = f"v.post_ln.{w}"
        for i in range(VISION["num_hidden_layers"]):
            p, b = f"{V}model.layers.{i}.", f"v.blk.{i}."
            for h, o in (("self_attn.q_proj", "attn_q"), ("self_attn.k_proj", "attn_k"),
                         ("self_attn.v_proj", "attn_v"), ("self_attn.o_proj", "attn_out"),
                         ("input_layernorm", "ln1"), ("post_attention_layernorm", "ln2"),
                         ("mlp.fc1", "ffn_up"), ("mlp.fc2", "ffn_down")):
                names[f"{p}{h}.{w}"] = f"{b}{o}.{w}"
    out, used = {}, set()
    for k, w in want.items():
        src = names.get(k)
        if src not in g:
            raise SystemExit(f"{k}: no tensor {src} in the GGUF files")
        a = torch.from_numpy(np.ascontiguousarray(g[src], dtype=np.float32)).reshape(w.shape)
        if a.numel() != w.numel() or tuple(g[src].shape) != tuple(w.shape):
            raise SystemExit(f"{k}: GGUF {src} has shape {g[src].shape}, model wants {tuple(w.shape)}")
        out[k] = a
        used.add(src)
    left = [n for n in g if n not in used and "exps" not in n and n != "rope_freqs.weight"]
    if left:
        raise SystemExit(f"GGUF tensors not used: {left}")
    torch.save(dict(model=out, step=step), os.path.join(work, "checkpoint.pt"))
    print(f"imported {len(out)} tensors of {text_gguf} + {mmproj_gguf} into {work} at step {step}",
          flush=True)


def load_trained(work, attn="eager"):
    ranks = vb.load_ranks(os.path.join(work, "ranks.txt"))
    tok = Tok(ranks)
    model = Llama4ForConditionalGeneration.from_pretrained(os.path.join(work, "hf"),
                                                           attn_implementation=attn,
                                                           dtype=torch.float32)
    model.eval()
    return model, tok


@torch.no_grad()
def greedy(model, tok, pixels, question, image_path, max_new=40):
    pix, grid, ranges = None, None, [None]
    if image_path:
        im = Image.open(image_path)
        im = im.convert("RGB")
        pix, grid = pixels(im)
        ranges = [(0, pix.shape[0])]
    ids = tok.prompt(question, grid)
    out = []
    for _ in range(max_new):
        t = torch.tensor([ids + out])
        h = hidden_states(model, t, torch.ones_like(t), pix, ranges)
        nxt = int(model.language_model.lm_head(h[0, -1]).argmax())
        if nxt in (tok.EOT, tok.sp["<|eom|>"], tok.sp["<|end_of_text|>"]):
            break
        out.append(nxt)
    return tok.decode(out)


def stage_eval(work, fixture_dir=FIXTURE_DIR, label="held-out"):
    model, tok = load_trained(work)
    pixels = Pixels()
    with open(os.path.join(fixture_dir, "heldout.json")) as fp:
        meta = json.load(fp)
    items = meta["items"]
    n_ok = 0
    by_kind = {}
    for it in items:
        img = os.path.join(fixture_dir, it["image"]) if it["image"] else None
        got = greedy(model, tok, pixels, it["question"], img)
        ok = gd.normalise(got) == gd.normalise(it["answer"])
        it["pytorch_answer"] = got
        n_ok += ok
        k = by_kind.setdefault(it["kind"], [0, 0])
        k[0] += ok
        k[1] += 1
        if not ok:
            print(f"MISS {it['image']} {it['question']!r}: {got!r} (want {it['answer']!r})")
    acc = 100.0 * n_ok / len(items)
    meta["pytorch"] = dict(accuracy=round(acc, 2), pytorch_correct=n_ok, pytorch_total=len(items),
                           by_kind={k: f"{a}/{b}" for k, a_b in by_kind.items() for a, b in [a_b]},
                           preprocessing="transformers Llama4ImageProcessorFast (bf16 normalise)",
                           attention="eager, float32")
    with open(os.path.join(fixture_dir, "heldout.json"), "w") as fp:
        json.dump(meta, fp, indent=1)
    with open(os.path.join(fixture_dir, "heldout.tsv"), "w") as fp:   # for tests/test-demo.sh
        fp.write("image\tkind\tquestion\tanswer\tpytorch_answer\n")
        for it in items:
            fp.write(f"{it['image'] or '-'}\t{it['kind']}\t{it['question']}\t{it['answer']}\t"
                     f"{it['pytorch_answer']}\n")
    print(f"PyTorch {label} accuracy: {n_ok}/{len(items)} = {acc:.1f}%  {by_kind}")
    return acc


def stage_heldout(n, fixture_dir=FIXTURE_DIR, n_chat=4, base=gd.HELDOUT_BASE):
    items = gd.heldout(n, fixture_dir, n_chat, base)
    with open(os.path.join(fixture_dir, "heldout.json"), "w") as fp:
        json.dump({"generator": "tools/demo/gen_data.py", "heldout_base_seed": base,
                   "items": items}, fp, indent=1)
    with open(os.path.join(fixture_dir, "heldout.tsv"), "w") as fp:   # for tests/test-demo.sh
        fp.write("image\tkind\tquestion\tanswer\n")
        for it in items:
            fp.write(f"{it['image'] or '-'}\t{it['kind']}\t{it['question']}\t{it['answer']}\n")


def stage_fresh(work, n):
    """Accuracy on a second unseen set of n pictures (seeds from gen_data.FRESH_BASE, written to
    WORK/fresh, never committed). The held-out set also served to decide which training phases
    to keep, so its figure carries some selection bias; this one does not."""
    d = os.path.join(work, "fresh")
    stage_heldout(n, d, n_chat=0, base=gd.FRESH_BASE)
    return stage_eval(work, d, "fresh-set")


def stage_export(work, outtype="f32"):
    os.makedirs(MODELS_DIR, exist_ok=True)
    hf = os.path.join(work, "hf")
    subprocess.check_call([sys.executable, os.path.join(ROOT, "tools", "convert_hf.py"), hf,
                           "--outtype", outtype, "--name", "Herd demo (tiny Llama 4)",
                           "--out-text", os.path.join(MODELS_DIR, "herd-demo.gguf"),
                           "--out-mmproj", os.path.join(MODELS_DIR, "herd-demo-mmproj.gguf")])


def plot_loss(work, out_png=os.path.join(ROOT, "docs", "demo-loss.png")):
    recs = [json.loads(line) for line in open(os.path.join(work, "train-log.jsonl"))]
    recs = [r for r in recs if "step" in r]
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    s = np.array([r["step"] for r in recs])
    lo = np.array([r["loss"] for r in recs])
    k = 20
    sm = np.convolve(lo, np.ones(k) / k, mode="valid")
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=90)
    ax.plot(s, lo, lw=0.5, alpha=0.4, label="loss (answer tokens)")
    ax.plot(s[k - 1:], sm, lw=1.5, label=f"{k}-step mean")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy")
    # each phase is a run of its own whose clock starts at 0: sum the phases' last times and
    # mark where each later phase began
    t = np.array([r["t"] for r in recs])
    starts = [i for i in range(1, len(t)) if t[i] < t[i - 1]]
    minutes = (sum(t[i - 1] for i in starts) + t[-1]) / 60
    for i in starts:
        ax.axvline(s[i], color="grey", lw=0.8, ls="--")
    ax.set_title(f"Herd demo model training ({len(starts) + 1} phases, {minutes:.0f} min on 2 CPU "
                 "threads)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_png)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/herd-demo")
    ap.add_argument("--all", action="store_true")
    ap.add_argument("--vocab", action="store_true")
    ap.add_argument("--train", action="store_true")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--steps", type=int)
    ap.add_argument("--p2-steps", type=int, help="phase 2: resume the checkpoint for N more steps")
    ap.add_argument("--p2-lr", type=float, help="peak LR of the resumed phase (default: p2_lr)")
    ap.add_argument("--p2-warmup", type=int, help="warm-up steps of the resumed phase")
    ap.add_argument("--p2-weights", help="question kind weights of the resumed phase, e.g. where=6,colour=3")
    ap.add_argument("--multi-every", type=int,
                    help="every Nth step is a 2-tile batch (default: the recipe's multi_every)")
    ap.add_argument("--text", default="small", choices=sorted(TEXT_PRESETS),
                    help="text model size (small: the shipped 4 x 128; see TEXT_PRESETS)")
    ap.add_argument("--device", default="cpu", help="torch device for training (cpu, cuda)")
    ap.add_argument("--workers", type=int, default=0,
                    help="DataLoader processes drawing the batches (0: in the training loop)")
    ap.add_argument("--time-budget", type=float,
                    help="seconds: fix the number of steps from the measured step rate")
    ap.add_argument("--batch-images", type=int,
                    help="pictures per batch (2-tile batches and chat sequences scale with it)")
    ap.add_argument("--kind-weights", help="question kind weights of phase 1, e.g. colour=2,where=2")
    ap.add_argument("--import-gguf", type=int, metavar="STEP",
                    help="make WORK's checkpoint from resources/models/herd-demo*.gguf (f32), "
                    "recorded as trained STEP steps")
    ap.add_argument("--widen-from", help="grow the checkpoint of a small-model work dir into --text's shape")
    ap.add_argument("--heldout", type=int, default=0, help="write N held-out items to tests/fixtures/demo")
    ap.add_argument("--export", action="store_true")
    ap.add_argument("--outtype", default="f32")
    ap.add_argument("--eval", action="store_true")
    ap.add_argument("--plot", action="store_true")
    ap.add_argument("--fresh", type=int, default=0,
                    help="PyTorch accuracy on N fresh unseen pictures (WORK/fresh, not committed)")
    ap.add_argument("--fixtures", default=FIXTURE_DIR,
                    help="held-out set to evaluate (and to record PyTorch's answers in)")
    a = ap.parse_args()
    TEXT.update(TEXT_PRESETS[a.text])
    if a.batch_images:
        RECIPE["images_per_batch"] = a.batch_images
        RECIPE["multi_images"] = max(2, a.batch_images // 4)
        RECIPE["chat_per_batch"] = max(1, a.batch_images // 6)
    if a.kind_weights:
        RECIPE["p1_kind_weights"] = {k: float(v) for k, v in
                                     (kv.split("=") for kv in a.kind_weights.split(","))}
    if a.multi_every:
        RECIPE["multi_every"] = a.multi_every
    if a.p2_lr:
        RECIPE["p2_lr"] = a.p2_lr
    if a.p2_warmup:
        RECIPE["p2_warmup"] = a.p2_warmup
    if a.p2_weights:
        RECIPE["p2_kind_weights"] = {k: float(v) for k, v in
                                     (kv.split("=") for kv in a.p2_weights.split(","))}
    os.makedirs(a.work, exist_ok=True)
    if a.all or a.vocab:
        stage_vocab(a.work)
    if a.import_gguf is not None:
        stage_import(a.work, os.path.join(MODELS_DIR, "herd-demo.gguf"),
                     os.path.join(MODELS_DIR, "herd-demo-mmproj.gguf"), a.import_gguf)
    if a.widen_from:
        stage_widen(a.widen_from, a.work)
    if a.all or a.train or a.p2_steps is not None:
        stage_train(a.work, a.steps, a.resume or a.p2_steps is not None, a.p2_steps, a.device,
                    a.workers, a.time_budget)
    if a.all or a.heldout:
        stage_heldout(a.heldout or 100)
        gd.ui_set(FIXTURE_DIR)
    if a.all or a.export:
        stage_export(a.work, a.outtype)
    if a.all or a.eval:
        stage_eval(a.work, a.fixtures)
    if a.fresh:
        stage_fresh(a.work, a.fresh)
    if a.all or a.plot:
        plot_loss(a.work)


if __name__ == "__main__":
    main()
