/* vk-backend.c: the herd_backend_iface of the Vulkan backend and graph execution.
 *
 * graph_compute encodes every node into a record (pipeline, push block, grid, barrier flag),
 * compares the record list with the one behind the command buffer recorded last time and
 * re-records only when they differ: a decode step with the same graph shape and the same memory
 * (inputs change through tensor_set only) resubmits the same command buffer. A barrier goes
 * before a dispatch only when it reads or writes memory that a dispatch since the last barrier
 * wrote (or writes memory one of them read), so independent nodes (q/k/v projections, gate/up)
 * may overlap on the GPU. With profiling on, every dispatch is fenced by a barrier and timed with
 * GPU timestamps (herd_backend_profile_get / _report).
 */
#include "herd-vulkan.h"
#include "vk-internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct range {
    VkDeviceAddress lo, hi;
} range;

static herd_vk *VK(herd_backend *be)
{
    return be->ctx;
}

static const char *vk_name(herd_backend *be)
{
    (void)be;
    return "vulkan";
}

static void vk_free(herd_backend *be)
{
    herd_vk *vk = VK(be);
    if (vk->dev)
        vkDeviceWaitIdle(vk->dev);
    if (vk->dev) {
        for (int i = 0; i < vk->n_owned; i++)
            herd_vk_buffer_free(vk, vk->owned[i]);
        herd_vk_buffer_free(vk, vk->staging);
        herd_vk_buffer_free(vk, vk->arena);
        herd_vk_buffer_free(vk, vk->consts);
        herd_vk_buffer_free(vk, vk->scratch);
        herd_vk_buffer_free(vk, vk->attn_part);
        herd_vk_pipelines_free(vk);
    }
    free(vk->owned);
    free(vk->recs);
    free(vk->recorded);
    herd_vk_device_close(vk);
    free(vk);
    free(be);
}

static herd_status vk_buffer_alloc(herd_backend *be, size_t size, herd_buffer **out,
                                   herd_error *err)
{
    herd_vk *vk = VK(be);
    herd_status st = herd_vk_buffer_new(vk, size, false, out, err);
    if (st)
        return st;
    /* zero it: KV caches and inputs must not start with garbage (NaN * 0 = NaN) */
    VkCommandBuffer cb = vk->xfer_cb;
    VkCommandBufferBeginInfo bi = { .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                    .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT };
    VK_CHECK_RET(err, vkBeginCommandBuffer(cb, &bi));
    vkCmdFillBuffer(cb, (*out)->buf, 0, VK_WHOLE_SIZE, 0);
    VK_CHECK_RET(err, vkEndCommandBuffer(cb));
    return herd_vk_submit_wait(vk, cb, err);
}

static void vk_buffer_free(herd_backend *be, herd_buffer *buf)
{
    herd_vk *vk = VK(be);
    vkDeviceWaitIdle(vk->dev);
    vk->n_recorded = 0; /* addresses may be reused */
    /* a weight buffer weights_upload made: the caller frees it, we no longer own it */
    for (int i = 0; i < vk->n_owned; i++)
        if (vk->owned[i] == buf)
            vk->owned[i--] = vk->owned[--vk->n_owned];
    herd_vk_buffer_free(vk, buf);
}

static void vk_tensor_bind(herd_backend *be, herd_tensor *t, herd_buffer *buf, size_t offs)
{
    (void)be;
    t->buf = buf;
    t->offs = offs;
}

static herd_status tensor_copy(herd_backend *be, const herd_tensor *t, void *host, size_t offs,
                               size_t n, bool upload, herd_error *err)
{
    herd_vk *vk = VK(be);
    herd_buffer *b;
    size_t o;
    herd_status st = herd_vk_tensor_addr(vk, t, NULL, &b, &o, err);
    if (st)
        return st;
    size_t nb = herd_tensor_nbytes(t);
    if (offs > nb || n > nb - offs)
        return herd_error_set(err, HERD_ERR_INVALID,
                              "Vulkan: %s of %zu bytes at %zu exceeds "
                              "tensor %s (%zu bytes)",
                              upload ? "set" : "get", n, offs, t->name, nb);
    return herd_vk_copy(vk, b, o + offs, host, n, upload, err);
}

static herd_status vk_tensor_set(herd_backend *be, herd_tensor *t, const void *src, size_t offs,
                                 size_t n, herd_error *err)
{
    return tensor_copy(be, t, (void *)src, offs, n, true, err);
}

static herd_status vk_tensor_get(herd_backend *be, const herd_tensor *t, void *dst, size_t offs,
                                 size_t n, herd_error *err)
{
    return tensor_copy(be, t, dst, offs, n, false, err);
}

static herd_status vk_weights_upload(herd_backend *be, herd_tensor **w, int n,
                                     bool (*progress)(float, void *), void *ud, herd_error *err)
{
    return herd_vk_weights_upload(VK(be), w, n, progress, ud, err);
}

static bool vk_supports_type(herd_backend *be, herd_type t)
{
    (void)be;
    switch (t) {
    case HERD_TYPE_F32:
    case HERD_TYPE_F16:
    case HERD_TYPE_BF16:
    case HERD_TYPE_Q8_0:
    case HERD_TYPE_Q4_0:
    case HERD_TYPE_Q4_K:
    case HERD_TYPE_Q5_K:
    case HERD_TYPE_Q6_K:
        return true;
    default:
        return false;
    }
}

static size_t vk_mem_free(herd_backend *be)
{
    return herd_vk_mem_free(VK(be));
}

/* --- dependency tracking for barriers ------------------------------------------------------ */

typedef struct tracker {
    range *w, *r;
    int nw, nr, cap;
} tracker;

static bool overlaps(const range *set, int n, range x)
{
    for (int i = 0; i < n; i++)
        if (x.lo < set[i].hi && set[i].lo < x.hi)
            return true;
    return false;
}

static herd_status tensor_range(herd_vk *vk, const herd_tensor *t, range *out, herd_error *err)
{
    VkDeviceAddress a;
    herd_status st = herd_vk_tensor_addr(vk, t, &a, NULL, NULL, err);
    out->lo = a;
    out->hi = a + herd_tensor_nbytes(t);
    return st;
}

/* decides whether a dispatch reading rd[] and writing wr needs a barrier before it, and records
 * its accesses */
static herd_status track(tracker *tr, const range *rd, int nrd, range wr, bool *barrier,
                         herd_error *err)
{
    bool need = overlaps(tr->w, tr->nw, wr) || overlaps(tr->r, tr->nr, wr);
    for (int j = 0; j < nrd && !need; j++)
        need = overlaps(tr->w, tr->nw, rd[j]);
    if (need)
        tr->nw = tr->nr = 0;
    *barrier = need;
    if (tr->nr + nrd > tr->cap || tr->nw + 1 > tr->cap) {
        int cap = tr->cap ? tr->cap * 2 : 64;
        range *w = realloc(tr->w, (size_t)cap * sizeof *w);
        if (w)
            tr->w = w;
        range *r = realloc(tr->r, (size_t)cap * sizeof *r);
        if (r)
            tr->r = r;
        if (!w || !r)
            return herd_error_set(err, HERD_ERR_NOMEM, "out of memory");
        tr->cap = cap;
    }
    tr->w[tr->nw++] = wr;
    for (int j = 0; j < nrd; j++)
        tr->r[tr->nr++] = rd[j];
    return HERD_OK;
}

/* the ranges a node reads (its sources, plus `extra` if extra.hi > 0) and writes */
static herd_status node_ranges(herd_vk *vk, const herd_node *n, range extra, range *rd, int *nrd,
                               range *wr, herd_error *err)
{
    herd_status st = tensor_range(vk, n->out, wr, err);
    *nrd = 0;
    for (int j = 0; j < HERD_MAX_SRC && !st; j++)
        if (n->src[j])
            st = tensor_range(vk, n->src[j], &rd[(*nrd)++], err);
    if (extra.hi > extra.lo)
        rd[(*nrd)++] = extra;
    return st;
}

/* rounded-activation slots: which copy of which tensor each holds */
typedef struct act_slot {
    bool valid;
    const char *kind;
    range src;
    int64_t ne[HERD_MAX_DIMS];
    size_t nb[HERD_MAX_DIMS];
} act_slot;

static bool slot_matches(const act_slot *s, const char *kind, range src, const herd_tensor *x)
{
    return s->valid && s->kind == kind && s->src.lo == src.lo && s->src.hi == src.hi &&
           !memcmp(s->ne, x->ne, sizeof s->ne) && !memcmp(s->nb, x->nb, sizeof s->nb);
}

static herd_status ensure_attn_part(herd_vk *vk, herd_graph *g, herd_error *err)
{
    size_t need = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        size_t b;
        if (herd_vk_attn_splits(&g->nodes[i], &b) > 1 && b > need)
            need = b;
    }
    if (need == 0 || (vk->attn_part && vk->attn_part->size >= need))
        return HERD_OK;
    vkDeviceWaitIdle(vk->dev);
    herd_vk_buffer_free(vk, vk->attn_part);
    vk->attn_part = NULL;
    vk->n_recorded = 0;
    return herd_vk_buffer_new(vk, need, false, &vk->attn_part, err);
}

static herd_status ensure_scratch(herd_vk *vk, herd_graph *g, herd_error *err)
{
    size_t need = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        size_t b;
        if (herd_vk_act_kind(vk, &g->nodes[i], &b) && b > need)
            need = b;
    }
    need = (need + 255) & ~(size_t)255;
    if (need == 0 || (vk->scratch && vk->slot_size >= need))
        return HERD_OK;
    vkDeviceWaitIdle(vk->dev);
    herd_vk_buffer_free(vk, vk->scratch);
    vk->scratch = NULL;
    vk->n_recorded = 0;
    herd_status st = herd_vk_buffer_new(vk, need * HERD_VK_ACT_SLOTS, false, &vk->scratch, err);
    vk->slot_size = st ? 0 : need;
    return st;
}

/* --- recording and submission -------------------------------------------------------------- */

static void full_barrier(VkCommandBuffer cb, VkPipelineStageFlags src)
{
    VkMemoryBarrier mb = { .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                           .srcAccessMask = VK_ACCESS_MEMORY_WRITE_BIT,
                           .dstAccessMask =
                               VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT };
    vkCmdPipelineBarrier(cb, src, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0, NULL, 0,
                         NULL);
}

static herd_status record(herd_vk *vk, bool profile, herd_error *err)
{
    VkCommandBuffer cb = vk->graph_cb;
    VK_CHECK_RET(err, vkResetCommandBuffer(cb, 0));
    VkCommandBufferBeginInfo bi = { .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO };
    VK_CHECK_RET(err, vkBeginCommandBuffer(cb, &bi));
    if (profile)
        vkCmdResetQueryPool(cb, vk->qpool, 0, 2 * (uint32_t)vk->n_recs);
    /* uploads and earlier graphs (other submissions) are complete and visible */
    full_barrier(cb, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT);
    VkPipeline bound = VK_NULL_HANDLE;
    for (int i = 0; i < vk->n_recs; i++) {
        const herd_vk_rec *r = &vk->recs[i];
        VkPipeline pipe;
        herd_status st = herd_vk_pipeline(vk, r->pipe, &pipe, err);
        if (st) {
            vkEndCommandBuffer(cb);
            return st;
        }
        if (r->barrier)
            full_barrier(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT);
        if (pipe != bound) {
            vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, pipe);
            bound = pipe;
        }
        vkCmdPushConstants(cb, vk->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, r->push_size, r->push);
        if (profile)
            vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, vk->qpool, 2 * (uint32_t)i);
        vkCmdDispatch(cb, r->gx, r->gy, 1);
        if (profile)
            vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, vk->qpool,
                                2 * (uint32_t)i + 1);
    }
    VK_CHECK_RET(err, vkEndCommandBuffer(cb));
    return HERD_OK;
}

static herd_status ensure_queries(herd_vk *vk, uint32_t n, herd_error *err)
{
    if (vk->qpool && vk->qcap >= n)
        return HERD_OK;
    if (vk->qpool)
        vkDestroyQueryPool(vk->dev, vk->qpool, NULL);
    vk->qpool = VK_NULL_HANDLE;
    uint32_t cap = n < 256 ? 256 : n + n / 2;
    VkQueryPoolCreateInfo qi = { .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                 .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                 .queryCount = cap };
    VK_CHECK_RET(err, vkCreateQueryPool(vk->dev, &qi, NULL, &vk->qpool));
    vk->qcap = cap;
    vk->n_recorded = 0; /* the recorded buffer names the old pool */
    return HERD_OK;
}

static herd_status vk_graph_compute(herd_backend *be, herd_graph *g, herd_error *err)
{
    herd_vk *vk = VK(be);
    herd_status st = HERD_OK;
    if (g->oom)
        return herd_error_set(err, HERD_ERR_NOMEM, "graph construction ran out of memory");
    if (g->n_nodes == 0)
        return HERD_OK;
    /* the shared op rules (graph.c) first, so a malformed graph is refused with the same message
     * on every backend; the encoders below check only what this backend's shaders need */
    for (int i = 0; i < g->n_nodes; i++)
        if ((st = herd_node_check(&g->nodes[i], i, err)))
            return st;
    /* arena */
    if (!vk->arena || vk->arena->size < g->arena_size) {
        vkDeviceWaitIdle(vk->dev);
        herd_vk_buffer_free(vk, vk->arena);
        vk->arena = NULL;
        size_t sz = (g->arena_size + (1u << 20) - 1) & ~(size_t)((1u << 20) - 1);
        st = herd_vk_buffer_new(vk, sz, false, &vk->arena, err);
        if (st)
            return st;
        vk->n_recorded = 0;
    }
    bool profile = be->profile;
    if (profile && (st = ensure_queries(vk, 6 * (uint32_t)g->n_nodes, err)))
        return st;
    /* encode */
    if ((st = ensure_scratch(vk, g, err)) || (st = ensure_attn_part(vk, g, err)))
        return st;
    if (vk->cap_recs < 3 * g->n_nodes) {
        int cap = 3 * g->n_nodes;
        herd_vk_rec *r = realloc(vk->recs, (size_t)cap * sizeof *r);
        if (!r)
            return herd_error_set(err, HERD_ERR_NOMEM, "out of memory");
        vk->recs = r;
        herd_vk_rec *c = realloc(vk->recorded, (size_t)cap * sizeof *c);
        if (!c)
            return herd_error_set(err, HERD_ERR_NOMEM, "out of memory");
        vk->recorded = c;
        vk->cap_recs = cap;
        vk->n_recorded = 0;
    }
    tracker tr = { 0 };
    act_slot slots[HERD_VK_ACT_SLOTS] = { 0 };
    int next_slot = 0;
    vk->n_recs = 0;
    int bad = -1;
    for (int i = 0; i < g->n_nodes && !st; i++) {
        const herd_node *n = &g->nodes[i];
        range rd[HERD_MAX_SRC + 1], wr, slot_rg = { 0, 0 };
        int nrd;
        bool b = false;
        VkDeviceAddress xq = 0;
        size_t xbytes;
        const char *kind = herd_vk_act_kind(vk, n, &xbytes);
        if (kind) {
            /* round the activations into a slot, unless one already holds them */
            range src;
            st = tensor_range(vk, n->src[1], &src, err);
            int s = -1;
            for (int k = 0; k < HERD_VK_ACT_SLOTS && !st && s < 0; k++)
                if (slot_matches(&slots[k], kind, src, n->src[1]))
                    s = k;
            if (!st && s < 0) {
                s = next_slot;
                next_slot = (next_slot + 1) % HERD_VK_ACT_SLOTS;
                VkDeviceAddress dst = vk->scratch->addr + (VkDeviceAddress)s * vk->slot_size;
                herd_vk_rec *r = &vk->recs[vk->n_recs];
                st = herd_vk_encode_quant_act(vk, n, dst, r, err);
                if (!st)
                    st = track(&tr, &src, 1, (range){ dst, dst + xbytes }, &b, err);
                r->barrier = b || profile;
                vk->n_recs++;
                slots[s] = (act_slot){ .valid = true, .kind = kind, .src = src };
                memcpy(slots[s].ne, n->src[1]->ne, sizeof slots[s].ne);
                memcpy(slots[s].nb, n->src[1]->nb, sizeof slots[s].nb);
            }
            if (!st) {
                xq = vk->scratch->addr + (VkDeviceAddress)s * vk->slot_size;
                slot_rg = (range){ xq, xq + xbytes };
            }
        }
        herd_vk_rec *r = &vk->recs[vk->n_recs];
        if (!st)
            st = herd_vk_encode(vk, n, xq, r, err);
        if (!st)
            st = node_ranges(vk, n, slot_rg, rd, &nrd, &wr, err);
        size_t part_bytes;
        if (!st && herd_vk_attn_splits(n, &part_bytes) > 1) {
            /* slices write the partials, then the combine pass reads them and writes out */
            range part = { vk->attn_part->addr, vk->attn_part->addr + part_bytes };
            st = track(&tr, rd, nrd, part, &b, err);
            r->barrier = b || profile;
            vk->n_recs++;
            r = &vk->recs[vk->n_recs];
            if (!st)
                st = herd_vk_encode_attn_combine(vk, &vk->recs[vk->n_recs - 1], r, err);
            rd[0] = part;
            nrd = 1;
        }
        if (!st)
            st = track(&tr, rd, nrd, wr, &b, err);
        r->barrier = b || profile;
        vk->n_recs++;
        /* a slot whose source this node overwrites is stale */
        for (int k = 0; k < HERD_VK_ACT_SLOTS && !st; k++)
            if (slots[k].valid && wr.lo < slots[k].src.hi && slots[k].src.lo < wr.hi)
                slots[k].valid = false;
        if (st)
            bad = i;
    }
    free(tr.w);
    free(tr.r);
    if (st) {
        if (err && bad >= 0) {
            char msg[sizeof err->msg];
            memcpy(msg, err->msg, sizeof msg);
            snprintf(err->msg, sizeof err->msg, "node %d (%s): %.400s", bad,
                     g->nodes[bad].out ? g->nodes[bad].out->name : "?", msg);
        }
        vk->n_recorded = 0;
        return st;
    }
    /* reuse or record */
    size_t bytes = (size_t)vk->n_recs * sizeof *vk->recs;
    if (vk->n_recorded != vk->n_recs || vk->recorded_profile != profile ||
        memcmp(vk->recorded, vk->recs, bytes) != 0) {
        vk->n_recorded = 0;
        st = record(vk, profile, err);
        if (st)
            return st;
        memcpy(vk->recorded, vk->recs, bytes);
        vk->n_recorded = vk->n_recs;
        vk->recorded_profile = profile;
    }
    st = herd_vk_submit_wait(vk, vk->graph_cb, err);
    if (st)
        return st;
    if (profile) {
        uint64_t *ts = malloc((size_t)vk->n_recs * 2 * sizeof *ts);
        if (ts && vkGetQueryPoolResults(vk->dev, vk->qpool, 0, 2 * (uint32_t)vk->n_recs,
                                        (size_t)vk->n_recs * 2 * sizeof *ts, ts, sizeof *ts,
                                        VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT) ==
                      VK_SUCCESS) {
            double period = vk->props.limits.timestampPeriod;
            for (int i = 0; i < vk->n_recs; i++) {
                int op = vk->recs[i].op;
                vk->prof.ns[op] += (uint64_t)((double)(ts[2 * i + 1] - ts[2 * i]) * period);
                vk->prof.count[op] += vk->recs[i].aux ? 0 : 1;
            }
        }
        free(ts);
        vk->prof.graphs++;
    }
    return HERD_OK;
}

static void vk_profile_get(herd_backend *be, herd_op_profile *out, bool reset)
{
    herd_vk *vk = VK(be);
    if (out)
        *out = vk->prof;
    if (reset)
        memset(&vk->prof, 0, sizeof vk->prof);
}

static const herd_backend_iface vk_iface = {
    .name = vk_name,
    .free = vk_free,
    .buffer_alloc = vk_buffer_alloc,
    .buffer_free = vk_buffer_free,
    .tensor_bind = vk_tensor_bind,
    .tensor_set = vk_tensor_set,
    .tensor_get = vk_tensor_get,
    .weights_upload = vk_weights_upload,
    .supports_type = vk_supports_type,
    .graph_compute = vk_graph_compute,
    .mem_free = vk_mem_free,
    .profile_get = vk_profile_get,
};

herd_backend *herd_backend_vulkan_init(int device, herd_error *err)
{
    herd_backend *be = calloc(1, sizeof *be);
    herd_vk *vk = calloc(1, sizeof *vk);
    if (!be || !vk) {
        free(be);
        free(vk);
        herd_error_set(err, HERD_ERR_NOMEM, "out of memory");
        return NULL;
    }
    be->iface = &vk_iface;
    be->kind = HERD_BACKEND_VULKAN;
    be->n_threads = 1;
    be->ctx = vk;
    herd_status st = herd_vk_device_open(vk, device, err);
    if (!st)
        st = herd_vk_pipelines_init(vk, err);
    if (st) {
        vk_free(be);
        return NULL;
    }
    return be;
}
