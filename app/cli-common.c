#include "cli-common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char cli_model_opts_help[] =
    "  -m, --model FILE     Llama 4 text model (GGUF)\n"
    "  --mmproj FILE        vision projector (mmproj GGUF) for --image\n"
    "  -t, --threads N      CPU threads (default: all cores)\n"
    "  -c, --ctx N          context length in tokens (default: min(model, 8192))\n"
    "  -b, --batch N        prefill micro-batch (default 512)\n"
    "  --kv-type f16|f32    KV cache type (default f16)\n"
    "  --backend B          cpu, vulkan, cuda or auto (default auto)\n"
    "  --device N           GPU index (default 0)\n"
    "  --profile            print per-op times (backends that support it)\n";

void cli_model_opts_init(cli_model_opts *o)
{
    memset(o, 0, sizeof *o);
    o->kv_type = HERD_TYPE_F16;
    o->backend = HERD_BACKEND_AUTO;
}

const char *cli_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        cli_error("option %s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

bool cli_parse_int(const char *opt, const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        cli_error("%s: '%s' is not a number in %ld..%ld", opt, s, min, max);
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_float(const char *opt, const char *s, float *out)
{
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end || v != v) {
        cli_error("%s: '%s' is not a number", opt, s);
        return false;
    }
    *out = v;
    return true;
}

int cli_model_opt(cli_model_opts *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *v;
    long n;
    if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
        if (!(v = cli_value(argc, argv, i)))
            return -1;
        o->model = v;
    } else if (!strcmp(a, "--mmproj")) {
        if (!(v = cli_value(argc, argv, i)))
            return -1;
        o->mmproj = v;
    } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
        if (!(v = cli_value(argc, argv, i)) || !cli_parse_int(a, v, 1, 1024, &n))
            return -1;
        o->n_threads = (int)n;
    } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) {
        if (!(v = cli_value(argc, argv, i)) || !cli_parse_int(a, v, 16, 1 << 30, &n))
            return -1;
        o->n_ctx = (int)n;
    } else if (!strcmp(a, "-b") || !strcmp(a, "--batch")) {
        if (!(v = cli_value(argc, argv, i)) || !cli_parse_int(a, v, 1, 1 << 16, &n))
            return -1;
        o->n_batch = (int)n;
    } else if (!strcmp(a, "--kv-type")) {
        if (!(v = cli_value(argc, argv, i)))
            return -1;
        if (!strcmp(v, "f16"))
            o->kv_type = HERD_TYPE_F16;
        else if (!strcmp(v, "f32"))
            o->kv_type = HERD_TYPE_F32;
        else {
            cli_error("--kv-type: '%s' is not f16 or f32", v);
            return -1;
        }
    } else if (!strcmp(a, "--backend")) {
        if (!(v = cli_value(argc, argv, i)))
            return -1;
        int k = herd_backend_kind_from_name(v);
        if (k < 0) {
            cli_error("--backend: '%s' is not cpu, vulkan, cuda or auto", v);
            return -1;
        }
        o->backend = (herd_backend_kind)k;
    } else if (!strcmp(a, "--device")) {
        if (!(v = cli_value(argc, argv, i)) || !cli_parse_int(a, v, 0, 64, &n))
            return -1;
        o->device = (int)n;
    } else if (!strcmp(a, "--profile")) {
        o->profile = true;
    } else {
        return 0;
    }
    return 1;
}

herd_model_params cli_model_params(const cli_model_opts *o)
{
    herd_model_params p = herd_model_default_params();
    p.backend = o->backend;
    p.device = o->device;
    p.n_threads = o->n_threads;
    p.profile = o->profile;
    return p;
}

herd_session_params cli_session_params(const cli_model_opts *o)
{
    herd_session_params p = herd_session_default_params();
    p.n_ctx = o->n_ctx;
    p.n_batch = o->n_batch;
    p.kv_type = o->kv_type;
    return p;
}
