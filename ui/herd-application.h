/* herd-application.h: the AdwApplication: app-wide actions and accelerators, GSettings, the
 * history store, and `herd [--model TEXT.gguf] [--mmproj VISION.gguf] [IMAGE…]`. */
#pragma once

#include <adwaita.h>

#include "herd-store.h"

G_BEGIN_DECLS

#define HERD_APP_ID "io.github.herdapp.Herd"

typedef struct _HerdWindow HerdWindow;

#define HERD_TYPE_APPLICATION (herd_application_get_type())
G_DECLARE_FINAL_TYPE(HerdApplication, herd_application, HERD, APPLICATION, AdwApplication)

HerdApplication *herd_application_new(void);
GSettings *herd_application_get_settings(HerdApplication *self);
/* The history; NULL when it could not be opened (the window says why). */
HerdStore *herd_application_get_store(HerdApplication *self);
const char *herd_application_get_store_error(HerdApplication *self);
HerdWindow *herd_application_get_window(HerdApplication *self);

G_END_DECLS
