/* threadpool.c: persistent pthreads and spin-then-futex waiting on a word (threadpool.h). */
#include "threadpool.h"

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

/* how long a thread spins before sleeping: waiting for the next step, and idle between runs */
#define STEP_SPIN_NS 100000ull
#define IDLE_SPIN_NS 300000ull

struct worker {
    herd_threadpool *tp;
    int ith;
    pthread_t thread;
};

struct herd_threadpool {
    int n;
    struct worker *workers;
    /* dispatch */
    _Alignas(64) atomic_uint gen;
    atomic_int n_idle_sleep;
    herd_task_fn fn;
    void *ctx;
    atomic_bool stop;
};

static void futex_wait(atomic_uint *addr, unsigned val)
{
#ifdef __linux__
    syscall(SYS_futex, (unsigned *)addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
#else
    (void)addr;
    (void)val;
    sched_yield();
#endif
}

static void futex_wake_all(atomic_uint *addr)
{
#ifdef __linux__
    syscall(SYS_futex, (unsigned *)addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#else
    (void)addr;
#endif
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* spin until *addr != val or the time runs out; true if it changed. After YIELD_AFTER_NS the
 * spinning thread also yields, so that on a busy machine the thread it waits for can run. */
#define YIELD_AFTER_NS 20000ull
static bool spin_while_equal(atomic_uint *addr, unsigned val, uint64_t spin_ns)
{
    uint64_t t0 = 0;
    bool yield = false;
    for (unsigned i = 1;; i++) {
        if (atomic_load_explicit(addr, memory_order_acquire) != val)
            return true;
        if (yield)
            sched_yield();
        else
            CPU_RELAX();
        if ((i & 255) == 0 || yield) {
            uint64_t t = now_ns();
            if (!t0)
                t0 = t;
            else if (t - t0 > spin_ns)
                return false;
            else if (t - t0 > YIELD_AFTER_NS)
                yield = true;
        }
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    herd_threadpool *tp = w->tp;
    unsigned seen = 0;
    for (;;) {
        if (!spin_while_equal(&tp->gen, seen, IDLE_SPIN_NS)) {
            atomic_fetch_add_explicit(&tp->n_idle_sleep, 1, memory_order_seq_cst);
            while (atomic_load_explicit(&tp->gen, memory_order_seq_cst) == seen)
                futex_wait(&tp->gen, seen);
            atomic_fetch_sub_explicit(&tp->n_idle_sleep, 1, memory_order_relaxed);
        }
        seen = atomic_load_explicit(&tp->gen, memory_order_acquire);
        if (atomic_load_explicit(&tp->stop, memory_order_acquire))
            break;
        tp->fn(tp->ctx, w->ith, tp->n);
    }
    return NULL;
}

int herd_cpu_count(void)
{
#ifdef __linux__
    cpu_set_t set; /* the CPUs this process may run on (taskset, containers) */
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

herd_threadpool *herd_threadpool_new(int n_threads)
{
    if (n_threads <= 0)
        n_threads = herd_cpu_count();
    if (n_threads > 512)
        n_threads = 512;
    herd_threadpool *tp = calloc(1, sizeof *tp);
    if (!tp)
        return NULL;
    tp->n = n_threads;
    tp->workers = calloc((size_t)n_threads, sizeof *tp->workers);
    if (!tp->workers) {
        free(tp);
        return NULL;
    }
    for (int i = 1; i < n_threads; i++) {
        tp->workers[i].tp = tp;
        tp->workers[i].ith = i;
        if (pthread_create(&tp->workers[i].thread, NULL, worker_main, &tp->workers[i]) != 0) {
            tp->n = i; /* threads 1..i-1 exist: stop them */
            herd_threadpool_free(tp);
            return NULL;
        }
    }
    return tp;
}

void herd_threadpool_free(herd_threadpool *tp)
{
    if (!tp)
        return;
    atomic_store(&tp->stop, true);
    atomic_fetch_add(&tp->gen, 1);
    futex_wake_all(&tp->gen);
    for (int i = 1; i < tp->n; i++)
        pthread_join(tp->workers[i].thread, NULL);
    free(tp->workers);
    free(tp);
}

int herd_threadpool_size(const herd_threadpool *tp)
{
    return tp->n;
}

void herd_threadpool_start(herd_threadpool *tp, herd_task_fn fn, void *ctx)
{
    if (tp->n <= 1)
        return;
    tp->fn = fn;
    tp->ctx = ctx;
    atomic_fetch_add_explicit(&tp->gen, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&tp->n_idle_sleep, memory_order_seq_cst) > 0)
        futex_wake_all(&tp->gen);
}

void herd_wait_word(atomic_uint *word, unsigned val, atomic_int *n_sleep)
{
    if (spin_while_equal(word, val, STEP_SPIN_NS))
        return;
    atomic_fetch_add_explicit(n_sleep, 1, memory_order_seq_cst);
    while (atomic_load_explicit(word, memory_order_seq_cst) == val)
        futex_wait(word, val);
    atomic_fetch_sub_explicit(n_sleep, 1, memory_order_relaxed);
}

void herd_publish_word(atomic_uint *word, unsigned val, atomic_int *n_sleep)
{
    atomic_store_explicit(word, val, memory_order_seq_cst);
    if (atomic_load_explicit(n_sleep, memory_order_seq_cst) > 0)
        futex_wake_all(word);
}
