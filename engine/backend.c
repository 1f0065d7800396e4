/* backend.c: picks a backend. The only place (with meson.build) that knows which are built. */
#include "backend.h"

#include <stdio.h>

#ifdef HERD_HAVE_VULKAN
herd_backend *herd_backend_vulkan_init(int device, herd_error *err);
#endif
#ifdef HERD_HAVE_CUDA
herd_backend *herd_backend_cuda_init(int device, herd_error *err);
#endif

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
