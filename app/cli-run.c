/* herd-cli run / logits: generate an answer, or dump logits for given token ids. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "cli-common.h"
#include "cli-images.h"
#include "cli.h"

static herd_session *volatile g_session;

static void on_sigint(int sig)
{
    (void)sig;
    if (g_session)
        herd_session_cancel(g_session);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        if (r == 0)
            break;
        n += r;
    }
    if (f != stdin)
        fclose(f);
    *len = n;
    return buf;
}

static bool print_piece(const char *piece, size_t len, int32_t token, void *ud)
{
    (void)token;
    (void)ud;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    return true;
}

static const char run_help[] =
    "usage: herd-cli run -m MODEL [-p PROMPT | -f FILE] [options]\n\n"
    "Streams the model's answer to stdout. The prompt is put in the Llama 4 chat format\n"
    "unless --raw is given.\n\n"
    "  -p, --prompt TEXT    the user's message\n"
    "  -f, --file FILE      read the message from FILE ('-' for stdin)\n"
    "  --system TEXT        system message\n"
    "  --image FILE         attach an image (repeatable; needs --mmproj)\n"
    "  --raw                no chat template: BOS + the text\n"
    "  -n, --n-predict N    maximum tokens to generate (default: until end of turn)\n"
    "  --temp T             temperature (default 0.6; 0 = greedy)\n"
    "  --top-p P            nucleus sampling (default 0.9)\n"
    "  --top-k K            top-k (default off)\n"
    "  --min-p P            min-p (default off)\n"
    "  --repeat-penalty R   repetition penalty (default 1 = off)\n"
    "  --seed S             sampling seed\n"
    "  --stats              print timings to stderr at the end\n";

int cli_run(int argc, char **argv)
{
    cli_model_opts o;
    cli_model_opts_init(&o);
    const char *prompt = NULL, *file = NULL, *system = NULL;
    const char *images[16];
    int n_images = 0;
    bool raw = false, stats_flag = false;
    herd_gen_params gp = { 0 };
    gp.sampling = herd_sampler_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long n;
        int r = cli_model_opt(&o, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("%s%s", run_help, cli_model_opts_help);
            return 0;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            if (!(prompt = cli_value(argc, argv, &i)))
                return 2;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            if (!(file = cli_value(argc, argv, &i)))
                return 2;
        } else if (!strcmp(a, "--system")) {
            if (!(system = cli_value(argc, argv, &i)))
                return 2;
        } else if (!strcmp(a, "--image")) {
            if (!(v = cli_value(argc, argv, &i)))
                return 2;
            if (n_images == 16) {
                cli_error("at most 16 images");
                return 2;
            }
            images[n_images++] = v;
        } else if (!strcmp(a, "--raw")) {
            raw = true;
        } else if (!strcmp(a, "--stats")) {
            stats_flag = true;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_parse_int(a, v, 1, 1 << 30, &n))
                return 2;
            gp.max_tokens = (int)n;
        } else if (!strcmp(a, "--temp")) {
            if (!(v = cli_value(argc, argv, &i)) ||
                !cli_parse_float(a, v, &gp.sampling.temperature))
                return 2;
        } else if (!strcmp(a, "--top-p")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_parse_float(a, v, &gp.sampling.top_p))
                return 2;
        } else if (!strcmp(a, "--min-p")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_parse_float(a, v, &gp.sampling.min_p))
                return 2;
        } else if (!strcmp(a, "--repeat-penalty")) {
            if (!(v = cli_value(argc, argv, &i)) ||
                !cli_parse_float(a, v, &gp.sampling.repeat_penalty))
                return 2;
        } else if (!strcmp(a, "--top-k")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_parse_int(a, v, 0, 1 << 30, &n))
                return 2;
            gp.sampling.top_k = (int)n;
        } else if (!strcmp(a, "--seed")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_parse_int(a, v, 0, 0x7fffffffL, &n))
                return 2;
            gp.sampling.seed = (uint64_t)n;
        } else {
            cli_error("run: unknown option '%s' (see 'herd-cli run --help')", a);
            return 2;
        }
    }
    if (!o.model) {
        cli_error("run: no model given (-m FILE.gguf)");
        return 2;
    }
    if (!prompt && !file) {
        cli_error("run: no prompt given (-p TEXT or -f FILE)");
        return 2;
    }
    if (n_images && raw) {
        cli_error("run: --image needs the chat format (drop --raw)");
        return 2;
    }
    if (n_images && !o.mmproj) {
        cli_error("run: --image needs the vision projector (--mmproj FILE.gguf)");
        return 2;
    }
    size_t text_len = 0;
    char *text_buf = NULL;
    if (file) {
        text_buf = read_file(file, &text_len);
        if (!text_buf) {
            cli_error("run: cannot read %s", file);
            return 1;
        }
    }
    const char *text = file ? text_buf : prompt;
    if (!file)
        text_len = strlen(prompt);

    int rc = 1;
    herd_error err = { 0 };
    herd_model_params mp = cli_model_params(&o);
    herd_model *m = herd_model_load(o.model, &mp, &err);
    herd_session *s = NULL;
    int32_t *ids = NULL;
    int n_ids = 0;
    cli_images im = { 0 };
    if (!m) {
        cli_error("%s", err.msg);
        goto out;
    }
    herd_session_params sp = cli_session_params(&o);
    s = herd_session_new(m, &sp, &err);
    if (!s) {
        cli_error("%s", err.msg);
        goto out;
    }
    const herd_tokenizer *tok = herd_model_tokenizer(m);
    if (raw) {
        int need = herd_tokenize(tok, text, text_len, false, NULL, 0);
        if (need < -(1 << 30) || need > 0 || !(ids = malloc(((size_t)-need + 1) * sizeof *ids))) {
            cli_error("run: cannot tokenize the prompt");
            goto out;
        }
        ids[0] = herd_tokenizer_bos(tok);
        n_ids = 1 + herd_tokenize(tok, text, text_len, false, ids + 1, -need);
    } else {
        if (n_images && cli_images_load(&im, o.mmproj, images, n_images, m, &o, &err)) {
            cli_error("%s", err.msg);
            goto out;
        }
        herd_chat_part parts[17];
        int np = 0;
        for (int i = 0; i < n_images; i++)
            parts[np++] =
                (herd_chat_part){ .type = HERD_CHAT_IMAGE, .rows = im.rows[i], .cols = im.cols[i] };
        parts[np++] = (herd_chat_part){ .type = HERD_CHAT_TEXT, .text = text, .len = text_len };
        herd_chat_part sys_part = { .type = HERD_CHAT_TEXT,
                                    .text = system,
                                    .len = system ? strlen(system) : 0 };
        herd_chat_msg msgs[2];
        int nm = 0;
        if (system)
            msgs[nm++] =
                (herd_chat_msg){ .role = HERD_CHAT_SYSTEM, .parts = &sys_part, .n_parts = 1 };
        msgs[nm++] = (herd_chat_msg){ .role = HERD_CHAT_USER, .parts = parts, .n_parts = np };
        if (herd_chat_render(tok, msgs, nm, true, &ids, &n_ids, &err)) {
            cli_error("%s", err.msg);
            goto out;
        }
    }
    g_session = s;
    signal(SIGINT, on_sigint);
    gp.on_piece = print_piece;
    herd_gen_stats st;
    herd_image_rows rows = { im.embd, im.n_rows };
    if (herd_generate(s, ids, n_ids, n_images ? &rows : NULL, &gp, &st, &err)) {
        fputc('\n', stdout);
        cli_error("%s", err.msg);
        goto out;
    }
    fputc('\n', stdout);
    if (stats_flag && n_images)
        fprintf(stderr,
                "herd: %d image(s), %d image tokens, read and encoded in %.1f ms; time to "
                "first token including the images %.1f ms\n",
                n_images, im.n_rows, im.encode_ms, im.encode_ms + st.ttft_ms);
    if (stats_flag || st.cancelled)
        fprintf(stderr,
                "herd: prompt %d tokens (%d evaluated) in %.1f ms (%.1f tok/s), first token after "
                "%.1f ms, %d tokens generated in %.1f ms (%.2f tok/s)%s\n",
                st.n_prompt, st.n_prompt_eval, st.t_prompt_ms,
                st.n_prompt_eval / (st.t_prompt_ms / 1e3 + 1e-9), st.ttft_ms, st.n_gen, st.t_gen_ms,
                st.n_gen > 1 ? (st.n_gen - 1) / (st.t_gen_ms / 1e3 + 1e-9) : 0.0,
                st.cancelled ? " (stopped)" : "");
    rc = 0;
out:
    g_session = NULL;
    cli_images_free(&im);
    free(ids);
    free(text_buf);
    herd_session_free(s);
    herd_model_free(m);
    return rc;
}

static const char logits_help[] =
    "usage: herd-cli logits -m MODEL --tokens 1,2,3 [--all] -o FILE.f32 [options]\n\n"
    "Writes float32 logits of the last position (or of every position with --all,\n"
    "row-major [n_tokens x n_vocab]).\n\n"
    "  --tokens LIST        comma-separated token ids (or -p TEXT: chat-formatted prompt)\n"
    "  -p, --prompt TEXT    build the tokens from a user message in the chat format\n"
    "  --image FILE         attach an image to the -p message (needs --mmproj)\n"
    "  --all                logits of every position\n"
    "  -o, --output FILE    output file (float32)\n";

int cli_logits(int argc, char **argv)
{
    cli_model_opts o;
    cli_model_opts_init(&o);
    const char *tokens_arg = NULL, *out_path = NULL, *prompt = NULL;
    const char *images[16];
    int n_images = 0;
    bool all = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = cli_model_opt(&o, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("%s%s", logits_help, cli_model_opts_help);
            return 0;
        } else if (!strcmp(a, "--tokens")) {
            if (!(tokens_arg = cli_value(argc, argv, &i)))
                return 2;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            if (!(prompt = cli_value(argc, argv, &i)))
                return 2;
        } else if (!strcmp(a, "--image")) {
            if (!(images[n_images < 16 ? n_images : 15] = cli_value(argc, argv, &i)))
                return 2;
            if (++n_images > 16) {
                cli_error("at most 16 images");
                return 2;
            }
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!(out_path = cli_value(argc, argv, &i)))
                return 2;
        } else if (!strcmp(a, "--all")) {
            all = true;
        } else {
            cli_error("logits: unknown option '%s' (see 'herd-cli logits --help')", a);
            return 2;
        }
    }
    if (!o.model || (!tokens_arg && !prompt) || !out_path) {
        cli_error("logits: need -m MODEL, --tokens LIST (or -p TEXT) and -o FILE");
        return 2;
    }
    if (n_images && !o.mmproj) {
        cli_error("logits: --image needs --mmproj FILE.gguf");
        return 2;
    }
    if (n_images && !prompt) {
        cli_error("logits: --image needs -p TEXT (images are laid out in the chat format)");
        return 2;
    }
    int32_t *ids = NULL;
    int n_ids = 0;
    if (tokens_arg) {
        size_t cap = strlen(tokens_arg) / 2 + 2;
        ids = malloc(cap * sizeof *ids);
        const char *p = tokens_arg;
        while (ids && *p) {
            char *end;
            long v = strtol(p, &end, 10);
            if (end == p || v < 0 || v > 0x7fffffff || (*end && *end != ',')) {
                cli_error("logits: --tokens: bad list at '%s'", p);
                free(ids);
                return 2;
            }
            ids[n_ids++] = (int32_t)v;
            p = *end ? end + 1 : end;
        }
        if (!ids || n_ids == 0) {
            cli_error("logits: --tokens: empty list");
            free(ids);
            return 2;
        }
    }
    int rc = 1;
    herd_error err = { 0 };
    herd_model_params mp = cli_model_params(&o);
    herd_model *m = herd_model_load(o.model, &mp, &err);
    herd_session *s = NULL;
    float *logits = NULL;
    FILE *f = NULL;
    cli_images im = { 0 };
    if (!m) {
        cli_error("%s", err.msg);
        goto out;
    }
    if (prompt && !tokens_arg) {
        const herd_tokenizer *tok = herd_model_tokenizer(m);
        if (n_images && cli_images_load(&im, o.mmproj, images, n_images, m, &o, &err)) {
            cli_error("%s", err.msg);
            goto out;
        }
        herd_chat_part parts[17];
        int np = 0;
        for (int i = 0; i < n_images; i++)
            parts[np++] =
                (herd_chat_part){ .type = HERD_CHAT_IMAGE, .rows = im.rows[i], .cols = im.cols[i] };
        parts[np++] =
            (herd_chat_part){ .type = HERD_CHAT_TEXT, .text = prompt, .len = strlen(prompt) };
        herd_chat_msg msg = { .role = HERD_CHAT_USER, .parts = parts, .n_parts = np };
        if (herd_chat_render(tok, &msg, 1, true, &ids, &n_ids, &err)) {
            cli_error("%s", err.msg);
            goto out;
        }
    }
    herd_session_params sp = cli_session_params(&o);
    if (sp.n_ctx == 0 || sp.n_ctx < n_ids)
        sp.n_ctx = n_ids < 16 ? 16 : n_ids;
    s = herd_session_new(m, &sp, &err);
    if (!s) {
        cli_error("%s", err.msg);
        goto out;
    }
    const int V = herd_model_get_info(m)->n_vocab;
    size_t rows = all ? (size_t)n_ids : 1;
    logits = malloc(rows * (size_t)V * sizeof *logits);
    if (!logits) {
        cli_error("logits: out of memory");
        goto out;
    }
    herd_image_rows irows = { im.embd, im.n_rows };
    if (herd_session_eval(s, ids, n_ids, n_images ? &irows : NULL, logits, all, NULL, NULL, &err)) {
        cli_error("%s", err.msg);
        goto out;
    }
    f = fopen(out_path, "wb");
    if (!f || fwrite(logits, sizeof(float) * (size_t)V, rows, f) != rows) {
        cli_error("logits: cannot write %s", out_path);
        goto out;
    }
    if (fclose(f)) {
        f = NULL;
        cli_error("logits: cannot write %s", out_path);
        goto out;
    }
    f = NULL;
    fprintf(stderr, "herd: wrote %zu x %d logits to %s\n", rows, V, out_path);
    rc = 0;
out:
    if (f)
        fclose(f);
    cli_images_free(&im);
    free(logits);
    free(ids);
    herd_session_free(s);
    herd_model_free(m);
    return rc;
}
