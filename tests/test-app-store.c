/* test-app-store: the SQLite history. CRUD, ordering, search (title + full text), images
 * (copy, dedup by content, delete removes only unreferenced files), errors, a newer schema
 * refused, and crash recovery of 'streaming' rows. */
#include "app-test-util.h"
#include "herd-store.h"

#include <sqlite3.h>

typedef struct {
    char *dir;
    char *db;
    HerdStore *store;
} Fixture;

static void setup(Fixture *f, gconstpointer data)
{
    f->dir = test_tmpdir();
    f->db = g_build_filename(f->dir, "herd.db", NULL);
    GError *e = NULL;
    f->store = herd_store_open(f->db, &e);
    g_assert_no_error(e);
    g_assert_nonnull(f->store);
}

static void teardown(Fixture *f, gconstpointer data)
{
    g_assert_finalize_object(f->store);
    test_rm_rf(f->dir);
    g_free(f->dir);
    g_free(f->db);
}

static gint64 add_msg(HerdStore *s, gint64 conv, HerdMessageRole role, const char *text,
                      HerdMessageState state)
{
    HerdStoreMessage m = { 0 };
    m.role = role;
    m.text = (char *)text;
    m.state = state;
    GError *e = NULL;
    gint64 id = herd_store_append_message(s, conv, &m, &e);
    g_assert_no_error(e);
    g_assert_cmpint(id, >, 0);
    return id;
}

static void test_open_pragmas(Fixture *f, gconstpointer data)
{
    g_assert_cmpint(herd_store_get_schema_version(f->store), ==, HERD_STORE_SCHEMA_VERSION);
    g_assert_true(herd_store_has_fts(f->store)); /* Debian 12's SQLite has FTS5 */
    g_assert_true(g_file_test(herd_store_get_images_dir(f->store), G_FILE_TEST_IS_DIR));
    GError *e = NULL;
    g_assert_true(herd_store_check_integrity(f->store, &e));
    g_assert_no_error(e);
    /* WAL mode persists in the file: check it from a second connection. */
    sqlite3 *db;
    g_assert_cmpint(sqlite3_open(f->db, &db), ==, SQLITE_OK);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL);
    g_assert_cmpint(sqlite3_step(st), ==, SQLITE_ROW);
    g_assert_cmpstr((const char *)sqlite3_column_text(st, 0), ==, "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void test_crud(Fixture *f, gconstpointer data)
{
    GError *e = NULL;
    gint64 a = herd_store_create_conversation(f->store, "Alpacas", "scout.gguf", "/m/scout.gguf",
                                              "{\"n_ctx\":8192}", &e);
    g_assert_no_error(e);
    g_usleep(2000);
    gint64 b = herd_store_create_conversation(f->store, "Bees", NULL, NULL, NULL, &e);
    g_assert_no_error(e);
    g_assert_cmpint(a, !=, b);

    /* Newest first. */
    g_autoptr(GPtrArray) l = herd_store_list_conversations(f->store, &e);
    g_assert_no_error(e);
    g_assert_cmpuint(l->len, ==, 2);
    g_assert_cmpint(((HerdStoreConversation *)l->pdata[0])->id, ==, b);
    g_assert_cmpint(((HerdStoreConversation *)l->pdata[1])->id, ==, a);

    /* A message in a moves it to the top. */
    g_usleep(2000);
    gint64 m1 =
        add_msg(f->store, a, HERD_MESSAGE_ROLE_USER, "hello there", HERD_MESSAGE_STATE_COMPLETE);
    gint64 m2 = add_msg(f->store, a, HERD_MESSAGE_ROLE_ASSISTANT, "", HERD_MESSAGE_STATE_STREAMING);
    g_autoptr(GPtrArray) l2 = herd_store_list_conversations(f->store, &e);
    g_assert_cmpint(((HerdStoreConversation *)l2->pdata[0])->id, ==, a);

    /* Streaming updates, then finish with stats. */
    g_assert_true(herd_store_update_message_text(f->store, m2, "Hel", &e));
    g_assert_true(herd_store_update_message_text(f->store, m2, "Hello, llama", &e));
    HerdMessageStats stats = { 12, 5, 81.5, 23.25 };
    g_assert_true(herd_store_finish_message(f->store, m2, NULL, HERD_MESSAGE_STATE_COMPLETE, NULL,
                                            "scout", &stats, &e));
    g_assert_no_error(e);
    g_autoptr(GPtrArray) msgs = herd_store_load_messages(f->store, a, &e);
    g_assert_no_error(e);
    g_assert_cmpuint(msgs->len, ==, 2);
    HerdStoreMessage *r1 = msgs->pdata[0], *r2 = msgs->pdata[1];
    g_assert_cmpint(r1->id, ==, m1);
    g_assert_cmpstr(r1->text, ==, "hello there");
    g_assert_cmpint(r1->role, ==, HERD_MESSAGE_ROLE_USER);
    g_assert_cmpstr(r2->text, ==, "Hello, llama"); /* NULL text kept the saved one */
    g_assert_cmpint(r2->state, ==, HERD_MESSAGE_STATE_COMPLETE);
    g_assert_cmpint(r2->stats.n_prompt_tokens, ==, 12);
    g_assert_cmpint(r2->stats.n_gen_tokens, ==, 5);
    g_assert_cmpfloat(r2->stats.ttft_ms, ==, 81.5);
    g_assert_cmpfloat(r2->stats.tokens_per_s, ==, 23.25);
    g_assert_cmpstr(r2->model, ==, "scout");
    g_assert_true(r2->created >= r1->created);

    /* Error state keeps its reason. */
    g_assert_true(
        herd_store_set_message_state(f->store, m2, HERD_MESSAGE_STATE_ERROR, "out of memory", &e));
    g_autoptr(HerdStoreMessage) r2b = herd_store_get_message(f->store, m2, &e);
    g_assert_cmpint(r2b->state, ==, HERD_MESSAGE_STATE_ERROR);
    g_assert_cmpstr(r2b->error_text, ==, "out of memory");

    /* Rename, pin (pinned sorts first), model. */
    g_assert_true(herd_store_rename_conversation(f->store, b, "Bumblebees", &e));
    g_assert_true(herd_store_set_conversation_pinned(f->store, a, TRUE, &e));
    g_assert_true(herd_store_set_conversation_model(f->store, b, "maverick", "/m/mav.gguf", &e));
    g_assert_no_error(e);
    g_autoptr(GPtrArray) l3 = herd_store_list_conversations(f->store, &e);
    g_assert_cmpint(((HerdStoreConversation *)l3->pdata[0])->id, ==, a);
    g_assert_true(((HerdStoreConversation *)l3->pdata[0])->pinned);
    g_autoptr(HerdStoreConversation) cb = herd_store_get_conversation(f->store, b, &e);
    g_assert_cmpstr(cb->title, ==, "Bumblebees");
    g_assert_cmpstr(cb->model_name, ==, "maverick");
    g_autoptr(HerdStoreConversation) ca = herd_store_get_conversation(f->store, a, &e);
    g_assert_cmpstr(ca->settings_json, ==, "{\"n_ctx\":8192}");
    g_assert_cmpstr(ca->model_path, ==, "/m/scout.gguf");

    /* Delete cascades to messages. */
    g_assert_true(herd_store_delete_conversation(f->store, a, &e));
    g_assert_no_error(e);
    g_assert_null(herd_store_get_conversation(f->store, a, &e));
    g_assert_error(e, HERD_STORE_ERROR, HERD_STORE_ERROR_NOT_FOUND);
    g_clear_error(&e);
    g_assert_null(herd_store_get_message(f->store, m1, &e));
    g_assert_error(e, HERD_STORE_ERROR, HERD_STORE_ERROR_NOT_FOUND);
    g_clear_error(&e);
    g_autoptr(GPtrArray) gone = herd_store_load_messages(f->store, a, &e);
    g_assert_cmpuint(gone->len, ==, 0);
}

static void test_errors(Fixture *f, gconstpointer data)
{
    GError *e = NULL;
    HerdStoreMessage m = { 0 };
    m.text = (char *)"orphan";
    g_assert_cmpint(herd_store_append_message(f->store, 999, &m, &e), ==, 0);
    g_assert_error(e, HERD_STORE_ERROR, HERD_STORE_ERROR_NOT_FOUND);
    g_clear_error(&e);
    g_assert_false(herd_store_rename_conversation(f->store, 999, "x", &e));
    g_assert_error(e, HERD_STORE_ERROR, HERD_STORE_ERROR_NOT_FOUND);
    g_clear_error(&e);
    g_assert_false(herd_store_update_message_text(f->store, 999, "x", &e));
    g_assert_error(e, HERD_STORE_ERROR, HERD_STORE_ERROR_NOT_FOUND);
    g_clear_error(&e);
    g_assert_false(herd_store_delete_conversation(f->store, 999, &e));
    g_assert_error(e, HERD_STORE_ERROR, HERD_STORE_ERROR_NOT_FOUND);
    g_clear_error(&e);
    g_assert_cmpint(
        herd_store_add_image_file(f->store, 999, 0, "/nonexistent/x.png", NULL, 0, 0, NULL, &e), ==,
        0);
    g_assert_error(e, HERD_STORE_ERROR, HERD_STORE_ERROR_IO);
    g_clear_error(&e);
}

static guint search_n(HerdStore *s, const char *q, gint64 expect_first)
{
    GError *e = NULL;
    g_autoptr(GPtrArray) r = herd_store_search_conversations(s, q, &e);
    g_assert_no_error(e);
    if (expect_first && r->len)
        g_assert_cmpint(((HerdStoreConversation *)r->pdata[0])->id, ==, expect_first);
    return r->len;
}

static void test_search(Fixture *f, gconstpointer data)
{
    GError *e = NULL;
    gint64 a = herd_store_create_conversation(f->store, "Trip to Peru", NULL, NULL, NULL, &e);
    gint64 b = herd_store_create_conversation(f->store, "100% cotton", NULL, NULL, NULL, &e);
    gint64 c = herd_store_create_conversation(f->store, "Kitchen", NULL, NULL, NULL, &e);
    g_assert_no_error(e);
    add_msg(f->store, a, HERD_MESSAGE_ROLE_USER, "What do llamas eat?",
            HERD_MESSAGE_STATE_COMPLETE);
    add_msg(f->store, a, HERD_MESSAGE_ROLE_ASSISTANT, "Llamas graze on grass and hay.",
            HERD_MESSAGE_STATE_COMPLETE);
    add_msg(f->store, c, HERD_MESSAGE_ROLE_USER, "Recipe for Crème brûlée with \"quotes\"",
            HERD_MESSAGE_STATE_COMPLETE);
    gint64 s = add_msg(f->store, b, HERD_MESSAGE_ROLE_ASSISTANT, "", HERD_MESSAGE_STATE_STREAMING);

    g_assert_cmpuint(search_n(f->store, "peru", a), ==, 1);       /* title, any case */
    g_assert_cmpuint(search_n(f->store, "graze", a), ==, 1);      /* message text */
    g_assert_cmpuint(search_n(f->store, "LLAMA", a), ==, 1);      /* prefix, case-insensitive */
    g_assert_cmpuint(search_n(f->store, "llamas hay", a), ==, 1); /* all words */
    g_assert_cmpuint(search_n(f->store, "llamas pizza", 0), ==, 0);
    g_assert_cmpuint(search_n(f->store, "100%", b), ==, 1); /* LIKE wildcards escaped */
    g_assert_cmpuint(search_n(f->store, "%", b), ==, 1);
    g_assert_cmpuint(search_n(f->store, "_", 0), ==, 0);
    g_assert_cmpuint(search_n(f->store, "creme", c), ==, 1); /* diacritics folded (FTS5) */
    g_assert_cmpuint(search_n(f->store, "\"quotes\"", c), ==,
                     1); /* quotes can't break FTS syntax */
    g_assert_cmpuint(search_n(f->store, "AND OR NOT (", 0), ==, 0);
    const char *odd[] = { "*", "-", "\"", "^", "NEAR(", ":", "'", "\\", "🦙", "a\"b" };
    for (guint i = 0; i < G_N_ELEMENTS(odd); i++)
        search_n(f->store, odd[i], 0); /* no SQL/FTS syntax error */
    g_assert_cmpuint(search_n(f->store, "", 0), ==, 3);
    g_assert_cmpuint(search_n(f->store, "   ", 0), ==, 3);

    /* Streaming text is searchable as it is saved, and the index follows updates/deletes. */
    g_assert_cmpuint(search_n(f->store, "zebra", 0), ==, 0);
    g_assert_true(herd_store_update_message_text(f->store, s, "a zebra appears", &e));
    g_assert_cmpuint(search_n(f->store, "zebra", b), ==, 1);
    g_assert_true(herd_store_update_message_text(f->store, s, "an okapi appears", &e));
    g_assert_cmpuint(search_n(f->store, "zebra", 0), ==, 0);
    g_assert_true(herd_store_delete_conversation(f->store, a, &e));
    g_assert_cmpuint(search_n(f->store, "graze", 0), ==, 0);
    g_assert_no_error(e);
}

static void test_images(Fixture *f, gconstpointer data)
{
    GError *e = NULL;
    const char *imgdir = herd_store_get_images_dir(f->store);
    g_autofree char *red = test_write(f->dir, "red.png", test_png_red, TEST_PNG_RED_LEN);
    g_autofree char *blue = test_write(f->dir, "blue.png", test_png_blue, TEST_PNG_BLUE_LEN);
    g_autofree char *red2 = test_write(f->dir, "same-red.png", test_png_red, TEST_PNG_RED_LEN);

    gint64 a = herd_store_create_conversation(f->store, "A", NULL, NULL, NULL, &e);
    gint64 b = herd_store_create_conversation(f->store, "B", NULL, NULL, NULL, &e);
    gint64 ma =
        add_msg(f->store, a, HERD_MESSAGE_ROLE_USER, "two images", HERD_MESSAGE_STATE_COMPLETE);
    gint64 mb =
        add_msg(f->store, b, HERD_MESSAGE_ROLE_USER, "same red", HERD_MESSAGE_STATE_COMPLETE);
    g_assert_cmpint(herd_store_add_image_file(f->store, ma, 0, red, NULL, 2, 2, NULL, &e), >, 0);
    g_assert_cmpint(
        herd_store_add_image_file(f->store, ma, 1, blue, "Blue sky.png", 2, 2, NULL, &e), >, 0);
    g_assert_cmpint(herd_store_add_image_file(f->store, mb, 0, red2, NULL, 2, 2, "image/png", &e),
                    >, 0);
    g_assert_no_error(e);
    /* Same position twice is refused. */
    g_assert_cmpint(herd_store_add_image_file(f->store, mb, 0, blue, NULL, 0, 0, NULL, &e), ==, 0);
    g_assert_error(e, HERD_STORE_ERROR, HERD_STORE_ERROR_SQL);
    g_clear_error(&e);
    g_assert_cmpuint(test_count_files(imgdir), ==, 2); /* red stored once */

    g_autoptr(HerdStoreMessage) m = herd_store_get_message(f->store, ma, &e);
    g_assert_no_error(e);
    g_assert_cmpuint(m->images->len, ==, 2);
    HerdStoreImage *i0 = m->images->pdata[0], *i1 = m->images->pdata[1];
    g_assert_cmpint(i0->position, ==, 0);
    g_assert_cmpstr(i0->original_name, ==, "red.png");
    g_assert_cmpstr(i0->mime, ==, "image/png"); /* sniffed */
    g_assert_cmpint(i0->width, ==, 2);
    g_assert_cmpint(i0->size, ==, (gint64)TEST_PNG_RED_LEN);
    g_autofree char *sha =
        g_compute_checksum_for_data(G_CHECKSUM_SHA256, test_png_red, TEST_PNG_RED_LEN);
    g_assert_cmpstr(i0->sha256, ==, sha);
    g_autofree char *expect_path = g_strdup_printf("%s/%s.png", imgdir, sha);
    g_assert_cmpstr(i0->path, ==, expect_path);
    g_assert_true(g_str_has_prefix(i0->path, imgdir));
    g_assert_cmpstr(i1->original_name, ==, "Blue sky.png");
    g_autofree char *content = NULL;
    gsize len;
    g_assert_true(g_file_get_contents(i1->path, &content, &len, NULL));
    g_assert_cmpmem(content, len, test_png_blue, TEST_PNG_BLUE_LEN);
    /* The store owns a copy: the original may go. */
    g_unlink(blue);
    g_assert_true(g_file_test(i1->path, G_FILE_TEST_EXISTS));

    /* Deleting A removes blue (only A used it) but keeps red (B still does). */
    g_assert_true(herd_store_delete_conversation(f->store, a, &e));
    g_assert_no_error(e);
    g_assert_false(g_file_test(i1->path, G_FILE_TEST_EXISTS));
    g_assert_true(g_file_test(i0->path, G_FILE_TEST_EXISTS));
    g_assert_cmpuint(test_count_files(imgdir), ==, 1);
    /* Deleting a message removes its last reference. */
    g_assert_true(herd_store_delete_message(f->store, mb, &e));
    g_assert_no_error(e);
    g_assert_false(g_file_test(i0->path, G_FILE_TEST_EXISTS));
    g_assert_cmpuint(test_count_files(imgdir), ==, 0);
}

static void test_recovery_and_too_new(Fixture *f, gconstpointer data)
{
    GError *e = NULL;
    gint64 a = herd_store_create_conversation(f->store, "A", NULL, NULL, NULL, &e);
    gint64 m = add_msg(f->store, a, HERD_MESSAGE_ROLE_ASSISTANT, "", HERD_MESSAGE_STATE_STREAMING);
    g_assert_true(herd_store_update_message_text(f->store, m, "half an ans", &e));
    g_assert_cmpuint(herd_store_get_n_recovered(f->store), ==, 0);
    g_clear_object(&f->store);

    f->store = herd_store_open(f->db, &e);
    g_assert_no_error(e);
    g_assert_cmpuint(herd_store_get_n_recovered(f->store), ==, 1);
    g_autoptr(HerdStoreMessage) r = herd_store_get_message(f->store, m, &e);
    g_assert_cmpint(r->state, ==, HERD_MESSAGE_STATE_INTERRUPTED);
    g_assert_cmpstr(r->text, ==, "half an ans");
    g_clear_object(&f->store);

    /* A database from a newer Herd is refused and left as it was. */
    sqlite3 *db;
    g_assert_cmpint(sqlite3_open(f->db, &db), ==, SQLITE_OK);
    g_assert_cmpint(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), ==, SQLITE_OK);
    sqlite3_close(db);
    g_assert_null(herd_store_open(f->db, &e));
    g_assert_error(e, HERD_STORE_ERROR, HERD_STORE_ERROR_TOO_NEW);
    g_test_message("refusal: %s", e->message);
    g_clear_error(&e);
    g_assert_cmpint(sqlite3_open(f->db, &db), ==, SQLITE_OK);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    g_assert_cmpint(sqlite3_step(st), ==, SQLITE_ROW);
    g_assert_cmpint(sqlite3_column_int(st, 0), ==, 99);
    sqlite3_finalize(st);
    sqlite3_exec(db, "PRAGMA user_version = 2", NULL, NULL, NULL);
    sqlite3_close(db);
    f->store = herd_store_open(f->db, &e);
    g_assert_no_error(e);

    /* Not a database at all. */
    g_autofree char *junk = test_write(f->dir, "junk.db", "this is not sqlite, not at all....", 34);
    g_assert_null(herd_store_open(junk, &e));
    g_assert_nonnull(e);
    g_test_message("junk: %s", e->message);
    g_clear_error(&e);
}

static char *data_home; /* $XDG_DATA_HOME for this test, a fresh folder */

/* NULL path: $XDG_DATA_HOME/herd/herd.db. */
static void test_default_path(void)
{
    GError *e = NULL;
    g_assert_cmpstr(g_get_user_data_dir(), ==, data_home);
    HerdStore *s = herd_store_open(NULL, &e);
    g_assert_no_error(e);
    g_autofree char *expect = g_build_filename(data_home, "herd", "herd.db", NULL);
    g_autofree char *images = g_build_filename(data_home, "herd", "images", NULL);
    g_assert_cmpstr(herd_store_get_path(s), ==, expect);
    g_assert_cmpstr(herd_store_get_images_dir(s), ==, images);
    g_assert_true(g_file_test(expect, G_FILE_TEST_IS_REGULAR));
    g_assert_finalize_object(s);
}

int main(int argc, char **argv)
{
    /* Not G_TEST_OPTION_ISOLATE_DIRS: GLib 2.74 leaks the strings it sets there (LSan). */
    data_home = test_tmpdir();
    g_setenv("XDG_DATA_HOME", data_home, TRUE);
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/store/default-path", test_default_path);
#define ADD(name, fn) g_test_add("/store/" name, Fixture, NULL, setup, fn, teardown)
    ADD("open", test_open_pragmas);
    ADD("crud", test_crud);
    ADD("errors", test_errors);
    ADD("search", test_search);
    ADD("images", test_images);
    ADD("recovery-too-new", test_recovery_and_too_new);
    int rc = g_test_run();
    test_rm_rf(data_home);
    g_free(data_home);
    return rc;
}
