/* sampler.c: logits → next token. Greedy, temperature, top-k, top-p (nucleus), min-p,
 * repetition penalty, seeded. Order (as llama.cpp's default chain): penalties, top-k, top-p,
 * min-p, temperature, sample. Temperature 0 is greedy (argmax, lowest id on ties). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "herd.h"

struct herd_sampler {
    herd_sampler_params p;
    int n_vocab;
    uint64_t rng;
    int32_t *recent; /* ring of the last repeat_last_n tokens */
    int n_recent, head;
    struct cand {
        float logit;
        int32_t id;
    } * cands;
};

herd_sampler_params herd_sampler_default_params(void)
{
    herd_sampler_params p = { 0 };
    p.temperature = 0.6f;
    p.top_p = 0.9f;
    p.repeat_penalty = 1.0f;
    p.repeat_last_n = 64;
    p.seed = 0x4E7D;
    return p;
}

herd_sampler *herd_sampler_new(const herd_sampler_params *p, int n_vocab)
{
    herd_sampler *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->p = *p;
    s->n_vocab = n_vocab;
    if (s->p.repeat_last_n < 0)
        s->p.repeat_last_n = 0;
    s->recent = calloc((size_t)(s->p.repeat_last_n ? s->p.repeat_last_n : 1), sizeof *s->recent);
    s->cands = malloc((size_t)n_vocab * sizeof *s->cands);
    if (!s->recent || !s->cands) {
        herd_sampler_free(s);
        return NULL;
    }
    herd_sampler_reset(s);
    return s;
}

void herd_sampler_free(herd_sampler *s)
{
    if (!s)
        return;
    free(s->recent);
    free(s->cands);
    free(s);
}

void herd_sampler_reset(herd_sampler *s)
{
    s->rng = s->p.seed ^ 0x9E3779B97F4A7C15ull;
    s->n_recent = 0;
    s->head = 0;
}

void herd_sampler_accept(herd_sampler *s, int32_t token)
{
    if (!s->p.repeat_last_n)
        return;
    s->recent[s->head] = token;
    s->head = (s->head + 1) % s->p.repeat_last_n;
    if (s->n_recent < s->p.repeat_last_n)
        s->n_recent++;
}

static double rng_uniform(herd_sampler *s)
{
    uint64_t z = (s->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

static int cmp_cand(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->logit != y->logit)
        return x->logit < y->logit ? 1 : -1;
    return x->id - y->id;
}

int32_t herd_sampler_sample(herd_sampler *s, const float *logits)
{
    const int V = s->n_vocab;
    struct cand *c = s->cands;
    for (int i = 0; i < V; i++) {
        c[i].logit = logits[i];
        c[i].id = i;
    }
    if (s->p.repeat_penalty != 1.0f && s->n_recent) {
        /* each distinct recent token penalised once */
        for (int i = 0; i < s->n_recent; i++) {
            int32_t t = s->recent[i];
            if (t < 0 || t >= V)
                continue;
            bool seen = false;
            for (int j = 0; j < i && !seen; j++)
                seen = s->recent[j] == t;
            if (seen)
                continue;
            float *l = &c[t].logit;
            *l = *l > 0 ? *l / s->p.repeat_penalty : *l * s->p.repeat_penalty;
        }
    }
    if (s->p.temperature <= 0.0f) {
        int best = 0;
        for (int i = 1; i < V; i++)
            if (c[i].logit > c[best].logit)
                best = i;
        return c[best].id;
    }
    /* candidates: drop tokens whose probability is below e^-30 of the best (they cannot matter
     * to any of the filters below), then sort the survivors; top-k keeps the first k */
    float mx0 = c[0].logit;
    for (int i = 1; i < V; i++)
        if (c[i].logit > mx0)
            mx0 = c[i].logit;
    const float cut = mx0 - 30.0f * s->p.temperature;
    int n = 0;
    for (int i = 0; i < V; i++)
        if (c[i].logit >= cut)
            c[n++] = c[i];
    qsort(c, (size_t)n, sizeof *c, cmp_cand);
    if (s->p.top_k > 0 && s->p.top_k < n)
        n = s->p.top_k;
    /* softmax at temperature */
    const float inv_t = 1.0f / s->p.temperature;
    const float mx = c[0].logit;
    double sum = 0;
    double *pr = malloc((size_t)n * sizeof *pr);
    if (!pr)
        return c[0].id;
    for (int i = 0; i < n; i++) {
        pr[i] = exp((double)(c[i].logit - mx) * inv_t);
        sum += pr[i];
    }
    for (int i = 0; i < n; i++)
        pr[i] /= sum;
    /* top-p: keep tokens while the cumulative probability before them is < top_p */
    if (s->p.top_p > 0.0f && s->p.top_p < 1.0f) {
        double cum = 0;
        int keep = 0;
        while (keep < n && cum < s->p.top_p) {
            cum += pr[keep];
            keep++;
        }
        n = keep > 0 ? keep : 1;
    }
    /* min-p: drop tokens below min_p × the best probability */
    if (s->p.min_p > 0.0f) {
        double thr = pr[0] * s->p.min_p;
        int keep = 1;
        while (keep < n && pr[keep] >= thr)
            keep++;
        n = keep;
    }
    double total = 0;
    for (int i = 0; i < n; i++)
        total += pr[i];
    double r = rng_uniform(s) * total;
    int32_t id = c[n - 1].id;
    for (int i = 0; i < n; i++) {
        r -= pr[i];
        if (r <= 0) {
            id = c[i].id;
            break;
        }
    }
    free(pr);
    return id;
}
