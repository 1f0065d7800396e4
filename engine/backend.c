/* backend.c: picks a backend. The only place (with meson.build) that knows which are built. */
#include "backend.h"

#include <stdio.h>

#include <string.h>

#ifdef HERD_HAVE_VULKAN
herd_backend *herd_backend_vulkan_init(int device, herd_error *err);
int herd_vulkan_list_devices(char names[][256], int max);
#endif
#ifdef HERD_HAVE_CUDA
herd_backend *herd_backend_cuda_init(int device, herd_error *err);
int herd_cuda_list_devices(char names[][256], int max);
#endif

bool herd_backend_built(herd_backend_kind kind)
{
    switch (kind) {
    case HERD_BACKEND_AUTO:
    case HERD_BACKEND_CPU:
        return true;
#ifdef HERD_HAVE_VULKAN
    case HERD_BACKEND_VULKAN:
        return true;
#endif
#ifdef HERD_HAVE_CUDA
    case HERD_BACKEND_CUDA:
        return true;
#endif
    default:
        return false;
    }
}

int herd_backend_list_devices(herd_backend_kind kind, char names[][256], int max)
{
    if (max <= 0)
        return 0;
    switch (kind) {
    case HERD_BACKEND_AUTO:
    case HERD_BACKEND_CPU: {
        FILE *f = fopen("/proc/cpuinfo", "r");
        char line[512];
        snprintf(names[0], 256, "CPU");
        while (f && fgets(line, sizeof line, f)) {
            char *c = strchr(line, ':');
            if (!strncmp(line, "model name", 10) && c) {
                c += 2;
                c[strcspn(c, "\n")] = '\0';
                snprintf(names[0], 256, "%s", c);
                break;
            }
        }
        if (f)
            fclose(f);
        return 1;
    }
#ifdef HERD_HAVE_VULKAN
    case HERD_BACKEND_VULKAN:
        return herd_vulkan_list_devices(names, max);
#endif
#ifdef HERD_HAVE_CUDA
    case HERD_BACKEND_CUDA:
        return herd_cuda_list_devices(names, max);
#endif
    default:
        return 0;
    }
}

herd_backend *herd_backend_init(const herd_backend_params *p, herd_error *err)
{
    herd_backend *be = NULL;
    switch (p->kind) {
    case HERD_BACKEND_AUTO:
    case HERD_BACKEND_CPU:
        be = herd_backend_cpu_init(p->n_threads, err);
        break;
    case HERD_BACKEND_VULKAN:
#ifdef HERD_HAVE_VULKAN
        be = herd_backend_vulkan_init(p->device, err);
#else
        herd_error_set(err, HERD_ERR_UNSUPPORTED, "this build has no Vulkan backend");
#endif
        break;
    case HERD_BACKEND_CUDA:
#ifdef HERD_HAVE_CUDA
        be = herd_backend_cuda_init(p->device, err);
#else
        herd_error_set(err, HERD_ERR_UNSUPPORTED, "this build has no CUDA backend");
#endif
        break;
    }
    if (be) {
        be->profile = p->profile;
        if (be->kind != HERD_BACKEND_CPU && p->n_threads > 0)
            be->n_threads = p->n_threads;
    }
    return be;
}

herd_backend *herd_backend_init_auto(const herd_backend_params *p, char *note, size_t note_len,
                                     herd_error *err)
{
    if (note && note_len)
        note[0] = '\0';
    if (p->kind == HERD_BACKEND_CPU)
        return herd_backend_init(p, err);
    herd_backend_params q = *p;
    if (p->kind == HERD_BACKEND_AUTO) {
        /* prefer CUDA, then Vulkan, then CPU */
        static const herd_backend_kind order[] = { HERD_BACKEND_CUDA, HERD_BACKEND_VULKAN };
        for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
            q.kind = order[i];
            char names[4][256];
            int n = herd_backend_list_devices(q.kind, names, 4);
            /* a Vulkan implementation that runs on the CPU (lavapipe) is slower than ours:
             * auto only picks real GPUs ("[cpu" is how herd_vulkan_list_devices tags them) */
            if (n <= q.device || strstr(names[q.device], "[cpu"))
                continue;
            herd_error e = { 0 };
            herd_backend *be = herd_backend_init(&q, &e);
            if (be)
                return be;
        }
        q.kind = HERD_BACKEND_CPU;
        return herd_backend_init(&q, err);
    }
    herd_error e = { 0 };
    herd_backend *be = herd_backend_init(&q, &e);
    if (be)
        return be;
    if (note && note_len)
        snprintf(note, note_len, "%s backend unavailable (%s); using the CPU",
                 herd_backend_kind_name(p->kind), e.msg);
    q.kind = HERD_BACKEND_CPU;
    return herd_backend_init(&q, err);
}

void herd_backend_free(herd_backend *be)
{
    if (be)
        be->iface->free(be);
}

bool herd_backend_profile_get(herd_backend *be, herd_op_profile *out, bool reset)
{
    if (!be || !be->iface->profile_get)
        return false;
    be->iface->profile_get(be, out, reset);
    return true;
}

void herd_backend_profile_report(herd_backend *be, FILE *f)
{
    herd_op_profile p;
    if (!herd_backend_profile_get(be, &p, false)) {
        fprintf(f, "%s backend: no profile\n", be ? be->iface->name(be) : "?");
        return;
    }
    uint64_t total = 0;
    int order[HERD_OP_COUNT], n = 0;
    for (int i = 0; i < HERD_OP_COUNT; i++) {
        total += p.ns[i];
        if (p.count[i])
            order[n++] = i;
    }
    for (int i = 1; i < n; i++) /* insertion sort by time, descending */
        for (int j = i; j > 0 && p.ns[order[j]] > p.ns[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    fprintf(f, "%s backend profile: %llu graphs, %.3f ms\n", be->iface->name(be),
            (unsigned long long)p.graphs, (double)total / 1e6);
    fprintf(f, "  %-16s %10s %12s %12s %7s\n", "op", "nodes", "total ms", "us/node", "share");
    for (int k = 0; k < n; k++) {
        int i = order[k];
        fprintf(f, "  %-16s %10llu %12.3f %12.2f %6.1f%%\n", herd_op_name((herd_op)i),
                (unsigned long long)p.count[i], (double)p.ns[i] / 1e6,
                (double)p.ns[i] / 1e3 / (double)p.count[i],
                total ? 100.0 * (double)p.ns[i] / (double)total : 0.0);
    }
}
