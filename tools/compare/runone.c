/*
 * midden-runone: run one command with a time cap and report how it went.
 *
 *   midden-runone [-t SECONDS] [-o FILE] [-e FILE] -- COMMAND [ARG...]
 *
 * The command's standard output and error go to the given files (default:
 * inherited). When it ends, or when the cap is reached and its process group
 * has been killed, one line goes to standard output:
 *
 *   status=<n> outcome=<exit|signal|timeout> wall_s=<seconds> maxrss_kb=<n> minflt=<n>
 *
 * status is the exit status, 128+N after signal N, or 124 after the time
 * cap. Wall time is measured with the monotonic clock around fork and
 * wait4; the maximum resident set size comes from wait4's rusage, so it
 * covers only the child (and any children it waited for), as does the
 * count of minor page faults. midden-runone
 * itself exits 0 when it could run the command, 2 on bad usage, 127 when
 * the command could not be started, and 128+N when signal N (INT, TERM or
 * HUP) stopped it, after killing the command's process group.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define USAGE "usage: midden-runone [-t SECONDS] [-o STDOUT_FILE] [-e STDERR_FILE] -- COMMAND [ARG...]\n"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Point descriptor @p fd at @p path (truncated), in the child. */
static void redirect(int fd, const char *path) {
    int f = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (f < 0 || dup2(f, fd) < 0) {
        fprintf(stderr, "midden-runone: cannot open %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    close(f);
}

int main(int argc, char **argv) {
    double cap = 0;
    const char *out = NULL, *err = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "+t:o:e:")) != -1) {
        char *end;
        switch (opt) {
        case 't':
            cap = strtod(optarg, &end);
            if (end == optarg || *end != '\0' || cap < 0) {
                fprintf(stderr, "midden-runone: bad time cap '%s'\n" USAGE, optarg);
                return 2;
            }
            break;
        case 'o': out = optarg; break;
        case 'e': err = optarg; break;
        default: fputs(USAGE, stderr); return 2;
        }
    }
    if (optind >= argc) {
        fputs(USAGE, stderr);
        return 2;
    }

    /* SIGCHLD stays blocked so that sigtimedwait() can wait for it; so do
     * the signals that stop a session (the child runs in its own process
     * group and would not see a ^C), which are passed on to the child. */
    sigset_t chld, stop, waited;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGHUP);
    waited = chld;
    sigaddset(&waited, SIGINT);
    sigaddset(&waited, SIGTERM);
    sigaddset(&waited, SIGHUP);
    sigprocmask(SIG_BLOCK, &waited, NULL);

    double start = now();
    pid_t pid = fork();
    if (pid < 0) {
        perror("midden-runone: fork");
        return 127;
    }
    if (pid == 0) {
        setpgid(0, 0); /* its own group, so a timeout kills its helpers too */
        sigprocmask(SIG_UNBLOCK, &waited, NULL);
        if (out)
            redirect(1, out);
        if (err)
            redirect(2, err);
        execvp(argv[optind], &argv[optind]);
        fprintf(stderr, "midden-runone: cannot run %s: %s\n", argv[optind], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);

    int status = 0;
    struct rusage ru;
    int timed_out = 0;
    int sig;
    for (;;) {
        pid_t r = wait4(pid, &status, WNOHANG, &ru);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR) {
            perror("midden-runone: wait4");
            return 127;
        }
        if (cap > 0) {
            double left = cap - (now() - start);
            if (left <= 0) {
                kill(-pid, SIGKILL);
                kill(pid, SIGKILL);
                timed_out = 1;
                wait4(pid, &status, 0, &ru);
                break;
            }
            struct timespec ts = {(time_t)left, (long)((left - (double)(time_t)left) * 1e9)};
            sig = sigtimedwait(&waited, NULL, &ts);
        } else {
            sig = sigwaitinfo(&waited, NULL);
        }
        if (sig > 0 && sigismember(&stop, sig)) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            wait4(pid, &status, 0, &ru);
            fprintf(stderr, "midden-runone: stopped by signal %d\n", sig);
            return 128 + sig;
        }
    }
    double wall = now() - start;

    int code;
    const char *outcome;
    if (timed_out) {
        code = 124;
        outcome = "timeout";
    } else if (WIFSIGNALED(status)) {
        code = 128 + WTERMSIG(status);
        outcome = "signal";
    } else {
        code = WEXITSTATUS(status);
        outcome = "exit";
    }
    printf("status=%d outcome=%s wall_s=%.6f maxrss_kb=%ld minflt=%ld\n", code, outcome, wall, ru.ru_maxrss,
           ru.ru_minflt);
    return 0;
}
