/* vk-internal.h: state shared by the files of the Vulkan backend. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <vulkan/vulkan.h>

#include "../backend.h"
#include "vk-push.h"

struct herd_buffer {
    VkBuffer buf;
    VkDeviceMemory mem;
    VkDeviceAddress addr;
    size_t size;
    void *map; /* host-visible buffers only (staging) */
};

/* One recorded dispatch: the command buffer is reused while the list is byte-identical. */
typedef struct herd_vk_rec {
    int32_t pipe;     /* index into herd_vk_shaders */
    int32_t op;       /* herd_op, for profiling */
    int32_t aux;      /* 1: an activation-rounding pass run for the node that follows */
    uint32_t gx, gy;  /* workgroup counts */
    uint32_t barrier; /* a memory barrier precedes this dispatch */
    uint32_t push_size;
    uint8_t push[HERD_VK_PUSH_MAX];
} herd_vk_rec;

typedef struct herd_vk {
    VkInstance inst;
    VkPhysicalDevice pdev;
    VkDevice dev;
    VkQueue queue;
    uint32_t qfam;
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceMemoryProperties mem_props;
    VkDeviceSize max_alloc;
    bool has_budget;   /* VK_EXT_memory_budget */
    bool use_8bit;     /* 8/16-bit storage loads in dequant shaders */
    bool use_subgroup; /* subgroup arithmetic reductions in mul_mv */
    char name[256];

    VkCommandPool pool;
    VkCommandBuffer xfer_cb, graph_cb;
    VkFence fence;
    VkPipelineLayout layout;
    VkPipelineCache cache;
    VkPipeline *pipes; /* per herd_vk_shaders entry, created on first use */
    int n_pipes;

    bool f32_act; /* HERD_VK_F32_ACT=1: matmuls on unrounded F32 activations */

    herd_buffer *staging;
    herd_buffer *scratch; /* rounded matmul activations: HERD_VK_ACT_SLOTS slots */
    size_t slot_size;
    herd_buffer *attn_part; /* split-K attention partials (one node's at a time) */
    herd_buffer *arena;
    herd_buffer **owned; /* weight buffers made by weights_upload */
    int n_owned, cap_owned;
    size_t allocated; /* bytes of device memory we hold */

    herd_vk_rec *recs, *recorded;
    int n_recs, cap_recs, n_recorded;
    bool recorded_profile;

    /* RoPE frequency tables (powf on the host, like the CPU), in a small device buffer */
    herd_buffer *consts;
    size_t consts_used;
    struct herd_vk_rope_tab {
        float theta;
        int32_t n, mode;
        size_t offs;
    } rope_tabs[32];
    int n_rope_tabs;

    /* profiling */
    VkQueryPool qpool;
    uint32_t qcap;
    herd_op_profile prof;
} herd_vk;

#define VK_CHECK_RET(err, call)                                                             \
    do {                                                                                    \
        VkResult r_ = (call);                                                               \
        if (r_ != VK_SUCCESS)                                                               \
            return herd_error_set((err),                                                    \
                                  r_ == VK_ERROR_OUT_OF_DEVICE_MEMORY ||                    \
                                          r_ == VK_ERROR_OUT_OF_HOST_MEMORY                 \
                                      ? HERD_ERR_NOMEM                                      \
                                      : HERD_ERR_DEVICE,                                    \
                                  "Vulkan: %s failed (%s)", #call, herd_vk_result_str(r_)); \
    } while (0)

const char *herd_vk_result_str(VkResult r);

/* vk-device.c */
herd_status herd_vk_device_open(herd_vk *vk, int device, herd_error *err);
void herd_vk_device_close(herd_vk *vk);
herd_status herd_vk_submit_wait(herd_vk *vk, VkCommandBuffer cb, herd_error *err);

/* vk-memory.c */
herd_status herd_vk_buffer_new(herd_vk *vk, size_t size, bool host, herd_buffer **out,
                               herd_error *err);
void herd_vk_buffer_free(herd_vk *vk, herd_buffer *b);
herd_status herd_vk_copy(herd_vk *vk, herd_buffer *b, size_t offs, void *host, size_t n,
                         bool upload, herd_error *err);
size_t herd_vk_mem_free(herd_vk *vk);
herd_status herd_vk_weights_upload(herd_vk *vk, herd_tensor **w, int n,
                                   bool (*progress)(float, void *), void *ud, herd_error *err);

/* vk-pipeline.c */
herd_status herd_vk_pipelines_init(herd_vk *vk, herd_error *err);
void herd_vk_pipelines_free(herd_vk *vk);
int herd_vk_shader_find(const char *name); /* -1 if there is no such variant */
herd_status herd_vk_pipeline(herd_vk *vk, int idx, VkPipeline *out, herd_error *err);
const char *herd_vk_shader_name(int idx);

#define HERD_VK_ACT_SLOTS 4

/* vk-ops.c: fills rec (pipeline, push block, grid) for node n; the arena must be allocated.
 * xq != 0: a matmul reads its activations from this address (contiguous) instead of src[1]. */
herd_status herd_vk_encode(herd_vk *vk, const herd_node *n, VkDeviceAddress xq, herd_vk_rec *rec,
                           herd_error *err);
/* The activation rounding a matmul node needs ("q8_0", "q8_k", "f16", "bf16"), NULL if none;
 * *bytes = size of the rounded copy. */
const char *herd_vk_act_kind(herd_vk *vk, const herd_node *n, size_t *bytes);
/* Split-K attention: how many key slices node n (an ATTENTION) runs in (1: none); *bytes = size
 * of its partials. */
uint32_t herd_vk_attn_splits(const herd_node *n, size_t *bytes);
/* The pass that merges the slices; rec_main is the node's own (already encoded) record. */
herd_status herd_vk_encode_attn_combine(herd_vk *vk, const herd_vk_rec *rec_main, herd_vk_rec *rec,
                                        herd_error *err);
herd_status herd_vk_encode_quant_act(herd_vk *vk, const herd_node *n, VkDeviceAddress dst,
                                     herd_vk_rec *rec, herd_error *err);
herd_status herd_vk_tensor_addr(herd_vk *vk, const herd_tensor *t, VkDeviceAddress *addr,
                                herd_buffer **buf, size_t *offs, herd_error *err);
