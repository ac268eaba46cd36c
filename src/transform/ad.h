/* The vocabulary derivative rules are written in. Every helper emits
 * primitives into the operands' graph; in the tangent helpers (nb__t_*)
 * NULL is an exact zero, so a node whose inputs carry no tangent costs
 * nothing. */
#ifndef NB_AD_H
#define NB_AD_H

#include "../internal.h"

struct nb__ad {
  const char *api; /* the public transformation, for messages */
};

/* primal building blocks */
nb_expr *nb__ad1(nb__ad *ad, int op, nb_expr *x);
nb_expr *nb__ad2(nb__ad *ad, int op, nb_expr *a, nb_expr *b);
nb_expr *nb__adp(nb__ad *ad, int op, nb_expr *x, const nb__params *p); /* with parameters */
nb_expr *nb__ad_select(nb__ad *ad, nb_expr *c, nb_expr *a, nb_expr *b);
nb_expr *nb__ad_recip(nb__ad *ad, nb_expr *x);                   /* 1 / x */
nb_expr *nb__ad_swap_last(nb__ad *ad, nb_expr *x); /* transpose of the last two axes */

/* tangent algebra (NULL is zero) */
nb_expr *nb__t_add(nb__ad *ad, nb_expr *a, nb_expr *b);
nb_expr *nb__t_sub(nb__ad *ad, nb_expr *a, nb_expr *b);
nb_expr *nb__t_neg(nb__ad *ad, nb_expr *t);
nb_expr *nb__t_scale(nb__ad *ad, nb_expr *t, nb_expr *d); /* dmul(t, d): zero stays zero */
nb_expr *nb__t_zeros(nb__ad *ad, nb_expr *t, const nb_expr *like); /* t, or zeros like `like` */
/* the same primitive with the same parameters applied to a tangent */
nb_expr *nb__t_same(nb__ad *ad, const nb__node *n, nb_expr *t);

/* shared rules */
nb_expr *nb__jvp_zero(nb__ad *ad, const nb__node *n, nb_expr *const *x, nb_expr *y,
                      nb_expr *const *t);
/* jvp of a primitive linear in its only operand: the primitive on the tangent */
nb_expr *nb__jvp_linear1(nb__ad *ad, const nb__node *n, nb_expr *const *x, nb_expr *y,
                         nb_expr *const *t);

/* shared batching rules (transform/vmap.c); the batch axis is always leading */
nb_expr *nb__batch_expand(nb__ad *ad, nb_expr *x, int64_t b); /* x with a new leading axis */
/* operands brought to the batch, the same primitive applied */
nb_expr *nb__batch_elementwise(nb__ad *ad, const nb__node *n, int64_t b, nb_expr *const *x,
                               const bool *bx);
/* the same, with the axis parameter p.i[0] shifted past the batch axis */
nb_expr *nb__batch_axis(nb__ad *ad, const nb__node *n, int64_t b, nb_expr *const *x,
                        const bool *bx);
/* the same, with the axes bit mask p.i[0] shifted past the batch axis */
nb_expr *nb__batch_mask(nb__ad *ad, const nb__node *n, int64_t b, nb_expr *const *x,
                        const bool *bx);

#endif
