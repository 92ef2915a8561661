/*
 * memcheck/canary: exits 0, but its one branch depends on a heap word the
 * program never wrote, which memcheck reports (tests/memcheck).
 */
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    long *word = malloc(sizeof *word);
    if (word == NULL)
        return 1;
    long *volatile seen = word; /* the read below is not folded away */
    if (*seen == 42)
        puts("the unwritten word held 42");
    free(word);
    return 0;
}
