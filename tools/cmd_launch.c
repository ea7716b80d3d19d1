/* cmd_launch.c: `hnd launch` (torch-free): starts this node's ranks of a
 * data-parallel run, each an `hnd ARGS...` process with the torchrun
 * variables set, forwards Ctrl-C / SIGTERM to all of them, and reports the
 * rank that failed first. */
#define _GNU_SOURCE
#include "cmd_launch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"

#define LAUNCH_MAX 256

static volatile sig_atomic_t g_signal;

static void on_signal(int s) { g_signal = s; }

/* A port nobody listens on now (the kernel's choice for port 0). */
static int free_port(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t n = sizeof a;
    int port = -1;
    if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(s, (struct sockaddr *)&a, &n) == 0)
        port = ntohs(a.sin_port);
    if (s >= 0) close(s);
    return port;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void describe(int st, char *buf, size_t n) {
    if (WIFEXITED(st)) snprintf(buf, n, "exit status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st)) snprintf(buf, n, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else snprintf(buf, n, "status %d", st);
}

int cmd_launch(int argc, char **argv) {
    co_args a;
    if (hnd_parse("launch", argc, argv, &a) != 0) return 2;
    int nproc = (int)co_int(&a, "--nproc", 1), nnodes = (int)co_int(&a, "--nnodes", 1);
    int node_rank = (int)co_int(&a, "--node-rank", 0);
    double timeout = co_real(&a, "--timeout", 300);
    const char *master = co_str(&a, "--master", NULL);
    int rc = 2;
    char addr[256] = "127.0.0.1";
    int port = 0;
    if (node_rank >= nnodes) {
        fprintf(stderr, "hnd launch: --node-rank %d of --nnodes %d: need 0 <= node-rank < nnodes\n", node_rank, nnodes);
        goto out;
    }
    if (nproc > LAUNCH_MAX) {
        fprintf(stderr, "hnd launch: --nproc %d: at most %d processes per node\n", nproc, LAUNCH_MAX);
        goto out;
    }
    if (master) {
        const char *colon = strrchr(master, ':');
        char *end = NULL;
        long p = colon ? strtol(colon + 1, &end, 10) : 0;
        if (!colon || colon == master || (size_t)(colon - master) >= sizeof addr || !end || *end || p < 1 || p > 65535) {
            fprintf(stderr, "hnd launch: --master %s: expected ADDR:PORT (e.g. 10.0.0.1:29500)\n", master);
            goto out;
        }
        snprintf(addr, sizeof addr, "%.*s", (int)(colon - master), master);
        port = (int)p;
    } else if (nnodes > 1) {
        fprintf(stderr, "hnd launch: --nnodes %d needs --master ADDR:PORT (rank 0's node, the same on every node)\n",
                nnodes);
        goto out;
    } else if ((port = free_port()) < 0) {
        fprintf(stderr, "hnd launch: no free port on the loopback: %s\n", strerror(errno));
        rc = 1;
        goto out;
    }
    char self[4096];
    ssize_t sn = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sn < 0) {
        fprintf(stderr, "hnd launch: cannot locate own executable: %s\n", strerror(errno));
        rc = 1;
        goto out;
    }
    self[sn] = 0;
    /* the child's argv: "hnd" + the positional arguments (after "--") */
    char **cargv = calloc((size_t)a.n_pos + 2, sizeof *cargv);
    pid_t pids[LAUNCH_MAX];
    int status[LAUNCH_MAX], done[LAUNCH_MAX];
    if (!cargv) {
        fprintf(stderr, "hnd launch: out of memory\n");
        rc = 1;
        goto out;
    }
    cargv[0] = "hnd";
    for (int i = 0; i < a.n_pos; i++) cargv[i + 1] = (char *)a.pos[i];
    const int world = nproc * nnodes;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    fprintf(stderr, "hnd launch: %d process%s on this node (ranks %d..%d of %d), master %s:%d\n", nproc,
            nproc == 1 ? "" : "es", node_rank * nproc, node_rank * nproc + nproc - 1, world, addr, port);
    int started = 0;
    for (int i = 0; i < nproc; i++) {
        pid_t p = fork();
        if (p < 0) {
            fprintf(stderr, "hnd launch: fork: %s\n", strerror(errno));
            break;
        }
        if (p == 0) {
            /* its own process group: a terminal's Ctrl-C reaches the ranks
             * once, through us, not twice */
            setpgid(0, 0);
            signal(SIGINT, SIG_DFL);
            signal(SIGTERM, SIG_DFL);
            char v[64];
            setenv("MASTER_ADDR", addr, 1);
            snprintf(v, sizeof v, "%d", port);
            setenv("MASTER_PORT", v, 1);
            snprintf(v, sizeof v, "%d", node_rank * nproc + i);
            setenv("RANK", v, 1);
            snprintf(v, sizeof v, "%d", i);
            setenv("LOCAL_RANK", v, 1);
            snprintf(v, sizeof v, "%d", world);
            setenv("WORLD_SIZE", v, 1);
            snprintf(v, sizeof v, "%d", nproc);
            setenv("LOCAL_WORLD_SIZE", v, 1);
            snprintf(v, sizeof v, "%g", timeout);
            setenv("HND_DIST_TIMEOUT", v, 1);
            execv(self, cargv);
            fprintf(stderr, "hnd launch: exec %s: %s\n", self, strerror(errno));
            _exit(127);
        }
        pids[started] = p;
        done[started] = 0;
        status[started] = 0;
        started++;
    }
    /* wait; forward signals; after a failure, give the others the
     * collective timeout (+ a margin) to notice and exit, then kill them */
    int left = started, first_bad = -1, forwarded = 0;
    double kill_at = -1;
    if (started < nproc) {
        for (int i = 0; i < started; i++) kill(pids[i], SIGTERM);
        kill_at = now_s() + 10;
    }
    while (left > 0) {
        if (g_signal && !forwarded) {
            for (int i = 0; i < started; i++)
                if (!done[i]) kill(pids[i], g_signal == SIGTERM ? SIGTERM : SIGINT);
            forwarded = 1;
        }
        int st;
        pid_t p = waitpid(-1, &st, WNOHANG);
        if (p > 0) {
            for (int i = 0; i < started; i++)
                if (pids[i] == p && !done[i]) {
                    done[i] = 1;
                    status[i] = st;
                    left--;
                    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0) && first_bad < 0) {
                        first_bad = i;
                        char d[96];
                        describe(st, d, sizeof d);
                        fprintf(stderr, "hnd launch: rank %d (pid %d) failed: %s\n", node_rank * nproc + i, (int)p, d);
                        if (kill_at < 0) kill_at = now_s() + timeout + 30;
                    }
                }
            continue;
        }
        if (p < 0 && errno != EINTR) break;
        if (kill_at > 0 && now_s() > kill_at) {
            for (int i = 0; i < started; i++)
                if (!done[i]) {
                    fprintf(stderr, "hnd launch: rank %d (pid %d) still running after the failure: killed\n",
                            node_rank * nproc + i, (int)pids[i]);
                    kill(pids[i], SIGKILL);
                }
            kill_at = now_s() + 3600;
        }
        usleep(50000);
    }
    free(cargv);
    if (started < nproc) rc = 1;
    else if (first_bad < 0) rc = 0;
    else {
        /* all stopped by Ctrl-C: the ranks' own exit status (130) */
        int st = status[first_bad];
        rc = forwarded && WIFEXITED(st) && WEXITSTATUS(st) == 130 ? 130 : 1;
        char d[96];
        describe(st, d, sizeof d);
        fprintf(stderr, "hnd launch: rank %d failed first (%s)\n", node_rank * nproc + first_bad, d);
    }
out:
    co_args_clear(&a);
    return rc;
}
