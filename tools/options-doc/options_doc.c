/*
 * options_doc: print the options reference (Markdown) generated from the
 * options table in core/options.c, for the documentation build.
 */
#include "core/options.h"

#include <stdio.h>

int main(void) {
    mdn_options_write_markdown(stdout);
    return 0;
}
