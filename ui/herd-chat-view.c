/* herd-chat-view.c: one row widget per message in a GtkBox (variable-height rows, GTK 4.8 has
 * no GtkListView scroll_to). Rows are added and removed from the conversation's
 * items-changed; streaming updates touch only the last row. Autoscroll follows the bottom
 * until the user scrolls up, and resumes when they scroll back down. */
#define G_LOG_DOMAIN "herd-chat-view"

#include "herd-chat-view.h"

#include <adwaita.h>
#include <glib/gi18n.h>

#define STICK_SLACK 48.0 /* pixels from the bottom that still count as "at the bottom" */

struct _HerdChatView {
    GtkWidget parent_instance;

    GtkWidget *stack;
    GtkWidget *scroller;
    GtkWidget *message_list;
    GtkWidget *jump_revealer;
    GtkWidget *progress_revealer;
    GtkWidget *progress_label;
    GtkWidget *progress_bar;

    HerdConversation *conv;
    gulong items_handler;
    GPtrArray *rows; /* HerdMessageRow*, one per message (system ones hidden) */
    gboolean stick;
    guint stick_id;
    double last_upper;
};

G_DEFINE_FINAL_TYPE(HerdChatView, herd_chat_view, GTK_TYPE_WIDGET)

enum { SIG_REGENERATE, SIG_EDIT, SIG_COPIED, N_SIGNALS };
static guint signals[N_SIGNALS];

static GtkAdjustment *vadj(HerdChatView *self)
{
    return gtk_scrolled_window_get_vadjustment(GTK_SCROLLED_WINDOW(self->scroller));
}

void herd_chat_view_scroll_to_bottom(HerdChatView *self)
{
    GtkAdjustment *adj = vadj(self);
    self->stick = TRUE;
    gtk_adjustment_set_value(adj,
                             gtk_adjustment_get_upper(adj) - gtk_adjustment_get_page_size(adj));
    gtk_revealer_set_reveal_child(GTK_REVEALER(self->jump_revealer), FALSE);
}

static void on_value_changed(GtkAdjustment *adj, HerdChatView *self)
{
    double bottom = gtk_adjustment_get_upper(adj) - gtk_adjustment_get_page_size(adj);
    /* A change of upper (content grew) is handled in on_upper; here only the user moves. */
    if (gtk_adjustment_get_upper(adj) != self->last_upper)
        return;
    self->stick = gtk_adjustment_get_value(adj) >= bottom - STICK_SLACK;

    gtk_revealer_set_reveal_child(GTK_REVEALER(self->jump_revealer), !self->stick);
}

static gboolean stick_idle(gpointer data)
{
    HerdChatView *self = data;
    self->stick_id = 0;
    if (self->stick) {
        GtkAdjustment *adj = vadj(self);
        gtk_adjustment_set_value(adj,
                                 gtk_adjustment_get_upper(adj) - gtk_adjustment_get_page_size(adj));
    }
    return G_SOURCE_REMOVE;
}

/* "changed": upper or page size moved (content grew, the window or the composer resized).
 * This runs inside the viewport's allocation, where a new value would be lost: move after. */
static void on_adj_changed(GtkAdjustment *adj, HerdChatView *self)
{
    self->last_upper = gtk_adjustment_get_upper(adj);
    if (self->stick) {
        if (!self->stick_id)
            self->stick_id = g_idle_add_full(G_PRIORITY_HIGH_IDLE, stick_idle, self, NULL);
    } else {
        gtk_revealer_set_reveal_child(GTK_REVEALER(self->jump_revealer), TRUE);
    }
}

gboolean herd_chat_view_get_autoscroll(HerdChatView *self)
{
    return self->stick;
}

static void row_regenerate(HerdMessageRow *row, HerdChatView *self)
{
    g_signal_emit(self, signals[SIG_REGENERATE], 0, herd_message_row_get_message(row));
}

static void row_edit(HerdMessageRow *row, HerdChatView *self)
{
    g_signal_emit(self, signals[SIG_EDIT], 0, herd_message_row_get_message(row));
}

static void row_copied(HerdMessageRow *row, HerdChatView *self)
{
    g_signal_emit(self, signals[SIG_COPIED], 0);
}

static GtkWidget *make_row(HerdChatView *self, HerdMessage *m)
{
    GtkWidget *row = herd_message_row_new(m);
    g_signal_connect(row, "regenerate", G_CALLBACK(row_regenerate), self);
    g_signal_connect(row, "edit", G_CALLBACK(row_edit), self);
    g_signal_connect(row, "copied", G_CALLBACK(row_copied), self);
    /* The system prompt is part of the conversation but not shown as a bubble. */
    gtk_widget_set_visible(row, herd_message_get_role(m) != HERD_MESSAGE_ROLE_SYSTEM);
    return row;
}

static void update_page(HerdChatView *self)
{
    gboolean any = FALSE;
    for (guint i = 0; i < self->rows->len; i++)
        any |= gtk_widget_get_visible(self->rows->pdata[i]);
    gtk_stack_set_visible_child_name(GTK_STACK(self->stack), any ? "messages" : "empty");
}

static void on_items_changed(GListModel *model, guint position, guint removed, guint added,
                             HerdChatView *self)
{
    for (guint i = 0; i < removed && position < self->rows->len; i++) {
        GtkWidget *row = self->rows->pdata[position];
        gtk_box_remove(GTK_BOX(self->message_list), row);
        g_ptr_array_remove_index(self->rows, position);
    }
    GtkWidget *sibling = position > 0 ? self->rows->pdata[position - 1] : NULL;
    for (guint i = 0; i < added; i++) {
        g_autoptr(HerdMessage) m = g_list_model_get_item(model, position + i);
        GtkWidget *row = make_row(self, m);
        gtk_box_insert_child_after(GTK_BOX(self->message_list), row, sibling);
        g_ptr_array_insert(self->rows, (gint)(position + i), row);
        sibling = row;
    }
    if (added)
        self->stick = TRUE; /* a new message (sent or answered) brings the view down */
    update_page(self);
}

void herd_chat_view_set_conversation(HerdChatView *self, HerdConversation *conv)
{
    g_return_if_fail(HERD_IS_CHAT_VIEW(self));
    if (self->conv == conv)
        return;
    if (self->conv) {
        g_clear_signal_handler(&self->items_handler, self->conv);
        g_clear_object(&self->conv);
    }
    GtkWidget *child;
    while ((child = gtk_widget_get_first_child(self->message_list)))
        gtk_box_remove(GTK_BOX(self->message_list), child);
    g_ptr_array_set_size(self->rows, 0);
    herd_chat_view_set_prompt_progress(self, -1, 0);
    if (conv) {
        self->conv = g_object_ref(conv);
        self->items_handler =
            g_signal_connect(conv, "items-changed", G_CALLBACK(on_items_changed), self);
        on_items_changed(G_LIST_MODEL(conv), 0, 0, g_list_model_get_n_items(G_LIST_MODEL(conv)),
                         self);
    }
    self->stick = TRUE;
    update_page(self);
}

HerdConversation *herd_chat_view_get_conversation(HerdChatView *self)
{
    return self->conv;
}

guint herd_chat_view_get_n_rows(HerdChatView *self)
{
    return self->rows->len;
}

HerdMessageRow *herd_chat_view_get_row(HerdChatView *self, guint index)
{
    return index < self->rows->len ? self->rows->pdata[index] : NULL;
}

HerdMessageRow *herd_chat_view_get_last_row(HerdChatView *self)
{
    return self->rows->len ? self->rows->pdata[self->rows->len - 1] : NULL;
}

void herd_chat_view_set_prompt_progress(HerdChatView *self, int done, int total)
{
    gboolean show = done >= 0 && total > 0 && done < total;
    gtk_revealer_set_reveal_child(GTK_REVEALER(self->progress_revealer), show);
    if (!show)
        return;
    gtk_progress_bar_set_fraction(GTK_PROGRESS_BAR(self->progress_bar), (double)done / total);
    /* TRANSLATORS: prompt ingestion progress, in tokens (images included) */
    g_autofree char *text = g_strdup_printf(_("Reading the prompt: %d of %d tokens"), done, total);
    gtk_label_set_text(GTK_LABEL(self->progress_label), text);
}

static void herd_chat_view_dispose(GObject *object)
{
    HerdChatView *self = HERD_CHAT_VIEW(object);
    g_clear_handle_id(&self->stick_id, g_source_remove);
    if (self->conv) {
        g_clear_signal_handler(&self->items_handler, self->conv);
        g_clear_object(&self->conv);
    }
    gtk_widget_dispose_template(GTK_WIDGET(self), HERD_TYPE_CHAT_VIEW);
    G_OBJECT_CLASS(herd_chat_view_parent_class)->dispose(object);
}

static void herd_chat_view_finalize(GObject *object)
{
    HerdChatView *self = HERD_CHAT_VIEW(object);
    g_ptr_array_unref(self->rows);
    G_OBJECT_CLASS(herd_chat_view_parent_class)->finalize(object);
}

static void herd_chat_view_class_init(HerdChatViewClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);
    GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
    object_class->dispose = herd_chat_view_dispose;
    object_class->finalize = herd_chat_view_finalize;

    signals[SIG_REGENERATE] =
        g_signal_new("regenerate", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                     G_TYPE_NONE, 1, HERD_TYPE_MESSAGE);
    signals[SIG_EDIT] = g_signal_new("edit", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                     NULL, NULL, G_TYPE_NONE, 1, HERD_TYPE_MESSAGE);
    signals[SIG_COPIED] = g_signal_new("copied", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                       NULL, NULL, NULL, G_TYPE_NONE, 0);

    gtk_widget_class_set_template_from_resource(widget_class,
                                                "/io/github/herdapp/Herd/ui/herd-chat-view.ui");
    gtk_widget_class_bind_template_child(widget_class, HerdChatView, stack);
    gtk_widget_class_bind_template_child(widget_class, HerdChatView, scroller);
    gtk_widget_class_bind_template_child(widget_class, HerdChatView, message_list);
    gtk_widget_class_bind_template_child(widget_class, HerdChatView, jump_revealer);
    gtk_widget_class_bind_template_child(widget_class, HerdChatView, progress_revealer);
    gtk_widget_class_bind_template_child(widget_class, HerdChatView, progress_label);
    gtk_widget_class_bind_template_child(widget_class, HerdChatView, progress_bar);
    gtk_widget_class_bind_template_callback(widget_class, herd_chat_view_scroll_to_bottom);
    gtk_widget_class_set_layout_manager_type(widget_class, GTK_TYPE_BIN_LAYOUT);
}

static void herd_chat_view_init(HerdChatView *self)
{
    g_type_ensure(ADW_TYPE_CLAMP);
    g_type_ensure(ADW_TYPE_STATUS_PAGE);
    gtk_widget_init_template(GTK_WIDGET(self));
    self->rows = g_ptr_array_new();
    self->stick = TRUE;
    GtkAdjustment *adj = vadj(self);
    g_signal_connect(adj, "value-changed", G_CALLBACK(on_value_changed), self);
    g_signal_connect(adj, "changed", G_CALLBACK(on_adj_changed), self);
}
