/* gc/gc_inline.h: in Midden's libgc every declaration is in gc.h. */
#include "../gc.h"
