/* test-vision-hf: image → embeddings (our PNG decoding, preprocessing, encoder, pixel shuffle,
 * adapter, projector) against Hugging Face transformers (tests/fixtures/vision).
 *
 * HF normalises pixels in bfloat16 (2·bf16(bf16(u/255) − 0.5)); we normalise in float32, which
 * moves the embeddings by up to manifest's fp32_input_max_abs_diff (≈ 0.4% of max|embd|). So:
 *   (a) with HF's bf16 pixel values (the manifest's 256-entry table applied to our 8-bit tiles)
 *       our embeddings must equal HF's within 1e-4 · max|embd| — this checks the encoder exactly;
 *   (b) with our own float32 pixels, within 2 × fp32_input_max_abs_diff.
 * HERD_TEST_BACKEND picks the backend (default cpu). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoder.h"
#include "image.h"
#include "json.h"
#include "preprocess.h"
#include "test-util.h"

static int failures, checks;

int main(void)
{
    const char *src = getenv("HERD_SOURCE_DIR");
    char fix[1024], path[1200], jerr[256];
    snprintf(fix, sizeof fix, "%s/tests/fixtures", src ? src : ".");
    snprintf(path, sizeof path, "%s/manifest.json", fix);
    json_value *man = json_parse_file(path, jerr, sizeof jerr);
    if (!man) {
        printf("FAIL: cannot read %s: %s\n", path, jerr);
        return 1;
    }
    float lut[256];
    const json_value *jl = json_get(json_get(man, "preprocessing"), "bf16_lut");
    if (json_len(jl) != 256) {
        printf("FAIL: manifest has no bf16_lut\n");
        return 1;
    }
    for (int i = 0; i < 256; i++)
        lut[i] = (float)json_num(json_at(jl, (size_t)i), 0);
    herd_error err = { 0 };
    herd_backend_params bp = { .kind = HERD_BACKEND_CPU, .n_threads = 2 };
    const char *be_name = getenv("HERD_TEST_BACKEND");
    if (be_name && herd_backend_kind_from_name(be_name) > 0)
        bp.kind = (herd_backend_kind)herd_backend_kind_from_name(be_name);
    herd_backend *be = herd_backend_init(&bp, &err);
    if (!be) {
        printf("%s backend: %s\n", bp.kind == HERD_BACKEND_CPU ? "FAIL" : "SKIP", err.msg);
        return bp.kind == HERD_BACKEND_CPU ? 1 : 77;
    }
    const char *models[] = { "tiny", "moe" };
    for (int mi = 0; mi < 2; mi++) {
        snprintf(path, sizeof path, "%s/models/%s-mmproj-f32.gguf", fix, models[mi]);
        herd_vision *v = herd_vision_load(path, be, &err);
        if (!v) {
            printf("FAIL %s: %s\n", path, err.msg);
            failures++;
            continue;
        }
        const int D = herd_vision_get_info(v)->n_proj;
        const json_value *vis = json_get(json_get(json_get(man, "models"), models[mi]), "vision");
        static const char *names[] = { "square", "tiny", "portrait", "landscape", "large", "rgba" };
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
            const json_value *e = json_get(vis, names[k]);
            if (!e)
                continue;
            snprintf(path, sizeof path, "%s/images/%s.png", fix, names[k]);
            herd_image img = { 0 };
            herd_tiles tiles = { 0 };
            herd_image_limits lim;
            herd_image_limits_default(&lim);
            herd_preprocess_params pp;
            herd_preprocess_params_default(&pp);
            if (herd_image_load(path, &lim, &img, &err) ||
                herd_preprocess(&img, &pp, &tiles, &err)) {
                printf("FAIL %s: %s\n", path, err.msg);
                failures++;
                herd_image_free(&img);
                continue;
            }
            snprintf(path, sizeof path, "%s/%s", fix, json_str(json_get(e, "file"), NULL));
            size_t nw = 0;
            float *want = read_f32(path, &nw);
            size_t n = (size_t)tiles.n_tiles * 144 * (size_t)D;
            float *got = malloc(n * sizeof *got);
            float *bf = malloc((size_t)tiles.n_tiles * 3 * 336 * 336 * sizeof *bf);
            if (!want || nw != n || !got || !bf) {
                printf("FAIL %s %s: fixture has %zu values, our tiling gives %zu\n", models[mi],
                       names[k], nw, n);
                failures++;
            } else {
                double mx = json_num(json_get(e, "max_abs"), 1);
                double fp32_gap = json_num(json_get(e, "fp32_input_max_abs_diff"), 0);
                for (int pass = 0; pass < 2; pass++) {
                    herd_tiles t2 = tiles;
                    if (pass == 0) { /* HF's bf16 pixels, from our 8-bit values */
                        size_t npx = (size_t)tiles.n_tiles * 3 * 336 * 336;
                        memcpy(bf, tiles.data, npx * sizeof *bf);
                        hf_bf16_pixels(bf, npx, lut);
                        t2.data = bf;
                    }
                    if (herd_vision_encode(v, &t2, got, &err)) {
                        printf("FAIL encode: %s\n", err.msg);
                        failures++;
                        break;
                    }
                    double d = 0;
                    for (size_t i = 0; i < n; i++)
                        d = fmax(d, fabs((double)got[i] - want[i]));
                    double tol = pass == 0 ? 1e-4 * mx : 2 * fp32_gap;
                    bool ok = d <= tol;
                    printf("%s %-5s %-9s %2d tiles (%dx%d) %s pixels: max|diff| %.3g (tol %.3g)\n",
                           ok ? "ok  " : "FAIL", models[mi], names[k], tiles.n_tiles, tiles.rows,
                           tiles.cols, pass == 0 ? "bf16" : "fp32", d, tol);
                    failures += !ok;
                    checks++;
                }
            }
            free(bf);
            free(got);
            free(want);
            herd_tiles_free(&tiles);
            herd_image_free(&img);
        }
        herd_vision_free(v);
    }
    herd_backend_free(be);
    json_free(man);
    if (checks < 10) {
        printf("FAIL: only %d comparisons ran\n", checks);
        failures++;
    }
    printf("%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
