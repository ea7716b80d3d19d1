/* cmd_serve.c: `hnd serve`: the edge server of the split link. Loads the
 * tail (an export bundle's tail.h5 with its manifest, or a student file)
 * and optionally a whole detector for IMAGE requests, then serves
 * (infer/split_server.h) until SIGINT/SIGTERM or --max-requests. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_common.h"
#include "cmd_serve.h"
#include "commands.h"
#include "config.h"
#include "ctorch.h"
#include "eb_link.h"
#include "eb_wire.h"
#include "hnd_error.h"
#include "hnd_model.h"
#include "manifest.h"
#include "split_server.h"

typedef struct {
    const char *bundle, *weights, *config, *original, *original_config;
} sv_opts;

/* An entropy-bottleneck student's tables (WF_EB_RANS requests). */
static ebc_tables g_eb;

/* ------------------------------------------------------------ models */

static int hex_digest(const char *hex, uint8_t out[32]) {
    for (int i = 0; i < 32; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) return hnd_error_set("manifest digest '%s' is not hex", hex);
        out[i] = (uint8_t)v;
    }
    return 0;
}

/* The tail of an export bundle: the detector and bits of its manifest. */
static sr_model *load_bundle(const char *dir, ss_model *sm) {
    static mf_info info;   /* large; one load per process */
    char tail[4200];
    if (mf_read(dir, &info) != 0 || mf_file_path(&info, "tail", tail, sizeof tail) != 0 ||
        hex_digest(info.digest, sm->digest) != 0)
        return NULL;
    sr_bottleneck_spec bn = {info.channels, info.kind, info.bits, 0};
    sr_model *m = sr_new(&info.rc, &bn);
    if (m && sr_load_tail(m, tail) != 0) {
        sr_destroy(m);
        return NULL;
    }
    sm->bits = info.bits;
    /* an entropy-bottleneck student's bundle carries its tables (the tail
     * has no density): WF_EB_RANS requests are decoded with them */
    char tables[4200], err[512];
    int has_eb = 0;
    for (int i = 0; i < info.n_files; i++) has_eb |= strcmp(info.files[i].role, "eb-tables") == 0;
    if (m && has_eb) {
        int bad = mf_file_path(&info, "eb-tables", tables, sizeof tables) != 0;
        if (!bad && ebw_read_tables(tables, &g_eb, &sm->eb_crc, err, sizeof err) != 0)
            bad = hnd_error_set("%s", err);
        if (bad) {
            sr_destroy(m);
            return NULL;
        }
        sm->eb = &g_eb;
    }
    return m;
}

/* A whole detector (a teacher or a student file), strictly loaded. */
static sr_model *load_file(const char *path, const char *config, int want_student, int *cfg_bits) {
    sr_probe pr;
    char what[160];
    if (sr_probe_file(path, &pr) != 0) return NULL;
    if (pr.tail || (want_student && pr.channels <= 0)) {
        hnd_error_set("%s holds a %s: %s", path, sr_probe_describe(&pr, what, sizeof what),
                      want_student ? "--weights takes a student file (a bundle's tail: --bundle DIR)"
                                   : "--original takes a whole detector");
        return NULL;
    }
    rcnn_config rc;
    if (hm_file_config(path, config, &pr, &rc, cfg_bits) != 0) return NULL;
    sr_bottleneck_spec bn;
    sr_probe_bottleneck(&pr, &bn);
    bn.bits = *cfg_bits;
    sr_model *m = sr_new(&rc, &bn);
    if (m && sr_load(m, path) != 0) {
        sr_destroy(m);
        return NULL;
    }
    return m;
}

static int load_models(const sv_opts *o, ss_model *sm) {
    memset(sm, 0, sizeof *sm);
    int cfg_bits = 0;
    if (o->bundle) {
        sm->tail = load_bundle(o->bundle, sm);
    } else {
        sm->tail = load_file(o->weights, o->config, 1, &cfg_bits);
        sm->bits = cfg_bits ? cfg_bits : 8;
        char err[256];
        if (sm->tail && sr_entropy(sm->tail)) {
            /* its rounded values travel as float32 or entropy-coded with the
             * tables made from its density, as hnd export writes them */
            sm->bits = 32;
            if (ebl_tables(sr_entropy(sm->tail), &g_eb) != 0) return -1;
            sm->eb = &g_eb;
            if (ebw_tables_crc(&g_eb, &sm->eb_crc, err, sizeof err) != 0) return hnd_error_set("%s", err);
        }
    }
    if (!sm->tail) return -1;
    if (o->original && !(sm->original = load_file(o->original, o->original_config, 0, &cfg_bits)))
        return hnd_error_prefix("--original");
    return 0;
}

/* ------------------------------------------------------------ signals */

static ss_server *g_server;

static void on_signal(int sig) {
    (void)sig;
    if (g_server) ss_request_stop(g_server);
}

static void install_signals(ss_server *s) {
    g_server = s;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* ------------------------------------------------------------ command */

static int parse(const co_args *a, sv_opts *o, ss_options *so) {
    const co_command *cmd = a->cmd;
    *o = (sv_opts){co_str(a, "--bundle", NULL), co_str(a, "--weights", NULL), co_str(a, "--config", NULL),
                   co_str(a, "--original", NULL), co_str(a, "--original-config", NULL)};
    *so = (ss_options){.bind = co_str(a, "--bind", "127.0.0.1"),
                       .port = (int)co_int(a, "--port", 5555),
                       .max_conns = (int)co_int(a, "--max-conns", 16),
                       .idle_timeout_s = (int)co_int(a, "--idle-timeout", 60),
                       .frame_timeout_s = (int)co_int(a, "--frame-timeout", 10),
                       .max_requests = co_int(a, "--max-requests", 0),
                       .quiet = co_has(a, "--quiet")};
    if (!o->bundle == !o->weights) return co_usage_error(cmd, "give one of --bundle DIR and --weights STUDENT.h5");
    if (o->config && !o->weights) return co_usage_error(cmd, "--config goes with --weights");
    if (o->original_config && !o->original) return co_usage_error(cmd, "--original-config goes with --original");
    return cc_threads(a);
}

static void print_listening(ss_server *s, const ss_model *sm) {
    char label[160];
    const char *addr = ss_bind_address(s);
    int v6 = strchr(addr, ':') != NULL;
    printf("hnd serve: listening on %s%s%s:%d (model %s, C=%lld, bits %d, max bottleneck %u B%s%s)\n", v6 ? "[" : "",
           addr, v6 ? "]" : "", ss_port(s), sr_label(sm->tail, label, sizeof label),
           (long long)sr_channels(sm->tail), sm->bits, ss_max_bottleneck_payload(s),
           sm->eb ? ", entropy-coded bottlenecks" : "", sm->original ? ", IMAGE requests too" : "");
    fflush(stdout);
}

int cmd_serve(int argc, char **argv) {
    co_args a;
    if (hnd_parse("serve", argc, argv, &a) != 0) return 2;
    sv_opts o;
    ss_options so;
    int rc = parse(&a, &o, &so);
    if (rc != 0) {
        co_args_clear(&a);
        return rc;
    }
    ss_model sm;
    ss_server *s = NULL;
    rc = 1;
    if (load_models(&o, &sm) == 0 && (s = ss_new(&sm, &so)) != NULL) {
        install_signals(s);
        print_listening(s, &sm);
        if (ss_run(s) == 0) rc = 0;
        ss_print_summary(s, stdout);
    }
    if (rc != 0) fprintf(stderr, "hnd serve: %s\n", hnd_error());
    g_server = NULL;
    ss_destroy(s);
    sr_destroy(sm.tail);
    sr_destroy(sm.original);
    ebc_tables_clear(&g_eb);
    co_args_clear(&a);
    return rc;
}
