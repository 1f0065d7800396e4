/* vk-device.c: instance, device selection (sorted: discrete, integrated, virtual, CPU), the
 * compute queue, and submission. */
#include "herd-vulkan.h"
#include "vk-internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *herd_vk_result_str(VkResult r)
{
    switch (r) {
    case VK_SUCCESS:
        return "VK_SUCCESS";
    case VK_NOT_READY:
        return "VK_NOT_READY";
    case VK_TIMEOUT:
        return "VK_TIMEOUT";
    case VK_ERROR_OUT_OF_HOST_MEMORY:
        return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
        return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED:
        return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST:
        return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_MEMORY_MAP_FAILED:
        return "VK_ERROR_MEMORY_MAP_FAILED";
    case VK_ERROR_LAYER_NOT_PRESENT:
        return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT:
        return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT:
        return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER:
        return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS:
        return "VK_ERROR_TOO_MANY_OBJECTS";
    default:
        return "VkResult error";
    }
}

static VkResult make_instance(VkInstance *inst)
{
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "herd",
        .pEngineName = "herd",
        .apiVersion = VK_API_VERSION_1_2,
    };
    VkInstanceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .pApplicationInfo = &app,
    };
    return vkCreateInstance(&ci, NULL, inst);
}

static int type_rank(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
        return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
        return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
        return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
        return 3;
    default:
        return 4;
    }
}

static const char *type_name(VkPhysicalDeviceType t)
{
    static const char *names[] = { "other", "integrated GPU", "discrete GPU", "virtual GPU",
                                   "cpu" };
    return (unsigned)t < 5 ? names[t] : "?";
}

/* Physical devices in preference order (stable within a type). Returns the count; *out is
 * malloc'd (NULL when 0). */
static uint32_t sorted_devices(VkInstance inst, VkPhysicalDevice **out)
{
    uint32_t n = 0;
    *out = NULL;
    if (vkEnumeratePhysicalDevices(inst, &n, NULL) != VK_SUCCESS || n == 0)
        return 0;
    VkPhysicalDevice *d = calloc(n, sizeof *d);
    if (!d || vkEnumeratePhysicalDevices(inst, &n, d) < 0) {
        free(d);
        return 0;
    }
    /* insertion sort by type rank (stable) */
    for (uint32_t i = 1; i < n; i++) {
        VkPhysicalDevice x = d[i];
        VkPhysicalDeviceProperties px;
        vkGetPhysicalDeviceProperties(x, &px);
        uint32_t j = i;
        while (j > 0) {
            VkPhysicalDeviceProperties pj;
            vkGetPhysicalDeviceProperties(d[j - 1], &pj);
            if (type_rank(pj.deviceType) <= type_rank(px.deviceType))
                break;
            d[j] = d[j - 1];
            j--;
        }
        d[j] = x;
    }
    *out = d;
    return n;
}

int herd_vulkan_list_devices(char names[][256], int max)
{
    VkInstance inst;
    if (make_instance(&inst) != VK_SUCCESS)
        return 0;
    VkPhysicalDevice *d;
    uint32_t n = sorted_devices(inst, &d);
    for (uint32_t i = 0; i < n && (int)i < max; i++) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(d[i], &p);
        snprintf(names[i], 256, "%.200s [%s, Vulkan %u.%u]", p.deviceName, type_name(p.deviceType),
                 VK_API_VERSION_MAJOR(p.apiVersion), VK_API_VERSION_MINOR(p.apiVersion));
    }
    free(d);
    vkDestroyInstance(inst, NULL);
    return (int)n;
}

static bool has_ext(VkPhysicalDevice pd, const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateDeviceExtensionProperties(pd, NULL, &n, NULL) != VK_SUCCESS)
        return false;
    VkExtensionProperties *e = calloc(n ? n : 1, sizeof *e);
    bool found = false;
    if (e && vkEnumerateDeviceExtensionProperties(pd, NULL, &n, e) >= 0)
        for (uint32_t i = 0; i < n && !found; i++)
            found = !strcmp(e[i].extensionName, name);
    free(e);
    return found;
}

static bool env_set(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

herd_status herd_vk_device_open(herd_vk *vk, int device, herd_error *err)
{
    VkResult r = make_instance(&vk->inst);
    if (r != VK_SUCCESS) {
        vk->inst = VK_NULL_HANDLE;
        return herd_error_set(err, HERD_ERR_DEVICE,
                              "Vulkan: no usable driver (vkCreateInstance: %s); is a Vulkan ICD "
                              "installed (e.g. mesa-vulkan-drivers)?",
                              herd_vk_result_str(r));
    }
    VkPhysicalDevice *devs;
    uint32_t n = sorted_devices(vk->inst, &devs);
    if (n == 0)
        return herd_error_set(err, HERD_ERR_DEVICE,
                              "Vulkan: no device found (is a Vulkan driver installed?)");
    if (device < 0 || (uint32_t)device >= n) {
        free(devs);
        return herd_error_set(err, HERD_ERR_INVALID,
                              "Vulkan: device %d does not exist (%u device%s; see 'herd-cli "
                              "devices')",
                              device, n, n == 1 ? "" : "s");
    }
    vk->pdev = devs[device];
    free(devs);

    vkGetPhysicalDeviceProperties(vk->pdev, &vk->props);
    vkGetPhysicalDeviceMemoryProperties(vk->pdev, &vk->mem_props);
    snprintf(vk->name, sizeof vk->name, "%.200s", vk->props.deviceName);
    if (vk->props.apiVersion < VK_API_VERSION_1_2)
        return herd_error_set(
            err, HERD_ERR_UNSUPPORTED, "Vulkan: %s supports Vulkan %u.%u; Herd needs 1.2", vk->name,
            VK_API_VERSION_MAJOR(vk->props.apiVersion), VK_API_VERSION_MINOR(vk->props.apiVersion));

    VkPhysicalDeviceVulkan12Features f12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES
    };
    VkPhysicalDevice16BitStorageFeatures f16s = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES, .pNext = &f12
    };
    VkPhysicalDeviceFeatures2 f2 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
                                     .pNext = &f16s };
    vkGetPhysicalDeviceFeatures2(vk->pdev, &f2);
    if (!f12.bufferDeviceAddress || !f2.features.shaderInt64)
        return herd_error_set(err, HERD_ERR_UNSUPPORTED,
                              "Vulkan: %s lacks bufferDeviceAddress or shaderInt64, which the "
                              "Herd shaders need",
                              vk->name);

    VkPhysicalDeviceSubgroupProperties sg = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES
    };
    VkPhysicalDeviceMaintenance3Properties m3 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES, .pNext = &sg
    };
    VkPhysicalDeviceProperties2 p2 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                       .pNext = &m3 };
    vkGetPhysicalDeviceProperties2(vk->pdev, &p2);
    vk->max_alloc = m3.maxMemoryAllocationSize;
    vk->use_subgroup = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                       (sg.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT) &&
                       (sg.supportedOperations & VK_SUBGROUP_FEATURE_BASIC_BIT) &&
                       !env_set("HERD_VK_NO_SUBGROUP");
    vk->use_8bit = f12.storageBuffer8BitAccess && f16s.storageBuffer16BitAccess && f12.shaderInt8 &&
                   f2.features.shaderInt16 && !env_set("HERD_VK_NO_8BIT");
    vk->f32_act = env_set("HERD_VK_F32_ACT");

    /* a queue family with compute; prefer one without graphics (async compute) */
    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(vk->pdev, &nq, NULL);
    VkQueueFamilyProperties *qf = calloc(nq ? nq : 1, sizeof *qf);
    if (!qf)
        return herd_error_set(err, HERD_ERR_NOMEM, "out of memory");
    vkGetPhysicalDeviceQueueFamilyProperties(vk->pdev, &nq, qf);
    int best = -1;
    for (uint32_t i = 0; i < nq; i++) {
        if (!(qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) || qf[i].timestampValidBits == 0)
            continue;
        if (best < 0 || !(qf[i].queueFlags & VK_QUEUE_GRAPHICS_BIT))
            best = (int)i;
        if (!(qf[i].queueFlags & VK_QUEUE_GRAPHICS_BIT))
            break;
    }
    if (best < 0)
        for (uint32_t i = 0; i < nq && best < 0; i++)
            if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT)
                best = (int)i;
    free(qf);
    if (best < 0)
        return herd_error_set(err, HERD_ERR_UNSUPPORTED, "Vulkan: %s has no compute queue",
                              vk->name);
    vk->qfam = (uint32_t)best;

    const char *exts[2];
    uint32_t n_ext = 0;
    vk->has_budget = has_ext(vk->pdev, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
    if (vk->has_budget)
        exts[n_ext++] = VK_EXT_MEMORY_BUDGET_EXTENSION_NAME;

    VkPhysicalDeviceVulkan12Features e12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
        .bufferDeviceAddress = VK_TRUE,
        .storageBuffer8BitAccess = vk->use_8bit,
        .shaderInt8 = vk->use_8bit,
    };
    VkPhysicalDevice16BitStorageFeatures e16 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES,
        .pNext = &e12,
        .storageBuffer16BitAccess = vk->use_8bit,
    };
    VkPhysicalDeviceFeatures2 ef = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
                                     .pNext = &e16 };
    ef.features.shaderInt64 = VK_TRUE;
    ef.features.shaderInt16 = vk->use_8bit;
    float prio = 1.0f;
    VkDeviceQueueCreateInfo qci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
        .queueFamilyIndex = vk->qfam,
        .queueCount = 1,
        .pQueuePriorities = &prio,
    };
    VkDeviceCreateInfo dci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
        .pNext = &ef,
        .queueCreateInfoCount = 1,
        .pQueueCreateInfos = &qci,
        .enabledExtensionCount = n_ext,
        .ppEnabledExtensionNames = exts,
    };
    VK_CHECK_RET(err, vkCreateDevice(vk->pdev, &dci, NULL, &vk->dev));
    vkGetDeviceQueue(vk->dev, vk->qfam, 0, &vk->queue);

    VkCommandPoolCreateInfo pci = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
        .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
        .queueFamilyIndex = vk->qfam,
    };
    VK_CHECK_RET(err, vkCreateCommandPool(vk->dev, &pci, NULL, &vk->pool));
    VkCommandBuffer cbs[2];
    VkCommandBufferAllocateInfo cai = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = vk->pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 2,
    };
    VK_CHECK_RET(err, vkAllocateCommandBuffers(vk->dev, &cai, cbs));
    vk->xfer_cb = cbs[0];
    vk->graph_cb = cbs[1];
    VkFenceCreateInfo fci = { .sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO };
    VK_CHECK_RET(err, vkCreateFence(vk->dev, &fci, NULL, &vk->fence));
    return HERD_OK;
}

void herd_vk_device_close(herd_vk *vk)
{
    if (vk->dev) {
        vkDeviceWaitIdle(vk->dev);
        if (vk->qpool)
            vkDestroyQueryPool(vk->dev, vk->qpool, NULL);
        if (vk->fence)
            vkDestroyFence(vk->dev, vk->fence, NULL);
        if (vk->pool)
            vkDestroyCommandPool(vk->dev, vk->pool, NULL);
        vkDestroyDevice(vk->dev, NULL);
    }
    if (vk->inst)
        vkDestroyInstance(vk->inst, NULL);
}

herd_status herd_vk_submit_wait(herd_vk *vk, VkCommandBuffer cb, herd_error *err)
{
    VkSubmitInfo si = {
        .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
        .commandBufferCount = 1,
        .pCommandBuffers = &cb,
    };
    VK_CHECK_RET(err, vkResetFences(vk->dev, 1, &vk->fence));
    VK_CHECK_RET(err, vkQueueSubmit(vk->queue, 1, &si, vk->fence));
    VK_CHECK_RET(err, vkWaitForFences(vk->dev, 1, &vk->fence, VK_TRUE, UINT64_MAX));
    return HERD_OK;
}
