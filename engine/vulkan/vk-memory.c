/* vk-memory.c: device-local buffers (weights, arena, state) addressed through buffer device
 * addresses, a host-visible staging buffer for every upload and readback, and the memory budget. */
#include "vk-internal.h"

#include <stdlib.h>
#include <string.h>

#define STAGING_SIZE ((size_t)64 << 20)
#define WEIGHT_ALIGN 256

static int find_mem_type(herd_vk *vk, uint32_t bits, VkMemoryPropertyFlags want,
                         VkMemoryPropertyFlags avoid)
{
    for (uint32_t i = 0; i < vk->mem_props.memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = vk->mem_props.memoryTypes[i].propertyFlags;
        if ((bits & (1u << i)) && (f & want) == want && !(f & avoid))
            return (int)i;
    }
    return -1;
}

herd_status herd_vk_buffer_new(herd_vk *vk, size_t size, bool host, herd_buffer **out,
                               herd_error *err)
{
    *out = NULL;
    if (size == 0)
        size = 16;
    if (vk->max_alloc && size > vk->max_alloc)
        return herd_error_set(err, HERD_ERR_NOMEM,
                              "Vulkan: a buffer of %zu MiB exceeds %s's allocation limit of %llu "
                              "MiB",
                              size >> 20, vk->name, (unsigned long long)(vk->max_alloc >> 20));
    herd_buffer *b = calloc(1, sizeof *b);
    if (!b)
        return herd_error_set(err, HERD_ERR_NOMEM, "out of memory");
    b->size = size;
    VkBufferCreateInfo bci = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = size,
        .usage = host ? VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT
                      : VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                            VK_BUFFER_USAGE_TRANSFER_DST_BIT |
                            VK_BUFFER_USAGE_SHADER_DEVICE_ADDRESS_BIT,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    VkResult r = vkCreateBuffer(vk->dev, &bci, NULL, &b->buf);
    if (r != VK_SUCCESS) {
        free(b);
        return herd_error_set(err, HERD_ERR_DEVICE, "Vulkan: vkCreateBuffer(%zu bytes): %s", size,
                              herd_vk_result_str(r));
    }
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(vk->dev, b->buf, &req);
    int mt;
    if (host) {
        const VkMemoryPropertyFlags hv =
            VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
        mt = find_mem_type(vk, req.memoryTypeBits, hv | VK_MEMORY_PROPERTY_HOST_CACHED_BIT, 0);
        if (mt < 0)
            mt = find_mem_type(
                vk, req.memoryTypeBits,
                VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT, 0);
    } else {
        mt = find_mem_type(vk, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0);
        if (mt < 0)
            mt = find_mem_type(vk, req.memoryTypeBits, 0, 0);
    }
    VkMemoryAllocateFlagsInfo fi = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_FLAGS_INFO,
        .flags = VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT,
    };
    VkMemoryAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
        .pNext = host ? NULL : &fi,
        .allocationSize = req.size,
        .memoryTypeIndex = (uint32_t)(mt < 0 ? 0 : mt),
    };
    r = mt < 0 ? VK_ERROR_OUT_OF_DEVICE_MEMORY : vkAllocateMemory(vk->dev, &ai, NULL, &b->mem);
    if (r == VK_SUCCESS)
        r = vkBindBufferMemory(vk->dev, b->buf, b->mem, 0);
    if (r == VK_SUCCESS && host)
        r = vkMapMemory(vk->dev, b->mem, 0, VK_WHOLE_SIZE, 0, &b->map);
    if (r != VK_SUCCESS) {
        herd_vk_buffer_free(vk, b);
        return herd_error_set(
            err, HERD_ERR_NOMEM, "Vulkan: could not allocate %zu MiB of %s memory on %s (%s)",
            size >> 20, host ? "host-visible" : "device", vk->name, herd_vk_result_str(r));
    }
    if (!host) {
        VkBufferDeviceAddressInfo dai = { .sType = VK_STRUCTURE_TYPE_BUFFER_DEVICE_ADDRESS_INFO,
                                          .buffer = b->buf };
        b->addr = vkGetBufferDeviceAddress(vk->dev, &dai);
    }
    vk->allocated += size;
    *out = b;
    return HERD_OK;
}

void herd_vk_buffer_free(herd_vk *vk, herd_buffer *b)
{
    if (!b)
        return;
    if (b->buf)
        vkDestroyBuffer(vk->dev, b->buf, NULL);
    if (b->mem) {
        if (b->map)
            vkUnmapMemory(vk->dev, b->mem);
        vkFreeMemory(vk->dev, b->mem, NULL);
        vk->allocated -= vk->allocated >= b->size ? b->size : vk->allocated;
    }
    free(b);
}

/* Records barrier + copy, submits and waits. */
static herd_status copy_chunk(herd_vk *vk, herd_buffer *b, size_t offs, size_t n, bool upload,
                              herd_error *err)
{
    VkCommandBuffer cb = vk->xfer_cb;
    VkCommandBufferBeginInfo bi = { .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                    .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT };
    VK_CHECK_RET(err, vkBeginCommandBuffer(cb, &bi));
    /* earlier dispatches and copies (any submission) finish their writes first */
    VkMemoryBarrier mb = { .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                           .srcAccessMask = VK_ACCESS_MEMORY_WRITE_BIT,
                           .dstAccessMask =
                               VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT };
    vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0,
                         1, &mb, 0, NULL, 0, NULL);
    VkBufferCopy c = { .srcOffset = upload ? 0 : offs, .dstOffset = upload ? offs : 0, .size = n };
    if (upload)
        vkCmdCopyBuffer(cb, vk->staging->buf, b->buf, 1, &c);
    else
        vkCmdCopyBuffer(cb, b->buf, vk->staging->buf, 1, &c);
    VkMemoryBarrier hb = { .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                           .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                           .dstAccessMask = VK_ACCESS_HOST_READ_BIT };
    vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &hb,
                         0, NULL, 0, NULL);
    VK_CHECK_RET(err, vkEndCommandBuffer(cb));
    return herd_vk_submit_wait(vk, cb, err);
}

herd_status herd_vk_copy(herd_vk *vk, herd_buffer *b, size_t offs, void *host, size_t n,
                         bool upload, herd_error *err)
{
    if (offs > b->size || n > b->size - offs)
        return herd_error_set(err, HERD_ERR_INVALID,
                              "Vulkan: copy of %zu bytes at %zu exceeds a buffer of %zu", n, offs,
                              b->size);
    if (!vk->staging) {
        herd_status st = herd_vk_buffer_new(vk, STAGING_SIZE, true, &vk->staging, err);
        if (st)
            return st;
    }
    char *h = host;
    while (n > 0) {
        size_t c = n < vk->staging->size ? n : vk->staging->size;
        if (upload)
            memcpy(vk->staging->map, h, c);
        herd_status st = copy_chunk(vk, b, offs, c, upload, err);
        if (st)
            return st;
        if (!upload)
            memcpy(h, vk->staging->map, c);
        h += c;
        offs += c;
        n -= c;
    }
    return HERD_OK;
}

size_t herd_vk_mem_free(herd_vk *vk)
{
    /* the largest device-local heap */
    int heap = -1;
    for (uint32_t i = 0; i < vk->mem_props.memoryHeapCount; i++)
        if ((vk->mem_props.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) &&
            (heap < 0 || vk->mem_props.memoryHeaps[i].size > vk->mem_props.memoryHeaps[heap].size))
            heap = (int)i;
    if (heap < 0)
        return 0;
    if (vk->has_budget) {
        VkPhysicalDeviceMemoryBudgetPropertiesEXT bp = {
            .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT
        };
        VkPhysicalDeviceMemoryProperties2 mp = {
            .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2, .pNext = &bp
        };
        vkGetPhysicalDeviceMemoryProperties2(vk->pdev, &mp);
        VkDeviceSize b = bp.heapBudget[heap], u = bp.heapUsage[heap];
        if (b > 0)
            return b > u ? (size_t)(b - u) : 0;
    }
    VkDeviceSize sz = vk->mem_props.memoryHeaps[heap].size;
    return sz > vk->allocated ? (size_t)(sz - vk->allocated) : 0;
}

static herd_status own(herd_vk *vk, herd_buffer *b, herd_error *err)
{
    if (vk->n_owned == vk->cap_owned) {
        int cap = vk->cap_owned ? vk->cap_owned * 2 : 16;
        herd_buffer **o = realloc(vk->owned, (size_t)cap * sizeof *o);
        if (!o)
            return herd_error_set(err, HERD_ERR_NOMEM, "out of memory");
        vk->owned = o;
        vk->cap_owned = cap;
    }
    vk->owned[vk->n_owned++] = b;
    return HERD_OK;
}

herd_status herd_vk_weights_upload(herd_vk *vk, herd_tensor **w, int n,
                                   bool (*progress)(float, void *), void *ud, herd_error *err)
{
    /* sizes: tensors packed into buffers of at most `cap` bytes (one tensor per buffer if it
     * is larger) */
    size_t cap = (size_t)1 << 30;
    if (vk->max_alloc && vk->max_alloc < cap)
        cap = (size_t)vk->max_alloc;
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        herd_tensor *t = w[i];
        if (!t || t->view_src || t->buf)
            continue;
        if (!t->data)
            return herd_error_set(err, HERD_ERR_INVALID, "weight %s has no host data to upload",
                                  t->name);
        total += (herd_tensor_nbytes(t) + WEIGHT_ALIGN - 1) / WEIGHT_ALIGN * WEIGHT_ALIGN;
    }
    if (total == 0)
        return HERD_OK;
    size_t avail = herd_vk_mem_free(vk);
    if (avail && total > avail)
        return herd_error_set(err, HERD_ERR_NOMEM,
                              "the model's weights need %.2f GiB but %s has %.2f GiB of device "
                              "memory free; use a smaller quantisation or --backend cpu",
                              total / 1073741824.0, vk->name, avail / 1073741824.0);

    size_t done = 0;
    int i = 0;
    while (i < n) {
        /* gather a run of tensors that fits one buffer */
        size_t size = 0;
        int j = i;
        for (; j < n; j++) {
            herd_tensor *t = w[j];
            if (!t || t->view_src || t->buf)
                continue;
            size_t sz = (herd_tensor_nbytes(t) + WEIGHT_ALIGN - 1) / WEIGHT_ALIGN * WEIGHT_ALIGN;
            if (size > 0 && size + sz > cap)
                break;
            size += sz;
        }
        if (size > 0) {
            herd_buffer *b;
            herd_status st = herd_vk_buffer_new(vk, size, false, &b, err);
            if (!st)
                st = own(vk, b, err);
            if (st) {
                herd_vk_buffer_free(vk, b);
                return st;
            }
            size_t offs = 0;
            for (int k = i; k < j; k++) {
                herd_tensor *t = w[k];
                if (!t || t->view_src || t->buf)
                    continue;
                size_t nb = herd_tensor_nbytes(t);
                /* in staging-sized chunks so progress moves and cancel is prompt */
                for (size_t o = 0; o < nb;) {
                    size_t c = nb - o < STAGING_SIZE ? nb - o : STAGING_SIZE;
                    st = herd_vk_copy(vk, b, offs + o, (char *)t->data + o, c, true, err);
                    if (st)
                        return st;
                    o += c;
                    done += c;
                    if (progress && !progress((float)((double)done / (double)total), ud))
                        return herd_error_set(err, HERD_ERR_ABORTED, "weight upload cancelled");
                }
                t->buf = b;
                t->offs = offs;
                offs += (nb + WEIGHT_ALIGN - 1) / WEIGHT_ALIGN * WEIGHT_ALIGN;
            }
        }
        i = j;
    }
    if (progress)
        progress(1.0f, ud);
    return HERD_OK;
}
