/* herd-conversation.c: HerdConversation, a GListModel of HerdMessage. */
#define G_LOG_DOMAIN "Herd"

#include "herd-conversation.h"

struct _HerdConversation {
    GObject parent_instance;
    HerdStore *store;
    gint64 id;
    char *title;
    char *model_name;
    gint64 created;
    gint64 updated;
    gboolean pinned;
    GPtrArray *messages; /* HerdMessage* */
};

enum {
    PROP_0,
    PROP_ID,
    PROP_TITLE,
    PROP_PINNED,
    PROP_MODEL_NAME,
    PROP_CREATED,
    PROP_UPDATED,
    PROP_N_ITEMS,
    N_PROPS
};

static GParamSpec *props[N_PROPS];

static void list_model_iface_init(GListModelInterface *iface);

G_DEFINE_TYPE_WITH_CODE(HerdConversation, herd_conversation, G_TYPE_OBJECT,
                        G_IMPLEMENT_INTERFACE(G_TYPE_LIST_MODEL, list_model_iface_init))

static GType list_get_item_type(GListModel *model)
{
    return HERD_TYPE_MESSAGE;
}

static guint list_get_n_items(GListModel *model)
{
    return HERD_CONVERSATION(model)->messages->len;
}

static gpointer list_get_item(GListModel *model, guint position)
{
    HerdConversation *self = HERD_CONVERSATION(model);
    return position < self->messages->len ? g_object_ref(self->messages->pdata[position]) : NULL;
}

static void list_model_iface_init(GListModelInterface *iface)
{
    iface->get_item_type = list_get_item_type;
    iface->get_n_items = list_get_n_items;
    iface->get_item = list_get_item;
}

static void herd_conversation_finalize(GObject *object)
{
    HerdConversation *self = HERD_CONVERSATION(object);
    g_ptr_array_unref(self->messages);
    g_clear_object(&self->store);
    g_free(self->title);
    g_free(self->model_name);
    G_OBJECT_CLASS(herd_conversation_parent_class)->finalize(object);
}

static void herd_conversation_get_property(GObject *object, guint prop_id, GValue *value,
                                           GParamSpec *pspec)
{
    HerdConversation *self = HERD_CONVERSATION(object);
    switch (prop_id) {
    case PROP_ID:
        g_value_set_int64(value, self->id);
        break;
    case PROP_TITLE:
        g_value_set_string(value, self->title);
        break;
    case PROP_PINNED:
        g_value_set_boolean(value, self->pinned);
        break;
    case PROP_MODEL_NAME:
        g_value_set_string(value, self->model_name);
        break;
    case PROP_CREATED:
        g_value_set_int64(value, self->created);
        break;
    case PROP_UPDATED:
        g_value_set_int64(value, self->updated);
        break;
    case PROP_N_ITEMS:
        g_value_set_uint(value, self->messages->len);
        break;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    }
}

static void herd_conversation_class_init(HerdConversationClass *klass)
{
    GObjectClass *oc = G_OBJECT_CLASS(klass);
    oc->finalize = herd_conversation_finalize;
    oc->get_property = herd_conversation_get_property;
    const GParamFlags ro = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;
    props[PROP_ID] = g_param_spec_int64("id", NULL, NULL, 0, G_MAXINT64, 0, ro);
    props[PROP_TITLE] = g_param_spec_string("title", NULL, NULL, "", ro);
    props[PROP_PINNED] = g_param_spec_boolean("pinned", NULL, NULL, FALSE, ro);
    props[PROP_MODEL_NAME] = g_param_spec_string("model-name", NULL, NULL, NULL, ro);
    props[PROP_CREATED] = g_param_spec_int64("created", NULL, NULL, 0, G_MAXINT64, 0, ro);
    props[PROP_UPDATED] = g_param_spec_int64("updated", NULL, NULL, 0, G_MAXINT64, 0, ro);
    props[PROP_N_ITEMS] = g_param_spec_uint("n-items", NULL, NULL, 0, G_MAXUINT, 0, ro);
    g_object_class_install_properties(oc, N_PROPS, props);
}

static void herd_conversation_init(HerdConversation *self)
{
    self->messages = g_ptr_array_new_with_free_func(g_object_unref);
}

static HerdConversation *from_record(HerdStore *store, const HerdStoreConversation *c)
{
    HerdConversation *self = g_object_new(HERD_TYPE_CONVERSATION, NULL);
    self->store = g_object_ref(store);
    self->id = c->id;
    self->title = g_strdup(c->title);
    self->model_name = g_strdup(c->model_name);
    self->created = c->created;
    self->updated = c->updated;
    self->pinned = c->pinned;
    return self;
}

HerdConversation *herd_conversation_new(HerdStore *store, const char *title, GError **error)
{
    g_return_val_if_fail(HERD_IS_STORE(store), NULL);
    gint64 id = herd_store_create_conversation(store, title ? title : "", NULL, NULL, NULL, error);
    if (!id)
        return NULL;
    g_autoptr(HerdStoreConversation) c = herd_store_get_conversation(store, id, error);
    return c ? from_record(store, c) : NULL;
}

HerdConversation *herd_conversation_load(HerdStore *store, gint64 id, GError **error)
{
    g_return_val_if_fail(HERD_IS_STORE(store), NULL);
    g_autoptr(HerdStoreConversation) c = herd_store_get_conversation(store, id, error);
    if (!c)
        return NULL;
    g_autoptr(GPtrArray) msgs = herd_store_load_messages(store, id, error);
    if (!msgs)
        return NULL;
    HerdConversation *self = from_record(store, c);
    for (guint i = 0; i < msgs->len; i++)
        g_ptr_array_add(self->messages, herd_message_new_from_record(msgs->pdata[i]));
    return self;
}

HerdStore *herd_conversation_get_store(HerdConversation *self)
{
    g_return_val_if_fail(HERD_IS_CONVERSATION(self), NULL);
    return self->store;
}

gint64 herd_conversation_get_id(HerdConversation *self)
{
    g_return_val_if_fail(HERD_IS_CONVERSATION(self), 0);
    return self->id;
}

const char *herd_conversation_get_title(HerdConversation *self)
{
    g_return_val_if_fail(HERD_IS_CONVERSATION(self), NULL);
    return self->title;
}

static void touch(HerdConversation *self, gint64 when)
{
    if (when > self->updated) {
        self->updated = when;
        g_object_notify_by_pspec(G_OBJECT(self), props[PROP_UPDATED]);
    }
}

gboolean herd_conversation_set_title(HerdConversation *self, const char *title, GError **error)
{
    g_return_val_if_fail(HERD_IS_CONVERSATION(self) && title, FALSE);
    if (g_strcmp0(self->title, title) == 0)
        return TRUE;
    if (!herd_store_rename_conversation(self->store, self->id, title, error))
        return FALSE;
    g_free(self->title);
    self->title = g_strdup(title);
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_TITLE]);
    touch(self, g_get_real_time());
    return TRUE;
}

gboolean herd_conversation_get_pinned(HerdConversation *self)
{
    g_return_val_if_fail(HERD_IS_CONVERSATION(self), FALSE);
    return self->pinned;
}

gboolean herd_conversation_set_pinned(HerdConversation *self, gboolean pinned, GError **error)
{
    g_return_val_if_fail(HERD_IS_CONVERSATION(self), FALSE);
    pinned = !!pinned;
    if (self->pinned == pinned)
        return TRUE;
    if (!herd_store_set_conversation_pinned(self->store, self->id, pinned, error))
        return FALSE;
    self->pinned = pinned;
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_PINNED]);
    return TRUE;
}

const char *herd_conversation_get_model_name(HerdConversation *self)
{
    g_return_val_if_fail(HERD_IS_CONVERSATION(self), NULL);
    return self->model_name;
}

gint64 herd_conversation_get_created(HerdConversation *self)
{
    g_return_val_if_fail(HERD_IS_CONVERSATION(self), 0);
    return self->created;
}

gint64 herd_conversation_get_updated(HerdConversation *self)
{
    g_return_val_if_fail(HERD_IS_CONVERSATION(self), 0);
    return self->updated;
}

HerdMessage *herd_conversation_get_message(HerdConversation *self, guint index)
{
    g_return_val_if_fail(HERD_IS_CONVERSATION(self), NULL);
    return index < self->messages->len ? self->messages->pdata[index] : NULL;
}

HerdMessage *herd_conversation_get_last(HerdConversation *self)
{
    g_return_val_if_fail(HERD_IS_CONVERSATION(self), NULL);
    return self->messages->len ? self->messages->pdata[self->messages->len - 1] : NULL;
}

static HerdMessage *append_saved(HerdConversation *self, gint64 id, GError **error)
{
    g_autoptr(HerdStoreMessage) rec = herd_store_get_message(self->store, id, error);
    if (!rec)
        return NULL;
    HerdMessage *msg = herd_message_new_from_record(rec);
    g_ptr_array_add(self->messages, msg);
    g_list_model_items_changed(G_LIST_MODEL(self), self->messages->len - 1, 0, 1);
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_N_ITEMS]);
    touch(self, rec->created);
    return msg;
}

HerdMessage *herd_conversation_add_message(HerdConversation *self, HerdMessageRole role,
                                           const char *text, const HerdMessageImage *images,
                                           guint n_images, GError **error)
{
    g_return_val_if_fail(HERD_IS_CONVERSATION(self), NULL);
    HerdStoreMessage rec = { 0 };
    rec.role = role;
    rec.text = (char *)(text ? text : "");
    rec.state = HERD_MESSAGE_STATE_COMPLETE;
    gint64 id = herd_store_append_message(self->store, self->id, &rec, error);
    if (!id)
        return NULL;
    for (guint i = 0; i < n_images; i++) {
        if (!herd_store_add_image_file(self->store, id, (gint)i, images[i].path, images[i].name,
                                       images[i].width, images[i].height, images[i].mime, error)) {
            /* Keep the store and the model equal: the message goes if an image can't be kept. */
            herd_store_delete_message(self->store, id, NULL);
            return NULL;
        }
    }
    return append_saved(self, id, error);
}

HerdMessage *herd_conversation_begin_reply(HerdConversation *self, const char *model,
                                           const char *sampling_json, GError **error)
{
    g_return_val_if_fail(HERD_IS_CONVERSATION(self), NULL);
    HerdStoreMessage rec = { 0 };
    rec.role = HERD_MESSAGE_ROLE_ASSISTANT;
    rec.text = (char *)"";
    rec.state = HERD_MESSAGE_STATE_STREAMING;
    rec.model = (char *)model;
    rec.sampling_json = (char *)sampling_json;
    gint64 id = herd_store_append_message(self->store, self->id, &rec, error);
    return id ? append_saved(self, id, error) : NULL;
}

gboolean herd_conversation_remove_message(HerdConversation *self, HerdMessage *msg, GError **error)
{
    g_return_val_if_fail(HERD_IS_CONVERSATION(self) && HERD_IS_MESSAGE(msg), FALSE);
    guint pos;
    if (!g_ptr_array_find(self->messages, msg, &pos)) {
        g_set_error(error, HERD_STORE_ERROR, HERD_STORE_ERROR_NOT_FOUND,
                    "the message is not in this conversation");
        return FALSE;
    }
    if (!herd_store_delete_message(self->store, herd_message_get_id(msg), error))
        return FALSE;
    g_ptr_array_remove_index(self->messages, pos);
    g_list_model_items_changed(G_LIST_MODEL(self), pos, 1, 0);
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_N_ITEMS]);
    return TRUE;
}
