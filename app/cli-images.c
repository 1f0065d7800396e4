#include "cli-images.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "encoder.h"

herd_status cli_images_load(cli_images *im, const char *mmproj, const char *const *paths, int n,
                            herd_model *m, const cli_model_opts *o, herd_error *err)
{
    (void)o;
    memset(im, 0, sizeof *im);
    herd_vision *v = herd_vision_load(mmproj, herd_model_backend(m), err);
    if (!v)
        return err->code;
    const herd_vision_info *vi = herd_vision_get_info(v);
    const int D = herd_model_get_info(m)->n_embd;
    herd_status st = HERD_OK;
    if (vi->n_proj != D) {
        st = herd_error_set(err, HERD_ERR_INVALID,
                            "%s projects images to width %d but the text model's width is %d: "
                            "the two files do not belong together",
                            mmproj, vi->n_proj, D);
        goto out;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n && !st; i++) {
        float *rows;
        int n_rows;
        st = herd_vision_encode_file(v, paths[i], 0, &rows, &n_rows, &im->rows[im->n],
                                     &im->cols[im->n], err);
        if (st)
            break;
        float *ne = realloc(im->embd, ((size_t)im->n_rows + n_rows) * (size_t)D * sizeof(float));
        if (!ne) {
            free(rows);
            st = herd_error_set(err, HERD_ERR_NOMEM, "out of memory");
            break;
        }
        im->embd = ne;
        memcpy(im->embd + (size_t)im->n_rows * D, rows, (size_t)n_rows * D * sizeof(float));
        free(rows);
        im->n_rows += n_rows;
        im->n++;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    im->encode_ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
out:
    herd_vision_free(v);
    return st;
}

void cli_images_free(cli_images *im)
{
    free(im->embd);
    memset(im, 0, sizeof *im);
}
