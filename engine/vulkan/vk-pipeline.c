/* vk-pipeline.c: the embedded SPIR-V variants (generated table) and their compute pipelines,
 * created on first use and kept for the backend's life. One pipeline layout for all: no
 * descriptor sets (buffers are reached by device address), one push-constant range. */
#include "vk-internal.h"
#include "vk-shaders.h"

#include <stdlib.h>
#include <string.h>

#define N_SHADERS ((int)(sizeof herd_vk_shaders / sizeof herd_vk_shaders[0]))

/* name -> index, open addressing; built once (the table is constant) */
#define HASH_CAP 512
_Static_assert(HASH_CAP >= 2 * N_SHADERS, "shader hash table too small");
static int16_t hash_tab[HASH_CAP];
static int hash_ready;

static uint32_t fnv(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s)
        h = (h ^ (uint8_t)*s++) * 16777619u;
    return h;
}

static void hash_build(void)
{
    for (int i = 0; i < HASH_CAP; i++)
        hash_tab[i] = -1;
    for (int i = 0; i < N_SHADERS; i++) {
        uint32_t s = fnv(herd_vk_shaders[i].name) & (HASH_CAP - 1);
        while (hash_tab[s] >= 0)
            s = (s + 1) & (HASH_CAP - 1);
        hash_tab[s] = (int16_t)i;
    }
    hash_ready = 1;
}

int herd_vk_shader_find(const char *name)
{
    if (!hash_ready)
        hash_build(); /* idempotent; racing builders write the same values */
    uint32_t s = fnv(name) & (HASH_CAP - 1);
    while (hash_tab[s] >= 0) {
        if (!strcmp(herd_vk_shaders[hash_tab[s]].name, name))
            return hash_tab[s];
        s = (s + 1) & (HASH_CAP - 1);
    }
    return -1;
}

const char *herd_vk_shader_name(int idx)
{
    return idx >= 0 && idx < N_SHADERS ? herd_vk_shaders[idx].name : "?";
}

herd_status herd_vk_pipelines_init(herd_vk *vk, herd_error *err)
{
    vk->pipes = calloc(N_SHADERS, sizeof *vk->pipes);
    if (!vk->pipes)
        return herd_error_set(err, HERD_ERR_NOMEM, "out of memory");
    vk->n_pipes = N_SHADERS;
    VkPushConstantRange pr = { .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
                               .offset = 0,
                               .size = HERD_VK_PUSH_MAX };
    if (vk->props.limits.maxPushConstantsSize < HERD_VK_PUSH_MAX)
        return herd_error_set(err, HERD_ERR_UNSUPPORTED,
                              "Vulkan: %s has %u bytes of push "
                              "constants, Herd needs %d",
                              vk->name, vk->props.limits.maxPushConstantsSize, HERD_VK_PUSH_MAX);
    VkPipelineLayoutCreateInfo lci = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
        .pushConstantRangeCount = 1,
        .pPushConstantRanges = &pr,
    };
    VK_CHECK_RET(err, vkCreatePipelineLayout(vk->dev, &lci, NULL, &vk->layout));
    VkPipelineCacheCreateInfo cci = { .sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO };
    VK_CHECK_RET(err, vkCreatePipelineCache(vk->dev, &cci, NULL, &vk->cache));
    return HERD_OK;
}

void herd_vk_pipelines_free(herd_vk *vk)
{
    if (!vk->dev)
        return;
    for (int i = 0; i < vk->n_pipes; i++)
        if (vk->pipes[i])
            vkDestroyPipeline(vk->dev, vk->pipes[i], NULL);
    free(vk->pipes);
    if (vk->cache)
        vkDestroyPipelineCache(vk->dev, vk->cache, NULL);
    if (vk->layout)
        vkDestroyPipelineLayout(vk->dev, vk->layout, NULL);
}

herd_status herd_vk_pipeline(herd_vk *vk, int idx, VkPipeline *out, herd_error *err)
{
    if (idx < 0 || idx >= vk->n_pipes)
        return herd_error_set(err, HERD_ERR_INVALID, "Vulkan: bad shader index %d", idx);
    if (vk->pipes[idx]) {
        *out = vk->pipes[idx];
        return HERD_OK;
    }
    const herd_vk_shader *sh = &herd_vk_shaders[idx];
    VkShaderModuleCreateInfo mci = {
        .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
        .codeSize = sh->size,
        .pCode = sh->code,
    };
    VkShaderModule mod;
    VK_CHECK_RET(err, vkCreateShaderModule(vk->dev, &mci, NULL, &mod));
    VkComputePipelineCreateInfo pci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = { .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                   .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                   .module = mod,
                   .pName = "main" },
        .layout = vk->layout,
    };
    VkResult r = vkCreateComputePipelines(vk->dev, vk->cache, 1, &pci, NULL, &vk->pipes[idx]);
    vkDestroyShaderModule(vk->dev, mod, NULL);
    if (r != VK_SUCCESS) {
        vk->pipes[idx] = VK_NULL_HANDLE;
        return herd_error_set(err, HERD_ERR_DEVICE, "Vulkan: pipeline %s: %s", sh->name,
                              herd_vk_result_str(r));
    }
    *out = vk->pipes[idx];
    return HERD_OK;
}
