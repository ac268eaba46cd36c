/* Concurrency: many threads calling nb_call on one shared nb_fn (warm, cold, and while
 * it is compiled), the thread-local error record, and independent graphs built in
 * parallel. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "harness.h"

enum { NT = 4, N = 320, R = 16, C = 20, ITERS = 200 };

/* f(x, y) = [sin(x)*y + exp(-x^2), sum(x*y), softmax(reshape(x+y,[16,20]),1),
 *            reshape(x,[16,20]) @ reshape(y,[16,20])^T] */
static nb_fn *make_shared_fn(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", NB_F64, 1, (int64_t[]){N});
  nb_expr  *y = nb_input(g, "y", NB_F64, 1, (int64_t[]){N});
  nb_expr  *X = nb_reshape(x, 2, (int64_t[]){R, C});
  nb_expr  *Y = nb_reshape(y, 2, (int64_t[]){R, C});
  nb_expr  *o[4] = {nb_add(nb_mul(nb_sin(x), y), nb_exp(nb_neg(nb_square(x)))),
                    nb_sum(nb_mul(x, y), 0, NULL, false),
                    nb_softmax(nb_reshape(nb_add(x, y), 2, (int64_t[]){R, C}), 1),
                    nb_matmul(X, nb_transpose(Y, NULL))};
  nb_fn    *f = nb_fn_new(g, 2, (nb_expr *[]){x, y}, 4, o);
  nb_graph_free(g);
  return f;
}

typedef struct outs {
  double o0[N], o1, o2[N], o3[R * R];
} outs;

static void fill_inputs(int tid, int iter, double *x, double *y) {
  for (int i = 0; i < N; i++) {
    x[i] = sin(0.01 * i * (tid + 1) + iter * 0.001);
    y[i] = cos(0.02 * i + tid + iter * 0.01);
  }
}

static void reference(const double *x, const double *y, outs *r) {
  r->o1 = 0;
  for (int i = 0; i < N; i++) {
    r->o0[i] = sin(x[i]) * y[i] + exp(-(x[i] * x[i]));
    r->o1 += x[i] * y[i];
  }
  for (int i = 0; i < R; i++) {
    double mx = -INFINITY, den = 0;
    for (int j = 0; j < C; j++) mx = fmax(mx, x[i * C + j] + y[i * C + j]);
    for (int j = 0; j < C; j++) den += exp(x[i * C + j] + y[i * C + j] - mx);
    for (int j = 0; j < C; j++) r->o2[i * C + j] = exp(x[i * C + j] + y[i * C + j] - mx) / den;
    for (int k = 0; k < R; k++) {
      double acc = 0;
      for (int j = 0; j < C; j++) acc += x[i * C + j] * y[k * C + j];
      r->o3[i * R + k] = acc;
    }
  }
}

static long compare(const outs *got, const outs *want) {
  long bad = 0;
  for (int i = 0; i < N; i++) bad += !th_near(got->o0[i], want->o0[i], 1e-13, 1e-15);
  bad += !th_near(got->o1, want->o1, 1e-12, 1e-12);
  for (int i = 0; i < N; i++) bad += !th_near(got->o2[i], want->o2[i], 1e-13, 1e-15);
  for (int i = 0; i < R * R; i++) bad += !th_near(got->o3[i], want->o3[i], 1e-12, 1e-13);
  return bad;
}

typedef struct worker {
  nb_fn             *f;
  int                tid, iters;
  pthread_barrier_t *start;
  long               bad_values, bad_status;
  atomic_int        *stop; /* when set: calls until it is set, then iters more */
} worker;

/* one call of w->f, checked */
static void call_checked(worker *w, int it) {
  double x[N], y[N];
  outs   got, want;
  fill_inputs(w->tid, it, x, y);
  memset(&got, 0, sizeof got);
  nb_status st = nb_call(w->f, (const void *[]){x, y}, (void *[]){got.o0, &got.o1, got.o2, got.o3});
  if (st != NB_OK) {
    w->bad_status++;
    return;
  }
  reference(x, y, &want);
  w->bad_values += compare(&got, &want) != 0;
}

static void *work(void *arg) {
  worker *w = arg;
  int     it = 0;
  if (w->start) pthread_barrier_wait(w->start);
  while (w->stop && !atomic_load(w->stop)) call_checked(w, it++);
  for (int k = 0; k < w->iters; k++) call_checked(w, it++);
  return NULL;
}

/* NT threads calling f; with stop, the calling thread runs during(f) meanwhile */
static void run_workers_during(nb_fn *f, int iters, int barrier, void (*during)(nb_fn *)) {
  pthread_t         th[NT];
  worker            w[NT];
  pthread_barrier_t bar;
  atomic_int        stop;
  atomic_init(&stop, 0);
  if (barrier) pthread_barrier_init(&bar, NULL, NT);
  int started = 0;
  for (int t = 0; t < NT; t++) {
    w[t] = (worker){f, t, iters, barrier ? &bar : NULL, 0, 0, during ? &stop : NULL};
    if (pthread_create(&th[t], NULL, work, &w[t]) == 0) started++;
    else break;
  }
  CHECK(started == NT);
  if (started != NT && barrier) {
    /* cannot happen in practice; avoid a deadlock of the started threads */
    fprintf(stderr, "  pthread_create failed\n");
    exit(EXIT_FAILURE);
  }
  if (during) during(f);
  atomic_store(&stop, 1);
  for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
  if (barrier) pthread_barrier_destroy(&bar);
  for (int t = 0; t < started; t++) {
    CHECK(w[t].bad_status == 0);
    CHECK(w[t].bad_values == 0);
    if (w[t].bad_status || w[t].bad_values)
      fprintf(stderr, "    thread %d: %ld failed calls, %ld wrong results of %d\n", t,
              w[t].bad_status, w[t].bad_values, iters);
  }
}

static void run_workers(nb_fn *f, int iters, int barrier) { run_workers_during(f, iters, barrier, NULL); }

static void compile_fn(nb_fn *f) {
  nb_status st = nb_fn_compile(f);
  if (st == NB_ERR_COMPILE) fprintf(stderr, "  %s: no native code (%s): calls stayed interpreted\n", th_current, nb_errmsg());
  else CHECK(st == NB_OK);
}

/* callers switch from the interpreter to native code while they run: the
 * native entry and the workspaces they share are published without a lock */
static void test_threads_compile_while_calling(void) {
  nb_fn *f = make_shared_fn();
  CHECK(f != NULL);
  if (!f) return;
  run_workers_during(f, 50, 0, compile_fn);
  nb_fn_free(f);
}

/* ---- workspaces are never shared: sum(sin(x) y), whose blocks of sin(x) y
 * and per-block partial sums live in the workspace while the sum folds them,
 * large enough that two callers sharing one workspace would overwrite each
 * other's values ---- */

enum { NL = 1 << 16, LITERS = 60 };

typedef struct large_worker {
  nb_fn *f;
  int    tid;
  long   bad;
} large_worker;

static void *large_work(void *arg) {
  large_worker *w = arg;
  double       *x = malloc(NL * sizeof *x), *y = malloc(NL * sizeof *y), got;
  if (!x || !y) {
    free(x), free(y);
    w->bad = -1;
    return NULL;
  }
  for (int it = 0; it < LITERS; it++) {
    double want = 0;
    for (int i = 0; i < NL; i++) {
      x[i] = 0.001 * i + w->tid + 0.1 * it;
      y[i] = w->tid + 1.0;
      want += sin(x[i]) * y[i];
    }
    if (nb_call(w->f, (const void *[]){x, y}, (void *[]){&got}) != NB_OK || !th_near(got, want, 1e-9, 1e-9))
      w->bad++;
  }
  free(x), free(y);
  return NULL;
}

static void test_threads_private_workspaces(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", NB_F64, 1, (int64_t[]){NL});
  nb_expr  *y = nb_input(g, "y", NB_F64, 1, (int64_t[]){NL});
  nb_expr  *s = nb_sum(nb_mul(nb_sin(x), y), 0, NULL, false);
  nb_fn    *f = nb_fn_new(g, 2, (nb_expr *[]){x, y}, 1, &s);
  nb_graph_free(g);
  CHECK(f && nb_fn_workspace_bytes(f) >= NL / 512 * (int64_t)sizeof(double));
  if (!f) return;
  pthread_t    th[NT];
  large_worker w[NT];
  for (int t = 0; t < NT; t++) {
    w[t] = (large_worker){f, t, 0};
    if (pthread_create(&th[t], NULL, large_work, &w[t])) {
      fprintf(stderr, "  pthread_create failed\n");
      exit(EXIT_FAILURE);
    }
  }
  for (int t = 0; t < NT; t++) pthread_join(th[t], NULL);
  for (int t = 0; t < NT; t++) CHECK(w[t].bad == 0);
  nb_fn_free(f);
}

static void test_threads_shared_fn(void) {
  nb_fn *f = make_shared_fn();
  CHECK(f != NULL);
  if (!f) return;
  CHECK(nb_fn_out_size(f, 3) == R * R);
  /* warm: first call on this thread, then many concurrent ones */
  double x[N], y[N];
  outs   got, want;
  fill_inputs(7, 0, x, y);
  CHECK(nb_call(f, (const void *[]){x, y}, (void *[]){got.o0, &got.o1, got.o2, got.o3}) == NB_OK);
  reference(x, y, &want);
  CHECK(compare(&got, &want) == 0);
  run_workers(f, ITERS, 1);
  /* the main thread still gets the same answers afterwards */
  memset(&got, 0, sizeof got);
  CHECK(nb_call(f, (const void *[]){x, y}, (void *[]){got.o0, &got.o1, got.o2, got.o3}) == NB_OK);
  CHECK(compare(&got, &want) == 0);
  nb_fn_free(f);
}

static void test_threads_first_call(void) {
  for (int rep = 0; rep < 20 && th_failed_checks == 0; rep++) {
    nb_fn *f = make_shared_fn(); /* never called before */
    CHECK(f != NULL);
    if (!f) return;
    run_workers(f, 10, 1);
    nb_fn_free(f);
  }
}

/* ---- thread-local error record ---------------------------------------------------- */

typedef struct err_probe {
  nb_status code_at_start, code_after;
  char      msg[128];
} err_probe;

static void *provoke_error(void *arg) {
  err_probe *p = arg;
  p->code_at_start = nb_errcode();
  nb_graph *g = nb_graph_new();
  nb_expr  *a = nb_input(g, "a", NB_F64, 1, (int64_t[]){5});
  (void)nb_index(a, 0, 9);
  p->code_after = nb_errcode();
  snprintf(p->msg, sizeof p->msg, "%s", nb_errmsg());
  nb_graph_free(g);
  return NULL;
}

static void test_threads_error_record(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *a = nb_input(g, "a", NB_F64, 2, (int64_t[]){3, 2});
  nb_expr  *b = nb_input(g, "b", NB_F64, 1, (int64_t[]){4});
  CHECK(nb_add(a, b) == NULL);
  CHECK_ERR(NB_ERR_SHAPE, "nb_add: cannot broadcast shapes [3,2] and [4]");
  err_probe p;
  memset(&p, 0, sizeof p);
  pthread_t th;
  CHECK(pthread_create(&th, NULL, provoke_error, &p) == 0);
  pthread_join(th, NULL);
  CHECK(p.code_at_start == NB_OK); /* a new thread starts clean */
  CHECK(p.code_after == NB_ERR_ARG);
  const char *want = "nb_index: index 9 out of range for axis 0 of length 5";
  CHECK(strncmp(p.msg, want, strlen(want)) == 0);
  /* this thread's record is untouched */
  CHECK_ERR(NB_ERR_SHAPE, "nb_add: cannot broadcast shapes [3,2] and [4]");
  nb_graph_free(g);
}

/* ---- independent graphs and functions built in parallel -------------------------- */

static void *build_and_call(void *arg) {
  worker *w = arg;
  pthread_barrier_wait(w->start);
  for (int it = 0; it < w->iters; it++) {
    nb_fn *f = make_shared_fn();
    if (!f) {
      w->bad_status++;
      continue;
    }
    double x[N], y[N];
    outs   got, want;
    fill_inputs(w->tid, it, x, y);
    if (nb_call(f, (const void *[]){x, y}, (void *[]){got.o0, &got.o1, got.o2, got.o3}) != NB_OK)
      w->bad_status++;
    else {
      reference(x, y, &want);
      w->bad_values += compare(&got, &want) != 0;
    }
    nb_fn_free(f);
  }
  return NULL;
}

static void test_threads_separate_graphs(void) {
  pthread_t         th[NT];
  worker            w[NT];
  pthread_barrier_t bar;
  pthread_barrier_init(&bar, NULL, NT);
  for (int t = 0; t < NT; t++) {
    w[t] = (worker){NULL, t, 30, &bar, 0, 0, NULL};
    if (pthread_create(&th[t], NULL, build_and_call, &w[t]) != 0) {
      fprintf(stderr, "  pthread_create failed\n");
      exit(EXIT_FAILURE);
    }
  }
  for (int t = 0; t < NT; t++) pthread_join(th[t], NULL);
  pthread_barrier_destroy(&bar);
  for (int t = 0; t < NT; t++) {
    CHECK(w[t].bad_status == 0);
    CHECK(w[t].bad_values == 0);
  }
}

void suite_threads(void) {
  RUN(test_threads_shared_fn);
  RUN(test_threads_first_call);
  RUN(test_threads_compile_while_calling);
  RUN(test_threads_private_workspaces);
  RUN(test_threads_error_record);
  RUN(test_threads_separate_graphs);
}
