/* The C side of `make bench`: for every workload B1..B6, builds the nabla functions,
 * the hand-written C and (when installed) the ADOL-C tapes, checks their values against
 * each other, writes the inputs and the checked values for the PyTorch script, and times
 * everything. Results go to DIR/c.tsv; bench/report.c prints the table.
 *
 *   nbbench DIR [ADBENCH_DIR]
 *
 * nabla's functions and every buffer are made before timing: the timed loops only call. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <nabla.h>

#include "bench.h"
#include "hand.h"
#include "nb_build.h"
#ifdef NB_HAVE_ADOLC
#include "adolc_bench.h"
#endif

static const char *adbench_dir = "../shared/data/adbench";

/* NB_BENCH_NABLA_ONLY=1: the second pass of the run script, under NB_NUM_THREADS=1: times
 * nabla only, as "nabla-1t", and writes no data files */
static bool        nabla_only;
static const char *nabla_name = "nabla";

/* ---- generic bodies ----------------------------------------------------------- */

typedef struct nbc {
  nb_fn      *f;
  const void *in[10];
  void       *out[10];
} nbc;

static int nb_body(void *p) {
  nbc *c = p;
  return nb_call(c->f, c->in, c->out) != NB_OK;
}

/* the normwise relative difference of c's outputs now and in `before` */
static double outputs_diff(const nbc *c, void *const *before) {
  double worst = 0;
  for (int j = 0; j < nb_fn_nout(c->f); j++) {
    int64_t n = nb_fn_out_size(c->f, j);
    double  e = nb_fn_out_dtype(c->f, j) == NB_F64 ? rel_err_f64(c->out[j], before[j], n)
                                                    : rel_err_f32(c->out[j], before[j], n);
    if (e > worst) worst = e;
  }
  return worst;
}

/* nabla's function again as native code (nb_fn_compile), timed as "nabla-c" once its
 * outputs match the interpreter's */
static void time_native(const char *id, const char *cs, const char *op, nbc *c) {
  void *before[10] = {0};
  bool  ok = true;
  int   nout = nb_fn_nout(c->f);
  for (int j = 0; j < nout && ok; j++) {
    size_t bytes = (size_t)nb_fn_out_size(c->f, j) * (nb_fn_out_dtype(c->f, j) == NB_F64 ? 8 : 4);
    ok = (before[j] = malloc(bytes ? bytes : 1)) != NULL;
    if (ok) memcpy(before[j], c->out[j], bytes);
  }
  if (!ok) {
    res_note(id, cs, "nabla-c", "%s: out of memory", op);
  } else if (nb_fn_compile(c->f) != NB_OK || nb_call(c->f, c->in, c->out) != NB_OK) {
    res_note(id, cs, "nabla-c", "%s: not timed: %s", op, nb_errmsg());
  } else {
    char what[64];
    snprintf(what, sizeof what, "nabla-c %s vs nabla", op);
    bool f32 = nb_fn_out_dtype(c->f, 0) == NB_F32;
    if (check_close(id, cs, what, outputs_diff(c, before), f32 ? 1e-4 : 1e-12))
      res_time(id, cs, op, "nabla-c", bench_time(nb_body, c));
  }
  for (int j = 0; j < nout; j++) free(before[j]);
}

static void time_it(const char *id, const char *cs, const char *op, const char *impl,
                    bench_body body, void *ctx) {
  bool nb = !strcmp(impl, "nabla");
  if (nabla_only && !nb) return;
  res_time(id, cs, op, nb ? nabla_name : impl, bench_time(body, ctx));
  if (nb && !nabla_only) time_native(id, cs, op, ctx);
}

static bool save_ok(bool ok) { return ok && !nabla_only; }

static bool nb_ok(nb_status st, const char *id, const char *cs, const char *what) {
  if (st == NB_OK) return true;
  res_note(id, cs, "nabla", "%s failed: %s: workload aborted", what, nb_errmsg());
  return false;
}

static bool built(const char *id, const char *cs, nb_fn *const *fs, int n) {
  for (int i = 0; i < n; i++)
    if (!fs[i]) {
      res_note(id, cs, "nabla", "cannot build the functions: %s: workload aborted", nb_errmsg());
      return false;
    }
  return true;
}

static void free_fns(nb_fn **fs, int n) {
  for (int i = 0; i < n; i++) nb_fn_free(fs[i]);
}

/* "12.3 MB", "4.0 KB", "512 B" */
static const char *fmt_bytes(double b, char *buf) {
  if (b >= 1024.0 * 1024.0) snprintf(buf, 32, "%.1f MB", b / (1024.0 * 1024.0));
  else if (b >= 1024.0) snprintf(buf, 32, "%.1f KB", b / 1024.0);
  else snprintf(buf, 32, "%.0f B", b);
  return buf;
}

#ifdef NB_HAVE_ADOLC
typedef struct adc {
  int           tag, m, n;
  const double *x, *u, *t;
  double       *y, *g, **J;
} adc;
static int ad_f_body(void *p) {
  adc *c = p;
  return ad_function(c->tag, c->m, c->n, c->x, c->y) < 0;
}
static int ad_vjp_body(void *p) {
  adc *c = p;
  return ad_vjp(c->tag, c->m, c->n, c->x, c->u, c->y, c->g) < 0;
}
static int ad_jvp_body(void *p) {
  adc *c = p;
  return ad_jvp(c->tag, c->m, c->n, c->x, c->t, c->y, c->g) < 0;
}
static int ad_jac_body(void *p) {
  adc *c = p;
  return ad_jacobian(c->tag, c->m, c->n, c->x, c->J) < 0;
}
static int ad_grad_body(void *p) {
  adc *c = p;
  return ad_gradient(c->tag, c->n, c->x, c->g) < 0;
}
static int ad_hv_body(void *p) {
  adc *c = p;
  return ad_hess_vec(c->tag, c->n, c->x, c->t, c->g) < 0;
}
static bool ad_rc(int rc, const char *id, const char *cs, const char *what) {
  if (rc >= 0) return true;
  res_note(id, cs, "ADOL-C", "%s returned %d: workload aborted", what, rc);
  return false;
}
#endif

/* ======================================================== B1: seed polynomial */

typedef struct b1ctx {
  const double *x, *t, *ct;
  double        y[3], xbar[4], ydot[3], J[12];
} b1ctx;
static int b1_f(void *p) {
  b1ctx *c = p;
  hand_poly_f(c->x, c->y);
  return 0;
}
static int b1_vjp(void *p) {
  b1ctx *c = p;
  hand_poly_vjp(c->x, c->ct, c->y, c->xbar);
  return 0;
}
static int b1_jvp(void *p) {
  b1ctx *c = p;
  hand_poly_jvp(c->x, c->t, c->y, c->ydot);
  return 0;
}
static int b1_jac(void *p) {
  b1ctx *c = p;
  hand_poly_jac(c->x, c->J);
  return 0;
}

static void b1(void) {
  const char  *id = "B1", *cs = "R4->R3";
  const double x[4] = {1.0, 0.5, 1.5, 2.0}, t[4] = {0.2, 0.3, 0.4, 0.8}, ct[3] = {0.5, 0.8, 1.0};
  nb_fn       *fs[4] = {nbw_poly(), NULL, NULL, NULL};
  fs[1] = nb_vjp(fs[0], NULL), fs[2] = nb_jvp(fs[0], NULL), fs[3] = nb_jacobian(fs[0], NULL);
  printf("%s seed polynomial R^4 -> R^3 (f64)\n", id);
  if (!built(id, cs, fs, 4)) {
    free_fns(fs, 4);
    return;
  }
  b1ctx h = {x, t, ct, {0}, {0}, {0}, {0}};
  b1_f(&h), b1_vjp(&h), b1_jvp(&h), b1_jac(&h);
  double ny[3], vy[3], nxbar[4], jy[3], nydot[3], nJ[12];
  nbc    cf = {fs[0], {x}, {ny}}, cv = {fs[1], {x, ct}, {vy, nxbar}},
      cj = {fs[2], {x, t}, {jy, nydot}}, cJ = {fs[3], {x}, {nJ}};
  if (!nb_ok(nb_call(cf.f, cf.in, cf.out), id, cs, "f") ||
      !nb_ok(nb_call(cv.f, cv.in, cv.out), id, cs, "vjp") ||
      !nb_ok(nb_call(cj.f, cj.in, cj.out), id, cs, "jvp") ||
      !nb_ok(nb_call(cJ.f, cJ.in, cJ.out), id, cs, "jacobian")) {
    free_fns(fs, 4);
    return;
  }
  /* the seed's printed values (float32): a sanity check of the hand-written code */
  const double seed_y[3] = {9.61084, 7.59375, 8.542969};
  const double seed_vjp[4] = {83.697365, 194.49492, 88.94971, 39.546825};
  bool ok = check_close(id, cs, "hand f vs the seed's printout", rel_err_f64(h.y, seed_y, 3), 1e-6) &&
            check_close(id, cs, "hand vjp vs the seed's printout", rel_err_f64(h.xbar, seed_vjp, 4), 1e-6) &&
            check_close(id, cs, "nabla f vs hand", rel_err_f64(ny, h.y, 3), 1e-14) &&
            check_close(id, cs, "nabla vjp vs hand",
                        fmax(rel_err_f64(vy, h.y, 3), rel_err_f64(nxbar, h.xbar, 4)), 1e-13) &&
            check_close(id, cs, "nabla jvp vs hand",
                        fmax(rel_err_f64(jy, h.y, 3), rel_err_f64(nydot, h.ydot, 3)), 1e-13) &&
            check_close(id, cs, "nabla jacobian vs hand", rel_err_f64(nJ, h.J, 12), 1e-13);
#ifdef NB_HAVE_ADOLC
  int     tag = nabla_only ? -1 : ad_record_poly(x);
  double  ay[3], ag[4], aJr[12], *aJ[3] = {aJr, aJr + 4, aJr + 8};
  adc     ac = {tag, 3, 4, x, ct, t, ay, ag, aJ};
  if (ok && !nabla_only) {
    ok = ad_rc(ad_f_body(&ac) ? -1 : 0, id, cs, "function") &&
         check_close(id, cs, "ADOL-C f vs hand", rel_err_f64(ay, h.y, 3), 1e-14) &&
         ad_rc(ad_vjp_body(&ac) ? -1 : 0, id, cs, "zos_forward+fos_reverse") &&
         check_close(id, cs, "ADOL-C vjp vs hand", rel_err_f64(ag, h.xbar, 4), 1e-13) &&
         ad_rc(ad_jvp_body(&ac) ? -1 : 0, id, cs, "fos_forward") &&
         check_close(id, cs, "ADOL-C jvp vs hand", rel_err_f64(ag, h.ydot, 3), 1e-13) &&
         ad_rc(ad_jac_body(&ac) ? -1 : 0, id, cs, "jacobian") &&
         check_close(id, cs, "ADOL-C jacobian vs hand", rel_err_f64(aJr, h.J, 12), 1e-13);
  }
#endif
  if (save_ok(ok))
    ok = save_f64("B1_x.f64", x, 4) && save_f64("B1_t.f64", t, 4) && save_f64("B1_ct.f64", ct, 3) &&
         save_f64("B1_y.f64", h.y, 3) && save_f64("B1_vjp.f64", h.xbar, 4) &&
         save_f64("B1_jvp.f64", h.ydot, 3) && save_f64("B1_jac.f64", h.J, 12);
  if (ok) {
    time_it(id, cs, "f", "hand", b1_f, &h);
    time_it(id, cs, "f", "nabla", nb_body, &cf);
    time_it(id, cs, "vjp", "hand", b1_vjp, &h);
    time_it(id, cs, "vjp", "nabla", nb_body, &cv);
    time_it(id, cs, "jvp", "hand", b1_jvp, &h);
    time_it(id, cs, "jvp", "nabla", nb_body, &cj);
    time_it(id, cs, "jacobian", "hand", b1_jac, &h);
    time_it(id, cs, "jacobian", "nabla", nb_body, &cJ);
#ifdef NB_HAVE_ADOLC
    time_it(id, cs, "f", "ADOL-C", ad_f_body, &ac);
    time_it(id, cs, "vjp", "ADOL-C", ad_vjp_body, &ac);
    time_it(id, cs, "jvp", "ADOL-C", ad_jvp_body, &ac);
    time_it(id, cs, "jacobian", "ADOL-C", ad_jac_body, &ac);
#endif
  }
#ifdef NB_HAVE_ADOLC
  if (tag >= 0) ad_remove(tag);
#endif
  free_fns(fs, 4);
}

/* ====================================================== B2: x^2 + sin(x^2) */

typedef struct b2ctx {
  int64_t       n;
  const double *x, *ct;
  double       *y, *xbar;
} b2ctx;
static int b2_f(void *p) {
  b2ctx *c = p;
  hand_sqsin_f(c->n, c->x, c->y);
  return 0;
}
static int b2_vjp(void *p) {
  b2ctx *c = p;
  hand_sqsin_vjp(c->n, c->x, c->ct, c->y, c->xbar);
  return 0;
}

static void b2(int64_t n, const char *cs, const char *tagname) {
  const char *id = "B2";
  printf("%s x^2 + sin(x^2), %s (f64)\n", id, cs);
  nb_fn *fs[2] = {nbw_sqsin(n), NULL};
  fs[1] = nb_vjp(fs[0], NULL);
  if (!built(id, cs, fs, 2)) {
    free_fns(fs, 2);
    return;
  }
  double *x = dalloc(n), *ct = dalloc(n), *hy = dalloc(n), *hx = dalloc(n);
  double *ny = dalloc(n), *vy = dalloc(n), *vx = dalloc(n);
  rng     r = {42};
  for (int64_t i = 0; i < n; i++) x[i] = rng_uniform(&r, -2, 2), ct[i] = 1.0;
  b2ctx h = {n, x, ct, hy, hx};
  nbc   cf = {fs[0], {x}, {ny}}, cv = {fs[1], {x, ct}, {vy, vx}};
  bool  ok = nb_ok(nb_call(cf.f, cf.in, cf.out), id, cs, "f") &&
             nb_ok(nb_call(cv.f, cv.in, cv.out), id, cs, "vjp");
  if (ok) {
    b2_vjp(&h);
    ok = check_close(id, cs, "nabla f vs hand", rel_err_f64(ny, hy, n), 1e-14) &&
         check_close(id, cs, "nabla vjp vs hand",
                     fmax(rel_err_f64(vy, hy, n), rel_err_f64(vx, hx, n)), 1e-14);
  }
  if (!nabla_only) {
    int64_t wf = nb_fn_workspace_bytes(fs[0]), wv = nb_fn_workspace_bytes(fs[1]);
    double  bf = 2.0 * n * 8, bv = 4.0 * n * 8;
    char    m[4][32];
    res_mem(id, cs,
            "f: workspace %s + %s in/out; vjp: workspace %s + %s in/out; peak (workspace + "
            "in/out) vjp/f = %.2fx; the hand-written vjp needs no workspace",
            fmt_bytes((double)wf, m[0]), fmt_bytes(bf, m[1]), fmt_bytes((double)wv, m[2]),
            fmt_bytes(bv, m[3]), ((double)wv + bv) / ((double)wf + bf));
  }
#ifdef NB_HAVE_ADOLC
  int    tag = -1;
  double t0 = bench_now();
  adc    ac = {0, (int)n, (int)n, x, ct, NULL, ny, vx, NULL};
  if (ok && !nabla_only) {
    tag = ad_record_sqsin(n, x);
    ac.tag = tag;
    printf("  %-4s %-10s ADOL-C tape: %lld operations, recorded in %.2f s\n", id, cs,
           (long long)ad_tape_ops(tag), bench_now() - t0);
    memset(ny, 0, (size_t)n * sizeof *ny), memset(vx, 0, (size_t)n * sizeof *vx);
    ok = ad_rc(ad_function(tag, (int)n, (int)n, x, ny), id, cs, "function") &&
         check_close(id, cs, "ADOL-C f vs hand", rel_err_f64(ny, hy, n), 1e-14) &&
         ad_rc(ad_vjp(tag, (int)n, (int)n, x, ct, vy, vx), id, cs, "zos_forward+fos_reverse") &&
         check_close(id, cs, "ADOL-C vjp vs hand", rel_err_f64(vx, hx, n), 1e-14);
  }
#endif
  if (save_ok(ok)) {
    char nm[64];
    snprintf(nm, sizeof nm, "B2_%s_x.f64", tagname), ok = ok && save_f64(nm, x, n);
    snprintf(nm, sizeof nm, "B2_%s_y.f64", tagname), ok = ok && save_f64(nm, hy, n);
    snprintf(nm, sizeof nm, "B2_%s_xbar.f64", tagname), ok = ok && save_f64(nm, hx, n);
  }
  if (ok) {
    time_it(id, cs, "f", "hand", b2_f, &h);
    time_it(id, cs, "f", "nabla", nb_body, &cf);
    time_it(id, cs, "vjp", "hand", b2_vjp, &h);
    time_it(id, cs, "vjp", "nabla", nb_body, &cv);
#ifdef NB_HAVE_ADOLC
    time_it(id, cs, "f", "ADOL-C", ad_f_body, &ac);
    time_it(id, cs, "vjp", "ADOL-C", ad_vjp_body, &ac);
#endif
  }
#ifdef NB_HAVE_ADOLC
  if (tag >= 0) ad_remove(tag);
#endif
  free(x), free(ct), free(hy), free(hx), free(ny), free(vy), free(vx);
  free_fns(fs, 2);
}

/* ============================================================== B3: MLP */

enum { MLP_B = 256, MLP_IN = 784, MLP_H = 512, MLP_OUT = 10 };

typedef struct b3ctx {
  hand_mlp m;
  float   *g[6];
  float    loss;
} b3ctx;
static int b3_f(void *p) {
  b3ctx *c = p;
  c->loss = hand_mlp_loss(&c->m);
  return 0;
}
static int b3_grad(void *p) {
  b3ctx *c = p;
  c->loss = hand_mlp_grad(&c->m, c->g);
  return 0;
}

static void b3(void) {
  const char *id = "B3", *cs = "b256";
  printf("%s MLP %d-%d-%d-%d tanh, batch %d, f32, softmax cross-entropy\n", id, MLP_IN, MLP_H,
         MLP_H, MLP_OUT, MLP_B);
  const int     wrt[6] = {0, 1, 2, 3, 4, 5};
  nb_diff_opts  o = {6, wrt, 0};
  nb_fn        *fs[2] = {nbw_mlp(MLP_B, MLP_IN, MLP_H, MLP_OUT), NULL};
  fs[1] = nb_grad(fs[0], &o);
  if (!built(id, cs, fs, 2)) {
    free_fns(fs, 2);
    return;
  }
  const int64_t sz[8] = {(int64_t)MLP_IN * MLP_H, MLP_H, (int64_t)MLP_H * MLP_H, MLP_H,
                         (int64_t)MLP_H * MLP_OUT, MLP_OUT, (int64_t)MLP_B * MLP_IN,
                         (int64_t)MLP_B * MLP_OUT};
  const char *names[8] = {"W1", "b1", "W2", "b2", "W3", "b3", "X", "Y"};
  float      *in[8], *hg[6], *ng[6];
  rng         r = {7};
  for (int k = 0; k < 8; k++) in[k] = falloc(sz[k]);
  for (int k = 0; k < 6; k++) {
    double s = k % 2 ? 0.1 : 1.0 / sqrt(k == 0 ? MLP_IN : MLP_H);
    for (int64_t i = 0; i < sz[k]; i++) in[k][i] = (float)rng_uniform(&r, -s, s);
    hg[k] = falloc(sz[k]), ng[k] = falloc(sz[k]);
  }
  for (int64_t i = 0; i < sz[6]; i++) in[6][i] = (float)rng_uniform(&r, 0, 1);
  double *labels = dalloc(MLP_B);
  for (int b = 0; b < MLP_B; b++) {
    int c = (int)rng_uniform(&r, 0, MLP_OUT);
    c = c < MLP_OUT ? c : MLP_OUT - 1;
    labels[b] = c, in[7][b * MLP_OUT + c] = 1;
  }
  int64_t BH = (int64_t)MLP_B * MLP_H;
  b3ctx   h = {{MLP_B, MLP_IN, MLP_H, MLP_OUT, in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7],
                falloc(BH), falloc(BH), falloc(MLP_B * MLP_OUT), falloc(BH), falloc(BH),
                falloc(MLP_B * MLP_OUT)},
               {hg[0], hg[1], hg[2], hg[3], hg[4], hg[5]},
               0};
  float nloss = 0;
  nbc   cf = {fs[0], {in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7]}, {&nloss}};
  nbc   cg = {fs[1], {in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7]},
              {ng[0], ng[1], ng[2], ng[3], ng[4], ng[5]}};
  bool  ok = nb_ok(nb_call(cf.f, cf.in, cf.out), id, cs, "loss") &&
             nb_ok(nb_call(cg.f, cg.in, cg.out), id, cs, "gradient");
  if (ok) {
    b3_grad(&h);
    float hl = h.loss;
    ok = check_close(id, cs, "nabla loss vs hand", rel_err_f32(&nloss, &hl, 1), 1e-5);
    double e = 0;
    for (int k = 0; k < 6; k++) e = fmax(e, rel_err_f32(ng[k], hg[k], sz[k]));
    ok = ok && check_close(id, cs, "nabla gradient vs hand (per block)", e, 1e-4);
    if (save_ok(ok)) {
      char nm[64];
      for (int k = 0; k < 8; k++)
        snprintf(nm, sizeof nm, "B3_%s.f32", names[k]), ok = ok && save_f32(nm, in[k], sz[k]);
      for (int k = 0; k < 6; k++)
        snprintf(nm, sizeof nm, "B3_g%s.f32", names[k]), ok = ok && save_f32(nm, hg[k], sz[k]);
      ok = ok && save_f64("B3_labels.f64", labels, MLP_B) && save_f32("B3_loss.f32", &hl, 1);
    }
  }
#ifdef NB_HAVE_ADOLC
  if (!nabla_only) res_note(id, cs, "ADOL-C", "not run: a scalar tape of this MLP has about 1e9 operations");
#endif
  if (ok) {
    time_it(id, cs, "loss", "hand", b3_f, &h);
    time_it(id, cs, "loss", "nabla", nb_body, &cf);
    time_it(id, cs, "grad", "hand", b3_grad, &h);
    time_it(id, cs, "grad", "nabla", nb_body, &cg);
  }
  for (int k = 0; k < 8; k++) free(in[k]);
  for (int k = 0; k < 6; k++) free(hg[k]), free(ng[k]);
  free(h.m.A1), free(h.m.A2), free(h.m.Z3), free(h.m.G1), free(h.m.G2), free(h.m.G3);
  free(labels);
  free_fns(fs, 2);
}

/* ========================================================= B4: Rosenbrock */

typedef struct b4ctx {
  int64_t       n;
  const double *x, *v;
  double       *g, *hv, f;
} b4ctx;
static int b4_f(void *p) {
  b4ctx *c = p;
  c->f = hand_rosen_f(c->n, c->x);
  return 0;
}
static int b4_grad(void *p) {
  b4ctx *c = p;
  hand_rosen_grad(c->n, c->x, c->g);
  return 0;
}
static int b4_hvp(void *p) {
  b4ctx *c = p;
  hand_rosen_hvp(c->n, c->x, c->v, c->hv);
  return 0;
}

static void b4(int64_t n, const char *cs) {
  const char *id = "B4";
  printf("%s Rosenbrock, %s (f64)\n", id, cs);
  nb_fn *fs[3] = {nbw_rosen(n), NULL, NULL};
  fs[1] = nb_grad(fs[0], NULL), fs[2] = nb_hvp(fs[0], NULL);
  if (!built(id, cs, fs, 3)) {
    free_fns(fs, 3);
    return;
  }
  double *x = dalloc(n), *v = dalloc(n), *hg = dalloc(n), *hh = dalloc(n), *ng = dalloc(n), *nh = dalloc(n);
  rng     r = {4};
  for (int64_t i = 0; i < n; i++) x[i] = rng_uniform(&r, -1.5, 1.5), v[i] = rng_uniform(&r, -1, 1);
  b4ctx  h = {n, x, v, hg, hh, 0};
  double nf = 0;
  nbc    cf = {fs[0], {x}, {&nf}}, cg = {fs[1], {x}, {ng}}, ch = {fs[2], {x, v}, {nh}};
  bool   ok = nb_ok(nb_call(cf.f, cf.in, cf.out), id, cs, "f") &&
              nb_ok(nb_call(cg.f, cg.in, cg.out), id, cs, "grad") &&
              nb_ok(nb_call(ch.f, ch.in, ch.out), id, cs, "hvp");
  if (ok) {
    b4_f(&h), b4_grad(&h), b4_hvp(&h);
    ok = check_close(id, cs, "nabla f vs hand", rel_err_f64(&nf, &h.f, 1), 1e-12) &&
         check_close(id, cs, "nabla grad vs hand", rel_err_f64(ng, hg, n), 1e-13) &&
         check_close(id, cs, "nabla hvp vs hand", rel_err_f64(nh, hh, n), 1e-13);
  }
#ifdef NB_HAVE_ADOLC
  int    tag = -1;
  double af = 0, t0 = bench_now();
  adc    ac = {0, 1, (int)n, x, NULL, v, &af, ng, NULL};
  if (ok && !nabla_only) {
    tag = ad_record_rosen(n, x);
    ac.tag = tag;
    printf("  %-4s %-10s ADOL-C tape: %lld operations, recorded in %.2f s\n", id, cs,
           (long long)ad_tape_ops(tag), bench_now() - t0);
    ok = ad_rc(ad_function(tag, 1, (int)n, x, &af), id, cs, "function") &&
         check_close(id, cs, "ADOL-C f vs hand", rel_err_f64(&af, &h.f, 1), 1e-12) &&
         ad_rc(ad_gradient(tag, (int)n, x, ng), id, cs, "gradient") &&
         check_close(id, cs, "ADOL-C grad vs hand", rel_err_f64(ng, hg, n), 1e-13) &&
         ad_rc(ad_hess_vec(tag, (int)n, x, v, nh), id, cs, "hess_vec") &&
         check_close(id, cs, "ADOL-C hvp vs hand", rel_err_f64(nh, hh, n), 1e-13);
  }
#endif
  if (save_ok(ok))
    ok = save_f64("B4_x.f64", x, n) && save_f64("B4_v.f64", v, n) && save_f64("B4_f.f64", &h.f, 1) &&
         save_f64("B4_grad.f64", hg, n) && save_f64("B4_hvp.f64", hh, n);
  if (ok) {
    time_it(id, cs, "f", "hand", b4_f, &h);
    time_it(id, cs, "f", "nabla", nb_body, &cf);
    time_it(id, cs, "grad", "hand", b4_grad, &h);
    time_it(id, cs, "grad", "nabla", nb_body, &cg);
    time_it(id, cs, "hvp", "hand", b4_hvp, &h);
    time_it(id, cs, "hvp", "nabla", nb_body, &ch);
#ifdef NB_HAVE_ADOLC
    time_it(id, cs, "f", "ADOL-C", ad_f_body, &ac);
    time_it(id, cs, "grad", "ADOL-C", ad_grad_body, &ac);
    time_it(id, cs, "hvp", "ADOL-C", ad_hv_body, &ac);
#endif
  }
#ifdef NB_HAVE_ADOLC
  if (tag >= 0) ad_remove(tag);
#endif
  free(x), free(v), free(hg), free(hh), free(ng), free(nh);
  free_fns(fs, 3);
}

/* ================================================================= B5: GMM */

typedef struct b5ctx {
  const gmm_data *D;
  const double   *alpha, *means, *icf;
  double         *g, *scratch, f;
} b5ctx;
static int b5_f(void *p) {
  b5ctx *c = p;
  c->f = hand_gmm_f(c->D, c->alpha, c->means, c->icf, c->scratch);
  return 0;
}
static int b5_grad(void *p) {
  b5ctx *c = p;
  const gmm_data *D = c->D;
  c->f = hand_gmm_grad(D, c->alpha, c->means, c->icf, c->g, c->g + D->K, c->g + D->K + D->K * D->d,
                       c->scratch);
  return 0;
}

static void b5(const char *file, const char *cs, double ref) {
  const char *id = "B5";
  char        path[4096], err[4200];
  snprintf(path, sizeof path, "%s/gmm/%s", adbench_dir, file);
  printf("%s ADBench GMM %s (%s)\n", id, cs, file);
  gmm_data D;
  if (!gmm_read(path, &D, err, sizeof err)) {
    res_note(id, cs, "-",
             "skipped: %s (NB_ADBENCH_DIR names the ADBench data; default ../shared/data/adbench)",
             err);
    return;
  }
  nb_fn *fs[3] = {nbw_gmm(&D, 0), NULL, NULL};
  fs[1] = nb_grad(fs[0], NULL), fs[2] = nb_vjp(fs[0], NULL);
  if (!built(id, cs, fs, 3)) {
    free(D.all), free_fns(fs, 3);
    return;
  }
  int64_t nv = (int64_t)D.K * (D.d + 1) * (D.d + 2) / 2;
  double *hg = dalloc(nv), *ng = dalloc(nv), nf = 0, vf = 0, one = 1.0, *vg = dalloc(nv);
  b5ctx   h = {&D, D.alpha, D.means, D.icf, hg, dalloc(hand_gmm_scratch(&D)), 0};
  hand_gmm_prepare(&D, h.scratch);
  nbc     cf = {fs[0], {D.alpha, D.means, D.icf}, {&nf}};
  nbc     cg = {fs[1], {D.alpha, D.means, D.icf}, {ng, ng + D.K, ng + D.K + D.K * D.d}};
  nbc     cv = {fs[2], {D.alpha, D.means, D.icf, &one}, {&vf, vg, vg + D.K, vg + D.K + D.K * D.d}};
  bool    ok = nb_ok(nb_call(cf.f, cf.in, cf.out), id, cs, "objective") &&
               nb_ok(nb_call(cg.f, cg.in, cg.out), id, cs, "gradient") &&
               nb_ok(nb_call(cv.f, cv.in, cv.out), id, cs, "vjp");
  if (ok) {
    b5_f(&h);
    double hf = h.f;
    b5_grad(&h);
    ok = check_close(id, cs, "hand objective vs ADBench reference", fabs(hf - ref) / fabs(ref), 1e-12) &&
         check_close(id, cs, "nabla objective vs ADBench reference", fabs(nf - ref) / fabs(ref), 1e-12) &&
         check_close(id, cs, "hand gradient's objective vs reference", fabs(h.f - ref) / fabs(ref), 1e-12) &&
         check_close(id, cs, "nabla gradient vs hand", rel_err_f64(ng, hg, nv), 1e-11) &&
         check_close(id, cs, "nabla vjp vs hand", rel_err_f64(vg, hg, nv), 1e-11);
  }
  if (!nabla_only) {
    int64_t wf = nb_fn_workspace_bytes(fs[0]), wv = nb_fn_workspace_bytes(fs[2]),
            wg = nb_fn_workspace_bytes(fs[1]);
    double bf = 8.0 * (nv + 1), bv = 8.0 * (2 * nv + 2);
    char   m[6][32];
    res_mem(id, cs,
            "f: workspace %s + %s in/out; vjp: workspace %s + %s in/out (grad: workspace %s); "
            "peak vjp/f = %.2fx; the hand-written gradient uses %s of scratch",
            fmt_bytes((double)wf, m[0]), fmt_bytes(bf, m[1]), fmt_bytes((double)wv, m[2]),
            fmt_bytes(bv, m[3]), fmt_bytes((double)wg, m[4]), ((double)wv + bv) / ((double)wf + bf),
            fmt_bytes(8.0 * (double)hand_gmm_scratch(&D), m[5]));
  }
#ifdef NB_HAVE_ADOLC
  int    tag = -1;
  double af = 0, t0 = bench_now(), *ax = dalloc(nv);
  memcpy(ax, D.alpha, (size_t)nv * sizeof *ax); /* alpha, means, icf are contiguous in the file */
  adc ac = {0, 1, (int)nv, ax, NULL, NULL, &af, ng, NULL};
  if (ok && !nabla_only) {
    tag = ad_record_gmm(&D, D.alpha, D.means, D.icf);
    ac.tag = tag;
    printf("  %-4s %-10s ADOL-C tape: %lld operations, recorded in %.2f s\n", id, cs,
           (long long)ad_tape_ops(tag), bench_now() - t0);
    ok = ad_rc(ad_function(tag, 1, (int)nv, ax, &af), id, cs, "function") &&
         check_close(id, cs, "ADOL-C objective vs reference", fabs(af - ref) / fabs(ref), 1e-12) &&
         ad_rc(ad_gradient(tag, (int)nv, ax, ng), id, cs, "gradient") &&
         check_close(id, cs, "ADOL-C gradient vs hand", rel_err_f64(ng, hg, nv), 1e-11);
  }
#endif
  if (save_ok(ok)) {
    char nm[64];
    snprintf(nm, sizeof nm, "B5_%s_grad.f64", cs), ok = save_f64(nm, hg, nv);
  }
  if (ok) {
    time_it(id, cs, "objective", "hand", b5_f, &h);
    time_it(id, cs, "objective", "nabla", nb_body, &cf);
    time_it(id, cs, "gradient", "hand", b5_grad, &h);
    time_it(id, cs, "gradient", "nabla", nb_body, &cg);
#ifdef NB_HAVE_ADOLC
    time_it(id, cs, "objective", "ADOL-C", ad_f_body, &ac);
    time_it(id, cs, "gradient", "ADOL-C", ad_grad_body, &ac);
#endif
  }
#ifdef NB_HAVE_ADOLC
  if (tag >= 0) ad_remove(tag);
  free(ax);
#endif
  free(hg), free(ng), free(vg), free(h.scratch), free(D.all);
  free_fns(fs, 3);
}

/* ============================================== B6: Jacobian of a small MLP */

typedef struct b6ctx {
  const double *x, *W1, *b1, *W2, *b2;
  double        y[M6_OUT], J[M6_OUT * M6_IN];
} b6ctx;
static int b6_f(void *p) {
  b6ctx *c = p;
  hand_mlp6_f(c->x, c->W1, c->b1, c->W2, c->b2, c->y);
  return 0;
}
static int b6_jac(void *p) {
  b6ctx *c = p;
  hand_mlp6_jac(c->x, c->W1, c->b1, c->W2, c->J);
  return 0;
}

static void b6(void) {
  const char *id = "B6", *cs = "3-64-5";
  printf("%s Jacobian of an MLP %d-%d-%d (tanh, f64) at one point\n", id, M6_IN, M6_H, M6_OUT);
  const int    wrt[1] = {0};
  nb_diff_opts o = {1, wrt, 0};
  nb_fn       *fs[2] = {nbw_mlp6(), NULL};
  fs[1] = nb_jacobian(fs[0], &o);
  if (!built(id, cs, fs, 2)) {
    free_fns(fs, 2);
    return;
  }
  double x[M6_IN] = {0.3, -0.7, 0.5}, W1[M6_H * M6_IN], b1[M6_H], W2[M6_OUT * M6_H], b2[M6_OUT];
  rng    r = {6};
  for (int i = 0; i < M6_H * M6_IN; i++) W1[i] = rng_uniform(&r, -1, 1);
  for (int i = 0; i < M6_H; i++) b1[i] = rng_uniform(&r, -0.5, 0.5);
  for (int i = 0; i < M6_OUT * M6_H; i++) W2[i] = rng_uniform(&r, -0.125, 0.125);
  for (int i = 0; i < M6_OUT; i++) b2[i] = rng_uniform(&r, -0.5, 0.5);
  b6ctx  h = {x, W1, b1, W2, b2, {0}, {0}};
  double ny[M6_OUT], nJ[M6_OUT * M6_IN];
  nbc    cf = {fs[0], {x, W1, b1, W2, b2}, {ny}}, cj = {fs[1], {x, W1, b1, W2, b2}, {nJ}};
  bool   ok = nb_ok(nb_call(cf.f, cf.in, cf.out), id, cs, "f") &&
              nb_ok(nb_call(cj.f, cj.in, cj.out), id, cs, "jacobian");
  if (ok) {
    b6_f(&h), b6_jac(&h);
    ok = check_close(id, cs, "nabla f vs hand", rel_err_f64(ny, h.y, M6_OUT), 1e-14) &&
         check_close(id, cs, "nabla jacobian vs hand", rel_err_f64(nJ, h.J, M6_OUT * M6_IN), 1e-14);
  }
#ifdef NB_HAVE_ADOLC
  int    tag = -1;
  double ay[M6_OUT], aJr[M6_OUT * M6_IN], *aJ[M6_OUT];
  for (int i = 0; i < M6_OUT; i++) aJ[i] = aJr + i * M6_IN;
  adc ac = {0, M6_OUT, M6_IN, x, NULL, NULL, ay, NULL, aJ};
  if (ok && !nabla_only) {
    tag = ad_record_mlp6(x, W1, b1, W2, b2);
    ac.tag = tag;
    ok = ad_rc(ad_function(tag, M6_OUT, M6_IN, x, ay), id, cs, "function") &&
         check_close(id, cs, "ADOL-C f vs hand", rel_err_f64(ay, h.y, M6_OUT), 1e-14) &&
         ad_rc(ad_jacobian(tag, M6_OUT, M6_IN, x, aJ), id, cs, "jacobian") &&
         check_close(id, cs, "ADOL-C jacobian vs hand", rel_err_f64(aJr, h.J, M6_OUT * M6_IN), 1e-14);
  }
#endif
  if (save_ok(ok))
    ok = save_f64("B6_x.f64", x, M6_IN) && save_f64("B6_W1.f64", W1, M6_H * M6_IN) &&
         save_f64("B6_b1.f64", b1, M6_H) && save_f64("B6_W2.f64", W2, M6_OUT * M6_H) &&
         save_f64("B6_b2.f64", b2, M6_OUT) && save_f64("B6_y.f64", h.y, M6_OUT) &&
         save_f64("B6_jac.f64", h.J, M6_OUT * M6_IN);
  if (ok) {
    time_it(id, cs, "f", "hand", b6_f, &h);
    time_it(id, cs, "f", "nabla", nb_body, &cf);
    time_it(id, cs, "jacobian", "hand", b6_jac, &h);
    time_it(id, cs, "jacobian", "nabla", nb_body, &cj);
#ifdef NB_HAVE_ADOLC
    time_it(id, cs, "f", "ADOL-C", ad_f_body, &ac);
    time_it(id, cs, "jacobian", "ADOL-C", ad_jac_body, &ac);
#endif
  }
#ifdef NB_HAVE_ADOLC
  if (tag >= 0) ad_remove(tag);
#endif
  free_fns(fs, 2);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s DIR [ADBENCH_DIR]\n", argv[0]);
    return 2;
  }
  if (argc > 2) adbench_dir = argv[2];
  bench_config();
  const char *s = getenv("NB_BENCH_NABLA_ONLY");
  nabla_only = s && *s && strcmp(s, "0");
  if (nabla_only) nabla_name = "nabla-1t";
  if (!bench_open(argv[1], nabla_only ? "c1t.tsv" : "c.tsv")) return 2;
  setvbuf(stdout, NULL, _IOLBF, 0);
  s = getenv("NB_NUM_THREADS");
  if (nabla_only) {
    printf("nabla %s, NB_NUM_THREADS=%s: nabla alone, as nabla-1t\n", nb_version(), s ? s : "(unset)");
  } else {
#ifdef NB_HAVE_ADOLC
    const char *adolc = "ADOL-C (libadolc-dev): tapes recorded once, replays timed";
#else
    const char *adolc = "ADOL-C not built in";
#endif
    res_info("nabla %s (NB_NUM_THREADS=%s); hand-written C: -O3 -march=native -fopenmp-simd with "
             "glibc's vector math, one thread; %s",
             nb_version(), s ? s : "(unset: every processor)", adolc);
  }
  if (bench_selected("B1")) b1();
  if (bench_selected("B2")) b2(1000000, "N=1e6", "1e6"), b2(10000000, "N=1e7", "1e7");
  if (bench_selected("B3")) b3();
  if (bench_selected("B4")) b4(1000000, "n=1e6");
  if (bench_selected("B5")) {
    b5("1k/gmm_d10_K25.txt", "d10K25n1k", -25649.65262119733);
    b5("10k/gmm_d2_K5.txt", "d2K5n10k", -52512.30605452295);
  }
  if (bench_selected("B6")) b6();
  bench_close();
  return 0;
}
