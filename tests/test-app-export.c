/* test-app-export: Markdown (image links resolve to copies with the same bytes), HTML (parses
 * as well-formed XML with GMarkup, no script, images inline as data: URIs with the original
 * bytes, text escaped), JSON (export -> import -> export gives identical bytes; bad documents
 * are refused without writing anything), the JSON reader itself, and file names. */
#include "app-test-util.h"
#include "herd-export.h"
#include "herd-json.h"

typedef struct {
    char *dir;
    HerdStore *store;
    gint64 conv;
} Fixture;

static const char title[] = "Llamas & <Alpacas> \"quoted\" [1]";
static const char answer_md[] =
    "Here is **bold** and `code` & <script>alert(1)</script> raw.\n\n"
    "| animal | legs |\n|---|---|\n| llama | 4 |\n\n"
    "```c\nint x = a < b && c > d;\n```\n\n"
    "Entities: &copy; &nbsp; &amp; &#x1F999;, line<br>break, ![remote](x.png) emoji 🦙\n";

static gint64 add(HerdStore *s, gint64 conv, HerdMessageRole role, const char *text,
                  HerdMessageState state, const char *err_text, const HerdMessageStats *stats)
{
    HerdStoreMessage m = { 0 };
    m.role = role;
    m.text = (char *)text;
    m.state = state;
    m.error_text = (char *)err_text;
    m.model = role == HERD_MESSAGE_ROLE_ASSISTANT ? (char *)"scout-q4" : NULL;
    m.sampling_json = role == HERD_MESSAGE_ROLE_ASSISTANT
                          ? (char *)"{\"temperature\":0.6,\"top_p\":0.9,\"seed\":42}"
                          : NULL;
    if (stats)
        m.stats = *stats;
    GError *e = NULL;
    gint64 id = herd_store_append_message(s, conv, &m, &e);
    g_assert_no_error(e);
    return id;
}

static void setup(Fixture *f, gconstpointer data)
{
    f->dir = test_tmpdir();
    g_autofree char *db = g_build_filename(f->dir, "herd.db", NULL);
    GError *e = NULL;
    f->store = herd_store_open(db, &e);
    g_assert_no_error(e);
    f->conv = herd_store_create_conversation(f->store, title, "Llama 4 Scout", "/models/scout.gguf",
                                             "{\"n_ctx\":8192,\"system\":\"be brief\"}", &e);
    g_assert_no_error(e);
    g_assert_true(herd_store_set_conversation_pinned(f->store, f->conv, TRUE, &e));
    add(f->store, f->conv, HERD_MESSAGE_ROLE_SYSTEM, "You are a helpful llama.",
        HERD_MESSAGE_STATE_COMPLETE, NULL, NULL);
    gint64 u = add(f->store, f->conv, HERD_MESSAGE_ROLE_USER, "What is in these *pictures*?",
                   HERD_MESSAGE_STATE_COMPLETE, NULL, NULL);
    g_autofree char *red = test_write(f->dir, "red one.png", test_png_red, TEST_PNG_RED_LEN);
    g_autofree char *blue = test_write(f->dir, "blue.png", test_png_blue, TEST_PNG_BLUE_LEN);
    g_assert_cmpint(herd_store_add_image_file(f->store, u, 0, red, "red <one>.png", 2, 2, NULL, &e),
                    >, 0);
    g_assert_cmpint(herd_store_add_image_file(f->store, u, 1, blue, NULL, 2, 2, NULL, &e), >, 0);
    g_assert_no_error(e);
    HerdMessageStats st = { 1234, 87, 412.5, 17.123456789 };
    add(f->store, f->conv, HERD_MESSAGE_ROLE_ASSISTANT, answer_md, HERD_MESSAGE_STATE_COMPLETE,
        NULL, &st);
    add(f->store, f->conv, HERD_MESSAGE_ROLE_USER, "and the brown one?",
        HERD_MESSAGE_STATE_COMPLETE, NULL, NULL);
    add(f->store, f->conv, HERD_MESSAGE_ROLE_ASSISTANT, "The brown one is",
        HERD_MESSAGE_STATE_INTERRUPTED, NULL, NULL);
    add(f->store, f->conv, HERD_MESSAGE_ROLE_ASSISTANT, "", HERD_MESSAGE_STATE_ERROR,
        "out of memory: needs 70 GiB <&>", NULL);
}

static void teardown(Fixture *f, gconstpointer data)
{
    g_assert_finalize_object(f->store);
    test_rm_rf(f->dir);
    g_free(f->dir);
}

/* ---- Markdown ---- */

static void test_markdown(Fixture *f, gconstpointer data)
{
    GError *e = NULL;
    g_autofree char *out = g_build_filename(f->dir, "export dir", NULL);
    g_mkdir(out, 0755);
    g_autofree char *md_path = g_build_filename(out, "My chat.md", NULL);
    g_assert_true(herd_export_markdown_file(f->store, f->conv, md_path, &e));
    g_assert_no_error(e);
    g_autofree char *md = NULL;
    g_assert_true(g_file_get_contents(md_path, &md, NULL, NULL));
    g_assert_true(g_str_has_prefix(md, "# Llamas & \\<Alpacas\\> \"quoted\" \\[1\\]\n"));
    g_assert_nonnull(strstr(md, "## System\n\nYou are a helpful llama."));
    g_assert_nonnull(strstr(md, answer_md)); /* Markdown kept verbatim */
    g_assert_nonnull(strstr(md, "*(answer interrupted)*"));
    g_assert_nonnull(strstr(md, "*(error: out of memory: needs 70 GiB \\<&\\>)*"));
    g_assert_nonnull(strstr(md, "87 tokens"));

    /* Every image link is relative and resolves to a copy with the original bytes. */
    guint n_links = 0;
    for (const char *p = md; (p = strstr(p, "![")); p++) {
        const char *close = strstr(p, "](");
        g_assert_nonnull(close);
        const char *end = strchr(close, ')');
        g_autofree char *url = g_strndup(close + 2, (gsize)(end - close - 2));
        if (g_str_equal(url, "x.png"))
            continue; /* the link inside the assistant's own Markdown */
        g_assert_false(g_path_is_absolute(url));
        g_assert_true(g_str_has_prefix(url, "My%20chat_files/"));
        g_autofree char *rel = g_uri_unescape_string(url, NULL);
        g_autofree char *file = g_build_filename(out, rel, NULL);
        g_autofree char *bytes = NULL;
        gsize len;
        g_assert_true(g_file_get_contents(file, &bytes, &len, NULL));
        if (n_links == 0)
            g_assert_cmpmem(bytes, len, test_png_red, TEST_PNG_RED_LEN);
        else
            g_assert_cmpmem(bytes, len, test_png_blue, TEST_PNG_BLUE_LEN);
        n_links++;
    }
    g_assert_cmpuint(n_links, ==, 2);
    g_assert_nonnull(strstr(md, "![red \\<one\\>.png]("));
    g_autofree char *files = g_build_filename(out, "My chat_files", NULL);
    g_assert_cmpuint(test_count_files(files), ==, 2);
}

/* ---- HTML ---- */

typedef struct {
    GPtrArray *stack;
    guint n_elements;
    guint n_img;
    guint n_articles;
    gboolean in_title, in_h1;
    GString *title_text;
    GString *body_text;
    gboolean saw_script;
    gboolean saw_table;
    gboolean saw_remote;
    gboolean saw_image_link;
} HtmlCheck;

static void start_el(GMarkupParseContext *ctx, const char *name, const char **an, const char **av,
                     gpointer data, GError **error)
{
    HtmlCheck *c = data;
    c->n_elements++;
    g_ptr_array_add(c->stack, g_strdup(name));
    if (g_str_equal(name, "script") || g_str_equal(name, "iframe") || g_str_equal(name, "object"))
        c->saw_script = TRUE;
    if (g_str_equal(name, "table"))
        c->saw_table = TRUE;
    if (g_str_equal(name, "article"))
        c->n_articles++;
    if (g_str_equal(name, "title"))
        c->in_title = TRUE;
    for (guint i = 0; an[i]; i++) {
        if (g_str_equal(name, "a") && g_str_equal(an[i], "href") && g_str_equal(av[i], "x.png"))
            c->saw_image_link = TRUE;
        if (g_str_has_prefix(an[i], "on"))
            c->saw_script = TRUE; /* event handler attributes */
        if (g_str_equal(name, "img") && g_str_equal(an[i], "src")) {
            if (!g_str_has_prefix(av[i], "data:")) {
                c->saw_remote = TRUE;
                continue;
            }
            g_assert_true(g_str_has_prefix(av[i], "data:image/png;base64,"));
            gsize len;
            g_autofree guchar *raw =
                g_base64_decode(av[i] + strlen("data:image/png;base64,"), &len);
            if (c->n_img == 0)
                g_assert_cmpmem(raw, len, test_png_red, TEST_PNG_RED_LEN);
            else
                g_assert_cmpmem(raw, len, test_png_blue, TEST_PNG_BLUE_LEN);
            c->n_img++;
        }
    }
}

static void end_el(GMarkupParseContext *ctx, const char *name, gpointer data, GError **error)
{
    HtmlCheck *c = data;
    g_assert_cmpuint(c->stack->len, >, 0);
    g_assert_cmpstr(c->stack->pdata[c->stack->len - 1], ==, name);
    g_ptr_array_remove_index(c->stack, c->stack->len - 1);
    if (g_str_equal(name, "title"))
        c->in_title = FALSE;
}

static void text_cb(GMarkupParseContext *ctx, const char *text, gsize len, gpointer data,
                    GError **error)
{
    HtmlCheck *c = data;
    if (c->in_title)
        g_string_append_len(c->title_text, text, (gssize)len);
    g_string_append_len(c->body_text, text, (gssize)len);
}

static void test_html(Fixture *f, gconstpointer data)
{
    GError *e = NULL;
    g_autofree char *html = herd_export_html(f->store, f->conv, &e);
    g_assert_no_error(e);
    g_assert_true(g_str_has_prefix(html, "<!DOCTYPE html>\n<html lang=\"en\">"));
    g_assert_true(g_utf8_validate(html, -1, NULL));
    HtmlCheck c = { 0 };
    c.stack = g_ptr_array_new_with_free_func(g_free);
    c.title_text = g_string_new(NULL);
    c.body_text = g_string_new(NULL);
    GMarkupParser parser = { start_el, end_el, text_cb, NULL, NULL };
    GMarkupParseContext *ctx = g_markup_parse_context_new(&parser, 0, &c, NULL);
    gboolean ok = g_markup_parse_context_parse(ctx, html, -1, &e) &&
                  g_markup_parse_context_end_parse(ctx, &e);
    if (!ok)
        g_printerr("%s\n", html);
    g_assert_no_error(e);
    g_assert_true(ok);
    g_markup_parse_context_free(ctx);

    g_assert_cmpuint(c.stack->len, ==, 0);         /* every element closed */
    g_assert_cmpstr(c.title_text->str, ==, title); /* escaped in the file, exact once parsed */
    g_assert_false(c.saw_script);
    g_assert_true(c.saw_table); /* GFM tables rendered */
    g_assert_cmpuint(c.n_img, ==, 2);
    g_assert_cmpuint(c.n_articles, ==, 6);
    /* Raw HTML in a message is shown as text, not markup. */
    g_assert_nonnull(strstr(c.body_text->str, "<script>alert(1)</script>"));
    g_assert_nonnull(strstr(c.body_text->str, "int x = a < b && c > d;"));
    g_assert_nonnull(strstr(c.body_text->str, "out of memory: needs 70 GiB <&>"));
    g_assert_nonnull(strstr(c.body_text->str, "© "));
    g_assert_nonnull(strstr(c.body_text->str, "🦙"));
    g_assert_nonnull(strstr(c.body_text->str, "Answer interrupted"));
    g_assert_nonnull(strstr(html, "<style>")); /* CSS inline, nothing linked */
    g_assert_null(strstr(html, "<link"));
    /* The model's ![remote](x.png) is a link, not something fetched on opening. */
    g_assert_false(c.saw_remote);
    g_assert_true(c.saw_image_link);
    g_assert_nonnull(strstr(c.body_text->str, "[image: remote]"));
    g_test_message("HTML: %zu bytes, %u elements, well-formed", strlen(html), c.n_elements);
    g_ptr_array_unref(c.stack);
    g_string_free(c.title_text, TRUE);
    g_string_free(c.body_text, TRUE);

    g_autofree char *path = g_build_filename(f->dir, "chat.html", NULL);
    g_assert_true(herd_export_html_file(f->store, f->conv, path, &e));
    g_assert_no_error(e);
    g_autofree char *again = NULL;
    g_assert_true(g_file_get_contents(path, &again, NULL, NULL));
    g_assert_cmpstr(again, ==, html);
}

/* ---- JSON ---- */

static guint n_conversations(HerdStore *s)
{
    g_autoptr(GPtrArray) l = herd_store_list_conversations(s, NULL);
    return l->len;
}

static void test_json_round_trip(Fixture *f, gconstpointer data)
{
    GError *e = NULL;
    g_autofree char *j1 = herd_export_json(f->store, f->conv, &e);
    g_assert_no_error(e);
    g_autoptr(HerdJson) doc = herd_json_parse(j1, -1, &e);
    g_assert_no_error(e);
    g_assert_cmpstr(herd_json_get_string(herd_json_object_get(doc, "schema"), NULL), ==,
                    "herd-conversation/1");
    HerdJson *conv = herd_json_object_get(doc, "conversation");
    g_assert_cmpstr(herd_json_get_string(herd_json_object_get(conv, "title"), NULL), ==, title);
    g_assert_true(herd_json_get_bool(herd_json_object_get(conv, "pinned"), FALSE));
    g_assert_cmpfloat(herd_json_get_number(
                          herd_json_object_get(herd_json_object_get(conv, "settings"), "n_ctx"), 0),
                      ==, 8192);
    HerdJson *msgs = herd_json_object_get(doc, "messages");
    g_assert_cmpuint(herd_json_array_length(msgs), ==, 6);
    HerdJson *m2 = herd_json_array_get(msgs, 2);
    g_assert_cmpstr(herd_json_get_string(herd_json_object_get(m2, "text"), NULL), ==, answer_md);
    g_assert_cmpfloat(
        herd_json_get_number(
            herd_json_object_get(herd_json_object_get(m2, "stats"), "tokens_per_s"), 0),
        ==, 17.123456789);
    g_assert_cmpfloat(
        herd_json_get_number(herd_json_object_get(herd_json_object_get(m2, "sampling"), "seed"), 0),
        ==, 42);
    HerdJson *imgs = herd_json_object_get(herd_json_array_get(msgs, 1), "images");
    g_assert_cmpuint(herd_json_array_length(imgs), ==, 2);
    g_assert_cmpstr(
        herd_json_get_string(herd_json_object_get(herd_json_array_get(imgs, 0), "name"), NULL), ==,
        "red <one>.png");
    g_assert_cmpstr(
        herd_json_get_string(herd_json_object_get(herd_json_array_get(msgs, 5), "state"), NULL), ==,
        "error");
    g_assert_null(strstr(j1, f->dir)); /* no local paths */

    guint n_files = test_count_files(herd_store_get_images_dir(f->store));
    gint64 id2 = herd_import_json(f->store, j1, -1, &e);
    g_assert_no_error(e);
    g_assert_cmpint(id2, >, 0);
    g_assert_cmpint(id2, !=, f->conv);
    g_assert_cmpuint(test_count_files(herd_store_get_images_dir(f->store)), ==,
                     n_files); /* dedup */
    g_autofree char *j2 = herd_export_json(f->store, id2, &e);
    g_assert_no_error(e);
    g_assert_cmpstr(j1, ==, j2);
    g_test_message("JSON round trip: %zu bytes, identical", strlen(j1));

    /* Through files too, and into a fresh store (images re-created from base64). */
    g_autofree char *path = g_build_filename(f->dir, "chat.json", NULL);
    g_assert_true(herd_export_json_file(f->store, id2, path, &e));
    g_autofree char *dir2 = g_build_filename(f->dir, "other", NULL);
    g_autofree char *db2 = g_build_filename(dir2, "herd.db", NULL);
    HerdStore *s2 = herd_store_open(db2, &e);
    g_assert_no_error(e);
    gint64 id3 = herd_import_json_file(s2, path, &e);
    g_assert_no_error(e);
    g_assert_cmpuint(test_count_files(herd_store_get_images_dir(s2)), ==, 2);
    g_autofree char *j3 = herd_export_json(s2, id3, &e);
    g_assert_cmpstr(j1, ==, j3);
    g_assert_finalize_object(s2);
}

static void expect_import_error(HerdStore *s, const char *doc, const char *what)
{
    GError *e = NULL;
    guint before = n_conversations(s);
    g_assert_cmpint(herd_import_json(s, doc, -1, &e), ==, 0);
    g_assert_error(e, HERD_EXPORT_ERROR, HERD_EXPORT_ERROR_FORMAT);
    g_test_message("%s: %s", what, e->message);
    g_clear_error(&e);
    g_assert_cmpuint(n_conversations(s), ==, before);
}

static void test_json_import_errors(Fixture *f, gconstpointer data)
{
    GError *e = NULL;
    g_autofree char *good = herd_export_json(f->store, f->conv, &e);
    g_assert_no_error(e);
    expect_import_error(f->store, "", "empty");
    expect_import_error(f->store, "{\"schema\":\"herd-conversation/2\"}", "future schema");
    expect_import_error(f->store, "[1,2,3]", "not an object");
    g_autofree char *cut = g_strndup(good, strlen(good) / 2);
    expect_import_error(f->store, cut, "truncated");
    /* A flipped image byte no longer matches the sha256. */
    g_autofree char *bad_sha = g_strdup(good);
    char *d = strstr(bad_sha, "\"data\": \"");
    g_assert_nonnull(d);
    d += strlen("\"data\": \"") + 20;
    *d = *d == 'A' ? 'B' : 'A';
    expect_import_error(f->store, bad_sha, "corrupt image");
    g_autoptr(GString) bad_role = g_string_new(good);
    g_string_replace(bad_role, "\"role\": \"system\"", "\"role\": \"wizard\"", 1);
    expect_import_error(f->store, bad_role->str, "bad role");
    g_autoptr(GString) bad_time = g_string_new(good);
    g_string_replace(bad_time, "\"created\": \"", "\"created\": \"yesterday", 1);
    expect_import_error(f->store, bad_time->str, "bad time");
    /* The minimum that is accepted. */
    const char *minimal = "{\"schema\":\"herd-conversation/1\",\"conversation\":{\"created\":"
                          "\"2025-01-02T03:04:05Z\",\"updated\":\"2025-01-02T03:04:05Z\"},"
                          "\"messages\":[{\"role\":\"user\",\"text\":\"hi\",\"created\":"
                          "\"2025-01-02T03:04:05.5Z\"}]}";
    gint64 id = herd_import_json(f->store, minimal, -1, &e);
    g_assert_no_error(e);
    g_autoptr(GPtrArray) msgs = herd_store_load_messages(f->store, id, &e);
    g_assert_cmpuint(msgs->len, ==, 1);
    g_assert_cmpint(((HerdStoreMessage *)msgs->pdata[0])->created, ==, 1735787045500000);
}

/* ---- the JSON reader ---- */

static void test_json_reader(void)
{
    GError *e = NULL;
    g_autoptr(HerdJson) j = herd_json_parse(" {\"a\": [1, -2.5e3, true, false, null], \"s\": "
                                            "\"q\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83e\\udd99\","
                                            " \"o\": {}, \"e\": []} ",
                                            -1, &e);
    g_assert_no_error(e);
    HerdJson *a = herd_json_object_get(j, "a");
    g_assert_cmpuint(herd_json_array_length(a), ==, 5);
    g_assert_cmpfloat(herd_json_get_number(herd_json_array_get(a, 1), 0), ==, -2500);
    g_assert_true(herd_json_get_bool(herd_json_array_get(a, 2), FALSE));
    g_assert_cmpint(herd_json_get_type(herd_json_array_get(a, 4)), ==, HERD_JSON_NULL);
    g_assert_cmpstr(herd_json_get_string(herd_json_object_get(j, "s"), NULL), ==,
                    "q\"\\/\b\f\n\r\té🦙");
    g_autofree char *out = herd_json_to_string(j, FALSE);
    g_assert_cmpstr(out, ==,
                    "{\"a\":[1,-2500,true,false,null],\"s\":\"q\\\"\\\\/"
                    "\\u0008\\u000c\\n\\r\\té🦙\",\"o\":{},\"e\":[]}");
    g_autoptr(HerdJson) back = herd_json_parse(out, -1, &e);
    g_assert_no_error(e);
    g_autofree char *out2 = herd_json_to_string(back, FALSE);
    g_assert_cmpstr(out, ==, out2);

    const char *bad[] = { "",    "{",     "[1,]",       "{\"a\" 1}",   "01",
                          "1.",  "-",     "\"\\x\"",    "\"\\ud800\"", "\"a\nb\"",
                          "tru", "[1] 2", "{\"a\":1,}", "\"\\u0000\"", "\"\xff\"" };
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        HerdJson *x = herd_json_parse(bad[i], -1, &e);
        if (x)
            g_error("accepted bad JSON #%u: %s", i, bad[i]);
        g_assert_error(e, HERD_JSON_ERROR, HERD_JSON_ERROR_PARSE);
        g_clear_error(&e);
    }
    /* Depth is limited (no stack overflow on hostile input). */
    GString *deep = g_string_new(NULL);
    for (int i = 0; i < 100000; i++)
        g_string_append_c(deep, '[');
    g_assert_null(herd_json_parse(deep->str, -1, &e));
    g_assert_error(e, HERD_JSON_ERROR, HERD_JSON_ERROR_PARSE);
    g_clear_error(&e);
    g_string_free(deep, TRUE);
    /* Doubles survive writing. */
    double vals[] = { 0.1, 1.0 / 3.0, 17.123456789, 1e-300, 123456789012345678.0, -0.0 };
    for (guint i = 0; i < G_N_ELEMENTS(vals); i++) {
        g_autoptr(HerdJson) n = herd_json_new_number(vals[i]);
        g_autofree char *s = herd_json_to_string(n, FALSE);
        g_autoptr(HerdJson) r = herd_json_parse(s, -1, &e);
        g_assert_no_error(e);
        g_assert_cmpfloat(herd_json_get_number(r, 1), ==, vals[i]);
    }
}

static void test_filename(void)
{
    struct {
        const char *in, *out;
    } cases[] = {
        { "Trip to Peru", "Trip to Peru.md" },
        { "a/b\\c: d", "abc- d.md" },
        { "../../etc/passwd", "etcpasswd.md" },
        { "", "conversation.md" },
        { NULL, "conversation.md" },
        { "  .hidden", "hidden.md" },
        { "tab\there\n", "tabhere.md" },
    };
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *got = herd_export_filename(cases[i].in, "md");
        g_assert_cmpstr(got, ==, cases[i].out);
    }
    GString *longt = g_string_new(NULL);
    for (int i = 0; i < 50; i++)
        g_string_append(longt, "🦙é");
    g_autofree char *got = herd_export_filename(longt->str, "json");
    g_assert_cmpint(g_utf8_strlen(got, -1), ==, 80 + 5);
    g_assert_true(g_utf8_validate(got, -1, NULL));
    g_string_free(longt, TRUE);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) g_test_add("/export/" name, Fixture, NULL, setup, fn, teardown)
    ADD("markdown", test_markdown);
    ADD("html", test_html);
    ADD("json-round-trip", test_json_round_trip);
    ADD("json-import-errors", test_json_import_errors);
    g_test_add_func("/export/json-reader", test_json_reader);
    g_test_add_func("/export/filename", test_filename);
    return g_test_run();
}
