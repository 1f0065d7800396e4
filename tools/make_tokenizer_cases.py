#!/usr/bin/env python3
"""make_tokenizer_cases.py: more tokenizer oracle cases for the real Llama 4 vocabulary.

Ids come from Meta's algorithm (tiktoken rank BPE over Meta's tokenizer.model, the o200k pattern
of llama4-spec.md §5.2, special tokens §5.3, Meta's 400000-char / 25000-run input splitting), via
tools/llama4_vocab.py. Output: tests/fixtures/tokenizer-cases-extra.json in the case format of
../shared/reference/tokenizer/cases.json (text, utf8_hex, reference_ids_no_special,
reference_ids_parse_special; plus tiny_vocab ids for the 3072-token fixture vocabulary).

Usage: make_tokenizer_cases.py [--bpe PATH] [--out PATH]
Deterministic: the strings are generated from fixed lists and a seeded RNG.
"""

import argparse
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama4_vocab as lv  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def strings():
    s = []
    add = s.append
    # digits
    for n in (1, 2, 3, 4, 5, 6, 7, 9, 10, 16, 31, 64, 100, 257):
        add("".join(str((i * 7 + 3) % 10) for i in range(n)))
    add("3.14159265358979323846264338327950288419716939937510")
    add("1,000,000 and 1.000.000 and 1 000 000 and 1_000_000")
    add("0x1F3A 0b1011 0o777 1e-10 6.022e23 -42 +17 ±3")
    add("٠١٢٣٤٥٦٧٨٩ ०१२३४५६७८९ 〇一二三 ①②③ ¼½¾ ²³")
    add("phone: +1 (555) 123-4567, date 2026-11-27T14:30:00Z")
    add("v1.2.3-rc.4+build.567")
    # whitespace runs
    for n in (1, 2, 3, 4, 5, 8, 16, 33, 100):
        add(" " * n)
        add("a" + " " * n + "b")
    for n in (1, 2, 3, 7, 20):
        add("\n" * n)
        add("x" + "\n" * n + "y")
        add("\t" * n + "z")
    add(" \n \n\n \t\n\t \r\n \r\r\n\n ")
    add("word   \n   word\t\t\n\n\tword  ")
    add("trailing\n   ")
    add("   leading")
    add("\u00a0non\u00a0breaking\u2003em\u2002en\u3000ideo\u202fnarrow")
    add("\u2028line sep\u2029para sep\u0085nel\u000bvt\u000cff")
    # CRLF and tabs
    add("line one\r\nline two\r\n\r\nline four\r\n")
    add("a\rb\rc\r")
    add("col1\tcol2\tcol3\r\nv1\tv2\tv3\r\n")
    add("\tdef f():\r\n\t\treturn 1\r\n")
    add("mixed\r\n\n\r\r\n endings")
    # contractions / caps
    add("I'M HERE AND YOU'RE THERE, WE'LL SEE IF THEY'VE GONE. SHE'D KNOW. IT'S TRUE. DON'T.")
    add("i'm here and you're there, we'll see if they've gone. she'd know. it's true. don't.")
    add("I'm You'Re We'LL They'Ve She'D It'S Don'T")
    add("rock'n'roll o'clock ma'am y'all'd've 'tis '90s")
    add("’curly’ ‘quotes’ don’t won’t “double”")
    add("ALLCAPSWORDWITHOUTBREAKS and CamelCaseIdentifierName and mixedCASEword")
    add("HTTPServerError XMLHttpRequest getHTTPResponseCode iOS macOS")
    # very long words
    add("a" * 300)
    add("Donaudampfschifffahrtsgesellschaftskapitänswitwe" * 3)
    add("Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch")
    add("x" * 1000 + "y")
    add("ab" * 500)
    add("supercalifragilisticexpialidocious" * 10)
    add("-" * 200)
    add("=" * 80 + "\n" + "#" * 80)
    add("😀" * 50)
    # scripts
    add("नमस्ते दुनिया, यह एक परीक्षण है। क्षत्रिय ज्ञान श्री")
    add("हिन्दी में संयुक्ताक्षर: क्ष त्र ज्ञ श्र द्ध द्य ह्म")
    add("संस्कृतम् भाषा ॐ नमः शिवाय")
    add("ភាសាខ្មែរ គឺជាភាសាផ្លូវការ នៃប្រទេសកម្ពុជា")
    add("ស្រុកខ្មែរ ព្រះរាជាណាចក្រកម្ពុជា")
    add("ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ สวัสดีครับ")
    add("กรุงเทพมหานคร อมรรัตนโกสินทร์ มหินทรายุทธยา")
    add("اللغة العربية جميلة جداً، مرحباً بالعالم!")
    add("بِسْمِ اللَّهِ الرَّحْمَٰنِ الرَّحِيمِ")
    add("العدد ١٢٣ والعدد 456 معاً")
    add("שָׁלוֹם עוֹלָם! עברית עם ניקוד")
    add("English then עברית then English again")
    add("汉字简体和繁體字混合使用，標點符號：「」『』")
    add("東京都渋谷区神宮前一丁目　カタカナとひらがな")
    add("ｶﾀｶﾅ半角 ＡＢＣ全角 ㈱ ㍻ ㌀")
    add("한글 자모 ㄱㄴㄷ 와 완성형 가나다")
    add("Привет, мир! Съешь же ещё этих мягких французских булок.")
    add("ЗАГЛАВНЫЕ БУКВЫ И строчные буквы Ёё")
    add("Українська: ґанок, їжак, єнот. Беларуская: ў")
    add("Ελληνικά: ἀρχὴ ἥμισυ παντός, ᾠδή, Ὀδυσσεύς")
    add("Greek with combining: α̃ ε̄ ο̈ ῶ ι̇")
    add("ΚΕΦΑΛΑΙΑ ΚΑΙ πεζά ΣΊΣΥΦΟΣ σίσυφος")
    add("Tiếng Việt có dấu: Người ta nói rằng")
    add("Türkçe: İstanbul, ığdır, ŞEHİR, şehir")
    add("Polski: Zażółć gęślą jaźń. ŻÓŁW")
    add("Deutsch: Straße, STRASSE, Größe, Äpfel, Übermäßig")
    add("Español: ¿Qué tal? ¡Muy bien! Año, niño")
    add("Português: Não, coração, ações")
    add("Français: œuvre, Œdipe, garçon, naïveté")
    add("Svenska: Åsa, Ölbryggeri, Ärlig")
    add("ქართული ენა Հայերեն լեզու")
    add("አማርኛ ቋንቋ ᏣᎳᎩ ᐃᓄᒃᑎᑐᑦ")
    add("தமிழ் மொழி తెలుగు భాష ಕನ್ನಡ ಭಾಷೆ")
    add("മലയാളം ভাষা বাংলা ਪੰਜਾਬੀ ગુજરાતી")
    add("සිංහල ལྷ་ས། မြန်မာ ລາວ")
    add("𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝐛𝐨𝐥𝐝 𝒔𝒄𝒓𝒊𝒑𝒕 𝟙𝟚𝟛")
    add("Z̵̧a̴l̷g̶o̸ ̵t̴e̷x̶t̸")
    add("e\u0301 e\u0300 a\u030a o\u0308 n\u0303 combining sequences")
    add("\u0915\u094d\u0937 \u0915\u094d \u094d\u0937")
    add("mixed: Hello Привет 你好 مرحبا שלום नमस्ते 안녕 こんにちは")
    # emoji
    add("👨‍👩‍👧‍👦 family, 👩🏽‍💻 technologist, 🏳️‍🌈 flag, 🧑🏿‍🤝‍🧑🏻 people")
    add("👍🏻👍🏼👍🏽👍🏾👍🏿 skin tones")
    add("🇺🇸🇬🇧🇫🇷🇩🇪🇯🇵🇨🇳🇮🇳🇧🇷 flags")
    add("🏴󠁧󠁢󠁳󠁣󠁴󠁿 Scotland tag sequence")
    add("❤️ ❤ ♥️ ☺️ ✔️ keycaps 1️⃣ #️⃣ *️⃣")
    add("😶‍🌫️😮‍💨❤️‍🔥🐻‍❄️")
    add("emoji😀inside😀words")
    add("🦙🦙🦙 llamas and 🐪 camels")
    add("text\u200dwith\u200czwj\u200band\ufeffbom")
    add("\ufeffBOM at start")
    # code and markup
    add("def fib(n):\n    if n < 2:\n        return n\n    return fib(n-1) + fib(n-2)\n")
    add("for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }")
    add("#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 42); return 0; }")
    add("<html><body class=\"x\"><p>Hello &amp; welcome</p></body></html>")
    add("SELECT id, name FROM users WHERE age >= 18 ORDER BY name DESC;")
    add("$ ls -la | grep '^d' && echo \"done\" >> /tmp/log.txt 2>&1")
    add("x = {'a': [1, 2, {'b': None}], \"c\": True}")
    add("λx.λy.x y → ∀ε>0 ∃δ>0 ∑ᵢ xᵢ² ≤ ∫ f(x) dx ≠ ∞")
    add("a->b => c <= d >= e != f == g && h || !i")
    add("//comment\n/* block */\n# hash\n-- sql\n")
    add("https://example.com/a/b/c?d=e&f=g#h and ftp://x.y/z/ and mailto:a@b.c")
    add("C:\\Program Files\\App\\bin\\app.exe /usr/local/bin/app ~/.config/app/")
    add("```python\nprint('hi')\n```\n")
    add("| a | b |\n|---|---|\n| 1 | 2 |")
    add("**bold** _italic_ `code` [link](url) ![img](src)")
    add("....!!!!????;;;;::::----____''''\"\"\"\"")
    add("!!!\n\n???///\n\n")
    add("a/b//c///d////")
    add("../../etc/passwd\n./a/./b/")
    # special-token text
    sp = lv.special_tokens()
    add("<|begin_of_text|><|header_start|>system<|header_end|>\n\nYou are helpful.<|eot|>")
    add("<|header_start|>assistant<|header_end|>\n\n<|python_start|>x<|python_end|><|eom|>")
    add("<|image_start|><|image|><|patch|><|patch|><|image_end|>")
    add("<|image_start|><|patch|><|tile_x_separator|><|patch|><|tile_y_separator|><|image|><|patch|><|image_end|>")
    add("<|eot|")
    add("<|eot")
    add("<eot|>")
    add("|eot|>")
    add("< |eot|>")
    add("<|EOT|>")
    add("<|eot |>")
    add("<||eot|>")
    add("<|eot|>>")
    add("<<|eot|>")
    add("<|eot|><|eot|")
    add("<|<|eot|>|>")
    add("text<|eot|>text")
    add("text <|eot|> text")
    add("<|reserved_special_token_0|><|reserved_special_token_903|><|reserved_special_token_904|>")
    add("<|reasoning_thinking_start|>hmm<|reasoning_thinking_end|>")
    add("<|finetune_right_pad|><|finetune_right_pad_id|>")
    add("<|vision_reserved_special_token_1047|><|vision_reserved_special_token_1048|>")
    add("<|text_post_train_reserved_special_token_6|><|text_post_train_reserved_special_token_8|>")
    add("<|step|><|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>")
    add("<|begin_of_text|>\n\n<|end_of_text|>\n")
    add("  <|eot|>  ")
    add("\n<|header_start|>\n")
    add("<|patch|>" * 20)
    add("<|" * 10 + "|>" * 10)
    add("<|unknown_token|>")
    add("<|begin_of_text|>" * 3 + "x")
    for k in (0, 9, 19, 79, 91, 93, 1133, 1143, 1144, 2047):
        add(f"a{sp[k]}b")
    # misc
    add("")
    add("A")
    add(".")
    add(" .")
    add("'")
    add("'s")
    add(" 's")
    add("\x00nul\x01soh\x7fdel")
    add("\ud7ff\ue000\uffff\U00010000\U0010fffd")
    add("€£¥₹₽₩ 100€ $100 ¥100")
    add("©®™ § ¶ † ‡ • … ‰ ′ ″")
    add("→←↑↓↔ ⇒⇔ ∈∉ ⊂⊃ ∪∩ ∧∨ ¬")
    add("⠓⠑⠇⠇⠕ braille ♔♕♖ chess ♠♣♥♦")
    add("What is the capital of France? Paris. And of Japan? Tokyo.")
    add("The year 1999 was followed by 2000, then 2001.")
    add("Tokens: user assistant system ipython tool")
    # randomized mixes (seeded)
    rng = random.Random(20261127)
    pools = ["a", "Z", "é", "ß", "ж", "Ж", "ω", "Ω", "日", "本", "ह", "ि", "្", "ក", "ี", "ก",
             "ع", "ש", "😀", "👍", "🏽", "\u200d", "🇫", "🇷", "0", "7", "٣", " ", "  ", "\t", "\n",
             "\r\n", ".", ",", "'", "'s", "'LL", "-", "/", "\\", "<|", "|>", "<|eot|>", "$", "%",
             "\u0301", "\u0308", "\u00a0", "\u3000", "ǅ", "ʰ", "ⅷ", "²"]
    for _ in range(70):
        n = rng.randint(1, 40)
        add("".join(rng.choice(pools) for _ in range(n)))
    # long runs (Meta cuts runs longer than 25000 characters)
    add(" " * 25000)
    add(" " * 25001)
    add("a" * 25000)
    add("a" * 25001)
    add(" " * 25001 + "end")
    add("start" + "\n" * 25001)
    add("9" * 25002)
    add("\t" * 12000 + " " * 13001 + "y")
    add("é" * 25001)
    add("x" * 30000)
    return s


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--bpe", default=lv.DEFAULT_BPE)
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "tokenizer-cases-extra.json"))
    args = ap.parse_args(argv)
    if not os.path.exists(args.bpe):
        print(f"make_tokenizer_cases.py: {args.bpe} not found", file=sys.stderr)
        return 1
    ranks = lv.load_ranks(args.bpe)
    real = lv.real_encoding(ranks)
    tiny = lv.tiny_encoding(ranks)
    ref_texts = set()
    ref_path = os.path.join(os.path.dirname(args.bpe), "cases.json")
    if os.path.exists(ref_path):
        with open(ref_path, encoding="utf-8") as fp:
            ref_texts = {c["text"] for c in json.load(fp)["cases"]}
    cases = []
    seen = set()
    for text in strings():
        if text in seen or text in ref_texts:
            continue
        seen.add(text)
        ns = lv.encode_ordinary(real, text)
        ps = lv.encode_parse_special(real, text)
        # decode(encode(s)) == s must hold
        assert real.decode_bytes(ns) == text.encode("utf-8", "surrogatepass"), text[:40]
        cases.append({
            "i": len(cases) + 1,
            "text": text,
            "utf8_hex": text.encode("utf-8").hex(),
            "reference_ids_no_special": ns,
            "reference_ids_parse_special": ps,
        })
        if len(text) <= 2000:  # (long runs: the tiny ids are mostly single bytes; left out)
            cases[-1]["tiny_vocab"] = {
                "ids_no_special": lv.encode_ordinary(tiny, text),
                "ids_parse_special": lv.encode_parse_special(tiny, text),
            }
    doc = {
        "description": "Extra Llama 4 tokenizer cases (Herd). Ids from Meta's algorithm: tiktoken rank "
                       "BPE over Meta's tokenizer.model, o200k pattern (llama4-spec.md §5.2), special "
                       "tokens 200000..202047, input cut into 400000-char pieces and runs of more than "
                       "25000 whitespace / non-whitespace characters (Meta's Tokenizer.encode). "
                       "no_special: special-token text is plain text. parse_special: text is split on "
                       "special-token names first (exact names only), the rest encoded as plain text. "
                       "Neither adds BOS. tiny_vocab: same for the 3072-token fixture vocabulary "
                       "(ids 0..1023 = ranks 0..1023, 1024 + k = special token k; only for texts of at most "
                       "2000 characters). "
                       "Generated by tools/make_tokenizer_cases.py.",
        "modes": {
            "reference_ids_no_special": "encode(text, allowed_special=none)",
            "reference_ids_parse_special": "split on special-token names, encode the rest",
        },
        "n_cases": len(cases),
        "cases": cases,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as fp:
        # one case per line keeps the file small and diffable
        head = {k: v for k, v in doc.items() if k != "cases"}
        fp.write(json.dumps(head, ensure_ascii=False, indent=1)[:-2] + ',\n "cases": [\n')
        for k, c in enumerate(cases):
            fp.write(json.dumps(c, ensure_ascii=False, separators=(",", ":")))
            fp.write(",\n" if k + 1 < len(cases) else "\n")
        fp.write("]}\n")
    print(f"wrote {args.out}: {len(cases)} cases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
