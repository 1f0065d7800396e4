"""llama4_vocab.py: Llama 4 tokenizer pieces shared by make_fixtures.py and make_tokenizer_cases.py.

Meta's algorithm (llama4-spec.md §5): tiktoken rank BPE over Meta's tokenizer.model with the o200k
pattern, special tokens at 200000..202047, and Meta's input splitting (400000-char pieces, runs of
> 25000 whitespace / non-whitespace characters cut). Also the "tiny" vocabulary of the reference
models: ids 0..1023 = ranks 0..1023, ids 1024..3071 = the 2048 special tokens.
"""

import base64
import os

import tiktoken

PATTERN = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

N_BASE_REAL = 200000
N_SPECIAL = 2048
TINY_BASE = 1024
MAX_ENCODE_CHARS = 400_000
MAX_RUN_CHARS = 25_000

DEFAULT_BPE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared",
                           "reference", "tokenizer", "llama4-tokenizer.model")


def special_tokens():
    """The 2048 special token names in Meta's order (ids 200000 + k)."""
    t = ["<|begin_of_text|>", "<|end_of_text|>", "<|fim_prefix|>", "<|fim_middle|>",
         "<|fim_suffix|>", "<|header_start|>", "<|header_end|>", "<|eom|>", "<|eot|>", "<|step|>"]
    t += [f"<|text_post_train_reserved_special_token_{i}|>" for i in range(6)]
    t += ["<|python_start|>", "<|python_end|>", "<|finetune_right_pad|>"]
    t += [f"<|text_post_train_reserved_special_token_{i}|>" for i in range(8, 69)]
    t += ["<|image_start|>", "<|image_end|>", "<|vision_reserved_special_token_0|>",
          "<|vision_reserved_special_token_1|>", "<|tile_x_separator|>", "<|tile_y_separator|>"]
    t += [f"<|vision_reserved_special_token_{i}|>" for i in range(2, 6)]
    t += ["<|image|>", "<|vision_reserved_special_token_6|>", "<|patch|>"]
    t += [f"<|vision_reserved_special_token_{i}|>" for i in range(7, 1048)]
    t += [f"<|reasoning_reserved_special_token_{i}|>" for i in range(8)]
    t += ["<|reasoning_thinking_start|>", "<|reasoning_thinking_end|>"]
    t += [f"<|reserved_special_token_{i}|>" for i in range(904)]
    assert len(t) == N_SPECIAL and len(set(t)) == N_SPECIAL
    assert t[8] == "<|eot|>" and t[18] == "<|finetune_right_pad|>" and t[92] == "<|patch|>"
    assert t[80] == "<|image_start|>" and t[90] == "<|image|>" and t[1134] == \
        "<|reasoning_reserved_special_token_0|>"
    return t


def load_ranks(path=DEFAULT_BPE):
    ranks = {}
    with open(path, "rb") as fp:
        for line in fp:
            if not line.strip():
                continue
            tok, rank = line.split()
            ranks[base64.b64decode(tok)] = int(rank)
    if len(ranks) != N_BASE_REAL or sorted(ranks.values()) != list(range(N_BASE_REAL)):
        raise ValueError(f"{path}: expected {N_BASE_REAL} contiguous ranks")
    return ranks


def real_encoding(ranks):
    sp = {s: N_BASE_REAL + i for i, s in enumerate(special_tokens())}
    return tiktoken.Encoding("llama4", pat_str=PATTERN, mergeable_ranks=ranks, special_tokens=sp)


def tiny_encoding(ranks):
    tiny = {b: r for b, r in ranks.items() if r < TINY_BASE}
    sp = {s: TINY_BASE + i for i, s in enumerate(special_tokens())}
    return tiktoken.Encoding("llama4-tiny", pat_str=PATTERN, mergeable_ranks=tiny, special_tokens=sp)


def _split_runs(s, max_len=MAX_RUN_CHARS):
    """Meta's _split_whitespaces_or_nonwhitespaces."""
    cur_len = 0
    cur_space = s[0].isspace() if s else False
    start = 0
    for i in range(len(s)):
        sp = s[i].isspace()
        if cur_space ^ sp:
            cur_len = 1
            cur_space = sp
        else:
            cur_len += 1
            if cur_len > max_len:
                yield s[start:i]
                start = i
                cur_len = 1
    yield s[start:]


def encode_ordinary(enc, s):
    """Meta's Tokenizer.encode(s, bos=False, eos=False) with no special tokens allowed."""
    out = []
    for i in range(0, len(s), MAX_ENCODE_CHARS):
        for sub in _split_runs(s[i:i + MAX_ENCODE_CHARS]):
            out.extend(enc.encode(sub, allowed_special=set(), disallowed_special=()))
    return out


def encode_parse_special(enc, s):
    """Split on special-token names first (leftmost match), encode the rest as ordinary text."""
    names = enc._special_tokens
    out = []
    i = 0
    start = 0
    while i < len(s):
        if s[i] == "<" and s.startswith("<|", i):
            j = s.find("|>", i + 2)
            if j >= 0 and s[i:j + 2] in names:
                if start < i:
                    out.extend(encode_ordinary(enc, s[start:i]))
                out.append(names[s[i:j + 2]])
                i = j + 2
                start = i
                continue
        i += 1
    if start < len(s):
        out.extend(encode_ordinary(enc, s[start:]))
    return out


def bytes_to_unicode():
    """GPT-2 byte -> printable unicode character map."""
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


def _bpe_parts(ranks, token, max_rank):
    parts = [bytes([b]) for b in token]
    while True:
        best = None
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and r < max_rank and (best is None or r < best[0]):
                best = (r, i)
        if best is None:
            return parts
        i = best[1]
        parts = parts[:i] + [parts[i] + parts[i + 1]] + parts[i + 2:]


def vocab_and_merges(ranks, n_base):
    """Byte-level strings for ids 0..n_base-1 and the merges (priority = rank of the result)."""
    b2u = bytes_to_unicode()
    by_rank = sorted(((r, b) for b, r in ranks.items() if r < n_base))
    vocab = ["".join(b2u[c] for c in b) for _, b in by_rank]
    merges = []
    for r, b in by_rank:
        if len(b) == 1:
            continue
        parts = _bpe_parts(ranks, b, r)
        if len(parts) != 2:
            raise ValueError(f"token rank {r} does not split into two parts")
        merges.append(("".join(b2u[c] for c in parts[0]), "".join(b2u[c] for c in parts[1])))
    return vocab, merges
