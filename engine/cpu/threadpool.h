/* threadpool.h: persistent worker threads for the CPU backend.
 *
 * herd_threadpool_run() runs one task on all n threads at once (the caller is thread 0) and
 * returns when every thread has returned from it. Inside the task, threads synchronise with
 * herd_threadpool_barrier() (spin briefly, then sleep on a futex), which is how a whole graph runs
 * in one dispatch: every thread walks the node list and meets the others at a barrier after each
 * node. Between dispatches the workers spin for a short while, then sleep.
 */
#pragma once

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

/* Number of CPUs this process may run on (affinity mask; >= 1). */
int herd_cpu_count(void);
