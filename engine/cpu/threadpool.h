/* threadpool.h: persistent worker threads for the CPU backend.
 *
 * herd_threadpool_start() runs a task on threads 1..n-1 (the caller is thread 0 and joins in on
 * its own); the task is a loop that waits for published work with herd_wait_word() and returns
 * when the owner says so (cpu-backend.c: chunks of graph steps, no barriers). Idle workers spin
 * for a short while, then sleep on a futex.
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

/* Starts fn on threads 1..n-1 only (not the caller) and returns at once; fn is meant to run
 * until the owner tells it to return (before herd_threadpool_free). */
void herd_threadpool_start(herd_threadpool *tp, herd_task_fn fn, void *ctx);

/* Waits until *word != val: spins briefly (yielding after 20 us), then sleeps on a futex while
 * counted in *n_sleep. herd_publish_word stores val (seq_cst) and wakes the sleepers. */
void herd_wait_word(atomic_uint *word, unsigned val, atomic_int *n_sleep);
void herd_publish_word(atomic_uint *word, unsigned val, atomic_int *n_sleep);

/* Number of CPUs this process may run on (affinity mask; >= 1). */
int herd_cpu_count(void);
