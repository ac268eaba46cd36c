/* A small thread pool for large fused groups and native loops. Workers start
 * at the first parallel step and live until exit; a job is split into one
 * range per thread and the caller runs the first range itself. Small work
 * never touches the pool, so it costs nothing there. NB_NUM_THREADS sets the
 * thread count (default: the online processors, at most NB__MAX_THREADS).
 *
 * Hand-offs spin before they sleep. Waking a thread sleeping on a condition
 * variable costs tens to hundreds of microseconds on a virtual machine, more
 * than a whole parallel step of 1e5 elements; a function runs several such
 * steps back to back, so a worker that just finished keeps watching the
 * queue for NB__SPIN_NS, and a caller waits for its job's other ranges by
 * watching their counter, before either goes to sleep. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "exec.h"

#if defined(__SSE2__) || defined(_M_X64)
#include <immintrin.h>
/* tells the core this is a wait loop: a spinning thread then leaves its
   sibling hyperthread the execution units */
#define NB__CPU_RELAX() _mm_pause()
#else
#define NB__CPU_RELAX() ((void)0)
#endif

enum { NB__SPIN_NS = 200000, NB__QUEUE = 64 };

typedef struct job {
  nb__range_fn fn;
  void        *ctx;
  int64_t      n, chunk;
  atomic_int   pending; /* ranges not finished */
} job;

typedef struct task {
  job *job;
  int  part;
} task;

static struct {
  pthread_once_t  once;
  pthread_mutex_t m;
  pthread_cond_t  work, done;
  task            queue[NB__QUEUE];
  int             head, count; /* under m */
  atomic_int      queued;      /* count, readable without m */
  int             sleepers;    /* workers waiting on work, under m */
  int             nthreads;    /* including the caller */
} pool = {.once = PTHREAD_ONCE_INIT};

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* spins until ready(arg) or NB__SPIN_NS have passed; true if ready */
static bool spin_until(bool (*ready)(void *), void *arg) {
  int64_t end = 0;
  for (unsigned i = 1;; i++) {
    if (ready(arg)) return true;
    NB__CPU_RELAX();
    if (i % 256 == 0) {
      int64_t t = now_ns();
      if (!end) end = t + NB__SPIN_NS;
      else if (t > end) return false;
    }
  }
}

static bool queue_nonempty(void *arg) {
  (void)arg;
  return atomic_load_explicit(&pool.queued, memory_order_relaxed) > 0;
}

static bool job_finished(void *arg) {
  return atomic_load_explicit(&((job *)arg)->pending, memory_order_acquire) == 0;
}

static void run_part(job *j, int part) {
  int64_t lo = part * j->chunk, hi = lo + j->chunk < j->n ? lo + j->chunk : j->n;
  if (lo < hi) j->fn(j->ctx, part, lo, hi);
  /* after the last decrement j may be gone (its caller returns): only the
     pool is touched from here on */
  if (atomic_fetch_sub_explicit(&j->pending, 1, memory_order_acq_rel) == 1) {
    pthread_mutex_lock(&pool.m);
    pthread_cond_broadcast(&pool.done);
    pthread_mutex_unlock(&pool.m);
  }
}

/* under pool.m: removes and returns the k-th queued task (the ones before
   it move up one place) */
static task take_task(int k) {
  task t = pool.queue[(pool.head + k) % NB__QUEUE];
  for (int s = k; s > 0; s--) pool.queue[(pool.head + s) % NB__QUEUE] = pool.queue[(pool.head + s - 1) % NB__QUEUE];
  pool.head = (pool.head + 1) % NB__QUEUE, pool.count--;
  atomic_store_explicit(&pool.queued, pool.count, memory_order_relaxed);
  return t;
}

static void *worker(void *arg) {
  (void)arg;
  for (;;) {
    spin_until(queue_nonempty, NULL);
    pthread_mutex_lock(&pool.m);
    pool.sleepers++;
    while (pool.count == 0) pthread_cond_wait(&pool.work, &pool.m);
    pool.sleepers--;
    task t = take_task(0);
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
  if (pthread_mutex_init(&pool.m, NULL) || pthread_cond_init(&pool.work, NULL) ||
      pthread_cond_init(&pool.done, NULL))
    return;
  for (long i = 1; i < n; i++) {
    pthread_t      t;
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

/* queues parts 1.. of j; false when the queue has no room (many callers at
   once), and then nothing is queued */
static bool queue_parts(job *j, int parts) {
  pthread_mutex_lock(&pool.m);
  bool room = pool.count + parts - 1 <= NB__QUEUE;
  if (room) {
    for (int p = 1; p < parts; p++) pool.queue[(pool.head + pool.count++) % NB__QUEUE] = (task){j, p};
    atomic_store_explicit(&pool.queued, pool.count, memory_order_relaxed);
    if (pool.sleepers) pthread_cond_broadcast(&pool.work);
  }
  pthread_mutex_unlock(&pool.m);
  return room;
}

/* the parts of j no worker has taken yet: the caller runs them rather than
   wait for a sleeping worker to wake */
static void run_own_queued(job *j) {
  for (;;) {
    task t = {NULL, 0};
    pthread_mutex_lock(&pool.m);
    for (int k = 0; k < pool.count && !t.job; k++)
      if (pool.queue[(pool.head + k) % NB__QUEUE].job == j) t = take_task(k);
    pthread_mutex_unlock(&pool.m);
    if (!t.job) return;
    run_part(j, t.part);
  }
}

void nb__parallel_for(int64_t n, nb__range_fn fn, void *ctx) {
  int parts = nb__pool_threads();
  job j = {.fn = fn, .ctx = ctx, .n = n, .chunk = (n + parts - 1) / parts};
  atomic_init(&j.pending, parts);
  if (parts <= 1 || !queue_parts(&j, parts)) {
    fn(ctx, 0, 0, n);
    return;
  }
  run_part(&j, 0);
  run_own_queued(&j);
  if (spin_until(job_finished, &j)) return;
  pthread_mutex_lock(&pool.m);
  while (!job_finished(&j)) pthread_cond_wait(&pool.done, &pool.m);
  pthread_mutex_unlock(&pool.m);
}
