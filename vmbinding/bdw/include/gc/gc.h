/* gc/gc.h: the same header under the path Boehm GC also installs it at. */
#include "../gc.h"
