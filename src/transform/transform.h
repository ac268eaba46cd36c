/* Shared machinery of the transformations: option checking, emitting a
 * function (and its tangents) into a graph, and linearize + transpose. */
#ifndef NB_TRANSFORM_H
#define NB_TRANSFORM_H

#include "ad.h"

/* validated nb_diff_opts */
typedef struct nb__wrt {
  int  nwrt;   /* differentiated inputs */
  int *wrt;    /* their indices (ascending) */
  int *pos;    /* per input: its position among wrt, or -1 */
  int  ny;     /* differentiated outputs: the first nout - naux */
} nb__wrt;

nb_status nb__wrt_init(const char *api, const nb_fn *f, const nb_diff_opts *o, nb__wrt *w);
void      nb__wrt_free(nb__wrt *w);

/* A new graph with one input per input of f (same names and types). */
nb_graph *nb__graph_like(const char *api, const nb_fn *f, nb_expr **args);
/* An input named prefix + the name of f's input i, typed like it. */
nb_expr *nb__input_like(const char *api, nb_graph *g, const char *prefix, const nb__node *like,
                        const char *name);
const char *nb__input_name(const nb_fn *f, int i);

/* Emits f over args and, where targs[i] is not NULL, its tangents: vals and
 * tans (per node of f, NULL tangents are zero). */
nb_status nb__jvp_emit(nb__ad *ad, nb_graph *g, const nb_fn *f, nb_expr *const *args, nb_expr *const *targs,
                       nb_expr **vals, nb_expr **tans);

/* Emits f over args and the cotangents of its wrt inputs for cotangents cts
 * of its first w->ny outputs (NULL: zero): vals per output of f, grads per
 * wrt input (zeros where nothing flows). */
nb_status nb__vjp_emit(nb__ad *ad, nb_graph *g, const nb_fn *f, const nb__wrt *w,
                       nb_expr *const *args, nb_expr *const *cts, nb_expr **vals, nb_expr **grads);

/* Emits f over args, where the inputs flagged in bin carry a leading batch
 * axis of size b: vals per node, bat per node tells which are batched. */
nb_status nb__vmap_emit(nb__ad *ad, nb_graph *g, const nb_fn *f, int64_t b, nb_expr *const *args,
                        const bool *bin, nb_expr **vals, bool *bat);

/* grad-like transformations: one differentiated output of one element */
nb_status nb__check_scalar(const char *api, const nb_fn *f, const nb__wrt *w);

/* Closes g into a function unless a failure was recorded since `mark`
 * (inside transformations NULL means zero, so failures are counted). */
nb_fn *nb__finish(const char *api, nb_graph *g, uint64_t mark, int nin, nb_expr *const *in,
                  int nout, nb_expr *const *out);

/* A function with outputs [first, first + count) of f. */
nb_fn *nb__fn_outputs(const char *api, const nb_fn *f, int first, int count);

#endif
