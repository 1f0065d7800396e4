/* herd-message.c: HerdMessage GObject. */
#define G_LOG_DOMAIN "Herd"

#include "herd-message.h"

#include <string.h>

/* g_set_str() is GLib 2.76; Debian 12 has 2.74. */
static gboolean set_str(char **slot, const char *value)
{
    if (g_strcmp0(*slot, value) == 0)
        return FALSE;
    g_free(*slot);
    *slot = g_strdup(value);
    return TRUE;
}

struct _HerdMessage {
    GObject parent_instance;
    gint64 id;
    HerdMessageRole role;
    GString *text;
    HerdMessageState state;
    gint64 created;
    char *model;
    char *error_text;
    char *sampling_json;
    HerdMessageStats stats;
    GPtrArray *images; /* HerdMessageImage* */
};

enum {
    PROP_0,
    PROP_ID,
    PROP_ROLE,
    PROP_TEXT,
    PROP_STATE,
    PROP_CREATED,
    PROP_MODEL,
    PROP_ERROR_TEXT,
    PROP_N_PROMPT_TOKENS,
    PROP_N_GEN_TOKENS,
    PROP_TTFT_MS,
    PROP_TOKENS_PER_S,
    PROP_N_IMAGES,
    N_PROPS
};

static GParamSpec *props[N_PROPS];

G_DEFINE_TYPE(HerdMessage, herd_message, G_TYPE_OBJECT)
G_DEFINE_BOXED_TYPE(HerdMessageImage, herd_message_image, herd_message_image_copy,
                    herd_message_image_free)

HerdMessageImage *herd_message_image_copy(const HerdMessageImage *img)
{
    HerdMessageImage *c = g_new0(HerdMessageImage, 1);
    c->path = g_strdup(img->path);
    c->name = g_strdup(img->name);
    c->mime = g_strdup(img->mime);
    c->width = img->width;
    c->height = img->height;
    c->size = img->size;
    return c;
}

void herd_message_image_free(HerdMessageImage *img)
{
    if (!img)
        return;
    g_free(img->path);
    g_free(img->name);
    g_free(img->mime);
    g_free(img);
}

static void herd_message_finalize(GObject *object)
{
    HerdMessage *self = HERD_MESSAGE(object);
    g_string_free(self->text, TRUE);
    g_free(self->model);
    g_free(self->error_text);
    g_free(self->sampling_json);
    g_ptr_array_unref(self->images);
    G_OBJECT_CLASS(herd_message_parent_class)->finalize(object);
}

static void herd_message_get_property(GObject *object, guint prop_id, GValue *value,
                                      GParamSpec *pspec)
{
    HerdMessage *self = HERD_MESSAGE(object);
    switch (prop_id) {
    case PROP_ID:
        g_value_set_int64(value, self->id);
        break;
    case PROP_ROLE:
        g_value_set_enum(value, self->role);
        break;
    case PROP_TEXT:
        g_value_set_string(value, self->text->str);
        break;
    case PROP_STATE:
        g_value_set_enum(value, self->state);
        break;
    case PROP_CREATED:
        g_value_set_int64(value, self->created);
        break;
    case PROP_MODEL:
        g_value_set_string(value, self->model);
        break;
    case PROP_ERROR_TEXT:
        g_value_set_string(value, self->error_text);
        break;
    case PROP_N_PROMPT_TOKENS:
        g_value_set_int(value, self->stats.n_prompt_tokens);
        break;
    case PROP_N_GEN_TOKENS:
        g_value_set_int(value, self->stats.n_gen_tokens);
        break;
    case PROP_TTFT_MS:
        g_value_set_double(value, self->stats.ttft_ms);
        break;
    case PROP_TOKENS_PER_S:
        g_value_set_double(value, self->stats.tokens_per_s);
        break;
    case PROP_N_IMAGES:
        g_value_set_uint(value, self->images->len);
        break;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    }
}

static void herd_message_set_property(GObject *object, guint prop_id, const GValue *value,
                                      GParamSpec *pspec)
{
    HerdMessage *self = HERD_MESSAGE(object);
    switch (prop_id) {
    case PROP_ID:
        self->id = g_value_get_int64(value);
        break;
    case PROP_ROLE:
        self->role = g_value_get_enum(value);
        break;
    case PROP_TEXT:
        herd_message_set_text(self, g_value_get_string(value));
        break;
    case PROP_STATE:
        herd_message_set_state(self, g_value_get_enum(value));
        break;
    case PROP_CREATED:
        self->created = g_value_get_int64(value);
        break;
    case PROP_MODEL:
        herd_message_set_model(self, g_value_get_string(value));
        break;
    case PROP_ERROR_TEXT:
        herd_message_set_error_text(self, g_value_get_string(value));
        break;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    }
}

static void herd_message_class_init(HerdMessageClass *klass)
{
    GObjectClass *oc = G_OBJECT_CLASS(klass);
    oc->finalize = herd_message_finalize;
    oc->get_property = herd_message_get_property;
    oc->set_property = herd_message_set_property;

    const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;
    const GParamFlags ro = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS;
    const GParamFlags co = G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS;
    props[PROP_ID] =
        g_param_spec_int64("id", NULL, NULL, 0, G_MAXINT64, 0,
                           G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
    props[PROP_ROLE] =
        g_param_spec_enum("role", NULL, NULL, HERD_TYPE_MESSAGE_ROLE, HERD_MESSAGE_ROLE_USER, co);
    props[PROP_TEXT] = g_param_spec_string("text", NULL, NULL, "", rw);
    props[PROP_STATE] = g_param_spec_enum("state", NULL, NULL, HERD_TYPE_MESSAGE_STATE,
                                          HERD_MESSAGE_STATE_COMPLETE, rw);
    props[PROP_CREATED] = g_param_spec_int64("created", NULL, NULL, 0, G_MAXINT64, 0, co);
    props[PROP_MODEL] = g_param_spec_string("model", NULL, NULL, NULL, rw);
    props[PROP_ERROR_TEXT] = g_param_spec_string("error-text", NULL, NULL, NULL, rw);
    props[PROP_N_PROMPT_TOKENS] =
        g_param_spec_int("n-prompt-tokens", NULL, NULL, 0, G_MAXINT, 0, ro);
    props[PROP_N_GEN_TOKENS] = g_param_spec_int("n-gen-tokens", NULL, NULL, 0, G_MAXINT, 0, ro);
    props[PROP_TTFT_MS] = g_param_spec_double("ttft-ms", NULL, NULL, 0, G_MAXDOUBLE, 0, ro);
    props[PROP_TOKENS_PER_S] =
        g_param_spec_double("tokens-per-s", NULL, NULL, 0, G_MAXDOUBLE, 0, ro);
    props[PROP_N_IMAGES] = g_param_spec_uint("n-images", NULL, NULL, 0, G_MAXUINT, 0, ro);
    g_object_class_install_properties(oc, N_PROPS, props);
}

static void herd_message_init(HerdMessage *self)
{
    self->text = g_string_new(NULL);
    self->images = g_ptr_array_new_with_free_func((GDestroyNotify)herd_message_image_free);
}

HerdMessage *herd_message_new(HerdMessageRole role, const char *text)
{
    return g_object_new(HERD_TYPE_MESSAGE, "role", role, "text", text ? text : "", "created",
                        g_get_real_time(), NULL);
}

HerdMessage *herd_message_new_from_record(const HerdStoreMessage *rec)
{
    HerdMessage *self =
        g_object_new(HERD_TYPE_MESSAGE, "role", rec->role, "created", rec->created, NULL);
    self->id = rec->id;
    g_string_assign(self->text, rec->text ? rec->text : "");
    self->state = rec->state;
    self->model = g_strdup(rec->model);
    self->error_text = g_strdup(rec->error_text);
    self->sampling_json = g_strdup(rec->sampling_json);
    self->stats = rec->stats;
    for (guint i = 0; rec->images && i < rec->images->len; i++) {
        const HerdStoreImage *si = rec->images->pdata[i];
        HerdMessageImage img = { si->path,  si->original_name, si->mime,
                                 si->width, si->height,        si->size };
        g_ptr_array_add(self->images, herd_message_image_copy(&img));
    }
    return self;
}

gint64 herd_message_get_id(HerdMessage *self)
{
    g_return_val_if_fail(HERD_IS_MESSAGE(self), 0);
    return self->id;
}

void herd_message_set_id(HerdMessage *self, gint64 id)
{
    g_return_if_fail(HERD_IS_MESSAGE(self));
    if (self->id == id)
        return;
    self->id = id;
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_ID]);
}

HerdMessageRole herd_message_get_role(HerdMessage *self)
{
    g_return_val_if_fail(HERD_IS_MESSAGE(self), HERD_MESSAGE_ROLE_USER);
    return self->role;
}

const char *herd_message_get_text(HerdMessage *self)
{
    g_return_val_if_fail(HERD_IS_MESSAGE(self), NULL);
    return self->text->str;
}

void herd_message_set_text(HerdMessage *self, const char *text)
{
    g_return_if_fail(HERD_IS_MESSAGE(self));
    if (!text)
        text = "";
    if (g_strcmp0(self->text->str, text) == 0)
        return;
    g_string_assign(self->text, text);
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_TEXT]);
}

void herd_message_append_text(HerdMessage *self, const char *piece, gssize len)
{
    g_return_if_fail(HERD_IS_MESSAGE(self) && piece);
    if (len < 0)
        len = (gssize)strlen(piece);
    if (len == 0)
        return;
    g_string_append_len(self->text, piece, len);
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_TEXT]);
}

HerdMessageState herd_message_get_state(HerdMessage *self)
{
    g_return_val_if_fail(HERD_IS_MESSAGE(self), HERD_MESSAGE_STATE_ERROR);
    return self->state;
}

void herd_message_set_state(HerdMessage *self, HerdMessageState state)
{
    g_return_if_fail(HERD_IS_MESSAGE(self));
    if (self->state == state)
        return;
    self->state = state;
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_STATE]);
}

gint64 herd_message_get_created(HerdMessage *self)
{
    g_return_val_if_fail(HERD_IS_MESSAGE(self), 0);
    return self->created;
}

const char *herd_message_get_model(HerdMessage *self)
{
    g_return_val_if_fail(HERD_IS_MESSAGE(self), NULL);
    return self->model;
}

void herd_message_set_model(HerdMessage *self, const char *model)
{
    g_return_if_fail(HERD_IS_MESSAGE(self));
    if (set_str(&self->model, model))
        g_object_notify_by_pspec(G_OBJECT(self), props[PROP_MODEL]);
}

const char *herd_message_get_error_text(HerdMessage *self)
{
    g_return_val_if_fail(HERD_IS_MESSAGE(self), NULL);
    return self->error_text;
}

void herd_message_set_error_text(HerdMessage *self, const char *text)
{
    g_return_if_fail(HERD_IS_MESSAGE(self));
    if (set_str(&self->error_text, text))
        g_object_notify_by_pspec(G_OBJECT(self), props[PROP_ERROR_TEXT]);
}

const char *herd_message_get_sampling_json(HerdMessage *self)
{
    g_return_val_if_fail(HERD_IS_MESSAGE(self), NULL);
    return self->sampling_json;
}

const HerdMessageStats *herd_message_get_stats(HerdMessage *self)
{
    g_return_val_if_fail(HERD_IS_MESSAGE(self), NULL);
    return &self->stats;
}

void herd_message_set_stats(HerdMessage *self, const HerdMessageStats *stats)
{
    g_return_if_fail(HERD_IS_MESSAGE(self) && stats);
    HerdMessageStats old = self->stats;
    self->stats = *stats;
    GObject *o = G_OBJECT(self);
    g_object_freeze_notify(o);
    if (old.n_prompt_tokens != stats->n_prompt_tokens)
        g_object_notify_by_pspec(o, props[PROP_N_PROMPT_TOKENS]);
    if (old.n_gen_tokens != stats->n_gen_tokens)
        g_object_notify_by_pspec(o, props[PROP_N_GEN_TOKENS]);
    if (old.ttft_ms != stats->ttft_ms)
        g_object_notify_by_pspec(o, props[PROP_TTFT_MS]);
    if (old.tokens_per_s != stats->tokens_per_s)
        g_object_notify_by_pspec(o, props[PROP_TOKENS_PER_S]);
    g_object_thaw_notify(o);
}

guint herd_message_get_n_images(HerdMessage *self)
{
    g_return_val_if_fail(HERD_IS_MESSAGE(self), 0);
    return self->images->len;
}

const HerdMessageImage *herd_message_get_image(HerdMessage *self, guint index)
{
    g_return_val_if_fail(HERD_IS_MESSAGE(self), NULL);
    return index < self->images->len ? self->images->pdata[index] : NULL;
}

void herd_message_add_image(HerdMessage *self, const HerdMessageImage *img)
{
    g_return_if_fail(HERD_IS_MESSAGE(self) && img && img->path);
    g_ptr_array_add(self->images, herd_message_image_copy(img));
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_N_IMAGES]);
}
