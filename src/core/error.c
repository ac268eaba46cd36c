/* The thread-local failure record: one funnel writes it, every public
 * function that fails goes through nb__fail. */
#include <stdio.h>

#include "../internal.h"

static _Thread_local nb_status err_code = NB_OK;
static _Thread_local char      err_msg[512];
static _Thread_local uint64_t  err_count;

uint64_t nb__fail_count(void) { return err_count; }

const char *nb_status_str(nb_status s) {
  switch (s) {
  case NB_OK: return "NB_OK";
  case NB_ERR_ARG: return "NB_ERR_ARG";
  case NB_ERR_SHAPE: return "NB_ERR_SHAPE";
  case NB_ERR_DTYPE: return "NB_ERR_DTYPE";
  case NB_ERR_NOMEM: return "NB_ERR_NOMEM";
  case NB_ERR_PARSE: return "NB_ERR_PARSE";
  case NB_ERR_IO: return "NB_ERR_IO";
  case NB_ERR_COMPILE: return "NB_ERR_COMPILE";
  case NB_ERR_CHECK: return "NB_ERR_CHECK";
  }
  return "NB_ERR_UNKNOWN";
}

const char *nb_errmsg(void) { return err_msg; }
nb_status   nb_errcode(void) { return err_code; }

void nb_errclear(void) {
  err_code = NB_OK;
  err_msg[0] = '\0';
}

nb_status nb__fail(nb_status code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err_msg, sizeof err_msg, fmt, ap);
  va_end(ap);
  err_code = code;
  err_count++;
  return code;
}

nb_status nb__null_arg(const char *api) {
  if (err_code == NB_OK) nb__fail(NB_ERR_ARG, "%s: NULL argument", api);
  else err_count++;
  return NB_ERR_ARG;
}

nb_status nb__nomem(const char *api) { return nb__fail(NB_ERR_NOMEM, "%s: out of memory", api); }
