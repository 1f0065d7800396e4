#!/usr/bin/env python3
"""vocab.py: the demo model's byte-level BPE vocabulary.

Trained on the demo corpus (gen_data.all_texts + the chat role names) with the Llama 4
pre-tokenizer pattern (llama4-spec.md §5.2): merges never cross pre-tokenizer pieces. Ranks
0..255 are the single bytes (in byte order), then the learned merges up to N_BASE tokens; the
2048 Llama 4 special tokens follow at N_BASE.. (same scheme as the "tiny" fixture vocabulary,
tools/llama4_vocab.py, whose helpers turn ranks into GGUF/HF strings and merges).
"""

import collections
import os
import sys

import regex

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import llama4_vocab as lv  # noqa: E402

N_BASE = 1024


def train_ranks(texts, n_base=N_BASE):
    pat = regex.compile(lv.PATTERN)
    words = collections.Counter()
    for t in texts:
        for piece in pat.findall(t):
            words[piece.encode("utf-8")] += 1
    ranks = {bytes([b]): b for b in range(256)}
    seqs = [[bytes([c]) for c in w] for w in words]
    freq = [words[w] for w in words]
    while len(ranks) < n_base:
        pairs = collections.Counter()
        for s, f in zip(seqs, freq):
            for i in range(len(s) - 1):
                pairs[(s[i], s[i + 1])] += f
        if not pairs:
            break
        (a, b), c = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        if c < 2:
            break
        ab = a + b
        ranks[ab] = len(ranks)
        for j, s in enumerate(seqs):
            i = 0
            out = []
            while i < len(s):
                if i < len(s) - 1 and s[i] == a and s[i + 1] == b:
                    out.append(ab)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            seqs[j] = out
    return ranks


def encoding(ranks):
    import tiktoken
    n_base = len(ranks)
    sp = {s: n_base + i for i, s in enumerate(lv.special_tokens())}
    return tiktoken.Encoding("herd-demo", pat_str=lv.PATTERN, mergeable_ranks=ranks,
                             special_tokens=sp)


def save_ranks(ranks, path):
    import base64
    with open(path, "w") as fp:
        for b, r in sorted(ranks.items(), key=lambda kv: kv[1]):
            fp.write(f"{base64.b64encode(b).decode()} {r}\n")


def load_ranks(path):
    import base64
    ranks = {}
    with open(path) as fp:
        for line in fp:
            t, r = line.split()
            ranks[base64.b64decode(t)] = int(r)
    return ranks


def hf_tokenizer(ranks, out_dir):
    """Save an HF tokenizer (tokenizer.json etc.) equivalent to encoding(ranks) into out_dir."""
    import tokenizers
    from tokenizers import Regex, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast
    from transformers.models.llama4.processing_llama4 import chat_template
    n_base = len(ranks)
    vocab_strs, merges = lv.vocab_and_merges(ranks, n_base)
    specials = lv.special_tokens()
    bpe = models.BPE(vocab={t: i for i, t in enumerate(vocab_strs)}, merges=merges,
                     ignore_merges=True, fuse_unk=False, byte_fallback=False)
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
        special_tokens=[("<|begin_of_text|>", n_base)])
    for i, s in enumerate(specials):
        assert tok.token_to_id(s) == n_base + i
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|begin_of_text|>",
                                 eos_token="<|eot|>", pad_token="<|finetune_right_pad|>",
                                 chat_template=chat_template, model_max_length=4096)
    hf.save_pretrained(out_dir)
    return hf
