/* herd-window.h: the main window: an AdwLeaflet with the conversation sidebar and the chat
 * (view + composer), first-run and loading pages, toasts, model loading, export, drop target. */
#pragma once

#include <adwaita.h>

#include "herd-application.h"
#include "herd-chat-view.h"
#include "herd-composer.h"
#include "herd-worker.h"

G_BEGIN_DECLS

#define HERD_TYPE_WINDOW (herd_window_get_type())
G_DECLARE_FINAL_TYPE(HerdWindow, herd_window, HERD, WINDOW, AdwApplicationWindow)

typedef enum {
    HERD_EXPORT_MARKDOWN,
    HERD_EXPORT_JSON,
    HERD_EXPORT_HTML,
} HerdExportFormat;

/* Makes the backend a worker gets (tests and screenshots use the fake one). */
typedef HerdBackend (*HerdBackendFactory)(gpointer user_data);

HerdWindow *herd_window_new(HerdApplication *app);
HerdWorker *herd_window_get_worker(HerdWindow *self);
HerdChatView *herd_window_get_chat_view(HerdWindow *self);
HerdComposer *herd_window_get_composer(HerdWindow *self);
HerdConversation *herd_window_get_conversation(HerdWindow *self);
GListModel *herd_window_get_sidebar_model(HerdWindow *self);
gboolean herd_window_get_model_loaded(HerdWindow *self);
gboolean herd_window_get_loading(HerdWindow *self);
void herd_window_set_backend_factory(HerdWindow *self, HerdBackendFactory factory,
                                     gpointer user_data);

/* Loads a model off the main thread; remember: also store the paths in GSettings. */
void herd_window_load_model(HerdWindow *self, const char *model_path, const char *mmproj_path,
                            gboolean remember);
/* Shows an empty chat (the conversation is created on the first send). */
void herd_window_new_conversation(HerdWindow *self);
gboolean herd_window_open_conversation(HerdWindow *self, gint64 id);
/* What a drop on the window does (GdkFileList or GdkTexture); TRUE if accepted. */
gboolean herd_window_handle_drop(HerdWindow *self, const GValue *value);
/* Sends the composer's text and images (what Enter does). */
gboolean herd_window_send(HerdWindow *self);
void herd_window_stop(HerdWindow *self);
gboolean herd_window_export_to(HerdWindow *self, const char *path, HerdExportFormat format,
                               GError **error);
void herd_window_toast(HerdWindow *self, const char *text);
/* Loads the bundled demo model if it is installed (or in the source tree); FALSE if none. */
gboolean herd_window_load_demo(HerdWindow *self);

G_END_DECLS
