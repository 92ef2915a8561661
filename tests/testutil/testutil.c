#include "testutil.h"

#include "mdn_check.h"
#include <midden/midden.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void mdn_run_in_child(void (*fn)(void *), void *arg, mdn_child_result *out) {
    memset(out, 0, sizeof *out);
    int fds[2];
    if (pipe(fds) != 0) {
        perror("pipe");
        abort();
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        abort();
    }
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        close(fds[1]);
        fn(arg);
        fflush(stdout);
        fflush(stderr);
        _exit(0);
    }
    close(fds[1]);
    size_t used = 0;
    for (;;) {
        char buf[1024];
        ssize_t n = read(fds[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        size_t room = sizeof out->output - 1 - used;
        size_t take = (size_t)n < room ? (size_t)n : room;
        memcpy(out->output + used, buf, take);
        used += take;
    }
    out->output[used] = '\0';
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status)) {
        out->exited = true;
        out->exit_status = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        out->signaled = true;
        out->signal = WTERMSIG(status);
    }
}

uint64_t mdn_test_seed(const char *test_name) {
    const char *env = getenv("MDN_TEST_SEED");
    uint64_t seed;
    bool given = env && *env;
    if (given) {
        seed = strtoull(env, NULL, 0);
    } else {
        /* A fixed default: FNV-1a of the test's name, so every run of a
         * test makes the same choices and different tests differ. */
        seed = 0xcbf29ce484222325ULL;
        for (const char *c = test_name; *c; c++)
            seed = (seed ^ (unsigned char)*c) * 0x100000001b3ULL;
    }
    if (seed == 0)
        seed = 0x9E3779B97F4A7C15ULL;
    fprintf(stderr, "%s: seed %" PRIu64 " (%s; replay or change with MDN_TEST_SEED=N)\n", test_name, seed,
            given ? "from MDN_TEST_SEED" : "the fixed default");
    return seed;
}

int mdn_run_suite(Suite *suite) {
    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

mdn_heap *mdn_test_heap(size_t bytes, unsigned gc_threads) { return mdn_test_heap_with(bytes, gc_threads, NULL); }

mdn_heap *mdn_test_heap_with(size_t bytes, unsigned gc_threads, const char *extra) {
    mdn_options o;
    mdn_options_init(&o);
    o.heap_size = bytes;
    o.gc_threads = gc_threads;
    mdn_error err;
    if (extra)
        ck_assert_msg(mdn_options_parse(&o, extra, &err), "%s", err.message);
    mdn_heap *h = mdn_heap_create(&o, &err);
    ck_assert_msg(h != NULL, "heap of %zu bytes: %s", bytes, err.message);
    return h;
}
