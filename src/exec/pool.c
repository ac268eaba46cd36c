/* A small thread pool for large fused groups. Workers start at the first
 * parallel step and live until exit; a job is split into one range per
 * thread and the caller runs the first range itself. Small work never
 * touches the pool, so it costs nothing there. NB_NUM_THREADS sets the
 * thread count (default: the online processors, at most NB__MAX_THREADS). */
#include <stdlib.h>
#include <unistd.h>

#include "exec.h"

typedef struct job {
  nb__range_fn    fn;
  void           *ctx;
  int64_t         n, chunk;
  int             pending; /* ranges not finished */
  pthread_mutex_t m;
  pthread_cond_t  done;
} job;

typedef struct task {
  job    *job;
  int     part;
} task;

static struct {
  pthread_once_t  once;
  pthread_mutex_t m;
  pthread_cond_t  work;
  task            queue[64];
  int             head, count;
  int             nthreads; /* including the caller */
} pool = {.once = PTHREAD_ONCE_INIT};

static void run_part(job *j, int part) {
  int64_t lo = part * j->chunk, hi = lo + j->chunk < j->n ? lo + j->chunk : j->n;
  if (lo < hi) j->fn(j->ctx, part, lo, hi);
  pthread_mutex_lock(&j->m);
  if (--j->pending == 0) pthread_cond_signal(&j->done);
  pthread_mutex_unlock(&j->m);
}

static void *worker(void *arg) {
  (void)arg;
  for (;;) {
    pthread_mutex_lock(&pool.m);
    while (pool.count == 0) pthread_cond_wait(&pool.work, &pool.m);
    task t = pool.queue[pool.head];
    pool.head = (pool.head + 1) % 64, pool.count--;
    pthread_mutex_unlock(&pool.m);
    run_part(t.job, t.part);
  }
  return NULL;
}

static void start(void) {
  long  n = sysconf(_SC_NPROCESSORS_ONLN);
  char *env = getenv("NB_NUM_THREADS");
  if (env && atoi(env) > 0) n = atoi(env);
  if (n < 1) n = 1;
  if (n > NB__MAX_THREADS) n = NB__MAX_THREADS;
  pool.nthreads = 1;
  if (pthread_mutex_init(&pool.m, NULL) || pthread_cond_init(&pool.work, NULL)) return;
  for (long i = 1; i < n; i++) {
    pthread_t t;
    pthread_attr_t a;
    if (pthread_attr_init(&a)) break;
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    bool ok = pthread_create(&t, &a, worker, NULL) == 0;
    pthread_attr_destroy(&a);
    if (!ok) break;
    pool.nthreads++;
  }
}

int nb__pool_threads(void) {
  pthread_once(&pool.once, start);
  return pool.nthreads;
}

void nb__parallel_for(int64_t n, nb__range_fn fn, void *ctx) {
  int parts = nb__pool_threads();
  job j = {.fn = fn, .ctx = ctx, .n = n, .chunk = (n + parts - 1) / parts, .pending = parts};
  if (parts <= 1 || pthread_mutex_init(&j.m, NULL)) {
    fn(ctx, 0, 0, n);
    return;
  }
  if (pthread_cond_init(&j.done, NULL)) {
    pthread_mutex_destroy(&j.m);
    fn(ctx, 0, 0, n);
    return;
  }
  /* room is checked and taken under one lock; a full queue (many callers at
     once) means this caller runs its whole job itself */
  pthread_mutex_lock(&pool.m);
  bool queued = pool.count + parts - 1 <= 64;
  if (queued) {
    for (int p = 1; p < parts; p++) pool.queue[(pool.head + pool.count++) % 64] = (task){&j, p};
    pthread_cond_broadcast(&pool.work);
  }
  pthread_mutex_unlock(&pool.m);
  if (!queued) {
    pthread_cond_destroy(&j.done);
    pthread_mutex_destroy(&j.m);
    for (int p = 0; p < parts; p++) {
      int64_t lo = p * j.chunk, hi = lo + j.chunk < n ? lo + j.chunk : n;
      if (lo < hi) fn(ctx, p, lo, hi);
    }
    return;
  }
  run_part(&j, 0);
  pthread_mutex_lock(&j.m);
  while (j.pending > 0) pthread_cond_wait(&j.done, &j.m);
  pthread_mutex_unlock(&j.m);
  pthread_cond_destroy(&j.done);
  pthread_mutex_destroy(&j.m);
}
