/* herd-thumbnail.c: decode with vision/image.h on a GTask thread, box-filter down to a
 * thumbnail, hand back a GdkMemoryTexture. */
#define G_LOG_DOMAIN "herd-thumbnail"

#include "herd-thumbnail.h"

#include "image.h"

#include <glib/gi18n.h>

void herd_thumbnail_free(HerdThumbnail *t)
{
    if (!t)
        return;
    g_clear_object(&t->thumbnail);
    g_free(t->mime);
    g_free(t);
}

typedef struct {
    char *path;
    int size;
} ThumbJob;

static void thumb_job_free(ThumbJob *j)
{
    g_free(j->path);
    g_free(j);
}

/* Area-average downscale of RGB8 to fit size×size (never upscales). */
static GdkTexture *make_thumbnail(const herd_image *img, int size)
{
    double scale = MIN(1.0, (double)size / MAX(img->width, img->height));
    int tw = MAX(1, (int)(img->width * scale + 0.5));
    int th = MAX(1, (int)(img->height * scale + 0.5));
    gsize stride = (gsize)tw * 3;
    guint8 *out = g_malloc(stride * th);
    for (int y = 0; y < th; y++) {
        guint y0 = (guint)((guint64)y * img->height / th);
        guint y1 = MAX(y0 + 1, (guint)((guint64)(y + 1) * img->height / th));
        for (int x = 0; x < tw; x++) {
            guint x0 = (guint)((guint64)x * img->width / tw);
            guint x1 = MAX(x0 + 1, (guint)((guint64)(x + 1) * img->width / tw));
            guint64 acc[3] = { 0, 0, 0 };
            guint n = 0;
            /* Sample at most 8×8 source pixels per output pixel: enough for a thumbnail. */
            guint sy = MAX(1u, (y1 - y0) / 8), sx = MAX(1u, (x1 - x0) / 8);
            for (guint yy = y0; yy < y1; yy += sy) {
                const guint8 *row = img->pixels + (gsize)yy * img->width * 3;
                for (guint xx = x0; xx < x1; xx += sx) {
                    acc[0] += row[xx * 3];
                    acc[1] += row[xx * 3 + 1];
                    acc[2] += row[xx * 3 + 2];
                    n++;
                }
            }
            guint8 *o = out + (gsize)y * stride + (gsize)x * 3;
            for (int c = 0; c < 3; c++)
                o[c] = (guint8)(acc[c] / n);
        }
    }
    g_autoptr(GBytes) bytes = g_bytes_new_take(out, stride * th);
    return gdk_memory_texture_new(tw, th, GDK_MEMORY_R8G8B8, bytes, stride);
}

static void thumb_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    ThumbJob *j = data;
    herd_image img = { 0 };
    herd_error err = { 0 };
    if (herd_image_load(j->path, NULL, &img, &err) != HERD_OK) {
        g_autofree char *name = g_path_get_basename(j->path);
        g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                                _("“%s” is not an image Herd can read: %s"), name, err.msg);
        return;
    }
    HerdThumbnail *t = g_new0(HerdThumbnail, 1);
    t->width = (int)img.width;
    t->height = (int)img.height;
    t->mime = g_strdup(img.format == HERD_IMAGE_JPEG ? "image/jpeg" : "image/png");
    t->thumbnail = make_thumbnail(&img, j->size);
    herd_image_free(&img);
    g_task_return_pointer(task, t, (GDestroyNotify)herd_thumbnail_free);
}

void herd_thumbnail_load_async(const char *path, int size, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
    ThumbJob *j = g_new0(ThumbJob, 1);
    j->path = g_strdup(path);
    j->size = size;
    g_task_set_source_tag(task, herd_thumbnail_load_async);
    g_task_set_task_data(task, j, (GDestroyNotify)thumb_job_free);
    g_task_run_in_thread(task, thumb_thread);
}

HerdThumbnail *herd_thumbnail_load_finish(GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}
