/* test-generate: the public generation API on the tiny transformers fixture model —
 * greedy generation equals step-by-step argmax over herd_session_eval, prefix reuse evaluates
 * only what is new and gives the same answer, cancel from another thread stops within one token,
 * sampling is seeded and its filters behave, and bad input gives clear errors. */
#include "check.h"
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "herd.h"

typedef struct collect {
    int32_t toks[512];
    int n;
    atomic_int seen;
    int hold_at;          /* > 0: the callback that brings seen to hold_at waits for release */
    atomic_bool released; /* set by the main thread once it has cancelled */
} collect;

static bool on_piece(const char *piece, size_t len, int32_t token, void *ud)
{
    (void)piece;
    (void)len;
    collect *c = ud;
    if (token >= 0 && c->n < 512)
        c->toks[c->n++] = token;
    int seen = atomic_fetch_add(&c->seen, 1) + 1;
    /* hold the generation here until the main thread has cancelled, so the test does not
     * depend on the scheduler (a slow main thread under ASan used to see the answer end on
     * a sampled stop token before it got round to cancelling) */
    if (c->hold_at > 0 && seen == c->hold_at)
        while (!atomic_load(&c->released))
            usleep(100);
    return true;
}

typedef struct gen_job {
    herd_session *s;
    const int32_t *prompt;
    int n;
    herd_gen_params gp;
    herd_gen_stats st;
    herd_status rc;
} gen_job;

static void *gen_thread(void *p)
{
    gen_job *j = p;
    herd_error err = { 0 };
    j->rc = herd_generate(j->s, j->prompt, j->n, NULL, &j->gp, &j->st, &err);
    return NULL;
}

int main(void)
{
    const char *src = getenv("HERD_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/models/tiny-f32.gguf", src ? src : ".");
    herd_error err = { 0 };
    herd_model_params mp = herd_model_default_params();
    mp.backend = HERD_BACKEND_CPU;
    mp.n_threads = 2;
    herd_model *m = herd_model_load(path, &mp, &err);
    if (!m) {
        printf("FAIL load: %s\n", err.msg);
        return 1;
    }
    const int V = herd_model_get_info(m)->n_vocab;
    const int32_t prompt[] = { 1024, 1029, 338,  258,  1030, 368, 67,  84,   265, 373,
                               290,  271,  1032, 1029, 453,  395, 503, 1030, 368 };
    const int np = (int)(sizeof prompt / sizeof prompt[0]);
    herd_session_params sp = herd_session_default_params();
    sp.n_ctx = 256;
    sp.kv_type = HERD_TYPE_F32;

    /* 1. greedy generate == argmax loop */
    herd_session *s = herd_session_new(m, &sp, &err);
    collect c = { 0 };
    herd_gen_params gp = { 0 };
    gp.sampling = herd_sampler_default_params();
    gp.sampling.temperature = 0;
    gp.max_tokens = 24;
    gp.on_piece = on_piece;
    gp.user_data = &c;
    herd_gen_stats st;
    CHECK(herd_generate(s, prompt, np, NULL, &gp, &st, &err) == HERD_OK, "generate: %s", err.msg);
    herd_session *s2 = herd_session_new(m, &sp, &err);
    float *logits = malloc((size_t)V * sizeof *logits);
    int32_t seq[256];
    memcpy(seq, prompt, sizeof prompt);
    CHECK(herd_session_eval(s2, prompt, np, NULL, logits, false, NULL, NULL, &err) == HERD_OK,
          "eval: %s", err.msg);
    int n_manual = 0;
    for (int i = 0; i < c.n; i++) {
        int best = 0;
        for (int k = 1; k < V; k++)
            if (logits[k] > logits[best])
                best = k;
        CHECK(best == c.toks[i], "token %d: generate gave %d, argmax %d", i, c.toks[i], best);
        seq[np + i] = best;
        n_manual++;
        herd_session_eval(s2, &seq[np + i], 1, NULL, logits, false, NULL, NULL, &err);
    }
    CHECK(c.n == st.n_gen && st.n_gen > 0, "n_gen %d vs %d pieces", st.n_gen, c.n);
    printf("greedy: %d tokens, ttft %.1f ms, %.1f tok/s\n", st.n_gen, st.ttft_ms,
           st.n_gen > 1 ? (st.n_gen - 1) / (st.t_gen_ms / 1e3) : 0.0);

    /* 2. prefix reuse: the same prompt + answer + a new turn evaluates only the new tokens */
    int32_t longer[300];
    int nl = 0;
    memcpy(longer, prompt, sizeof prompt);
    nl = np;
    for (int i = 0; i < c.n; i++)
        longer[nl++] = c.toks[i];
    const int32_t turn[] = { 1032, 1029, 338, 258, 1030, 368,  90, 91,
                             1032, 1029, 453, 395, 503,  1030, 368 };
    memcpy(longer + nl, turn, sizeof turn);
    nl += (int)(sizeof turn / sizeof turn[0]);
    collect c2 = { 0 };
    gp.user_data = &c2;
    gp.max_tokens = 8;
    CHECK(herd_generate(s, longer, nl, NULL, &gp, &st, &err) == HERD_OK, "%s", err.msg);
    /* the cache held prompt + generated tokens except the last sampled one (never evaluated) */
    CHECK(st.n_prompt_eval <= (int)(sizeof turn / sizeof turn[0]) + 1,
          "prefix reuse evaluated %d of %d tokens", st.n_prompt_eval, nl);
    herd_session *s3 = herd_session_new(m, &sp, &err);
    collect c3 = { 0 };
    gp.user_data = &c3;
    CHECK(herd_generate(s3, longer, nl, NULL, &gp, &st, &err) == HERD_OK, "%s", err.msg);
    CHECK(c2.n == c3.n && !memcmp(c2.toks, c3.toks, (size_t)c2.n * 4),
          "answer with reused prefix differs from a fresh session");
    /* regenerate: a shorter prompt (rewind) gives the first answer again */
    collect c4 = { 0 };
    gp.user_data = &c4;
    gp.max_tokens = 24;
    CHECK(herd_generate(s3, prompt, np, NULL, &gp, &st, &err) == HERD_OK, "%s", err.msg);
    CHECK(c4.n == c.n && !memcmp(c4.toks, c.toks, (size_t)c.n * 4), "regenerate differs");

    /* 3. cancel from another thread takes effect within one token */
    herd_session_rewind(s, 0);
    collect cc = { 0 };
    gen_job j = { .s = s, .prompt = prompt, .n = np };
    j.gp = gp;
    j.gp.max_tokens = 200;
    j.gp.sampling.temperature = 1.0f; /* keep going (random tokens rarely hit a stop) */
    j.gp.sampling.top_p = 1.0f;
    j.gp.sampling.seed = 7;
    j.gp.user_data = &cc;
    cc.hold_at = 3;
    pthread_t th;
    pthread_create(&th, NULL, gen_thread, &j);
    while (atomic_load(&cc.seen) < 3)
        usleep(100);
    int at_cancel = atomic_load(&cc.seen);
    herd_session_cancel(s);
    atomic_store(&cc.released, true);
    pthread_join(th, NULL);
    CHECK(j.rc == HERD_OK && j.st.cancelled, "cancel: rc %d cancelled %d", j.rc, j.st.cancelled);
    CHECK(cc.seen - at_cancel <= 2, "%d pieces arrived after cancel", cc.seen - at_cancel);
    printf("cancel: %d pieces before, %d after\n", at_cancel, cc.seen - at_cancel);

    /* 4. sampling: seeded, top-k 1 == greedy, min-p 1 == greedy */
    herd_sampler_params p = herd_sampler_default_params();
    p.temperature = 0.8f;
    p.top_p = 0.95f;
    p.seed = 42;
    herd_sampler *a = herd_sampler_new(&p, V), *b = herd_sampler_new(&p, V);
    float *lg = malloc((size_t)V * sizeof *lg);
    for (int i = 0; i < V; i++)
        lg[i] = (float)sin(i * 0.37) * 3.0f;
    int same = 0;
    for (int i = 0; i < 50; i++)
        same += herd_sampler_sample(a, lg) == herd_sampler_sample(b, lg);
    CHECK(same == 50, "same seed gave different tokens (%d/50)", same);
    int greedy = 0;
    for (int i = 1; i < V; i++)
        if (lg[i] > lg[greedy])
            greedy = i;
    herd_sampler_free(a);
    p.top_k = 1;
    a = herd_sampler_new(&p, V);
    for (int i = 0; i < 20; i++)
        CHECK(herd_sampler_sample(a, lg) == greedy, "top-k 1 is not greedy");
    herd_sampler_free(a);
    p.top_k = 0;
    p.min_p = 1.0f;
    a = herd_sampler_new(&p, V);
    for (int i = 0; i < 20; i++)
        CHECK(herd_sampler_sample(a, lg) == greedy, "min-p 1 is not greedy");
    herd_sampler_free(a);
    herd_sampler_free(b);
    /* repetition penalty moves probability away from recent tokens */
    p.min_p = 0;
    p.temperature = 0;
    p.repeat_penalty = 100.0f;
    a = herd_sampler_new(&p, V);
    herd_sampler_accept(a, greedy);
    CHECK(herd_sampler_sample(a, lg) != greedy, "repetition penalty ignored");
    herd_sampler_free(a);
    free(lg);

    /* 5. errors */
    int32_t *big = calloc(300, sizeof *big);
    CHECK(herd_generate(s, big, 300, NULL, &gp, &st, &err) == HERD_ERR_LIMIT &&
              strstr(err.msg, "context"),
          "over-long prompt: %s", err.msg);
    int32_t bad = V + 5;
    CHECK(herd_session_eval(s, &bad, 1, NULL, NULL, false, NULL, NULL, &err) == HERD_ERR_INVALID,
          "out-of-range token accepted");
    free(big);
    herd_model *none = herd_model_load("/nonexistent/model.gguf", &mp, &err);
    CHECK(!none && err.code == HERD_ERR_IO && strstr(err.msg, "/nonexistent/model.gguf"),
          "missing file: %s", err.msg);
    snprintf(path, sizeof path, "%s/tests/fixtures/models/tiny-mmproj-f32.gguf", src ? src : ".");
    none = herd_model_load(path, &mp, &err);
    CHECK(!none && err.code == HERD_ERR_UNSUPPORTED && strstr(err.msg, "mmproj"),
          "mmproj as model: %s", err.msg);
    printf("errors: %s\n", err.msg);

    free(logits);
    herd_session_free(s);
    herd_session_free(s2);
    herd_session_free(s3);
    herd_model_free(m);
    printf("%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
