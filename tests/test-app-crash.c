/* test-app-crash: a child process streams an answer through the worker into the store
 * (saving every 100 ms) and is SIGKILLed mid-answer, three times at different moments.
 * Afterwards the database opens, passes integrity_check, holds the answer exactly up to (at
 * least) the last save the child reported, and the message is 'interrupted'. */
#include "app-test-util.h"
#include "herd-backend-fake.h"
#include "herd-conversation.h"
#include "herd-worker.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define N_PIECES 2000

static char **script(void)
{
    char **p = g_new0(char *, N_PIECES + 1);
    for (guint i = 0; i < N_PIECES; i++)
        p[i] = g_strdup_printf("w%04u ", i);
    return p;
}

static int report_fd = -1;

static void save_hook(gint64 message_id, gsize n_bytes, gpointer data)
{
    char line[64];
    int n = g_snprintf(line, sizeof line, "%" G_GINT64_FORMAT " %zu\n", message_id, n_bytes);
    if (write(report_fd, line, (size_t)n) != n)
        _exit(4);
}

static G_NORETURN void child(const char *db)
{
    GError *e = NULL;
    HerdStore *store = herd_store_open(db, &e);
    if (!store)
        _exit(3);
    HerdConversation *conv = herd_conversation_new(store, "crash", &e);
    if (!conv ||
        !herd_conversation_add_message(conv, HERD_MESSAGE_ROLE_USER, "Count slowly", NULL, 0, &e))
        _exit(3);
    g_auto(GStrv) pieces = script();
    herd_fake_backend_config cfg = { 0 };
    cfg.pieces = (const char *const *)pieces;
    cfg.piece_delay_us = 5000; /* 10 s in all: never finishes before the kill */
    HerdWorker *w = herd_worker_new(herd_fake_backend_new(&cfg), store);
    herd_worker_set_save_interval(w, 100);
    herd_worker_set_save_hook(w, save_hook, NULL);
    if (!herd_worker_generate(w, conv, NULL, &e))
        _exit(3);
    GMainLoop *loop = g_main_loop_new(NULL, FALSE);
    g_main_loop_run(loop); /* until SIGKILL */
    _exit(5);
}

static void run_once(guint kill_after_saves)
{
    g_autofree char *dir = test_tmpdir();
    g_autofree char *db = g_build_filename(dir, "herd.db", NULL);
    int fds[2];
    g_assert_cmpint(pipe(fds), ==, 0);
    pid_t pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        close(fds[0]);
        report_fd = fds[1];
        child(db);
    }
    close(fds[1]);
    FILE *in = fdopen(fds[0], "r");
    char line[128];
    guint saves = 0;
    gint64 msg_id = 0;
    gsize last_len = 0;
    while (saves < kill_after_saves && fgets(line, sizeof line, in)) {
        g_assert_cmpint(sscanf(line, "%" G_GINT64_FORMAT " %zu", &msg_id, &last_len), ==, 2);
        saves++;
    }
    g_assert_cmpuint(saves, ==, kill_after_saves);
    g_assert_cmpint(kill(pid, SIGKILL), ==, 0);
    int status;
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    /* Saves reported between the last read and the kill. */
    while (fgets(line, sizeof line, in)) {
        g_assert_cmpint(sscanf(line, "%" G_GINT64_FORMAT " %zu", &msg_id, &last_len), ==, 2);
        saves++;
    }
    fclose(in);
    g_autofree char *wal = g_strconcat(db, "-wal", NULL);
    gboolean had_wal = g_file_test(wal, G_FILE_TEST_EXISTS);

    GError *e = NULL;
    HerdStore *store = herd_store_open(db, &e);
    g_assert_no_error(e);
    g_assert_true(herd_store_check_integrity(store, &e));
    g_assert_no_error(e);
    g_assert_cmpuint(herd_store_get_n_recovered(store), ==, 1);
    g_autoptr(HerdStoreMessage) m = herd_store_get_message(store, msg_id, &e);
    g_assert_no_error(e);
    g_assert_cmpint(m->state, ==, HERD_MESSAGE_STATE_INTERRUPTED);
    g_assert_cmpint(m->role, ==, HERD_MESSAGE_ROLE_ASSISTANT);
    g_auto(GStrv) pieces = script();
    g_autofree char *full = g_strjoinv("", pieces);
    gsize len = strlen(m->text);
    /* Exactly the last reported save, or a later one that committed before the kill
     * reached the report. Always a whole-piece prefix of the answer. */
    g_assert_cmpuint(len, >=, last_len);
    g_assert_true(g_str_has_prefix(full, m->text));
    g_assert_cmpuint(len % 6, ==, 0);
    g_assert_cmpuint(len, <, strlen(full));
    g_test_message("killed after %u saves (wal file: %s): last reported save %zu bytes, "
                   "database holds %zu bytes (%zu pieces), state interrupted",
                   saves, had_wal ? "yes" : "no", last_len, len, len / 6);
    /* The recovered history is usable. */
    g_autoptr(GPtrArray) hits = herd_store_search_conversations(store, "w0003", &e);
    g_assert_no_error(e);
    g_assert_cmpuint(hits->len, ==, 1);
    g_assert_finalize_object(store);
    test_rm_rf(dir);
}

static void test_kill(void)
{
    run_once(2);
    run_once(5);
    run_once(9);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/crash/sigkill-mid-answer", test_kill);
    return g_test_run();
}
