/* The table of `make bench`: reads the result lines of the C driver (c.tsv), the PyTorch
 * script (torch.tsv) and the run script (peers.tsv) from DIR, and prints the medians side
 * by side, the ratios, the per-target verdicts, the memory lines and every note.
 *
 *   nbbench_report DIR */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAXE = 1024, MAXS = 256 };
enum { I_HAND, I_NABLA, I_NB1, I_NBC, I_ADOLC, I_T1, I_T2, NIMPL };
static const char *impl_names[NIMPL] = {"hand", "nabla", "nabla-1t", "nabla-c", "ADOL-C", "torch-1t", "torch-2t"};
static const char *impl_heads[NIMPL] = {"hand C", "nabla", "nabla 1t", "nabla C", "ADOL-C", "torch 1t", "torch 2t"};

typedef struct row {
  char   id[16], cs[32], op[32];
  double t[NIMPL]; /* seconds; 0 when not measured */
} row;

static row  rows[MAXE];
static int  nrows;
static char notes[MAXE][MAXS * 4], mems[64][MAXS * 4], infos[16][MAXS * 4];
static int  nnotes, nmems, ninfos;

static int impl_index(const char *s) {
  for (int i = 0; i < NIMPL; i++)
    if (!strcmp(s, impl_names[i])) return i;
  return -1;
}

static row *find_row(const char *id, const char *cs, const char *op, bool make) {
  for (int i = 0; i < nrows; i++)
    if (!strcmp(rows[i].id, id) && !strcmp(rows[i].cs, cs) && !strcmp(rows[i].op, op)) return &rows[i];
  if (!make || nrows == MAXE) return NULL;
  row *r = &rows[nrows++];
  memset(r, 0, sizeof *r);
  snprintf(r->id, sizeof r->id, "%s", id);
  snprintf(r->cs, sizeof r->cs, "%s", cs);
  snprintf(r->op, sizeof r->op, "%s", op);
  return r;
}

/* splits a tab-separated line in place; returns the field count */
static int split(char *line, char **f, int max) {
  int n = 0;
  line[strcspn(line, "\r\n")] = 0;
  for (char *p = line; n < max;) {
    f[n++] = p;
    char *t = strchr(p, '\t');
    if (!t) break;
    *t = 0, p = t + 1;
  }
  return n;
}

static void read_file(const char *dir, const char *name) {
  char path[4200], line[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *fp = fopen(path, "r");
  if (!fp) return;
  while (fgets(line, sizeof line, fp)) {
    char *f[8];
    int   n = split(line, f, 8);
    if (n == 6 && !strcmp(f[0], "T")) {
      int k = impl_index(f[4]);
      row *r = find_row(f[1], f[2], f[3], true);
      double v = atof(f[5]);
      if (k >= 0 && r && (!(r->t[k] > 0) || v < r->t[k])) r->t[k] = v; /* the best of two runs */
    } else if (n == 5 && !strcmp(f[0], "N") && nnotes < MAXE) {
      if (!strcmp(f[1], "*"))
        snprintf(notes[nnotes++], sizeof notes[0], "%s: %s", f[3], f[4]);
      else
        snprintf(notes[nnotes++], sizeof notes[0], "%s %s%s%s: %s", f[1], f[2],
                 strcmp(f[3], "-") ? " " : "", strcmp(f[3], "-") ? f[3] : "", f[4]);
    } else if (n == 4 && !strcmp(f[0], "M") && nmems < 64) {
      snprintf(mems[nmems++], sizeof mems[0], "%s %s: %s", f[1], f[2], f[3]);
    } else if (n == 3 && !strcmp(f[0], "I") && ninfos < 16) {
      snprintf(infos[ninfos++], sizeof infos[0], "%s", f[2]);
    }
  }
  fclose(fp);
}

static const char *fmt_time(double s, char *buf) {
  if (!(s > 0)) return strcpy(buf, "-");
  if (s < 1e-6) snprintf(buf, 16, "%.1f ns", s * 1e9);
  else if (s < 1e-3) snprintf(buf, 16, "%.2f us", s * 1e6);
  else if (s < 1) snprintf(buf, 16, "%.2f ms", s * 1e3);
  else snprintf(buf, 16, "%.2f s", s);
  return buf;
}

static const char *fmt_ratio(double r, char *buf) {
  if (!(r > 0) || isinf(r)) return strcpy(buf, "-");
  snprintf(buf, 16, r >= 100 ? "%.0fx" : r >= 10 ? "%.1fx" : "%.2fx", r);
  return buf;
}

static double ratio(double a, double b) { return a > 0 && b > 0 ? a / b : 0; }

static double torch_best(const row *r, const char **which) {
  double a = r->t[I_T1], b = r->t[I_T2];
  if (a > 0 && (!(b > 0) || a <= b)) return *which = "torch-1t", a;
  if (b > 0) return *which = "torch-2t", b;
  return *which = "", 0;
}

/* nabla's better time: the interpreter or its native code (nb_fn_compile) */
static double nabla_best(const row *r, const char **which) {
  double a = r->t[I_NABLA], c = r->t[I_NBC];
  if (c > 0 && (!(a > 0) || c < a)) return *which = "nabla C", c;
  return *which = "nabla", a;
}

/* the objective row of a workload case: its first row (f, loss, objective) */
static const row *base_row(const row *r) {
  for (int i = 0; i < nrows; i++)
    if (!strcmp(rows[i].id, r->id) && !strcmp(rows[i].cs, r->cs)) return &rows[i];
  return NULL;
}

/* ---- targets of issue 5 ---------------------------------------------------------- */
typedef enum { NB_OVER_HAND, PEER_OVER_NB, OP_OVER_F } kind;
typedef struct target {
  const char *id, *op;
  kind        k;
  int         peer; /* I_ADOLC, or I_T1 for torch's best */
  double      limit;
  const char *text;
} target;

static const target targets[] = {
    {"B1", "vjp", PEER_OVER_NB, I_ADOLC, 20, "vjp >= 20x faster than ADOL-C's replay"},
    {"B2", "vjp", NB_OVER_HAND, 0, 1.2, "vjp within 1.2x of the hand-written fused gradient"},
    {"B2", "vjp", PEER_OVER_NB, I_T1, 5, "vjp >= 5x faster than torch"},
    {"B3", "grad", PEER_OVER_NB, I_T1, 1, "parameter gradient <= torch's time"},
    {"B4", "grad", NB_OVER_HAND, 0, 1.5, "grad <= 1.5x hand-written C"},
    {"B4", "hvp", NB_OVER_HAND, 0, 2, "hvp <= 2x hand-written C"},
    {"B4", "grad", PEER_OVER_NB, I_T1, 10, "grad >= 10x faster than torch"},
    {"B4", "hvp", PEER_OVER_NB, I_T1, 10, "hvp >= 10x faster than torch"},
    {"B5", "gradient", OP_OVER_F, 0, 3, "gradient <= 3x objective"},
    {"B5", "gradient", PEER_OVER_NB, I_T1, 2, "gradient >= 2x faster than torch"},
    {"B5", "gradient", PEER_OVER_NB, I_ADOLC, 6, "gradient >= 6x faster than ADOL-C"},
    {"B6", "jacobian", PEER_OVER_NB, I_T1, 100,
     "jacobian >= 100x faster than torch.autograd.functional.jacobian"},
};

static void print_targets(void) {
  printf("\nTargets (issue 5)\n");
  int met = 0, missed = 0, unknown = 0;
  for (size_t t = 0; t < sizeof targets / sizeof *targets; t++) {
    const target *g = &targets[t];
    bool          any = false;
    for (int i = 0; i < nrows; i++) {
      const row *r = &rows[i];
      if (strcmp(r->id, g->id) || strcmp(r->op, g->op)) continue;
      any = true;
      char        what[128], b1[16];
      const char *which = "", *nb = "";
      double      v = 0, t = nabla_best(r, &nb);
      bool        ok = false;
      if (g->k == NB_OVER_HAND) {
        v = ratio(t, r->t[I_HAND]);
        snprintf(what, sizeof what, "%s/hand = %s", nb, fmt_ratio(v, b1));
        ok = v > 0 && v <= g->limit;
      } else if (g->k == PEER_OVER_NB) {
        double p = g->peer == I_T1 ? torch_best(r, &which) : r->t[g->peer];
        v = ratio(p, t);
        snprintf(what, sizeof what, "%s/%s = %s%s%s%s", g->peer == I_T1 ? "torch" : impl_names[g->peer], nb,
                 fmt_ratio(v, b1), *which ? " (" : "", which, *which ? ")" : "");
        ok = v > 0 && v >= g->limit;
      } else { /* the same implementation for both rows */
        const row *f = base_row(r);
        int        k = !strcmp(nb, "nabla C") ? I_NBC : I_NABLA;
        v = f ? ratio(r->t[k], f->t[k]) : 0;
        snprintf(what, sizeof what, "%s %s/%s = %s", nb, r->op, f ? f->op : "f", fmt_ratio(v, b1));
        ok = v > 0 && v <= g->limit;
      }
      const char *verdict = v > 0 ? (ok ? "met" : "NOT MET") : "not measured";
      met += v > 0 && ok, missed += v > 0 && !ok, unknown += !(v > 0);
      printf("  %-3s %-10s %-64s %-42s %s\n", g->id, r->cs, g->text, what, verdict);
    }
    if (!any) {
      printf("  %-3s %-10s %-64s %-42s %s\n", g->id, "", g->text, "-", "not measured");
      unknown++;
    }
  }
  printf("  %d met, %d not met, %d not measured\n", met, missed, unknown);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  read_file(argv[1], "peers.tsv");
  read_file(argv[1], "c.tsv");
  read_file(argv[1], "c1t.tsv");
  read_file(argv[1], "torch.tsv");
  read_file(argv[1], "torch-passive.tsv");
  printf("\n==== nabla benchmark (make bench): median time per call\n");
  for (int i = 0; i < ninfos; i++) printf("  %s\n", infos[i]);
  printf("  nabla: default thread count; nabla 1t: NB_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1;\n"
         "  nabla C: the same function after nb_fn_compile (generated C; large loops on the pool); targets\n"
         "  take nabla's better of the interpreter and nabla C, and say which\n"
         "  ratios: nabla/hand < 1 and torch/nabla, ADOL-C/nabla > 1 favour nabla (1t/hand: nabla 1t\n"
         "  over hand); torch/nabla takes torch's better thread count (torch 2t: the better of\n"
         "  libgomp's default wait policy and OMP_WAIT_POLICY=PASSIVE, whose OpenMP workers\n"
         "  do not spin against OpenBLAS's threads); op/f: the row's time over\n"
         "  the time of the case's objective (first row), for nabla and for hand C\n\n");
  printf("%-3s %-10s %-9s", "id", "case", "op");
  for (int k = 0; k < NIMPL; k++) printf(" %9s", impl_heads[k]);
  printf(" | %10s %7s %6s %11s %12s %8s %7s %9s\n", "nabla/hand", "1t/hand", "C/hand", "torch/nabla",
         "ADOL-C/nabla", "torch/C", "op/f nb", "op/f hand");
  for (int i = 0; i < 3 + 1 + 10 + 1 + 9 + NIMPL * 10 + 3 + 10 + 8 + 7 + 12 + 13 + 9 + 8 + 10; i++) putchar('-');
  putchar('\n');
  const char *last = "";
  for (int i = 0; i < nrows; i++) {
    const row *r = &rows[i];
    char        b[NIMPL + 2][16];
    const char *which;
    if (*last && strcmp(last, r->id)) putchar('\n');
    last = r->id;
    printf("%-3s %-10s %-9s", r->id, r->cs, r->op);
    for (int k = 0; k < NIMPL; k++) printf(" %9s", fmt_time(r->t[k], b[k]));
    const row *f = base_row(r);
    bool       isf = f == r;
    printf(" | %10s %7s %6s %11s %12s %8s %7s %9s\n", fmt_ratio(ratio(r->t[I_NABLA], r->t[I_HAND]), b[0]),
           fmt_ratio(ratio(r->t[I_NB1], r->t[I_HAND]), b[5]),
           fmt_ratio(ratio(r->t[I_NBC], r->t[I_HAND]), b[6]),
           fmt_ratio(ratio(torch_best(r, &which), r->t[I_NABLA]), b[1]),
           fmt_ratio(ratio(r->t[I_ADOLC], r->t[I_NABLA]), b[2]),
           fmt_ratio(ratio(torch_best(r, &which), r->t[I_NBC]), b[7]),
           isf ? "" : fmt_ratio(ratio(r->t[I_NABLA], f->t[I_NABLA]), b[3]),
           isf ? "" : fmt_ratio(ratio(r->t[I_HAND], f->t[I_HAND]), b[4]));
  }
  print_targets();
  if (nmems) {
    printf("\nMemory (nb_fn_workspace_bytes: scratch of one call, without the caller's buffers)\n");
    for (int i = 0; i < nmems; i++) printf("  %s\n", mems[i]);
  }
  if (nnotes) {
    printf("\nNotes\n");
    for (int i = 0; i < nnotes; i++) printf("  %s\n", notes[i]);
  }
  return 0;
}
