/*
 * fuzz_options.c: a fuzz target for the option parser (core/options.c),
 * for libFuzzer or AFL++ (LLVMFuzzerTestOneInput). fuzz_options_main.c
 * replays a corpus through the same function without a fuzzer.
 *
 * The input, cut at its first NUL, is parsed into fresh default options.
 * Invariants checked, aborting with a message when one breaks:
 *  - on success: err is cleared, the result passes mdn_options_validate(),
 *    and parsing the same text again changes nothing (settings are absolute);
 *  - on failure: the options still equal the defaults, err.code is
 *    MDN_ERR_OPTION and the message is non-empty and NUL-terminated;
 *  - a NULL err gives the same verdict and the same options.
 */
#include "core/options.h"

#include <midden/midden.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_options_broken(const char *invariant, const char *text, const mdn_error *err) {
    fprintf(stderr, "fuzz_options: invariant broken: %s\n  input: \"%.200s\"\n  code %d, message \"%.*s\"\n",
            invariant, text, (int)err->code, MDN_ERROR_MESSAGE_SIZE, err->message);
    abort();
}

static bool fuzz_options_same(const mdn_options *a, const mdn_options *b) {
    return a->heap_size == b->heap_size && a->gc_threads == b->gc_threads && a->verbose == b->verbose &&
           a->verify == b->verify && a->stress == b->stress && a->poison == b->poison &&
           a->defrag_headroom == b->defrag_headroom;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    if (size > 0)
        memcpy(text, data, size);
    text[size] = '\0';

    mdn_options defaults, opts;
    mdn_options_init(&defaults);
    mdn_options_init(&opts);
    mdn_error err;
    memset(&err, 'x', sizeof err); /* no NUL anywhere: the parser must terminate what it writes */
    err.code = (mdn_error_code)77;

    bool ok = mdn_options_parse(&opts, text, &err);
    if (ok) {
        if (err.code != MDN_OK || err.message[0] != '\0')
            fuzz_options_broken("success leaves err cleared", text, &err);
        mdn_error verr;
        if (!mdn_options_validate(&opts, &verr))
            fuzz_options_broken("a parsed result passes validate", text, &verr);
        mdn_options again = opts;
        if (!mdn_options_parse(&again, text, NULL) || !fuzz_options_same(&again, &opts))
            fuzz_options_broken("parsing the same text twice gives the same options", text, &err);
    } else {
        if (!fuzz_options_same(&opts, &defaults))
            fuzz_options_broken("a failed parse leaves the options unchanged", text, &err);
        if (err.code != MDN_ERR_OPTION)
            fuzz_options_broken("a failed parse reports MDN_ERR_OPTION", text, &err);
        if (memchr(err.message, '\0', sizeof err.message) == NULL)
            fuzz_options_broken("the message is NUL-terminated", text, &err);
        if (err.message[0] == '\0')
            fuzz_options_broken("the message is not empty", text, &err);
    }

    mdn_options quiet;
    mdn_options_init(&quiet);
    if (mdn_options_parse(&quiet, text, NULL) != ok || !fuzz_options_same(&quiet, ok ? &opts : &defaults))
        fuzz_options_broken("a NULL err gives the same verdict and options", text, &err);

    free(text);
    return 0;
}
