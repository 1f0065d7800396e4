/* herd-vulkan.h: entry points of the Vulkan compute backend beyond herd_backend_iface. */
#pragma once

#include <stddef.h>

#include "../backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* device: index into the list of herd_vulkan_list_devices() (sorted: discrete GPUs first, CPU
 * implementations such as lavapipe last). A missing driver or device is an error, never a crash.
 * Environment: HERD_VK_NO_SUBGROUP=1 / HERD_VK_NO_8BIT=1 force the fallback shader variants;
 * HERD_VK_F32_ACT=1 skips rounding matmul activations to the CPU's formats (Q8_0/Q8_K/F16/BF16,
 * done by default so that both backends multiply the same numbers). */
herd_backend *herd_backend_vulkan_init(int device, herd_error *err);

/* Fills up to max names ("llvmpipe (LLVM 15.0.6, 256 bits) [cpu, Vulkan 1.3]"); returns how many
 * devices there are (0 when there is no loader, driver or device). */
int herd_vulkan_list_devices(char names[][256], int max);

#ifdef __cplusplus
}
#endif
