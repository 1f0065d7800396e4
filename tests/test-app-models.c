/* test-app-models: the GObject models the UI binds to. HerdMessage property round trips and
 * EXPLICIT_NOTIFY counts; HerdConversation as a GListModel (items-changed, saved to the store
 * first, images copied); HerdConversationList ordering and search filtering; no leaked
 * references (g_assert_finalize_object). */
#include "app-test-util.h"
#include "herd-conversation-list.h"
#include "herd-conversation.h"

typedef struct {
    guint n;
    guint last_pos, last_removed, last_added;
} Changes;

static void on_items_changed(GListModel *m, guint pos, guint removed, guint added, Changes *c)
{
    c->n++;
    c->last_pos = pos;
    c->last_removed = removed;
    c->last_added = added;
}

static void count_notify(GObject *o, GParamSpec *p, guint *n)
{
    (*n)++;
}

static void test_message(void)
{
    HerdMessage *m = herd_message_new(HERD_MESSAGE_ROLE_ASSISTANT, "Hel");
    guint n_text = 0, n_state = 0, n_gen = 0, n_tps = 0;
    g_signal_connect(m, "notify::text", G_CALLBACK(count_notify), &n_text);
    g_signal_connect(m, "notify::state", G_CALLBACK(count_notify), &n_state);
    g_signal_connect(m, "notify::n-gen-tokens", G_CALLBACK(count_notify), &n_gen);
    g_signal_connect(m, "notify::tokens-per-s", G_CALLBACK(count_notify), &n_tps);
    herd_message_append_text(m, "lo", -1);
    herd_message_append_text(m, "", 0); /* nothing: no notify */
    g_assert_cmpstr(herd_message_get_text(m), ==, "Hello");
    g_assert_cmpuint(n_text, ==, 1);
    herd_message_set_text(m, "Hello"); /* same: no notify */
    g_assert_cmpuint(n_text, ==, 1);
    g_object_set(m, "text", "Bye", NULL);
    g_assert_cmpuint(n_text, ==, 2);
    g_autofree char *t = NULL;
    HerdMessageRole role;
    g_object_get(m, "text", &t, "role", &role, NULL);
    g_assert_cmpstr(t, ==, "Bye");
    g_assert_cmpint(role, ==, HERD_MESSAGE_ROLE_ASSISTANT);

    herd_message_set_state(m, HERD_MESSAGE_STATE_STREAMING);
    herd_message_set_state(m, HERD_MESSAGE_STATE_STREAMING);
    g_assert_cmpuint(n_state, ==, 1);
    HerdMessageStats st = { 10, 20, 30, 40 };
    herd_message_set_stats(m, &st);
    st.tokens_per_s = 41;
    herd_message_set_stats(m, &st);
    g_assert_cmpuint(n_gen, ==, 1);
    g_assert_cmpuint(n_tps, ==, 2);
    double tps;
    g_object_get(m, "tokens-per-s", &tps, NULL);
    g_assert_cmpfloat(tps, ==, 41);
    HerdMessageImage img = { (char *)"/x/a.png", (char *)"a.png", (char *)"image/png", 3, 4, 5 };
    herd_message_add_image(m, &img);
    g_assert_cmpuint(herd_message_get_n_images(m), ==, 1);
    g_assert_cmpint(herd_message_get_image(m, 0)->height, ==, 4);
    g_assert_null(herd_message_get_image(m, 1));
    g_assert_cmpstr(
        g_enum_get_value(g_type_class_peek(HERD_TYPE_MESSAGE_STATE), HERD_MESSAGE_STATE_INTERRUPTED)
            ->value_nick,
        ==, "interrupted");
    g_assert_finalize_object(m);
}

static void test_conversation(void)
{
    g_autofree char *dir = test_tmpdir();
    g_autofree char *db = g_build_filename(dir, "herd.db", NULL);
    GError *e = NULL;
    HerdStore *store = herd_store_open(db, &e);
    g_assert_no_error(e);
    HerdConversation *c = herd_conversation_new(store, "First", &e);
    g_assert_no_error(e);
    g_assert_true(g_list_model_get_item_type(G_LIST_MODEL(c)) == HERD_TYPE_MESSAGE);
    Changes ch = { 0 };
    guint n_title = 0, n_items = 0;
    g_signal_connect(c, "items-changed", G_CALLBACK(on_items_changed), &ch);
    g_signal_connect(c, "notify::title", G_CALLBACK(count_notify), &n_title);
    g_signal_connect(c, "notify::n-items", G_CALLBACK(count_notify), &n_items);

    g_autofree char *img = test_write(dir, "pic.png", test_png_blue, TEST_PNG_BLUE_LEN);
    HerdMessageImage att = { img, (char *)"holiday.png", NULL, 2, 2, 0 };
    HerdMessage *u = herd_conversation_add_message(c, HERD_MESSAGE_ROLE_USER, "look", &att, 1, &e);
    g_assert_no_error(e);
    g_assert_cmpuint(ch.n, ==, 1);
    g_assert_cmpuint(ch.last_pos, ==, 0);
    g_assert_cmpuint(ch.last_added, ==, 1);
    g_assert_cmpuint(n_items, ==, 1);
    g_assert_cmpint(herd_message_get_id(u), >, 0);
    g_assert_cmpuint(herd_message_get_n_images(u), ==, 1);
    const HerdMessageImage *stored = herd_message_get_image(u, 0);
    g_assert_cmpstr(stored->name, ==, "holiday.png");
    g_assert_cmpstr(stored->mime, ==, "image/png");
    g_assert_true(g_str_has_prefix(stored->path, herd_store_get_images_dir(store)));

    /* A missing attachment: nothing is added, to the model or the store. */
    HerdMessageImage missing = { (char *)"/nonexistent.png", NULL, NULL, 0, 0, 0 };
    g_assert_null(herd_conversation_add_message(c, HERD_MESSAGE_ROLE_USER, "x", &missing, 1, &e));
    g_assert_error(e, HERD_STORE_ERROR, HERD_STORE_ERROR_IO);
    g_clear_error(&e);
    g_assert_cmpuint(g_list_model_get_n_items(G_LIST_MODEL(c)), ==, 1);
    g_autoptr(GPtrArray) recs = herd_store_load_messages(store, herd_conversation_get_id(c), &e);
    g_assert_cmpuint(recs->len, ==, 1);

    HerdMessage *r = herd_conversation_begin_reply(c, "scout", "{\"temperature\":0}", &e);
    g_assert_no_error(e);
    g_assert_cmpint(herd_message_get_state(r), ==, HERD_MESSAGE_STATE_STREAMING);
    g_assert_cmpuint(ch.n, ==, 2);
    g_assert_true(herd_conversation_get_last(c) == r);
    HerdMessage *item = g_list_model_get_item(G_LIST_MODEL(c), 1);
    g_assert_true(item == r);
    g_object_unref(item);
    g_assert_null(g_list_model_get_item(G_LIST_MODEL(c), 2));

    g_assert_true(herd_conversation_set_title(c, "Renamed", &e));
    g_assert_true(herd_conversation_set_title(c, "Renamed", &e));
    g_assert_cmpuint(n_title, ==, 1);
    g_assert_true(herd_conversation_set_pinned(c, TRUE, &e));
    g_assert_no_error(e);

    /* Remove and re-add a reply (regenerate). */
    HerdMessage *tmp = herd_conversation_begin_reply(c, NULL, NULL, &e);
    gint64 tmp_id = herd_message_get_id(tmp);
    guint before = ch.n;
    g_assert_true(herd_conversation_remove_message(c, tmp, &e));
    g_assert_no_error(e);
    g_assert_cmpuint(ch.n, ==, before + 1);
    g_assert_cmpuint(ch.last_pos, ==, 2);
    g_assert_cmpuint(ch.last_removed, ==, 1);
    g_assert_cmpuint(g_list_model_get_n_items(G_LIST_MODEL(c)), ==, 2);
    g_assert_null(herd_store_get_message(store, tmp_id, &e));
    g_assert_error(e, HERD_STORE_ERROR, HERD_STORE_ERROR_NOT_FOUND);
    g_clear_error(&e);
    HerdMessage *stranger = herd_message_new(HERD_MESSAGE_ROLE_USER, "not here");
    g_assert_false(herd_conversation_remove_message(c, stranger, &e));
    g_assert_error(e, HERD_STORE_ERROR, HERD_STORE_ERROR_NOT_FOUND);
    g_clear_error(&e);
    g_assert_finalize_object(stranger);

    /* Loading gives the same model. */
    HerdConversation *c2 = herd_conversation_load(store, herd_conversation_get_id(c), &e);
    g_assert_no_error(e);
    g_assert_cmpstr(herd_conversation_get_title(c2), ==, "Renamed");
    g_assert_true(herd_conversation_get_pinned(c2));
    g_assert_cmpuint(g_list_model_get_n_items(G_LIST_MODEL(c2)), ==, 2);
    HerdMessage *u2 = herd_conversation_get_message(c2, 0);
    g_assert_cmpstr(herd_message_get_text(u2), ==, "look");
    g_assert_cmpstr(herd_message_get_image(u2, 0)->path, ==, stored->path);
    g_assert_cmpstr(herd_message_get_sampling_json(herd_conversation_get_message(c2, 1)), ==,
                    "{\"temperature\":0}");
    g_assert_null(herd_conversation_load(store, 4242, &e));
    g_assert_error(e, HERD_STORE_ERROR, HERD_STORE_ERROR_NOT_FOUND);
    g_clear_error(&e);

    g_assert_finalize_object(c2);
    g_assert_finalize_object(c);
    g_assert_finalize_object(store);
    test_rm_rf(dir);
}

static void test_list(void)
{
    g_autofree char *dir = test_tmpdir();
    g_autofree char *db = g_build_filename(dir, "herd.db", NULL);
    GError *e = NULL;
    HerdStore *store = herd_store_open(db, &e);
    const char *titles[] = { "Knitting", "Llama facts", "Mountain trip" };
    gint64 ids[3];
    for (int i = 0; i < 3; i++) {
        HerdConversation *c = herd_conversation_new(store, titles[i], &e);
        g_assert_no_error(e);
        ids[i] = herd_conversation_get_id(c);
        if (i == 0)
            herd_conversation_add_message(c, HERD_MESSAGE_ROLE_USER, "alpaca wool is warm", NULL, 0,
                                          &e);
        g_object_unref(c);
        g_usleep(2000);
    }
    HerdConversationList *l = herd_conversation_list_new(store);
    g_assert_true(g_list_model_get_item_type(G_LIST_MODEL(l)) == HERD_TYPE_CONVERSATION_INFO);
    g_assert_cmpuint(g_list_model_get_n_items(G_LIST_MODEL(l)), ==, 3);
    HerdConversationInfo *first = g_list_model_get_item(G_LIST_MODEL(l), 0);
    g_assert_cmpint(herd_conversation_info_get_id(first), ==, ids[2]); /* newest first */
    g_object_unref(first);

    Changes ch = { 0 };
    guint n_search = 0;
    g_signal_connect(l, "items-changed", G_CALLBACK(on_items_changed), &ch);
    g_signal_connect(l, "notify::search", G_CALLBACK(count_notify), &n_search);
    g_object_set(l, "search", "alpaca", NULL); /* message text */
    g_assert_cmpuint(g_list_model_get_n_items(G_LIST_MODEL(l)), ==, 1);
    g_assert_cmpuint(ch.n, ==, 1);
    g_assert_cmpuint(ch.last_removed, ==, 3);
    g_assert_cmpuint(ch.last_added, ==, 1);
    g_assert_cmpuint(n_search, ==, 1);
    HerdConversationInfo *hit = g_list_model_get_item(G_LIST_MODEL(l), 0);
    g_assert_cmpstr(herd_conversation_info_get_title(hit), ==, "Knitting");
    g_object_unref(hit);
    herd_conversation_list_set_search(l, "llama");
    g_assert_cmpuint(g_list_model_get_n_items(G_LIST_MODEL(l)), ==, 1);
    herd_conversation_list_set_search(l, "");
    g_assert_null(herd_conversation_list_get_search(l));
    g_assert_cmpuint(g_list_model_get_n_items(G_LIST_MODEL(l)), ==, 3);

    /* Pinning moves a row to the top after reload; deletions disappear. */
    g_assert_true(herd_store_set_conversation_pinned(store, ids[0], TRUE, &e));
    g_assert_true(herd_store_delete_conversation(store, ids[1], &e));
    g_assert_true(herd_conversation_list_reload(l, &e));
    g_assert_no_error(e);
    g_assert_cmpuint(g_list_model_get_n_items(G_LIST_MODEL(l)), ==, 2);
    HerdConversationInfo *top = g_list_model_get_item(G_LIST_MODEL(l), 0);
    g_assert_cmpint(herd_conversation_info_get_id(top), ==, ids[0]);
    g_assert_true(herd_conversation_info_get_pinned(top));
    g_object_unref(top);
    g_assert_finalize_object(l);
    g_assert_finalize_object(store);
    test_rm_rf(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/models/message", test_message);
    g_test_add_func("/models/conversation", test_conversation);
    g_test_add_func("/models/list", test_list);
    return g_test_run();
}
