/* The allocation-failure sweep (SQLite style): an allocator that counts live blocks
 * and fails the k-th allocation, for k = 1, 2, ... until the operation completes
 * without reaching k. Each failure must be reported as NB_ERR_NOMEM, leak nothing and
 * leave the object usable. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "fixture.h"

typedef struct alloc_state {
  long live;     /* blocks currently allocated */
  long calls;    /* alloc/realloc calls since arm() */
  long fail_at;  /* fail this call (1-based) while armed */
  long hits;     /* failures injected since arm() */
  long bad_user; /* callbacks that did not get our user pointer back */
  long bad_free; /* frees of blocks we did not count */
  int  armed;
  int  sticky;   /* fail every call from fail_at on, not only that one */
} alloc_state;

static alloc_state A;

static void *t_alloc(void *user, size_t size) {
  if (user != &A) A.bad_user++;
  A.calls++;
  if (A.armed && (A.calls == A.fail_at || (A.sticky && A.calls > A.fail_at))) {
    A.hits++;
    return NULL;
  }
  void *p = malloc(size ? size : 1);
  if (p) A.live++;
  return p;
}

static void *t_realloc(void *user, void *ptr, size_t size) {
  if (user != &A) A.bad_user++;
  A.calls++;
  if (A.armed && (A.calls == A.fail_at || (A.sticky && A.calls > A.fail_at))) {
    A.hits++;
    return NULL; /* ptr stays valid */
  }
  void *q = realloc(ptr, size ? size : 1);
  if (q && !ptr) A.live++;
  return q;
}

static void t_free(void *user, void *ptr) {
  if (user != &A) A.bad_user++;
  if (!ptr) return;
  if (A.live <= 0) A.bad_free++;
  A.live--;
  free(ptr);
}

static const nb_allocator counting = {t_alloc, t_realloc, t_free, &A};

static int sticky_mode;

static void install(void) {
  memset(&A, 0, sizeof A);
  A.sticky = sticky_mode;
  nb_set_allocator(&counting);
}
static void uninstall(void) {
  CHECK(A.live == 0);
  CHECK(A.bad_user == 0);
  CHECK(A.bad_free == 0);
  nb_set_allocator(NULL);
}
static void arm(long k) {
  A.calls = 0;
  A.hits = 0;
  A.fail_at = k;
  A.armed = 1;
}
static void disarm(void) { A.armed = 0; }

#define KMAX 20000     /* safety bound on the sweep */
#define MAX_FAILS 30   /* stop a sweep early once it is clearly broken */

/* after step k of a sweep of `what`: the failed attempt left nothing allocated */
static void check_no_leak(const char *what, long k) {
  if (A.live == 0) return;
  CHECK(A.live == 0);
  fprintf(stderr, "    leak after failing allocation %ld of %s: %ld blocks\n", k, what, A.live);
  A.live = 0;
}

/* the end of a sweep: it hit failure points and ended (a step failed nothing) */
static void sweep_done(const char *what, long k, long points) {
  CHECK(points > 0);
  CHECK(k < KMAX);
  printf("  alloc sweep%s, %s: %ld failure points\n", sticky_mode ? " (sticky)" : "", what, points);
  uninstall();
}


/* ---- the graph: ~20 operations of every family ---------------------------------------- */

enum { NX = 4, NF = 5, NO = 3, NOUT = 6 };
static const int64_t out_sizes[NOUT] = {6 * 4, 4, 6 * 3, 5, 1, 1};

typedef struct built {
  nb_graph *g;
  nb_expr  *in[3];
  nb_expr  *out[NOUT];
} built;

/* on a NULL result: it must be the injected failure, reported as NOMEM by `name`; then
 * disarm and do the very same call again on the same graph, which must succeed */
#define TRY(var, name, call)                                                            \
  do {                                                                                  \
    var = (call);                                                                       \
    if (!var) {                                                                         \
      CHECK(A.armed && A.hits >= 1);                                                    \
      CHECK_ERR(NB_ERR_NOMEM, name ": out of memory");                                  \
      disarm();                                                                         \
      nb_errclear();                                                                    \
      var = (call);                                                                     \
      if (!var) {                                                                       \
        CHECK(!"the same call failed again after disarming");                           \
        fprintf(stderr, "    (%s: %s)\n", name, nb_errmsg());                            \
        return 0;                                                                       \
      }                                                                                 \
    }                                                                                   \
  } while (0)

static const double rowdata[NF] = {0.5, -0.5, 1, 2, 0};
static const int64_t take_idx[3] = {0, 3, -1};

static int build_graph(built *B) {
  memset(B, 0, sizeof *B);
  nb_graph *g;
  TRY(g, "nb_graph_new", nb_graph_new());
  B->g = g;
  nb_expr *x, *w, *b, *row, *e1, *e2, *e3, *e4, *e5, *e6, *e7, *e8, *mm, *bb, *mm2, *sm, *lse,
      *t, *c, *o3, *e4i, *o4, *o5;
  TRY(x, "nb_input", nb_input(g, "x", NB_F64, 2, (int64_t[]){NX, NF}));
  TRY(w, "nb_input", nb_input(g, "w", NB_F64, 2, (int64_t[]){NF, NO}));
  TRY(b, "nb_input", nb_input(g, "b", NB_F64, 1, (int64_t[]){NO}));
  TRY(row, "nb_const", nb_const(g, NB_F64, 1, (int64_t[]){NF}, rowdata));
  TRY(e1, "nb_sin", nb_sin(x));
  TRY(e2, "nb_mul", nb_mul(e1, x));
  TRY(e3, "nb_add", nb_add(e2, row)); /* broadcast [4,5] + [5] */
  TRY(e4, "nb_sum", nb_sum(e3, 1, (int[]){0}, false));                 /* [5] */
  TRY(e5, "nb_reshape", nb_reshape(e3, 2, (int64_t[]){NF, NX}));      /* [5,4] */
  TRY(e6, "nb_slice", nb_slice(e5, 0, 1, 4, 1));                      /* [3,4] */
  TRY(e7, "nb_take", nb_take(e6, 1, 3, take_idx));                    /* [3,3] */
  TRY(e8, "nb_concat", nb_concat(2, (nb_expr *[]){e7, e7}, 0));       /* [6,3] */
  TRY(mm, "nb_matmul", nb_matmul(x, w));                              /* [4,3] */
  TRY(bb, "nb_broadcast_to", nb_broadcast_to(b, 2, (int64_t[]){NX, NO}));
  TRY(mm2, "nb_add", nb_add(mm, bb));
  TRY(sm, "nb_softmax", nb_softmax(mm2, -1));
  TRY(lse, "nb_logsumexp", nb_logsumexp(mm2, 1, (int[]){1}, false)); /* [4] */
  TRY(t, "nb_transpose", nb_transpose(sm, NULL));                      /* [3,4] */
  TRY(c, "nb_concat", nb_concat(2, (nb_expr *[]){t, e6}, 0));          /* [6,4] */
  TRY(o3, "nb_adds", nb_adds(e4, 1.0));
  TRY(e4i, "nb_index", nb_index(e4, 0, 2));
  TRY(o4, "nb_exp", nb_exp(e4i));
  TRY(o5, "nb_max", nb_max(e3, 0, NULL, false));
  B->in[0] = x;
  B->in[1] = w;
  B->in[2] = b;
  nb_expr *outs[NOUT] = {c, lse, e8, o3, o4, o5};
  memcpy(B->out, outs, sizeof outs);
  return 1;
}

static double X[NX * NF], Wm[NF * NO], Bv[NO];
static double REF[NOUT][24];

static void reference(void) {
  for (int i = 0; i < NX * NF; i++) X[i] = 0.1 * i - 0.7;
  for (int i = 0; i < NF * NO; i++) Wm[i] = 0.05 * i - 0.2;
  for (int i = 0; i < NO; i++) Bv[i] = 0.1 * i;
  double e3[NX * NF], e4[NF] = {0}, e6[3][4], e7[3][3], mm2[NX][NO], sm[NX][NO];
  for (int i = 0; i < NX; i++)
    for (int j = 0; j < NF; j++) {
      double v = X[i * NF + j];
      e3[i * NF + j] = sin(v) * v + rowdata[j];
      e4[j] += e3[i * NF + j];
    }
  for (int p = 0; p < 3; p++)
    for (int q = 0; q < 4; q++) e6[p][q] = e3[(p + 1) * 4 + q];
  for (int p = 0; p < 3; p++)
    for (int r = 0; r < 3; r++) e7[p][r] = e6[p][take_idx[r] < 0 ? take_idx[r] + 4 : take_idx[r]];
  for (int i = 0; i < NX; i++) {
    double mx = -INFINITY, den = 0;
    for (int k = 0; k < NO; k++) {
      double acc = 0;
      for (int j = 0; j < NF; j++) acc += X[i * NF + j] * Wm[j * NO + k];
      mm2[i][k] = acc + Bv[k];
      mx = fmax(mx, mm2[i][k]);
    }
    for (int k = 0; k < NO; k++) den += exp(mm2[i][k] - mx);
    for (int k = 0; k < NO; k++) sm[i][k] = exp(mm2[i][k] - mx) / den;
    REF[1][i] = mx + log(den);
  }
  for (int k = 0; k < NO; k++)
    for (int i = 0; i < NX; i++) REF[0][k * 4 + i] = sm[i][k];
  for (int p = 0; p < 3; p++)
    for (int q = 0; q < 4; q++) REF[0][(3 + p) * 4 + q] = e6[p][q];
  for (int h = 0; h < 2; h++)
    for (int p = 0; p < 3; p++)
      for (int r = 0; r < 3; r++) REF[2][(h * 3 + p) * 3 + r] = e7[p][r];
  for (int j = 0; j < NF; j++) REF[3][j] = e4[j] + 1;
  REF[4][0] = exp(e4[2]);
  double m = -INFINITY;
  for (int i = 0; i < NX * NF; i++) m = fmax(m, e3[i]);
  REF[5][0] = m;
}

static double OUT[NOUT][24];
static const void *const INS[3] = {X, Wm, Bv};
static void *const       OUTS[NOUT] = {OUT[0], OUT[1], OUT[2], OUT[3], OUT[4], OUT[5]};

static void check_outputs(void) {
  for (int o = 0; o < NOUT; o++)
    for (int i = 0; i < out_sizes[o]; i++) CHECK_NEAR(OUT[o][i], REF[o][i], 1e-13, 1e-15);
}

static nb_fn *fn_of(built *B) { return nb_fn_new(B->g, 3, B->in, NOUT, B->out); }

/* (a) building the graph */
static void test_alloc_build(void) {
  reference();
  install();
  long k, points = 0;
  for (k = 1; k < KMAX && th_failed_checks < MAX_FAILS; k++) {
    built B;
    arm(k);
    int ok = build_graph(&B);
    int hit = A.hits > 0;
    disarm();
    points += hit;
    if (ok) {
      nb_fn *f = fn_of(&B);
      CHECK(f != NULL);
      if (f) {
        memset(OUT, 0, sizeof OUT);
        CHECK(nb_call(f, INS, OUTS) == NB_OK);
        check_outputs();
        CHECK(nb_fn_out_size(f, 0) == 24);
      }
      nb_fn_free(f);
    }
    nb_graph_free(B.g);
    check_no_leak("the build", k);
    if (!hit) break;
  }
  sweep_done("graph build", k, points);
}

/* (b) nb_fn_new */
static void test_alloc_fn_new(void) {
  reference();
  install();
  long k, points = 0;
  for (k = 1; k < KMAX && th_failed_checks < MAX_FAILS; k++) {
    built B;
    if (!build_graph(&B)) { nb_graph_free(B.g); break; }
    arm(k);
    nb_fn *f = fn_of(&B);
    int    hit = A.hits > 0;
    points += hit;
    if (!f) {
      CHECK(hit);
      CHECK_ERR(NB_ERR_NOMEM, "nb_fn_new: out of memory");
      disarm();
      nb_errclear();
      f = fn_of(&B); /* the graph is intact */
      CHECK(f != NULL);
    }
    disarm();
    nb_graph_free(B.g);
    if (f) {
      memset(OUT, 0, sizeof OUT);
      CHECK(nb_call(f, INS, OUTS) == NB_OK);
      check_outputs();
    }
    nb_fn_free(f);
    check_no_leak("nb_fn_new", k);
    if (!hit) break;
  }
  sweep_done("nb_fn_new", k, points);
}

/* (c) the first nb_call (plan and workspace) */
static void test_alloc_first_call(void) {
  reference();
  install();
  long k, points = 0;
  for (k = 1; k < KMAX && th_failed_checks < MAX_FAILS; k++) {
    built B;
    if (!build_graph(&B)) { nb_graph_free(B.g); break; }
    nb_fn *f = fn_of(&B);
    nb_graph_free(B.g);
    CHECK(f != NULL);
    if (!f) break;
    memset(OUT, 0, sizeof OUT);
    arm(k);
    nb_status st = nb_call(f, INS, OUTS);
    int       hit = A.hits > 0;
    points += hit;
    if (st != NB_OK) {
      CHECK(hit);
      CHECK(st == NB_ERR_NOMEM);
      CHECK_ERR(NB_ERR_NOMEM, "nb_call: out of memory");
      disarm();
      nb_errclear();
      st = nb_call(f, INS, OUTS); /* the function is intact */
      CHECK(st == NB_OK);
    }
    disarm();
    if (st == NB_OK) check_outputs();
    /* later calls allocate nothing */
    arm(1);
    memset(OUT, 0, sizeof OUT);
    CHECK(nb_call(f, INS, OUTS) == NB_OK);
    CHECK(A.calls == 0);
    disarm();
    check_outputs();
    nb_fn_free(f);
    check_no_leak("nb_call", k);
    if (!hit) break;
  }
  sweep_done("first nb_call", k, points);
}

/* (d) nb_trace: the failure may happen in the library or inside the build callback */
static nb_status build_small(nb_graph *g, nb_expr *const *in, nb_expr **out, void *user) {
  (void)g;
  (void)user;
  nb_expr *s = nb_mul(nb_sin(in[0]), in[1]);
  out[0] = nb_sum(nb_matmul(s, nb_transpose(in[1], NULL)), 1, (int[]){0}, false);
  out[1] = nb_softmax(s, 1);
  return out[0] && out[1] ? NB_OK : nb_errcode();
}

static void test_alloc_trace(void) {
  install();
  nb_spec sp[2] = {{"x", NB_F64, 2, {2, 3}}, {"y", NB_F64, 2, {2, 3}}};
  double  x[6] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6}, y[6] = {1, -1, 2, -2, 0.5, 0.25};
  double  o0[2], o1[6], r0[2] = {0}, r1[6];
  for (int i = 0; i < 2; i++) {
    double s[3], mx = -INFINITY, den = 0;
    for (int j = 0; j < 3; j++) { s[j] = sin(x[i * 3 + j]) * y[i * 3 + j]; mx = fmax(mx, s[j]); }
    for (int j = 0; j < 3; j++) den += exp(s[j] - mx);
    for (int j = 0; j < 3; j++) r1[i * 3 + j] = exp(s[j] - mx) / den;
  }
  for (int j = 0; j < 2; j++) /* sum over rows of (S Y^T) */
    for (int i = 0; i < 2; i++)
      for (int l = 0; l < 3; l++) r0[j] += sin(x[i * 3 + l]) * y[i * 3 + l] * y[j * 3 + l];
  long k, points = 0;
  for (k = 1; k < KMAX && th_failed_checks < MAX_FAILS; k++) {
    arm(k);
    nb_fn *f = nb_trace(build_small, NULL, 2, sp, 2);
    int    hit = A.hits > 0;
    points += hit;
    if (!f) {
      CHECK(hit);
      CHECK(nb_errcode() == NB_ERR_NOMEM);
      CHECK(strstr(nb_errmsg(), "out of memory") != NULL);
      disarm();
      nb_errclear();
      f = nb_trace(build_small, NULL, 2, sp, 2);
      CHECK(f != NULL);
    }
    disarm();
    if (f) {
      CHECK(nb_call(f, (const void *[]){x, y}, (void *[]){o0, o1}) == NB_OK);
      for (int i = 0; i < 2; i++) CHECK_NEAR(o0[i], r0[i], 1e-14, 1e-15);
      for (int i = 0; i < 6; i++) CHECK_NEAR(o1[i], r1[i], 1e-14, 1e-15);
    }
    nb_fn_free(f);
    check_no_leak("nb_trace", k);
    if (!hit) break;
  }
  sweep_done("nb_trace", k, points);
}

/* the hook is really used, and NULL restores the default */
static void test_alloc_hook_used(void) {
  install();
  nb_graph *g = nb_graph_new();
  CHECK(g != NULL);
  CHECK(A.calls > 0);
  CHECK(A.live > 0);
  nb_graph_free(g);
  CHECK(A.live == 0);
  uninstall();
  long before = A.calls;
  g = nb_graph_new(); /* default allocator now */
  CHECK(g != NULL);
  CHECK(A.calls == before);
  nb_graph_free(g);
}

/* the same sweeps when every allocation after the k-th fails too (error paths that
 * allocate while cleaning up) */
static void test_alloc_build_sticky(void) { sticky_mode = 1; test_alloc_build(); sticky_mode = 0; }
static void test_alloc_fn_new_sticky(void) { sticky_mode = 1; test_alloc_fn_new(); sticky_mode = 0; }
static void test_alloc_first_call_sticky(void) {
  sticky_mode = 1;
  test_alloc_first_call();
  sticky_mode = 0;
}
static void test_alloc_trace_sticky(void) { sticky_mode = 1; test_alloc_trace(); sticky_mode = 0; }

/* (e) transformations: every failure point of each transformation gives
 * NULL with NB_ERR_NOMEM and no leak; the source function stays usable */
static nb_fn *small_fn(void) {
  nb_graph *g = nb_graph_new();
  int64_t   s[2] = {2, 3}, v[1] = {3};
  nb_expr  *x = nb_input(g, "x", NB_F64, 2, s), *w = nb_input(g, "w", NB_F64, 1, v);
  nb_expr  *h = nb_tanh(nb_matmul(x, w));
  nb_expr  *y = nb_sum(nb_mul(nb_softplus(h), nb_exp(nb_neg(h))), 0, NULL, false);
  nb_expr  *ins[2] = {x, w};
  nb_fn    *f = nb_fn_new(g, 2, ins, 1, &y);
  nb_graph_free(g);
  return f;
}

typedef nb_fn *(*transform_fn)(const nb_fn *f);
static nb_fn *t_vjp(const nb_fn *f) { return nb_vjp(f, NULL); }
static nb_fn *t_jvp(const nb_fn *f) { return nb_jvp(f, NULL); }
static nb_fn *t_hessian(const nb_fn *f) { return nb_hessian(f, NULL); }
static nb_fn *t_jacrev(const nb_fn *f) { return nb_jacrev(f, NULL); }
static nb_fn *t_hvp(const nb_fn *f) { return nb_hvp(f, NULL); }
static nb_fn *t_vmap(const nb_fn *f) {
  int in_axes[2] = {0, NB_UNMAPPED};
  return nb_vmap_sized(f, 2, in_axes, NULL);
}

static void sweep_transform(const char *name, transform_fn t) {
  install();
  nb_fn *f = small_fn();
  CHECK(f != NULL);
  long k, points = 0;
  for (k = 1; f && k < KMAX && th_failed_checks < MAX_FAILS; k++) {
    arm(k);
    nb_fn *r = t(f);
    int    hit = A.hits > 0;
    disarm();
    points += hit;
    if (!r) {
      CHECK(hit);
      CHECK(nb_errcode() == NB_ERR_NOMEM);
    }
    nb_fn_free(r);
    if (!hit) break;
  }
  /* f is intact: a transformation after the sweep works */
  nb_fn *r = f ? t(f) : NULL;
  CHECK(r != NULL);
  nb_fn_free(r);
  nb_fn_free(f);
  sweep_done(name, k, points);
}

static void test_alloc_transforms(void) {
  sweep_transform("nb_vjp", t_vjp);
  sweep_transform("nb_jvp", t_jvp);
  sweep_transform("nb_hessian", t_hessian);
  sweep_transform("nb_jacrev", t_jacrev);
  sweep_transform("nb_hvp", t_hvp);
  sweep_transform("nb_vmap_sized", t_vmap);
}

/* (f) nb_fn_emit_c and nb_fn_compile on a function not yet called, so the plan
 * is made inside them: every failure point gives NB_ERR_NOMEM ("...: out of
 * memory") and leaks nothing; the function still runs; the file emitted after a
 * failure is the one emitted without */
static char *emit_text(nb_fn *f, nb_status *st) {
  FILE *fp = tmpfile();
  *st = fp ? nb_fn_emit_c(f, "alloc_fn", fp) : NB_ERR_IO;
  char *text = fp && *st == NB_OK ? slurp(fp) : NULL;
  if (fp) fclose(fp);
  return text;
}

static void test_alloc_emit(void) {
  reference();
  install();
  built B;
  char *want = NULL;
  if (build_graph(&B)) {
    nb_fn    *f = fn_of(&B);
    nb_status st = NB_ERR_ARG;
    want = f ? emit_text(f, &st) : NULL;
    CHECK(want != NULL && st == NB_OK);
    nb_fn_free(f);
  }
  nb_graph_free(B.g);
  long k, points = 0;
  for (k = 1; want && k < KMAX && th_failed_checks < MAX_FAILS; k++) {
    if (!build_graph(&B)) { nb_graph_free(B.g); break; }
    nb_fn *f = fn_of(&B);
    nb_graph_free(B.g);
    CHECK(f != NULL);
    if (!f) break;
    nb_status st;
    arm(k);
    char *text = emit_text(f, &st);
    int   hit = A.hits > 0;
    disarm();
    points += hit;
    if (st != NB_OK) {
      CHECK(hit);
      CHECK(st == NB_ERR_NOMEM);
      CHECK_ERR(NB_ERR_NOMEM, "nb_fn_emit_c: out of memory");
      nb_errclear();
      text = emit_text(f, &st); /* the function is intact */
      CHECK(st == NB_OK);
    }
    CHECK(text && !strcmp(text, want));
    free(text);
    memset(OUT, 0, sizeof OUT);
    CHECK(nb_call(f, INS, OUTS) == NB_OK);
    check_outputs();
    nb_fn_free(f);
    check_no_leak("nb_fn_emit_c", k);
    if (!hit) break;
  }
  free(want);
  sweep_done("nb_fn_emit_c", k, points);
}

/* nb_fn_compile: the failed attempts stop before the compiler runs; the last one
 * compiles (once). Its files go to a private $TMPDIR, which must stay empty. */
static void test_alloc_compile(void) {
  char dir[400];
  if (!tmpdir_make(dir, sizeof dir)) return;
  saved_env tmp = save_env("TMPDIR");
  setenv("TMPDIR", dir, 1);
  reference();
  install();
  long k, points = 0;
  for (k = 1; k < KMAX && th_failed_checks < MAX_FAILS; k++) {
    built B;
    if (!build_graph(&B)) { nb_graph_free(B.g); break; }
    nb_fn *f = fn_of(&B);
    nb_graph_free(B.g);
    CHECK(f != NULL);
    if (!f) break;
    arm(k);
    nb_status st = nb_fn_compile(f);
    int       hit = A.hits > 0;
    disarm();
    points += hit;
    if (st != NB_OK && !hit)
      fprintf(stderr, "    nb_fn_compile failed with no allocation failure: %s\n", nb_errmsg());
    if (st != NB_OK) {
      CHECK(hit);
      CHECK(st == NB_ERR_NOMEM);
      CHECK_ERR(NB_ERR_NOMEM, "nb_fn_compile: out of memory");
      nb_errclear();
    } else {
      CHECK(!hit); /* no failure is swallowed */
    }
    CHECK(dir_entries(dir) == 0);
    memset(OUT, 0, sizeof OUT); /* natively or not, the same values */
    CHECK(nb_call(f, INS, OUTS) == NB_OK);
    check_outputs();
    nb_fn_free(f);
    check_no_leak("nb_fn_compile", k);
    if (!hit) break;
  }
  sweep_done("nb_fn_compile", k, points);
  restore_env(&tmp);
  saved_env_free(&tmp);
  if (rmdir(dir)) FAILF("nb_fn_compile left files in %s", dir);
}

static void test_alloc_emit_sticky(void) { sticky_mode = 1; test_alloc_emit(); sticky_mode = 0; }
static void test_alloc_compile_sticky(void) { sticky_mode = 1; test_alloc_compile(); sticky_mode = 0; }

void suite_alloc(void) {
  RUN(test_alloc_hook_used);
  RUN(test_alloc_build);
  RUN(test_alloc_fn_new);
  RUN(test_alloc_first_call);
  RUN(test_alloc_trace);
  RUN(test_alloc_transforms);
  RUN(test_alloc_build_sticky);
  RUN(test_alloc_fn_new_sticky);
  RUN(test_alloc_first_call_sticky);
  RUN(test_alloc_trace_sticky);
  RUN(test_alloc_emit);
  RUN(test_alloc_compile);
  RUN(test_alloc_emit_sticky);
  RUN(test_alloc_compile_sticky);
  nb_set_allocator(NULL);
}
