/* version.c: the library's version, from the generated <midden/version.h>. */
#include <midden/version.h>

const char *mdn_version_string(void) { return MDN_VERSION_STRING; }
