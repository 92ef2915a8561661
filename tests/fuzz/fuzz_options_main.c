/*
 * fuzz_options_main.c: replay inputs through the options fuzz target without
 * a fuzzer, so the corpus can run in the ordinary test suite.
 *
 * Usage: fuzz_options_main PATH...  Each PATH is a file, or a directory
 * whose files (recursively, in name order, skipping dot files) are each one
 * input. Exits 0 when every input ran; a broken invariant aborts inside the
 * target. An unreadable path or no inputs at all is an error.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path, size_t *count) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "fuzz_options_main: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t len = 0, cap = 4096;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (buf == NULL) {
            fprintf(stderr, "fuzz_options_main: out of memory reading %s\n", path);
            fclose(f);
            return -1;
        }
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap)
            break;
        cap *= 2;
        uint8_t *grown = realloc(buf, cap);
        if (grown == NULL)
            free(buf);
        buf = grown;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        fprintf(stderr, "fuzz_options_main: cannot read %s\n", path);
        free(buf);
        return -1;
    }
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    (*count)++;
    return 0;
}

static int replay_path(const char *path, size_t *count) {
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "fuzz_options_main: cannot stat %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return replay_file(path, count);

    struct dirent **entries;
    int n = scandir(path, &entries, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "fuzz_options_main: cannot list %s: %s\n", path, strerror(errno));
        return -1;
    }
    int result = 0;
    for (int i = 0; i < n; i++) {
        const char *name = entries[i]->d_name;
        if (name[0] != '.' && result == 0) {
            size_t size = strlen(path) + strlen(name) + 2;
            char *child = malloc(size);
            if (child == NULL) {
                result = -1;
            } else {
                snprintf(child, size, "%s/%s", path, name);
                result = replay_path(child, count);
                free(child);
            }
        }
        free(entries[i]);
    }
    free(entries);
    return result;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE-OR-DIRECTORY...\n", argv[0]);
        return 2;
    }
    size_t count = 0;
    for (int i = 1; i < argc; i++)
        if (replay_path(argv[i], &count) != 0)
            return 1;
    if (count == 0) {
        fprintf(stderr, "fuzz_options_main: no inputs found\n");
        return 1;
    }
    printf("fuzz_options_main: %zu inputs, all invariants held\n", count);
    return 0;
}
