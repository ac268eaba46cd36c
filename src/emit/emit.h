/* The C emitter, shared by nb_fn_emit_c and the native compiler (emit/jit.c). */
#ifndef NB_EMIT_H
#define NB_EMIT_H

#include <stdio.h>

#include "../exec/exec.h"

/* writes f, run as planned by p, as a C file whose entry point is name */
nb_status nb__emit_c(const char *api, nb_fn *f, const nb__plan *p, const char *name, FILE *out);

#endif
