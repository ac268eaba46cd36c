/* Helpers shared by several test suites: buffers in either dtype, building
 * and calling a function from a graph, and checking its outputs. */
#ifndef NB_TEST_FIXTURE_H
#define NB_TEST_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* a failed check with a formatted explanation */
#define FAILF(...)                                                                     \
  do {                                                                                 \
    th_failed_checks++;                                                                \
    fprintf(stderr, "  %s:%d: %s: ", __FILE__, __LINE__, th_current);                 \
    fprintf(stderr, __VA_ARGS__);                                                      \
    fputc('\n', stderr);                                                               \
  } while (0)

static inline const char *dtname(nb_dtype dt) { return dt == NB_F32 ? "f32" : "f64"; }
/* the value v as the dtype dt would hold it */
static inline double as_dt(nb_dtype dt, double v) { return dt == NB_F32 ? (double)(float)v : v; }
#define RD(dt, v) as_dt((dt), (v))
static inline void store(nb_dtype dt, void *buf, int64_t i, double v) {
  if (dt == NB_F32)
    ((float *)buf)[i] = (float)v;
  else
    ((double *)buf)[i] = v;
}
static inline double load(nb_dtype dt, const void *buf, int64_t i) {
  return dt == NB_F32 ? (double)((const float *)buf)[i] : ((const double *)buf)[i];
}

/* expected output: rank, shape and values (as doubles) */
typedef struct want {
  int            rank;
  int64_t        shape[NB_MAX_RANK];
  const double  *v;
} want;

int64_t  numel(int rank, const int64_t *shape);
want     W(int rank, const int64_t *shape, const double *v);
double   rtol_of(nb_dtype dt);
double   atol_of(nb_dtype dt);
nb_expr *inp(nb_graph *g, const char *name, nb_dtype dt, int rank, const int64_t *shape);
/* Checks outs[j] against w[j] (dtype dt, rank, shape), builds f = (ins -> outs), calls it
 * with xs (converted to dt) and compares every output value; got (optional) receives the
 * outputs as doubles. At most 16 inputs and outputs. */
void run_(int line, nb_graph *g, nb_dtype dt, int nin, nb_expr *const *ins,
          const double *const *xs, int nout, nb_expr *const *outs, const want *w, double rtol,
          double atol, double *const *got);
/* Builds ins -> out, frees g, calls it with vals (converted to each input's dtype) and
 * stores the output as doubles in res (capacity cap). Returns its size, or -1. */
int64_t fx_eval(nb_graph *g, int nin, nb_expr *const *ins, const double *const *vals,
                nb_expr *out, double *res, int64_t cap);
/* Calls f with double buffers whatever its dtypes. */
nb_status fx_call(nb_fn *f, const double *const *in, double *const *out);
bool      fx_made(nb_fn *t, const char *what);
bool      fx_run(nb_fn *t, const char *what, const double *const *in, double *const *out);

/* several outputs, default tolerance of dt */
#define RUN_FN(g, dt, nin, ins, xs, nout, outs, w)                                      \
  run_(__LINE__, (g), (dt), (nin), (ins), (xs), (nout), (outs), (w), rtol_of(dt), atol_of(dt), NULL)

/* one input, one output */
#define RUN1(g, dt, x, xv, y, rank, shape, v)                                           \
  do {                                                                                  \
    nb_expr     *r1_in_[1] = {(x)}, *r1_out_[1] = {(y)};                                \
    const double *r1_xs_[1] = {(xv)};                                                   \
    want          r1_w_[1];                                                             \
    r1_w_[0] = W((rank), (shape), (v));                                                 \
    run_(__LINE__, (g), (dt), 1, r1_in_, r1_xs_, 1, r1_out_, r1_w_, rtol_of(dt),        \
         atol_of(dt), NULL);                                                            \
  } while (0)

/* the call returned NULL and recorded (code, message prefix) */
#define CHECK_FAILS(expr, code, prefix)                                                 \
  do {                                                                                  \
    nb_errclear();                                                                      \
    nb_expr *cf_r_ = (expr);                                                            \
    CHECK(cf_r_ == NULL);                                                               \
    CHECK_ERR((code), (prefix));                                                        \
  } while (0)

/* runs the following block for f64, then f32 */
#define FOR_DTYPES(dt) for (nb_dtype dt = NB_F64; dt >= NB_F32; dt = (nb_dtype)(dt - 1))

/* ---- a function's nb_call against the reference evaluator ----------------------------
 * (test_exec.c: the executor's fast paths; test_emit.c: native code). Inputs are drawn
 * from a domain, outputs compared in a mode: EXACT bit for bit (any NaN matching any
 * NaN); VM vector math (a value may take a libmvec lane in one evaluator and the scalar
 * libm in the other: 1e-13 relative for f64, 1e-6 for f32); MM products (VM plus 1e-12 /
 * 1e-5 of a scale per value, the sum of |terms|: the reference on |inputs|, exact for
 * functions multilinear in their inputs); RSUM sums in another order (VM plus 1e-12 /
 * 1e-5 of the largest finite |value| of that output). */
enum { FX_MAXBUFS = 192 };   /* inputs or outputs of a compared function */
enum { EXACT, VM, MM, RSUM }; /* comparison modes */
enum { D_ANY, D_SPEC, D_POS, D_UNIT, D_GRID }; /* input domains, see draw() in fixture.c */

static inline nb_dtype other_dt(nb_dtype dt) { return dt == NB_F64 ? NB_F32 : NB_F64; }
static inline double   rtol_vm(nb_dtype dt) { return dt == NB_F32 ? 1e-6 : 1e-13; }
static inline double   rtol_mm(nb_dtype dt) { return dt == NB_F32 ? 1e-5 : 1e-12; }
static inline size_t   esize(nb_dtype dt) { return dt == NB_F32 ? 4 : 8; }

/* deterministic random numbers (splitmix64) */
uint64_t mix64(uint64_t *s);
double   unif(uint64_t *s); /* [0, 1) */

/* one buffer per input or output of a function */
typedef struct bufs {
  int      n;
  nb_dtype dt[FX_MAXBUFS];
  int64_t  size[FX_MAXBUFS];
  void    *p[FX_MAXBUFS]; /* NULL for an empty buffer */
} bufs;

size_t    nbytes(const bufs *b, int i);
void      bufs_free(bufs *b);
bool      bufs_make(bufs *b, const nb_fn *f, bool in); /* shaped like f's inputs or outputs */
bool      bufs_clone(bufs *dst, const bufs *src);
double    getv(const bufs *b, int i, int64_t k);
void      setv(bufs *b, int i, int64_t k, double v);
/* random values of domain dom (doms: one per buffer, or NULL) */
void      bufs_random(bufs *b, const int *doms, int dom, uint64_t seed);
void      bufs_abs(bufs *b);
bool      bufs_same_bits(const bufs *a, const bufs *b);
nb_status call_fast(nb_fn *f, const bufs *in, bufs *out); /* nb_call */
nb_status call_ref(nb_fn *f, const bufs *in, bufs *out);  /* the reference evaluator */
/* MM scales: the reference on |inputs| */
bool      scale_of(nb_fn *f, const bufs *in, bufs *scale);

/* counts the elements of got that differ from want (modes: one per output, or NULL for
 * `mode` everywhere); unless quiet, reports the first few and fails */
int64_t compare_(const char *file, int line, const char *what, const bufs *got, const bufs *want,
                 const int *modes, int mode, const bufs *scale, bool quiet);
#define compare_bufs(...) compare_(__FILE__, __LINE__, __VA_ARGS__)

/* nb_fn_new, failing the test (with what) when an output or the function is NULL */
nb_fn *make_fn_(const char *file, int line, const char *what, nb_graph *g, int nin,
                nb_expr *const *in, int nout, nb_expr *const *out);
#define make_fn(...) make_fn_(__FILE__, __LINE__, __VA_ARGS__)
/* a transformation's result exists */
bool derived_ok_(const char *file, int line, const char *what, const nb_fn *f);
#define derived_ok(what, f) derived_ok_(__FILE__, __LINE__, what, f)

/* nb_call against the reference on two random input sets (domains doms, or dom for
 * all); a third call with the first set must repeat the first bit for bit, and the
 * inputs must be left untouched */
void check_fn_(const char *file, int line, const char *what, nb_fn *f, const int *doms, int dom,
               const int *modes, int mode, uint64_t seed);
#define check_fn(what, f, dom, mode, seed) \
  check_fn_(__FILE__, __LINE__, what, f, NULL, dom, NULL, mode, seed)
#define check_fn_io(what, f, doms, modes, seed) \
  check_fn_(__FILE__, __LINE__, what, f, doms, D_ANY, modes, EXACT, seed)

/* nt threads (at most FX_MAX_THREADS) start together and call f TH_ITERS times each
 * on their own random inputs; every result must match the reference (modes per
 * output). warm: one call before the threads start. */
enum { FX_MAX_THREADS = 4 };
void check_threads_(const char *file, int line, const char *what, nb_fn *f, int nt, bool warm,
                    const int *modes, uint64_t seed);
#define check_threads(what, f, nt, warm, modes, seed) \
  check_threads_(__FILE__, __LINE__, what, f, nt, warm, modes, seed)

/* ---- broadcasts inside fused groups (test_exec.c, test_emit.c) ----------------------
 * A broadcast_in_dim joins a fused group when its operand is smaller and is read in
 * affine runs of at least 64 elements: the innermost of its levels (output axes merged
 * while the operand's index stays affine, axes of length 1 skipped; an operand axis of
 * length 1 that is stretched reads with stride 0). */
typedef struct fx_bcase {
  const char *what;
  int         xrank, rank;
  int64_t     x[4], shape[4]; /* operand and result shapes */
  int         dims[4];        /* the result axis of each operand axis */
  int         nlev;           /* its levels, outermost first: ext[k] elements at stride str[k] */
  int64_t     ext[3], str[3];
  bool        fused;          /* a member of a fused group (else computed alone) */
} fx_bcase;
enum { FX_NBCASES = 23 };
extern const fx_bcase FX_BCASES[FX_NBCASES];

/* broadcast_in_dim of x to shape with operand axis k at axis dims[k] (the public
 * operations place the operand's axes last; derivatives place them anywhere) */
nb_expr *fx_broadcast_in_dim(nb_expr *x, int rank, const int64_t *shape, const int *dims);
/* case c in a chain: inputs x (the result's shape) and b (the operand) are appended to
 * in, outputs to out: y = max(x B - B, x^2) B + x (B read three times, exact), and B
 * itself when as_output */
void fx_bcase_put(nb_graph *g, nb_dtype dt, const fx_bcase *c, bool as_output, nb_expr **in, int *nin,
                  nb_expr **out, int *nout);
/* the broadcast node of f from c's operand shape to c's shape, or -1 */
int32_t fx_bcase_node(const nb_fn *f, const fx_bcase *c);
/* the fused group (a step of 2 or more members) of f's plan holding node i, or -1;
 * makes the plan */
int32_t fx_group_of(nb_fn *f, int32_t i);
/* Broadcasts of several shapes of one size in one group (FX_RUNS): runs of 96,
 * 128 (as a row and as a column), 64, 2048 and seven more (11 runs that cut
 * rows: more than any per-rank limit), a stretched middle axis, one run of
 * the whole size. A group above NB__PARALLEL_MIN (FX_LARGE): runs of 700 and
 * 9100 and the whole size, none dividing the point where 2 threads split it. */
enum { FX_RUNS_N = 12288, FX_NRUNS = 14, FX_LARGE_N = 377 * 700, FX_NLARGE = 5 };
extern const fx_bcase FX_RUNS[FX_NRUNS], FX_LARGE[FX_NLARGE];
/* the chains of cases k[0, n) over reshapes of one input x of `size` elements,
 * appended: inputs (x, b0, b1, ...), outputs (y0, y1, ...), y = max(x B - B, x^2) B + x */
void fx_runs_put(nb_graph *g, nb_dtype dt, const fx_bcase *k, int n, int64_t size, nb_expr **in, int *nin,
                 nb_expr **out, int *nout);
/* Broadcasts read outside their group, and pads: FX_ROW64 [64] -> [96,64] in its group
 * (x B + x), which a product then closes, read by a reduction too, and an output when
 * as_output; a pad P (p [64] between 32 zeros on each side) read by a broadcast
 * (FX_PADB, to [50,128]) and by an elementwise node: made, never read through a guard;
 * a pad Q (p2 [64] after 40 zeros) read only by an elementwise node (through a guard in
 * generated code, which cuts the loop at its edges 40 and 104), in one group with P's
 * reader and a broadcast FX_ROW2 [64] -> [2,64]; in FX_ROW64's group, broadcasts of a
 * constant, of a reshape of a computed value and of a view at an offset (a slice);
 * softmax and centring (x - mean x) of s [40,700]: broadcasts of reductions. Appends
 * inputs, outputs and their modes. */
extern const fx_bcase FX_ROW64, FX_PADB, FX_ROW2;
void fx_outside_put(nb_graph *g, nb_dtype dt, bool as_output, nb_expr **in, int *nin, nb_expr **out, int *modes,
                    int *nout);
/* L(x [300,40], W [40,128], b [128], y [300,128]) = sum(tanh(x W / 4 + b) y): tanh far
 * from saturation for inputs in D_UNIT */
enum { FX_MLP_N = 300, FX_MLP_D = 40, FX_MLP_H = 128 };
nb_fn *fx_mlp_layer(nb_dtype dt);
/* gr = grad of l wrt (W, b) at in (gr's inputs) against central differences of l
 * (nb_call) at some entries of W and b; returns the failures, reported */
int    fx_mlp_fd_check(nb_fn *l, nb_fn *gr, const bufs *in);
/* case c's node in f has c's levels, and is fused or not as c says */
void check_bcase_(const char *file, int line, const char *what, nb_fn *f, const fx_bcase *c);
#define check_bcase(what, f, c) check_bcase_(__FILE__, __LINE__, what, f, c)

/* ---- files and the environment ------------------------------------------------------ */
/* a new private directory under $TMPDIR (or /tmp) in path (capacity n); fails the test
 * when it cannot be made */
bool  tmpdir_make(char *path, size_t n);
int   dir_entries(const char *path); /* entries besides . and ..; -1 if unreadable */
char *slurp(FILE *fp);               /* a stream's whole contents (caller frees), or NULL */
/* an environment variable's value, saved to be put back (any number of times) */
typedef struct saved_env {
  const char *name;
  char       *value; /* NULL: was unset */
} saved_env;
saved_env save_env(const char *name);
void      restore_env(const saved_env *s);
void      saved_env_free(saved_env *s);

/* the public unary operations, nb_NAME(x) each, for tables of builders */
#define FX_UNARY_OPS(X) \
  X(neg) X(abs) X(sign) X(exp) X(expm1) X(log) X(log1p) X(sqrt) X(rsqrt) X(square) \
  X(reciprocal) X(sin) X(cos) X(tan) X(asin) X(acos) X(atan) X(sinh) X(cosh) X(tanh) \
  X(sigmoid) X(relu) X(softplus) X(erf) X(floor) X(ceil) X(round)

/* Runs suite in a child process (this test binary, stdout discarded) with
 * NB_NUM_THREADS=threads and name=value in its environment: its exit status;
 * -1 when it could not run or died (the test failed), -2 when the binary
 * cannot find itself (noted, not a failure). */
int fx_run_suite_child(const char *suite, int threads, const char *name, const char *value);

/* f's C as nb_fn_emit_c writes it (the caller frees it), NULL failing the test */
char *fx_emit_text(nb_fn *f, const char *name);
int   fx_count_of(const char *text, const char *s); /* occurrences of s in text */
/* nb_fn_compile of fs[0..n) (NULLs skipped, at most FX_MAX_COMPILE) on as many
 * threads at once; ok[k]: fs[k] runs native code; the others fail the test */
enum { FX_MAX_COMPILE = 8 };
void fx_compile_all(const char *what, nb_fn *const *fs, int n, bool *ok);

#endif
