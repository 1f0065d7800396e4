/* herd-conversation-list.c: HerdConversationInfo and the filtered sidebar list. */
#define G_LOG_DOMAIN "Herd"

#include "herd-conversation-list.h"

/* ---- HerdConversationInfo ---- */

struct _HerdConversationInfo {
    GObject parent_instance;
    gint64 id;
    char *title;
    gint64 updated;
    gboolean pinned;
    char *model_name;
};

enum {
    INFO_PROP_0,
    INFO_PROP_ID,
    INFO_PROP_TITLE,
    INFO_PROP_UPDATED,
    INFO_PROP_PINNED,
    INFO_PROP_MODEL_NAME,
    INFO_N_PROPS
};
static GParamSpec *info_props[INFO_N_PROPS];

G_DEFINE_TYPE(HerdConversationInfo, herd_conversation_info, G_TYPE_OBJECT)

static void herd_conversation_info_finalize(GObject *object)
{
    HerdConversationInfo *self = HERD_CONVERSATION_INFO(object);
    g_free(self->title);
    g_free(self->model_name);
    G_OBJECT_CLASS(herd_conversation_info_parent_class)->finalize(object);
}

static void herd_conversation_info_get_property(GObject *object, guint prop_id, GValue *value,
                                                GParamSpec *pspec)
{
    HerdConversationInfo *self = HERD_CONVERSATION_INFO(object);
    switch (prop_id) {
    case INFO_PROP_ID:
        g_value_set_int64(value, self->id);
        break;
    case INFO_PROP_TITLE:
        g_value_set_string(value, self->title);
        break;
    case INFO_PROP_UPDATED:
        g_value_set_int64(value, self->updated);
        break;
    case INFO_PROP_PINNED:
        g_value_set_boolean(value, self->pinned);
        break;
    case INFO_PROP_MODEL_NAME:
        g_value_set_string(value, self->model_name);
        break;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    }
}

static void herd_conversation_info_class_init(HerdConversationInfoClass *klass)
{
    GObjectClass *oc = G_OBJECT_CLASS(klass);
    oc->finalize = herd_conversation_info_finalize;
    oc->get_property = herd_conversation_info_get_property;
    const GParamFlags ro = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS;
    info_props[INFO_PROP_ID] = g_param_spec_int64("id", NULL, NULL, 0, G_MAXINT64, 0, ro);
    info_props[INFO_PROP_TITLE] = g_param_spec_string("title", NULL, NULL, "", ro);
    info_props[INFO_PROP_UPDATED] = g_param_spec_int64("updated", NULL, NULL, 0, G_MAXINT64, 0, ro);
    info_props[INFO_PROP_PINNED] = g_param_spec_boolean("pinned", NULL, NULL, FALSE, ro);
    info_props[INFO_PROP_MODEL_NAME] = g_param_spec_string("model-name", NULL, NULL, NULL, ro);
    g_object_class_install_properties(oc, INFO_N_PROPS, info_props);
}

static void herd_conversation_info_init(HerdConversationInfo *self)
{
}

static HerdConversationInfo *info_new(const HerdStoreConversation *c)
{
    HerdConversationInfo *self = g_object_new(HERD_TYPE_CONVERSATION_INFO, NULL);
    self->id = c->id;
    self->title = g_strdup(c->title);
    self->updated = c->updated;
    self->pinned = c->pinned;
    self->model_name = g_strdup(c->model_name);
    return self;
}

gint64 herd_conversation_info_get_id(HerdConversationInfo *self)
{
    g_return_val_if_fail(HERD_IS_CONVERSATION_INFO(self), 0);
    return self->id;
}

const char *herd_conversation_info_get_title(HerdConversationInfo *self)
{
    g_return_val_if_fail(HERD_IS_CONVERSATION_INFO(self), NULL);
    return self->title;
}

gint64 herd_conversation_info_get_updated(HerdConversationInfo *self)
{
    g_return_val_if_fail(HERD_IS_CONVERSATION_INFO(self), 0);
    return self->updated;
}

gboolean herd_conversation_info_get_pinned(HerdConversationInfo *self)
{
    g_return_val_if_fail(HERD_IS_CONVERSATION_INFO(self), FALSE);
    return self->pinned;
}

const char *herd_conversation_info_get_model_name(HerdConversationInfo *self)
{
    g_return_val_if_fail(HERD_IS_CONVERSATION_INFO(self), NULL);
    return self->model_name;
}

/* ---- HerdConversationList ---- */

struct _HerdConversationList {
    GObject parent_instance;
    HerdStore *store;
    char *search;
    GPtrArray *items; /* HerdConversationInfo* */
};

enum { LIST_PROP_0, LIST_PROP_SEARCH, LIST_PROP_N_ITEMS, LIST_N_PROPS };
static GParamSpec *list_props[LIST_N_PROPS];

static void list_iface_init(GListModelInterface *iface);

G_DEFINE_TYPE_WITH_CODE(HerdConversationList, herd_conversation_list, G_TYPE_OBJECT,
                        G_IMPLEMENT_INTERFACE(G_TYPE_LIST_MODEL, list_iface_init))

static GType list_get_item_type(GListModel *model)
{
    return HERD_TYPE_CONVERSATION_INFO;
}

static guint list_get_n_items(GListModel *model)
{
    return HERD_CONVERSATION_LIST(model)->items->len;
}

static gpointer list_get_item(GListModel *model, guint position)
{
    HerdConversationList *self = HERD_CONVERSATION_LIST(model);
    return position < self->items->len ? g_object_ref(self->items->pdata[position]) : NULL;
}

static void list_iface_init(GListModelInterface *iface)
{
    iface->get_item_type = list_get_item_type;
    iface->get_n_items = list_get_n_items;
    iface->get_item = list_get_item;
}

static void herd_conversation_list_finalize(GObject *object)
{
    HerdConversationList *self = HERD_CONVERSATION_LIST(object);
    g_ptr_array_unref(self->items);
    g_clear_object(&self->store);
    g_free(self->search);
    G_OBJECT_CLASS(herd_conversation_list_parent_class)->finalize(object);
}

static void herd_conversation_list_get_property(GObject *object, guint prop_id, GValue *value,
                                                GParamSpec *pspec)
{
    HerdConversationList *self = HERD_CONVERSATION_LIST(object);
    switch (prop_id) {
    case LIST_PROP_SEARCH:
        g_value_set_string(value, self->search);
        break;
    case LIST_PROP_N_ITEMS:
        g_value_set_uint(value, self->items->len);
        break;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    }
}

static void herd_conversation_list_set_property(GObject *object, guint prop_id, const GValue *value,
                                                GParamSpec *pspec)
{
    HerdConversationList *self = HERD_CONVERSATION_LIST(object);
    switch (prop_id) {
    case LIST_PROP_SEARCH:
        herd_conversation_list_set_search(self, g_value_get_string(value));
        break;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    }
}

static void herd_conversation_list_class_init(HerdConversationListClass *klass)
{
    GObjectClass *oc = G_OBJECT_CLASS(klass);
    oc->finalize = herd_conversation_list_finalize;
    oc->get_property = herd_conversation_list_get_property;
    oc->set_property = herd_conversation_list_set_property;
    list_props[LIST_PROP_SEARCH] =
        g_param_spec_string("search", NULL, NULL, NULL,
                            G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
    list_props[LIST_PROP_N_ITEMS] = g_param_spec_uint("n-items", NULL, NULL, 0, G_MAXUINT, 0,
                                                      G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
    g_object_class_install_properties(oc, LIST_N_PROPS, list_props);
}

static void herd_conversation_list_init(HerdConversationList *self)
{
    self->items = g_ptr_array_new_with_free_func(g_object_unref);
}

HerdConversationList *herd_conversation_list_new(HerdStore *store)
{
    g_return_val_if_fail(HERD_IS_STORE(store), NULL);
    HerdConversationList *self = g_object_new(HERD_TYPE_CONVERSATION_LIST, NULL);
    self->store = g_object_ref(store);
    g_autoptr(GError) error = NULL;
    if (!herd_conversation_list_reload(self, &error))
        g_warning("cannot list conversations: %s", error->message);
    return self;
}

gboolean herd_conversation_list_reload(HerdConversationList *self, GError **error)
{
    g_return_val_if_fail(HERD_IS_CONVERSATION_LIST(self), FALSE);
    g_autoptr(GPtrArray) rows = herd_store_search_conversations(self->store, self->search, error);
    if (!rows)
        return FALSE;
    guint old_n = self->items->len;
    g_ptr_array_set_size(self->items, 0);
    for (guint i = 0; i < rows->len; i++)
        g_ptr_array_add(self->items, info_new(rows->pdata[i]));
    if (old_n || self->items->len)
        g_list_model_items_changed(G_LIST_MODEL(self), 0, old_n, self->items->len);
    if (old_n != self->items->len)
        g_object_notify_by_pspec(G_OBJECT(self), list_props[LIST_PROP_N_ITEMS]);
    return TRUE;
}

const char *herd_conversation_list_get_search(HerdConversationList *self)
{
    g_return_val_if_fail(HERD_IS_CONVERSATION_LIST(self), NULL);
    return self->search;
}

void herd_conversation_list_set_search(HerdConversationList *self, const char *search)
{
    g_return_if_fail(HERD_IS_CONVERSATION_LIST(self));
    if (search && !*search)
        search = NULL;
    if (g_strcmp0(self->search, search) == 0)
        return;
    g_free(self->search);
    self->search = g_strdup(search);
    g_object_notify_by_pspec(G_OBJECT(self), list_props[LIST_PROP_SEARCH]);
    g_autoptr(GError) error = NULL;
    if (self->store && !herd_conversation_list_reload(self, &error))
        g_warning("cannot search conversations: %s", error->message);
}
