#include "../internal.h"

#define NB__STR2(x) #x
#define NB__STR(x) NB__STR2(x)

const char *nb_version(void) {
  return NB__STR(NB_VERSION_MAJOR) "." NB__STR(NB_VERSION_MINOR) "." NB__STR(NB_VERSION_PATCH);
}
