/* Helpers shared by the public operations (src/ops/). */
#ifndef NB_OPS_H
#define NB_OPS_H

#include "../internal.h"

/* x broadcast (numpy rules, right-aligned) to rank/shape */
nb_expr *nb__broadcast(const char *api, nb_expr *x, int rank, const int64_t *shape);
/* x with dtype dt: how a weak scalar adopts the other operand's dtype */
nb_expr *nb__adopt(const char *api, nb_expr *x, nb_dtype dt);
/* Brings n operands to one dtype (weak ones adopt) and one broadcast shape,
 * in place. */
nb_status nb__unify(const char *api, int n, nb_expr **xs);
/* Turns (naxes, axes) into a bit mask of axes of a rank-`rank` tensor. */
nb_status nb__axes_mask(const char *api, int rank, int naxes, const int *axes, int64_t *mask);
/* x reshaped so the axes in mask are back with length 1 (keepdims). */
nb_expr *nb__keepdims(const char *api, nb_expr *r, const nb_expr *x, int64_t mask);
nb_expr *nb__reduce(const char *api, int op, nb_expr *x, int64_t mask);
/* the max over mask with infinities and NaN replaced by 0, gradient stopped:
 * the shift that keeps exp() in range (logsumexp, softmax) */
nb_expr *nb__stable_shift(const char *api, nb_expr *x, int64_t mask);

#endif
