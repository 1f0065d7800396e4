/* herd-cli devices: what each built backend can run on. */
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "cli.h"
#include "quant.h"

int cli_devices(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf("usage: herd-cli devices\n\nLists the devices of every backend built in: use the "
               "index with --backend B --device N.\n");
        return 0;
    }
    static const herd_backend_kind kinds[] = { HERD_BACKEND_CPU, HERD_BACKEND_VULKAN,
                                               HERD_BACKEND_CUDA };
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        const char *name = herd_backend_kind_name(kinds[k]);
        if (!herd_backend_built(kinds[k])) {
            printf("%-7s not built in\n", name);
            continue;
        }
        char names[16][256];
        int n = herd_backend_list_devices(kinds[k], names, 16);
        if (n == 0)
            printf("%-7s no device found\n", name);
        for (int i = 0; i < n; i++)
            printf("%-7s %d: %s%s%s\n", name, i, names[i],
                   kinds[k] == HERD_BACKEND_CPU ? " — " : "",
                   kinds[k] == HERD_BACKEND_CPU ? herd_cpu_features() : "");
    }
    return 0;
}
