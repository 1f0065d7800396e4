/* herd-worker.h: the bridge between the main loop and the inference engine.
 *
 * One worker thread owns the backend (herd-backend-iface.h) and runs requests one at a time,
 * in the order posted: load a model, or generate the next answer of a conversation. Requests
 * are posted from the main thread; results come back as signals on the main context that was
 * the thread-default when the worker was made. The worker thread never touches a GObject the
 * UI sees: it streams pieces through an async queue drained by one idle source at a time, and
 * all pieces that arrived since the last drain are applied as one text append (one "notify::text"
 * and one "piece" signal), so a fast model cannot flood the main loop.
 *
 * The growing answer is written to the store by the worker thread at least every
 * save-interval-ms (default 1000) and once more at the end with its final state and stats, so a
 * crash loses at most the last interval; the store marks what was 'streaming' as 'interrupted'
 * on the next open.
 *
 * Stop (herd_worker_stop) cancels the running request and everything posted before the call.
 * It sets an atomic flag that the worker's piece and progress callbacks check, so at most one
 * more piece is produced, and calls the backend's cancel so a long prefill stops too. A stopped
 * answer keeps the text it had and ends in state INTERRUPTED. */
#pragma once

#include "herd-backend-iface.h"
#include "herd-conversation.h"
#include "herd-store.h"

G_BEGIN_DECLS

#define HERD_WORKER_ERROR (herd_worker_error_quark())
GQuark herd_worker_error_quark(void);
/* Codes are the engine's herd_status values (HERD_ERR_IO, ..., HERD_ERR_ABORTED, ...). */

typedef HerdBackendSampling HerdSampling;

#define HERD_TYPE_WORKER (herd_worker_get_type())
G_DECLARE_FINAL_TYPE(HerdWorker, herd_worker, HERD, WORKER, GObject)

/* Takes ownership of backend (freed on the worker thread when the worker goes away); store
 * may be NULL (nothing is saved). Starts the thread.
 *
 * Signals (all on the creating thread's main context):
 *   "load-progress"   (double fraction)
 *   "load-finished"   (GError *error_or_null)
 *   "prompt-progress" (HerdMessage *reply, int done, int total)
 *   "piece"           (HerdMessage *reply, const char *text)   after reply's text was appended
 *   "finished"        (HerdMessage *reply, GError *error_or_null) after reply's state, stats
 *                     and text are final (error is HERD_ERR_ABORTED when stopped)
 * Properties: "busy" (a request is queued or running), "model-name" (of the loaded model). */
HerdWorker *herd_worker_new(HerdBackend backend, HerdStore *store);

void herd_worker_set_save_interval(HerdWorker *self, guint ms);
gboolean herd_worker_get_busy(HerdWorker *self);
const char *herd_worker_get_model_name(HerdWorker *self);

void herd_worker_load_model(HerdWorker *self, const char *model_path, const char *mmproj_path);
/* Appends an empty assistant reply (state STREAMING, saved) to conv and queues its
 * generation from the conversation as it is now (complete and interrupted messages). Returns
 * the reply (owned by conv), or NULL with error if the store refused it. sampling NULL: the
 * Llama 4 defaults (T 0.6, top-p 0.9). */
HerdMessage *herd_worker_generate(HerdWorker *self, HerdConversation *conv,
                                  const HerdSampling *sampling, GError **error);
void herd_worker_stop(HerdWorker *self);

/* Test hook, called on the worker thread after each successful save of a growing answer. */
typedef void (*HerdWorkerSaveHook)(gint64 message_id, gsize n_bytes, gpointer user_data);
void herd_worker_set_save_hook(HerdWorker *self, HerdWorkerSaveHook hook, gpointer user_data);
/* Counters for tests: idle dispatches that applied pieces, and pieces they applied. */
void herd_worker_get_counters(HerdWorker *self, guint *n_dispatches, guint *n_pieces);

G_END_DECLS
