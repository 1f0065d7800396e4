/* herd-backend-fake.h: a scripted backend for tests. It "loads" in load_steps steps, "prefills"
 * prompt_tokens tokens in batches of 32, then emits the script's pieces with a delay between
 * them, honouring cancel and the callbacks' stop requests. */
#pragma once

#include "herd-backend-iface.h"

G_BEGIN_DECLS

typedef struct herd_fake_backend_config {
    const char *const *pieces; /* NULL: a built-in 40-piece answer */
    size_t n_pieces;           /* 0 with pieces set: up to a NULL entry */
    const size_t *piece_lens;  /* NULL: C strings; else each piece's length (may hold NULs) */
    unsigned piece_delay_us;
    unsigned prompt_tokens; /* 0: 64 */
    unsigned prompt_batch_delay_us;
    unsigned load_steps; /* 0: 10 */
    unsigned load_step_delay_us;
    bool ignore_cancel;    /* stop only through the callbacks' return value */
    int fail_after_pieces; /* > 0: fail with HERD_ERR_DEVICE after so many pieces */
} herd_fake_backend_config;

typedef struct herd_fake_backend_report {
    int n_loads;
    int n_generates;
    int n_pieces_emitted;      /* piece callbacks made, all calls together */
    int n_pieces_after_cancel; /* piece callbacks made after cancel() was called */
    size_t last_n_turns;
    char last_prompt[4096]; /* the last request's turns as "role: text [n images]\n" */
} herd_fake_backend_report;

HerdBackend herd_fake_backend_new(const herd_fake_backend_config *config);
/* Safe from any thread; b must be a fake backend. */
void herd_fake_backend_get_report(const HerdBackend *b, herd_fake_backend_report *out);
/* The whole scripted answer (all pieces joined); free with g_free. */
char *herd_fake_backend_script_text(const HerdBackend *b);

G_END_DECLS
