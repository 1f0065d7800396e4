/* test-app-migrate: a schema-v1 history (made by the v1 migration, filled with raw SQL as the
 * old code wrote it) opens with the current code: migrated to v2 in place, nothing lost, new
 * columns defaulted, full-text index built from the old rows, crash recovery applied. A
 * migration step that fails rolls back completely. */
#include "app-test-util.h"
#include "herd-store.h"

#include <sqlite3.h>

static void sql(sqlite3 *db, const char *s)
{
    char *msg = NULL;
    if (sqlite3_exec(db, s, NULL, NULL, &msg) != SQLITE_OK)
        g_error("SQL failed: %s\n%s", msg, s);
}

static int query_int(const char *path, const char *q)
{
    sqlite3 *db;
    g_assert_cmpint(sqlite3_open(path, &db), ==, SQLITE_OK);
    sqlite3_stmt *st;
    g_assert_cmpint(sqlite3_prepare_v2(db, q, -1, &st, NULL), ==, SQLITE_OK);
    g_assert_cmpint(sqlite3_step(st), ==, SQLITE_ROW);
    int v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void make_v1(const char *path, const char *images_dir_expected)
{
    GError *e = NULL;
    HerdStore *v1 = herd_store_open_at_version(path, 1, &e);
    g_assert_no_error(e);
    g_assert_cmpint(herd_store_get_schema_version(v1), ==, 1);
    g_assert_false(herd_store_has_fts(v1));
    g_assert_cmpstr(herd_store_get_images_dir(v1), ==, images_dir_expected);
    g_assert_finalize_object(v1);
    g_assert_cmpint(query_int(path, "PRAGMA user_version"), ==, 1);
    g_assert_cmpint(query_int(path, "SELECT count(*) FROM pragma_table_info('conversations')"
                                    " WHERE name = 'pinned'"),
                    ==, 0);
}

static void test_v1_to_v2(void)
{
    g_autofree char *dir = test_tmpdir();
    g_autofree char *path = g_build_filename(dir, "herd.db", NULL);
    g_autofree char *images = g_build_filename(dir, "images", NULL);
    make_v1(path, images);

    /* Rows as v1 wrote them, including an answer cut off while streaming and an image. */
    g_autofree char *sha =
        g_compute_checksum_for_data(G_CHECKSUM_SHA256, test_png_red, TEST_PNG_RED_LEN);
    g_autofree char *file = g_strdup_printf("%s.png", sha);
    g_free(test_write(images, file, test_png_red, TEST_PNG_RED_LEN));
    sqlite3 *db;
    g_assert_cmpint(sqlite3_open(path, &db), ==, SQLITE_OK);
    sql(db, "PRAGMA foreign_keys = ON");
    sql(db, "INSERT INTO conversations VALUES (7, 'Old llama chat', 1000000, 3000000, 'scout', "
            "'/models/scout.gguf', '{\"n_ctx\":4096}')");
    sql(db, "INSERT INTO messages VALUES (1, 7, 'user', 'Describe the alpaca photo', 'complete', "
            "1000000, NULL, NULL)");
    sql(db, "INSERT INTO messages VALUES (2, 7, 'assistant', 'A fluffy alpaca stands', 'streaming',"
            " 2000000, 'scout', '{\"temperature\":0.6}')");
    g_autofree char *img_sql = g_strdup_printf(
        "INSERT INTO images (message_id, position, file, sha256, original_name, width, height,"
        " mime, size) VALUES (1, 0, '%s', '%s', 'alpaca.png', 2, 2, 'image/png', %u)",
        file, sha, (unsigned)TEST_PNG_RED_LEN);
    sql(db, img_sql);
    sqlite3_close(db);

    GError *e = NULL;
    HerdStore *s = herd_store_open(path, &e);
    g_assert_no_error(e);
    g_assert_cmpint(herd_store_get_schema_version(s), ==, 2);
    g_assert_true(herd_store_has_fts(s));
    g_assert_cmpuint(herd_store_get_n_recovered(s), ==, 1);
    g_assert_true(herd_store_check_integrity(s, &e));

    g_autoptr(HerdStoreConversation) c = herd_store_get_conversation(s, 7, &e);
    g_assert_no_error(e);
    g_assert_cmpstr(c->title, ==, "Old llama chat");
    g_assert_cmpint(c->created, ==, 1000000);
    g_assert_cmpint(c->updated, ==, 3000000);
    g_assert_cmpstr(c->model_name, ==, "scout");
    g_assert_cmpstr(c->settings_json, ==, "{\"n_ctx\":4096}");
    g_assert_false(c->pinned);
    g_autoptr(GPtrArray) msgs = herd_store_load_messages(s, 7, &e);
    g_assert_no_error(e);
    g_assert_cmpuint(msgs->len, ==, 2);
    HerdStoreMessage *m1 = msgs->pdata[0], *m2 = msgs->pdata[1];
    g_assert_cmpstr(m1->text, ==, "Describe the alpaca photo");
    g_assert_cmpuint(m1->images->len, ==, 1);
    HerdStoreImage *img = m1->images->pdata[0];
    g_assert_cmpstr(img->original_name, ==, "alpaca.png");
    g_assert_true(g_file_test(img->path, G_FILE_TEST_EXISTS));
    g_assert_cmpint(m2->state, ==, HERD_MESSAGE_STATE_INTERRUPTED);
    g_assert_cmpstr(m2->text, ==, "A fluffy alpaca stands");
    g_assert_cmpstr(m2->sampling_json, ==, "{\"temperature\":0.6}");
    g_assert_cmpint(m2->stats.n_gen_tokens, ==, 0);
    g_assert_null(m2->error_text);

    /* The FTS index was built from the v1 rows. */
    g_autoptr(GPtrArray) hits = herd_store_search_conversations(s, "fluffy", &e);
    g_assert_no_error(e);
    g_assert_cmpuint(hits->len, ==, 1);
    /* v2 features work on migrated rows. */
    g_assert_true(herd_store_set_conversation_pinned(s, 7, TRUE, &e));
    HerdMessageStats st = { 10, 4, 50, 12.5 };
    g_assert_true(
        herd_store_finish_message(s, 2, NULL, HERD_MESSAGE_STATE_COMPLETE, NULL, NULL, &st, &e));
    g_assert_no_error(e);
    g_assert_finalize_object(s);

    /* Reopening does not migrate again and keeps the v2 data. */
    s = herd_store_open(path, &e);
    g_assert_no_error(e);
    g_assert_cmpuint(herd_store_get_n_recovered(s), ==, 0);
    g_autoptr(HerdStoreMessage) again = herd_store_get_message(s, 2, &e);
    g_assert_cmpint(again->stats.n_gen_tokens, ==, 4);
    g_autoptr(HerdStoreConversation) c2 = herd_store_get_conversation(s, 7, &e);
    g_assert_true(c2->pinned);
    g_assert_finalize_object(s);
    g_assert_cmpint(query_int(path, "PRAGMA user_version"), ==, 2);
    test_rm_rf(dir);
}

static void test_failed_step_rolls_back(void)
{
    g_autofree char *dir = test_tmpdir();
    g_autofree char *path = g_build_filename(dir, "herd.db", NULL);
    g_autofree char *images = g_build_filename(dir, "images", NULL);
    make_v1(path, images);
    /* An object in the way of the v2 step makes it fail half way (after the ALTER TABLEs). */
    sqlite3 *db;
    g_assert_cmpint(sqlite3_open(path, &db), ==, SQLITE_OK);
    sql(db, "CREATE TABLE conversations_by_updated (x)");
    sql(db, "INSERT INTO conversations VALUES (1, 'kept', 1, 1, NULL, NULL, NULL)");
    sqlite3_close(db);

    GError *e = NULL;
    g_assert_null(herd_store_open(path, &e));
    g_assert_error(e, HERD_STORE_ERROR, HERD_STORE_ERROR_SQL);
    g_test_message("expected failure: %s", e->message);
    g_assert_nonnull(strstr(e->message, "schema 2"));
    g_clear_error(&e);
    g_assert_cmpint(query_int(path, "PRAGMA user_version"), ==, 1);
    g_assert_cmpint(query_int(path, "SELECT count(*) FROM pragma_table_info('conversations')"
                                    " WHERE name = 'pinned'"),
                    ==, 0);
    g_assert_cmpint(query_int(path, "SELECT count(*) FROM conversations"), ==, 1);
    test_rm_rf(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/migrate/v1-to-v2", test_v1_to_v2);
    g_test_add_func("/migrate/failed-step-rolls-back", test_failed_step_rolls_back);
    return g_test_run();
}
