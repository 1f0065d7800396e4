/* herd-thumbnail.h: image checking and thumbnails off the main thread, with the same decoder
 * the model uses (vision/image.h), so what the user sees attached is what the model gets. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

typedef struct {
    GdkTexture *thumbnail; /* at most size×size */
    int width, height;     /* of the full image */
    char *mime;
} HerdThumbnail;

void herd_thumbnail_free(HerdThumbnail *t);
void herd_thumbnail_load_async(const char *path, int size, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data);
HerdThumbnail *herd_thumbnail_load_finish(GAsyncResult *result, GError **error);

G_END_DECLS
