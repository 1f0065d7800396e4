/* cli-common.h: options shared by the model-running subcommands (run, logits, bench). */
#pragma once

#include <stdbool.h>

#include "herd.h"

typedef struct cli_model_opts {
    const char *model;  /* -m */
    const char *mmproj; /* --mmproj */
    int n_threads;      /* -t */
    int n_ctx;          /* -c */
    int n_batch;        /* -b */
    herd_type kv_type;  /* --kv-type */
    herd_backend_kind backend;
    int device;
    bool profile;
} cli_model_opts;

void cli_model_opts_init(cli_model_opts *o);
/* Consumes argv[*i] (and its value) if it is a common option. Returns 1 if consumed, 0 if not
 * a common option, -1 on a bad value (error already printed). */
int cli_model_opt(cli_model_opts *o, int argc, char **argv, int *i);
/* Help text for the common options. */
extern const char cli_model_opts_help[];
/* Parses a positive integer; prints an error naming opt and returns false if bad. */
bool cli_parse_int(const char *opt, const char *s, long min, long max, long *out);
bool cli_parse_float(const char *opt, const char *s, float *out);
/* Value of option argv[*i] (advances *i); prints an error and returns NULL if missing. */
const char *cli_value(int argc, char **argv, int *i);
herd_model_params cli_model_params(const cli_model_opts *o);
herd_session_params cli_session_params(const cli_model_opts *o);
