#include "cli-images.h"

#include <stdlib.h>
#include <string.h>

#include "encoder.h"
#include "image.h"
#include "preprocess.h"

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
    herd_image_limits lim;
    herd_image_limits_default(&lim);
    herd_preprocess_params pp;
    herd_preprocess_params_default(&pp);
    for (int i = 0; i < n && !st; i++) {
        herd_image img = { 0 };
        herd_tiles tiles = { 0 };
        if ((st = herd_image_load(paths[i], &lim, &img, err)) ||
            (st = herd_preprocess(&img, &pp, &tiles, err))) {
            herd_image_free(&img);
            break;
        }
        size_t rows = (size_t)tiles.n_tiles * (size_t)vi->tokens_per_tile;
        float *ne = realloc(im->embd, ((size_t)im->n_rows + rows) * (size_t)D * sizeof(float));
        if (!ne) {
            st = herd_error_set(err, HERD_ERR_NOMEM, "out of memory");
        } else {
            im->embd = ne;
            st = herd_vision_encode(v, &tiles, im->embd + (size_t)im->n_rows * D, err);
            im->rows[im->n] = tiles.rows;
            im->cols[im->n] = tiles.cols;
            im->n++;
            im->n_rows += (int)rows;
        }
        herd_tiles_free(&tiles);
        herd_image_free(&img);
    }
out:
    herd_vision_free(v);
    return st;
}

void cli_images_free(cli_images *im)
{
    free(im->embd);
    memset(im, 0, sizeof *im);
}
