/* threadpool.h: persistent worker threads for the CPU backend.
 *
 * herd_threadpool_run() runs one task on all n threads at once (the caller is thread 0) and
 * returns when every thread has returned from it. Inside the task, threads synchronise with
 * herd_threadpool_barrier() (spin briefly, then sleep on a futex), which is how a whole graph runs
 * in one dispatch: every thread walks the node list and meets the others at a barrier after each
 * node. Between dispatches the workers spin for a short while, then sleep.
 *
 * The CPU backend uses the other mode: herd_threadpool_start() once, and its workers wait for
 * published work with herd_wait_word() (no barriers; see cpu-backend.c).
 */
#pragma once

#include <stdatomic.h>
#include <stdint.h>

typedef struct herd_threadpool herd_threadpool;

/* fn(ctx, ith, nth): ith in 0..nth-1; ith 0 is the calling thread. */
typedef void (*herd_task_fn)(void *ctx, int ith, int nth);

/* n_threads <= 0: herd_cpu_count(). NULL if threads could not be created. */
herd_threadpool *herd_threadpool_new(int n_threads);
void herd_threadpool_free(herd_threadpool *tp);
int herd_threadpool_size(const herd_threadpool *tp);

/* Runs fn on every thread; returns after all of them finished. Not reentrant. */
void herd_threadpool_run(herd_threadpool *tp, herd_task_fn fn, void *ctx);

/* Barrier for the threads of the current run (call from every thread or none). */
void herd_threadpool_barrier(herd_threadpool *tp);

/* Starts fn on threads 1..n-1 only (not the caller) and returns at once; fn is meant to run
 * until the owner tells it to return (before herd_threadpool_free). Not to be mixed with
 * herd_threadpool_run on the same pool. */
void herd_threadpool_start(herd_threadpool *tp, herd_task_fn fn, void *ctx);

/* Waits until *word != val: spins briefly (yielding after 20 us), then sleeps on a futex while
 * counted in *n_sleep. herd_publish_word stores val (seq_cst) and wakes the sleepers. */
void herd_wait_word(atomic_uint *word, unsigned val, atomic_int *n_sleep);
void herd_publish_word(atomic_uint *word, unsigned val, atomic_int *n_sleep);

/* Number of CPUs this process may run on (affinity mask; >= 1). */
int herd_cpu_count(void);
