/* torch_vjp_batch.c — the torch.autograd.functional.vjp notebook (seed 001) in nabla.
 *
 * Five functions evaluated on batches of N = 1000 points, each followed in the
 * seed by a VJP whose result is compared with the hand-written derivative:
 *   1. f(x) = x**2 + sin(x**2),  x = linspace(0, 5, N),  v = ones
 *   2. f(x) = x[:,0]*x[:,1] + sin(x[:,0]*x[:,1]**2),  x (N, 2) uniform in [-1, 1)
 *   3. f(x, y) = x*y + sin(x*y**2),  two inputs of shape (N,)
 *   4. f(x) = stack((x1*x2, sin(x1 + x2**2), x1**2 - 3*x2), dim=1),  (N, 2) -> (N, 3);
 *      the Jacobian (N, 3, 2) rebuilt by a loop of three one-hot VJPs
 *      (and here also by one nb_batch_vjp_sized call with the three one-hot cotangents)
 *   5. the same with two inputs x, y of shape (N,)
 * torch.rand is replaced by a deterministic generator (splitmix64).
 *
 * nabla functions are built with nb_trace: a callback receives the graph and the
 * input expressions and fills in the outputs.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "example.h"

#define N 1000

/* torch.allclose defaults: |got - want| <= 1e-8 + 1e-5 * |want| everywhere */
#define torch_allclose(got, want, n) allclose((got), (want), (n), 1e-5, 1e-8)

/* "label[0:3] = [...]   direct C [...]   allclose over all n values: True" */
static void show_head(const char *label, const double *got, const double *want, int64_t n) {
  bool ok = torch_allclose(got, want, n);
  printf("%-20s = [%.8g %.8g %.8g ...]   direct C [%.8g %.8g %.8g ...]   allclose: %s\n", label,
         got[0], got[1], got[2], want[0], want[1], want[2], ok ? "True" : "False");
  all_ok = all_ok && ok;
}

/* ---- the functions, as nb_trace callbacks ---------------------------------- */

static nb_status done_if(nb_expr *out) { return out ? NB_OK : nb_errcode(); }

/* x*y + sin(x*y**2): the body of functions 2 and 3 */
static nb_expr *xy_term(nb_expr *x, nb_expr *y) {
  return nb_add(nb_mul(x, y), nb_sin(nb_mul(x, nb_pows(y, 2))));
}

/* stack((x*y, sin(x + y**2), x**2 - 3*y), axis 1): the body of functions 4 and 5 */
static nb_expr *three_outputs(nb_expr *x, nb_expr *y) {
  nb_expr *parts[3] = {nb_mul(x, y), nb_sin(nb_add(x, nb_pows(y, 2))),
                       nb_sub(nb_pows(x, 2), nb_muls(y, 3))};
  return nb_stack(3, parts, 1);
}

static nb_status build_f1(nb_graph *g, nb_expr *const *in, nb_expr **out, void *user) {
  (void)g, (void)user;
  nb_expr *sq = nb_pows(in[0], 2);
  out[0] = nb_add(sq, nb_sin(sq));
  return done_if(out[0]);
}
static nb_status build_f2(nb_graph *g, nb_expr *const *in, nb_expr **out, void *user) {
  (void)g, (void)user;
  out[0] = xy_term(nb_index(in[0], 1, 0), nb_index(in[0], 1, 1)); /* x[:,0], x[:,1] */
  return done_if(out[0]);
}
static nb_status build_f3(nb_graph *g, nb_expr *const *in, nb_expr **out, void *user) {
  (void)g, (void)user;
  out[0] = xy_term(in[0], in[1]);
  return done_if(out[0]);
}
static nb_status build_f4(nb_graph *g, nb_expr *const *in, nb_expr **out, void *user) {
  (void)g, (void)user;
  out[0] = three_outputs(nb_index(in[0], 1, 0), nb_index(in[0], 1, 1));
  return done_if(out[0]);
}
static nb_status build_f5(nb_graph *g, nb_expr *const *in, nb_expr **out, void *user) {
  (void)g, (void)user;
  out[0] = three_outputs(in[0], in[1]);
  return done_if(out[0]);
}

/* ---- data (static: N-sized buffers) ---------------------------------------- */

static double xa[N], xb[N][2], xc[N], yc[N], xd[N][2], xe[N], ye[N]; /* inputs      */
static double ya[N], yb[N], ycc[N], yd[N][3], yee[N][3];            /* outputs     */
static double ref[N * 3], ref2[N * 3];                              /* references  */
static double ones[N], onehot[3][N][3];                             /* cotangents  */
static double ga[N], gb[N][2], gx[N], gy[N], gd[N][2], gbatch[3][N][2], out3[N][3];
static double Js[N][3][2], Jt[N][3][2];

/* the hand-written Jacobian of function 4/5 at one point (a, b): J[k][0..1] */
static void jacobian_ref(double a, double b, double J[3][2]) {
  double c = cos(a + b * b);
  J[0][0] = b, J[0][1] = a;
  J[1][0] = c, J[1][1] = 2 * b * c;
  J[2][0] = 2 * a, J[2][1] = -3;
}

int main(void) {
  int rc = 1;
  nb_fn *f[5] = {0}, *vf[5] = {0}, *bvf = NULL;
  const nb_spec vec = {"x", NB_F64, 1, {N}}, mat = {"x", NB_F64, 2, {N, 2}};
  const nb_spec two[2] = {{"x", NB_F64, 1, {N}}, {"y", NB_F64, 1, {N}}};
  const nb_build builders[5] = {build_f1, build_f2, build_f3, build_f4, build_f5};
  const nb_spec *specs[5] = {&vec, &mat, two, &mat, two};
  const int nins[5] = {1, 1, 2, 1, 2};

  printf("nabla %s — torch.autograd.functional.vjp notebook (seed 001), N = %d\n", nb_version(),
         N);

  /* ---- inputs: linspace and the pseudo-random batches ---- */
  for (int i = 0; i < N; i++) xa[i] = 5.0 * i / (N - 1), ones[i] = 1.0;
  for (int i = 0; i < N; i++) xb[i][0] = 2 * uniform() - 1, xb[i][1] = 2 * uniform() - 1;
  for (int i = 0; i < N; i++) xc[i] = 2 * uniform() - 1;
  for (int i = 0; i < N; i++) yc[i] = 2 * uniform() - 1;
  for (int i = 0; i < N; i++) xd[i][0] = 2 * uniform() - 1, xd[i][1] = 2 * uniform() - 1;
  for (int i = 0; i < N; i++) xe[i] = 2 * uniform() - 1;
  for (int i = 0; i < N; i++) ye[i] = 2 * uniform() - 1;
  for (int k = 0; k < 3; k++)
    for (int i = 0; i < N; i++) onehot[k][i][k] = 1.0;

  /* ---- primal values ---- */
  for (int i = 0; i < 5; i++) {
    f[i] = nb_trace(builders[i], NULL, nins[i], specs[i], 1);
    if (!f[i]) {
      rc = fail("nb_trace");
      goto done;
    }
  }
  const void *in1[] = {xa}, *in2[] = {xb}, *in3[] = {xc, yc}, *in4[] = {xd}, *in5[] = {xe, ye};
  void *o1[] = {ya}, *o2[] = {yb}, *o3[] = {ycc}, *o4[] = {yd}, *o5[] = {yee};
  if (nb_call(f[0], in1, o1) || nb_call(f[1], in2, o2) || nb_call(f[2], in3, o3) ||
      nb_call(f[3], in4, o4) || nb_call(f[4], in5, o5)) {
    rc = fail("nb_call");
    goto done;
  }
  for (int i = 0; i < N; i++) ref[i] = xa[i] * xa[i] + sin(xa[i] * xa[i]);
  show_head("1. f(x)", ya, ref, N);
  for (int i = 0; i < N; i++) ref[i] = xb[i][0] * xb[i][1] + sin(xb[i][0] * xb[i][1] * xb[i][1]);
  show_head("2. f(x), x (N,2)", yb, ref, N);
  for (int i = 0; i < N; i++) ref[i] = xc[i] * yc[i] + sin(xc[i] * yc[i] * yc[i]);
  show_head("3. f(x, y)", ycc, ref, N);
  for (int i = 0; i < N; i++) {
    double a = xd[i][0], b = xd[i][1];
    ref[3 * i] = a * b, ref[3 * i + 1] = sin(a + b * b), ref[3 * i + 2] = a * a - 3 * b;
    a = xe[i], b = ye[i];
    ref2[3 * i] = a * b, ref2[3 * i + 1] = sin(a + b * b), ref2[3 * i + 2] = a * a - 3 * b;
  }
  show_head("4. f(x) (N,3)", &yd[0][0], ref, 3 * N);
  show_head("5. f(x, y) (N,3)", &yee[0][0], ref2, 3 * N);

  /* ---- derivatives: one VJP function per f, called with the seed's v ---- */
  nb_errclear();
  for (int i = 0; i < 5; i++) {
    vf[i] = nb_vjp(f[i], NULL); /* inputs (x..., v), outputs (f(x...), vᵀJ per input) */
    if (!vf[i]) {
      rc = fail("nb_vjp");
      goto done;
    }
  }
  const int64_t s1i[] = {N, N}, s1o[] = {N, N}, s2i[] = {2 * N, N}, s2o[] = {N, 2 * N};
  const int64_t s3i[] = {N, N, N}, s3o[] = {N, N, N}, s4i[] = {2 * N, 3 * N},
                s4o[] = {3 * N, 2 * N};
  const int64_t s5i[] = {N, N, 3 * N}, s5o[] = {3 * N, N, N};
  if (!check_signature(vf[0], "vjp(f1)", NB_F64, 2, s1i, 2, s1o) ||
      !check_signature(vf[1], "vjp(f2)", NB_F64, 2, s2i, 2, s2o) ||
      !check_signature(vf[2], "vjp(f3)", NB_F64, 3, s3i, 3, s3o) ||
      !check_signature(vf[3], "vjp(f4)", NB_F64, 2, s4i, 2, s4o) ||
      !check_signature(vf[4], "vjp(f5)", NB_F64, 3, s5i, 3, s5o))
    goto done;

  /* 1. y, dy_dx = vjp(f, x, v=ones) */
  const void *a1[] = {xa, ones};
  void *r1[] = {ya, ga};
  if (nb_call(vf[0], a1, r1)) {
    rc = fail("nb_call(vjp(f1))");
    goto done;
  }
  for (int i = 0; i < N; i++) ref[i] = 2 * xa[i] + 2 * xa[i] * cos(xa[i] * xa[i]);
  show_head("1. dy_dx", ga, ref, N);
  show_bool("1. Are derivatives correct?", torch_allclose(ga, ref, N), "seed");

  /* 2. x (N, 2), v = ones(N) */
  const void *a2[] = {xb, ones};
  void *r2[] = {yb, gb};
  if (nb_call(vf[1], a2, r2)) {
    rc = fail("nb_call(vjp(f2))");
    goto done;
  }
  for (int i = 0; i < N; i++) {
    double a = xb[i][0], b = xb[i][1], c = cos(a * b * b);
    ref[2 * i] = b + b * b * c, ref[2 * i + 1] = a + 2 * a * b * c;
  }
  show_bool("2. Are gradients correct?", torch_allclose(&gb[0][0], ref, 2 * N), "seed");

  /* 3. two inputs: out, (vjp_x, vjp_y) */
  const void *a3[] = {xc, yc, ones};
  void *r3[] = {ycc, gx, gy};
  if (nb_call(vf[2], a3, r3)) {
    rc = fail("nb_call(vjp(f3))");
    goto done;
  }
  for (int i = 0; i < N; i++) {
    double a = xc[i], b = yc[i], c = cos(a * b * b);
    ref[i] = b + b * b * c, ref2[i] = a + 2 * a * b * c;
  }
  show_bool("3. dx correct?", torch_allclose(gx, ref, N), "seed");
  show_bool("3. dy correct?", torch_allclose(gy, ref2, N), "seed");

  /* 4. the Jacobian (N, 3, 2), one one-hot VJP per output component */
  for (int k = 0; k < 3; k++) {
    const void *a4[] = {xd, onehot[k]};
    void *r4[] = {out3, gd};
    if (nb_call(vf[3], a4, r4)) {
      rc = fail("nb_call(vjp(f4))");
      goto done;
    }
    for (int n = 0; n < N; n++) Js[n][k][0] = gd[n][0], Js[n][k][1] = gd[n][1];
  }
  for (int n = 0; n < N; n++) jacobian_ref(xd[n][0], xd[n][1], Jt[n]);
  show_bool("4. Are Jacobians correct?", torch_allclose(&Js[0][0][0], &Jt[0][0][0], 6 * N), "seed");

  /* 4b. the same three VJPs as one batched call: cotangents (3, N, 3) -> (3, N, 2);
   * the batch size 3 is given because nabla shapes are static */
  bvf = nb_batch_vjp_sized(f[3], 3, NULL);
  if (!bvf) {
    rc = fail("nb_batch_vjp_sized");
    goto done;
  }
  const int64_t sbi[] = {2 * N, 3 * 3 * N}, sbo[] = {3 * N, 3 * 2 * N};
  if (!check_signature(bvf, "nb_batch_vjp_sized(f4, 3)", NB_F64, 2, sbi, 2, sbo)) goto done;
  const void *ab[] = {xd, onehot};
  void *rb[] = {out3, gbatch};
  if (nb_call(bvf, ab, rb)) {
    rc = fail("nb_call(batch_vjp(f4))");
    goto done;
  }
  for (int k = 0; k < 3; k++)
    for (int n = 0; n < N; n++) Js[n][k][0] = gbatch[k][n][0], Js[n][k][1] = gbatch[k][n][1];
  show_head("4. J (batch_vjp)", &Js[0][0][0], &Jt[0][0][0], 6 * N);
  show_bool("4. (nb_batch_vjp_sized) Are Jacobians correct?",
            torch_allclose(&Js[0][0][0], &Jt[0][0][0], 6 * N), "seed");

  /* 5. two inputs, three outputs: Js[:, k, 0] = gx, Js[:, k, 1] = gy */
  for (int k = 0; k < 3; k++) {
    const void *a5[] = {xe, ye, onehot[k]};
    void *r5[] = {out3, gx, gy};
    if (nb_call(vf[4], a5, r5)) {
      rc = fail("nb_call(vjp(f5))");
      goto done;
    }
    for (int n = 0; n < N; n++) Js[n][k][0] = gx[n], Js[n][k][1] = gy[n];
  }
  for (int n = 0; n < N; n++) jacobian_ref(xe[n], ye[n], Jt[n]);
  show_bool("5. Correct?", torch_allclose(&Js[0][0][0], &Jt[0][0][0], 6 * N), "seed");
  rc = 0;

done:
  nb_fn_free(bvf);
  for (int i = 0; i < 5; i++) nb_fn_free(vf[i]), nb_fn_free(f[i]);
  if (rc == 0 && !all_ok) {
    fprintf(stderr, "error: some values differ from the expected ones\n");
    rc = 1;
  }
  return rc;
}
