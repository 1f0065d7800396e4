#!/usr/bin/env python3
"""gen_data.py: synthetic image question/answer data for Herd's bundled demo model.

Scenes are drawn with PIL, deterministically per seed: 1-3 shapes (circle, square, triangle,
star) in 4 colours (red, green, blue, yellow), each in its own slot (left, right, top, bottom,
center), of varying size, on plain or noisy backgrounds; most images are <= 336x336 (one 336-px
tile), a minority 672x336 / 336x672 (two tiles + the global view). Each scene yields short
question/answer pairs with canonical answers; text-only chat pairs are mixed in.

Training uses seeds TRAIN_BASE + i; the held-out set uses HELDOUT_BASE + i, the fresh set (a
larger unseen set used only to estimate accuracy without the held-out set's selection bias)
FRESH_BASE + i (never trained on).

  gen_data.py --heldout N --out DIR     # write N held-out items (PNG + heldout.json) to DIR
"""

import argparse
import json
import math
import os
import random

import numpy as np

from PIL import Image, ImageDraw

TRAIN_BASE = 1_000_000
HELDOUT_BASE = 9_000_000
UI_BASE = 9_500_000             # the UI test's pictures (never trained on either)
FRESH_BASE = 9_700_000          # a second, larger unseen set (train.py --fresh), not committed

COLOURS = {"red": (215, 35, 35), "green": (35, 160, 55), "blue": (35, 75, 215),
           "yellow": (240, 200, 20)}
SHAPES = ["circle", "square", "triangle", "star"]
PLURAL = {s: s + "s" for s in SHAPES}
SLOTS = {"left": (0.2, 0.5), "right": (0.8, 0.5), "top": (0.5, 0.2), "bottom": (0.5, 0.8),
         "center": (0.5, 0.5)}
SLOT_ORDER = ["left", "top", "center", "bottom", "right"]
WHERE = {"left": "On the left.", "right": "On the right.", "top": "At the top.",
         "bottom": "At the bottom.", "center": "In the center."}
WHERE_PHRASE = {"left": "on the left", "right": "on the right", "top": "at the top",
                "bottom": "at the bottom", "center": "in the center"}
NUM = ["0", "1", "2", "3"]
BACKGROUNDS = [(255, 255, 255), (235, 235, 235), (245, 240, 225), (210, 215, 225), (60, 60, 60)]
# (w, h, weight): 1 tile (incl. up-scaled and padded ones) and a minority of 2-tile images
SIZES = [(336, 336, 50), (224, 224, 12), (300, 200, 8), (200, 300, 8), (336, 252, 8),
         (672, 336, 7), (336, 672, 7)]

CHAT = [
    (["Hello", "Hello!", "Hi", "Hi!", "Hey", "Hello there"],
     "Hello! Show me a picture of simple shapes and ask me about it."),
    (["What are you?", "Who are you?", "What are you", "Tell me about yourself."],
     "I am Herd's small demo model. For real work, load a Llama 4 Scout or Maverick GGUF."),
    (["What can you do?", "Help", "What can I ask you?"],
     "I can answer simple questions about the shapes, colours, counts and positions in a "
     "picture."),
    (["Thank you", "Thanks!", "Thanks"], "You're welcome!"),
]


def star_points(cx, cy, r, rot):
    pts = []
    for k in range(10):
        a = rot + math.pi * k / 5 - math.pi / 2
        rr = r if k % 2 == 0 else r * 0.45
        pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
    return pts


def make_scene(seed, tiles=None):
    """A scene description: size, background, objects (shape, colour, slot, radius).
    tiles: None = any size (natural mix), "one" / "multi" = only 1-tile / 2-tile sizes."""
    rng = random.Random(seed)
    sizes = [s for s in SIZES if tiles is None or (tiles == "multi") == (s[0] * s[1] > 336 * 336)]
    w, h = rng.choices([(a, b) for a, b, _ in sizes], weights=[c for _, _, c in sizes])[0]
    n = rng.choice([1, 1, 2, 2, 3])
    slots = rng.sample(list(SLOTS), n)
    objs = []
    for i, sl in enumerate(slots):
        if i > 0 and rng.random() < 0.3:      # duplicates make counts of 2 and 3
            sh, co = objs[rng.randrange(i)][:2]
        else:
            sh, co = rng.choice(SHAPES), rng.choice(list(COLOURS))
        objs.append((sh, co, sl, rng.uniform(0.09, 0.15)))
    bg = rng.choice(BACKGROUNDS)
    noisy = rng.random() < 0.4
    return dict(seed=seed, w=w, h=h, bg=bg, noisy=noisy, objs=objs)


def label_code(shape, colour):
    """Class of a pixel in the label map: 0 background, 1 + 4 * shape + colour for the shapes."""
    return 1 + 4 * SHAPES.index(shape) + list(COLOURS).index(colour)


N_CLASSES = 1 + 4 * len(COLOURS)
LABEL_STEP = 15                 # grey level per class in label maps (0..240)


def draw(scene, labels=False):
    """The scene as an RGB image, or (labels=True) its label map: an "L" image whose grey level
    is LABEL_STEP * label_code (background 0), drawn with the same geometry (same random draws)."""
    rng = random.Random(scene["seed"] * 7 + 3)
    w, h = scene["w"], scene["h"]
    im = Image.new("L" if labels else "RGB", (w, h), 0 if labels else scene["bg"])
    if scene["noisy"]:
        amp = rng.choice([12, 20, 30])
        if not labels:
            nrng = np.random.default_rng(scene["seed"])
            a = np.asarray(im, dtype=np.int16) + nrng.integers(-amp, amp + 1, (h, w, 1),
                                                               dtype=np.int16)
            im = Image.fromarray(a.clip(0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(im)
    m = min(w, h)
    for sh, co, sl, rad in scene["objs"]:
        fx, fy = SLOTS[sl]
        cx = fx * w + rng.uniform(-0.04, 0.04) * m
        cy = fy * h + rng.uniform(-0.04, 0.04) * m
        r = rad * m
        c = tuple(min(255, max(0, v + rng.randint(-15, 15))) for v in COLOURS[co])
        if labels:
            c = LABEL_STEP * label_code(sh, co)
        if sh == "circle":
            d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=c)
        elif sh == "square":
            s = r * 0.9
            d.rectangle([cx - s, cy - s, cx + s, cy + s], fill=c)
        elif sh == "triangle":
            d.polygon([(cx, cy - r), (cx + r * 0.95, cy + r * 0.75), (cx - r * 0.95, cy + r * 0.75)],
                      fill=c)
        else:
            d.polygon(star_points(cx, cy, r * 1.1, rng.uniform(-0.2, 0.2)), fill=c)
    return im


def qa_pairs(scene, rng):
    """All (question, answer) pairs for a scene, by kind."""
    objs = scene["objs"]
    by_shape = {}
    for sh, co, sl, _ in objs:
        by_shape.setdefault(sh, []).append((co, sl))
    out = []
    col = rng.choice(["colour", "colour", "color"])
    if len(objs) == 1:
        sh, co, sl, _ = objs[0]
        out.append(("shape", "What shape is this?", f"A {sh}."))
        out.append(("colour", f"What {col} is this shape?", f"{co.capitalize()}."))
    for sh, lst in by_shape.items():
        if len(lst) == 1:
            co, sl = lst[0]
            out.append(("colour", f"What {col} is the {sh}?", f"{co.capitalize()}."))
            out.append(("where", f"Where is the {sh}?", WHERE[sl]))
    # counts: one present combination and one random (often absent) one
    sh, co = rng.choice([(o[0], o[1]) for o in objs])
    if rng.random() < 0.35:
        sh, co = rng.choice(SHAPES), rng.choice(list(COLOURS))
    k = sum(1 for o in objs if o[0] == sh and o[1] == co)
    out.append(("count", f"How many {co} {PLURAL[sh]} are there?", f"{NUM[k]}."))
    out.append(("count", "How many shapes are there?", f"{NUM[len(objs)]}."))
    parts = [f"a {co} {sh} {WHERE_PHRASE[sl]}"
             for sh, co, sl, _ in sorted(objs, key=lambda o: SLOT_ORDER.index(o[2]))]
    if len(parts) == 1:
        desc = parts[0]
    else:
        desc = ", ".join(parts[:-1]) + " and " + parts[-1]
    out.append(("describe", "Describe the image.", desc[0].upper() + desc[1:] + "."))
    return out


def sample(seed, n_q=1, tiles=None, kind_weights=None):
    """(scene, [(kind, q, a)] * n_q) for one seed: questions drawn with kind balance (or with
    kind_weights, a dict kind -> weight, default 1)."""
    scene = make_scene(seed, tiles)
    rng = random.Random(seed * 13 + 5)
    pairs = qa_pairs(scene, rng)
    kinds = sorted({p[0] for p in pairs})
    chosen = []
    for _ in range(n_q):
        if kind_weights:
            kd = rng.choices(kinds, weights=[kind_weights.get(k, 1) for k in kinds])[0]
        else:
            kd = rng.choice(kinds)
        left = [p for p in pairs if p not in chosen]
        if not left:
            break
        chosen.append(rng.choice([p for p in left if p[0] == kd] or left))
    return scene, chosen


def chat_sample(seed):
    rng = random.Random(seed)
    qs, a = rng.choice(CHAT)
    return rng.choice(qs), a


def all_texts(n_scenes=3000):
    """Text corpus for the tokenizer: every question and answer form."""
    texts = []
    for i in range(n_scenes):
        scene = make_scene(TRAIN_BASE + i)
        for _, q, a in qa_pairs(scene, random.Random(i)):
            texts += [q, a]
    for qs, a in CHAT:
        texts += (qs + [a]) * 50
    return texts


def normalise(s):
    return " ".join("".join(ch for ch in s.lower() if ch.isalnum() or ch.isspace()).split())


def heldout(n, out_dir, n_chat=4, base=HELDOUT_BASE):
    os.makedirs(out_dir, exist_ok=True)
    items = []
    for i in range(n):
        seed = base + i
        scene, [(kind, q, a)] = sample(seed)
        name = f"h{i:03d}.png"
        draw(scene).save(os.path.join(out_dir, name), optimize=True)
        items.append(dict(image=name, kind=kind, question=q, answer=a, seed=seed,
                          size=[scene["w"], scene["h"]]))
    for i in range(n_chat):
        q, a = chat_sample(base + 100000 + i)
        items.append(dict(image=None, kind="chat", question=q, answer=a))
    return items


def ui_set(out_dir):
    """The desktop-app test's pictures (tests/ui/test-ui.c --demo): the first one-object scene
    from UI_BASE on for each shape, asked "What shape is this?" and then, in the same
    conversation, "What colour is this shape?". Writes ui-<shape>.png and ui.tsv (image or "-"
    for a follow-up in the same conversation, question, answer)."""
    os.makedirs(out_dir, exist_ok=True)
    rows, seed = [], UI_BASE
    for shape in SHAPES:
        while True:
            scene = make_scene(seed)
            seed += 1
            if len(scene["objs"]) == 1 and scene["objs"][0][0] == shape:
                break
        name = f"ui-{shape}.png"
        draw(scene).save(os.path.join(out_dir, name), optimize=True)
        co = scene["objs"][0][1]
        rows.append((name, "What shape is this?", f"A {shape}."))
        rows.append(("-", "What colour is this shape?", f"{co.capitalize()}."))
    with open(os.path.join(out_dir, "ui.tsv"), "w") as fp:
        fp.write("image\tquestion\tanswer\n")
        for r in rows:
            fp.write("\t".join(r) + "\n")
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--heldout", type=int, default=60)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    items = heldout(args.heldout, args.out)
    with open(os.path.join(args.out, "heldout.json"), "w") as fp:
        json.dump({"items": items}, fp, indent=1)


if __name__ == "__main__":
    main()
