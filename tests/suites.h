/* The list of test suites; each lives in its own tests/test_*.c file. */
#ifndef NB_TEST_SUITES_H
#define NB_TEST_SUITES_H

typedef struct th_suite { const char *name; void (*fn)(void); } th_suite;

void suite_elementwise(void); /* test_elementwise.c: unary, binary, compare, where, cast */
void suite_broadcast(void);   /* test_broadcast.c: broadcasting patterns, weak scalars   */
void suite_reduce(void);      /* test_reduce.c: sum mean prod max min logsumexp          */
void suite_shape(void);       /* test_shape.c: reshape transpose broadcast_to slice ...  */
void suite_linalg(void);      /* test_linalg.c: matmul softmax log_softmax               */
void suite_fn(void);          /* test_fn.c: nb_fn_new, trace, signature, call, print     */
void suite_errors(void);      /* test_errors.c: every error path, NULL propagation       */
void suite_alloc(void);       /* test_alloc.c: allocation-failure sweep                  */
void suite_threads(void);     /* test_threads.c: concurrent nb_call                      */
void suite_invariants(void);  /* test_invariants.c: every primitive has its rules        */
void suite_diff_rules(void);  /* test_diff_rules.c: every primitive's derivatives         */
void suite_diff_conventions(void); /* test_diff_conventions.c: non-smooth points, NaN-safe where */
void suite_diff_transforms(void);  /* test_diff_transforms.c: transforms, nesting, errors   */
void suite_adbench(void);          /* test_adbench.c: ADBench GMM and LSTM, an MLP loss      */
void suite_vmap(void);             /* test_vmap.c: vmap, batch products, composition         */
void suite_exec(void);             /* test_exec.c: nb_call's fast paths against the reference */
void suite_emit(void);             /* test_emit.c: standalone C and native code              */
void suite_gemm(void);             /* test_gemm.c: the blocked matrix product (prim/gemm.h)  */
void suite_sinks(void);            /* test_sinks.c: reductions over some axes as group sinks */

static const th_suite th_suites[] = {
    {"elementwise", suite_elementwise}, {"broadcast", suite_broadcast},
    {"reduce", suite_reduce},           {"shape", suite_shape},
    {"linalg", suite_linalg},           {"fn", suite_fn},
    {"errors", suite_errors},           {"alloc", suite_alloc},
    {"threads", suite_threads},         {"invariants", suite_invariants},
    {"diff_rules", suite_diff_rules},
    {"diff_conventions", suite_diff_conventions},
    {"diff_transforms", suite_diff_transforms}, {"adbench", suite_adbench},
    {"vmap", suite_vmap},               {"exec", suite_exec},
    {"emit", suite_emit},               {"gemm", suite_gemm},
    {"sinks", suite_sinks},
    {0, 0}};

#endif
