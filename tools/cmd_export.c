/* cmd_export.c: `hnd export STUDENT.h5 --out DIR [options]`: a student's
 * head as ONNX, TorchScript and a plain-C runtime, its tail as tail.h5 and
 * the manifest that binds them (tools/export/). The bundle is assembled in
 * DIR.tmp.<pid> next to DIR and renamed into place: DIR is either the old
 * bundle or the complete new one. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "c_head_writer.h"
#include "cmd_export.h"
#include "commands.h"
#include "atomic_file.h"
#include "config.h"
#include "eb_link.h"
#include "ctorch.h"
#include "head_graph.h"
#include "hnd_error.h"
#include "hnd_model.h"
#include "hnd_version.h"
#include "manifest.h"
#include "onnx_head.h"
#include "path.h"
#include "ts_head.h"

enum { FMT_ONNX = 1, FMT_TS = 2, FMT_C = 4, FMT_ALL = 7 };

typedef struct {
    const char *student, *out, *config;
    int formats, bits, overwrite, quiet;
    double min_size, max_size;
} ex_opts;

static int parse_formats(const co_command *cmd, const char **list, int n, int *out) {
    *out = n ? 0 : FMT_ALL;
    for (int i = 0; i < n; i++) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", list[i]);
        for (char *t = strtok(buf, ","); t; t = strtok(NULL, ",")) {
            if (strcmp(t, "onnx") == 0) *out |= FMT_ONNX;
            else if (strcmp(t, "torchscript") == 0) *out |= FMT_TS;
            else if (strcmp(t, "c") == 0) *out |= FMT_C;
            else return co_usage_error(cmd, "--format: unknown format '%s' (onnx, torchscript, c)", t);
        }
    }
    return *out ? 0 : co_usage_error(cmd, "--format: no format given");
}

/* The student, its weights loaded strictly. Its detector: the config's
 * student model when --config is given, else what the file's shapes say
 * (sr_probe_config). *cfg_bits: the config's transformer bits (0 without). */
static sr_model *load_student(const ex_opts *o, int *cfg_bits) {
    sr_probe pr;
    char what[160];
    *cfg_bits = 0;
    if (sr_probe_file(o->student, &pr) != 0) return NULL;
    if (pr.channels <= 0 || pr.tail) {
        hnd_error_set("%s holds a %s: only a student (hnd train's checkpoint, with a bottleneck) can be exported",
                      o->student, sr_probe_describe(&pr, what, sizeof what));
        return NULL;
    }
    rcnn_config rc;
    sr_bottleneck_spec bn;
    sr_probe_bottleneck(&pr, &bn);
    if (hm_file_config(o->student, o->config, &pr, &rc, cfg_bits) != 0) return NULL;
    if (o->min_size > 0) rc.transform.min_size = o->min_size;
    if (o->max_size > 0) rc.transform.max_size = o->max_size;
    sr_model *m = sr_new(&rc, &bn);
    if (m && sr_load(m, o->student) != 0) {
        sr_destroy(m);
        m = NULL;
    }
    return m;
}

/* Runs one writer on dir/name and lists the file for the manifest. */
typedef struct {
    mf_file files[16];
    int n;
} ex_files;

static int add_file(ex_files *f, const char *name, const char *role) {
    if (f->n >= 16) return hnd_error_set("export: too many files");
    mf_file *e = &f->files[f->n++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    snprintf(e->role, sizeof e->role, "%s", role);
    return 0;
}

static int write_c_head(const char *tmp, const hg_head *h, ex_files *f) {
    char dir[4096], p[4096];
    static const char *const sources[] = {"hnd_head.h", "hnd_head.c", "hnd_head_run.c", "Makefile", "eb_codec.h",
                                          "eb_codec.c"};
    if (path_join(dir, sizeof dir, tmp, "head_c") != 0 || path_mkdirs(dir) != 0) return -1;
    if (path_join(p, sizeof p, dir, "head.bin") != 0 || chw_write_weights(h, p) != 0 || chw_write_sources(dir) != 0)
        return -1;
    if (add_file(f, "head_c/head.bin", "head-c-weights") != 0) return -1;
    for (int i = 0; i < 6; i++) {
        char name[64];
        struct stat st;
        snprintf(name, sizeof name, "head_c/%s", sources[i]);
        if (path_join(p, sizeof p, tmp, name) == 0 && stat(p, &st) == 0 && add_file(f, name, "head-c-source") != 0)
            return -1;
    }
    return 0;
}

static int write_bundle(const ex_opts *o, sr_model *m, const hg_head *h, const char *tmp, ex_files *f) {
    char p[4096];
    if ((o->formats & FMT_ONNX) &&
        (path_join(p, sizeof p, tmp, "head.onnx") != 0 || oxh_write(h, p) != 0 || add_file(f, "head.onnx", "head-onnx") != 0))
        return -1;
    if ((o->formats & FMT_TS) &&
        (path_join(p, sizeof p, tmp, "head.pt") != 0 || tsh_write(h, p) != 0 ||
         add_file(f, "head.pt", "head-torchscript") != 0))
        return -1;
    if ((o->formats & FMT_C) && write_c_head(tmp, h, f) != 0) return -1;
    char label[160], cstr[32];
    snprintf(cstr, sizeof cstr, "%d", h->channels);
    const char *const attrs[][2] = {{"hnd_part", "tail"},
                                    {"hnd_version", HND_VERSION},
                                    {"model", sr_label(m, label, sizeof label)},
                                    {"bottleneck_channels", cstr}};
    if (path_join(p, sizeof p, tmp, "tail.h5") != 0 || sr_save_tail(m, p, attrs, 4) != 0 ||
        add_file(f, "tail.h5", "tail") != 0)
        return -1;
    if (sr_entropy(m)) {
        /* an entropy-bottleneck student: the 16-bit CDF tables both ends code
         * with (infer/eb_codec.h; head_c/ carries the coder) */
        ebc_tables t;
        uint8_t *buf = NULL;
        size_t len = 0;
        char err[256];
        if (ebl_tables(sr_entropy(m), &t) != 0) return -1;
        int e = ebc_tables_write(&t, &buf, &len, err, sizeof err);
        ebc_tables_clear(&t);
        if (e != 0) return hnd_error_set("eb_tables.bin: %s", err);
        af_file a;
        FILE *fp = path_join(p, sizeof p, tmp, "eb_tables.bin") == 0 ? af_open(&a, p) : NULL;
        e = !fp || af_commit(&a, fwrite(buf, 1, len, fp) != len) != 0 || add_file(f, "eb_tables.bin", "eb-tables") != 0;
        free(buf);
        if (e) return -1;
    }
    return mf_write(tmp, h, sr_config(m), f->files, f->n, o->student);
}

/* DIR.tmp.<pid> next to DIR, empty. */
static int make_tmp(const char *out, char *tmp, size_t n) {
    if ((size_t)snprintf(tmp, n, "%s.tmp.%ld", out, (long)getpid()) >= n) return hnd_error_set("%s: path too long", out);
    if (path_remove_tree(tmp) != 0) return -1;
    if (path_mkdirs(tmp) != 0) return hnd_error_prefix("--out");
    return 0;
}

/* tmp becomes out; an old bundle at out (with --overwrite) is moved aside
 * first and removed after. */
static int move_into_place(const char *tmp, const char *out, int overwrite) {
    struct stat st;
    char old[4200] = "";
    if (lstat(out, &st) == 0) {
        if (!overwrite) return hnd_error_set("%s exists (--overwrite replaces it)", out);
        if (!S_ISDIR(st.st_mode)) return hnd_error_set("%s exists and is not a directory", out);
        snprintf(old, sizeof old, "%s.old.%ld", out, (long)getpid());
        if (rename(out, old) != 0) return hnd_error_set("%s: cannot move aside: %s", out, strerror(errno));
    }
    if (rename(tmp, out) != 0) {
        int e = errno;
        if (old[0]) rename(old, out);
        return hnd_error_set("%s: cannot rename into place: %s", out, strerror(e));
    }
    if (old[0] && path_remove_tree(old) != 0)
        fprintf(stderr, "hnd export: warning: the old bundle %s remains: %s\n", old, hnd_error());
    return 0;
}

/* The transformed size of an h x w image (the manifest's input rule). */
static void input_size(const hg_head *hd, int h, int w, int *H, int *W) {
    double sh = hd->min_size / (h < w ? h : w), sl = hd->max_size / (h < w ? w : h), s = sh < sl ? sh : sl;
    int d = hd->size_divisible > 0 ? hd->size_divisible : 1, rh = (int)(h * s), rw = (int)(w * s);
    *H = (rh + d - 1) / d * d;
    *W = (rw + d - 1) / d * d;
}

static void summary(const ex_opts *o, const hg_head *h, const ex_files *f) {
    int H, W, oh, ow;
    input_size(h, 480, 640, &H, &W);   /* a VGA camera frame */
    hg_output_hw(h, H, W, &oh, &ow);
    int64_t numel = (int64_t)h->channels * oh * ow;
    int64_t bytes = h->bits == 8 ? numel + 5 : numel * (h->bits / 8);
    printf("hnd export: %s -> %s\n", o->student, o->out);
    printf("  head: %s student, C=%d, %d bits, %lld parameters (BN folded)\n", h->arch, h->channels, h->bits,
           (long long)hg_num_params(h));
    printf("  a 640x480 frame: head input 3x%dx%d, bottleneck %dx%dx%d = %lld bytes on the link "
           "(the frame as 8-bit RGB: %d)\n",
           H, W, h->channels, oh, ow, (long long)bytes, 640 * 480 * 3);
    for (int i = 0; i < f->n; i++)
        printf("  %-22s %10lld bytes  sha256 %.16s...\n", f->files[i].name, (long long)f->files[i].bytes,
               f->files[i].sha256);
    printf("  manifest.json\n");
}

int cmd_export(int argc, char **argv) {
    co_args a;
    if (hnd_parse("export", argc, argv, &a) != 0) return 2;
    const co_command *cmd = a.cmd;
    ex_opts o = {.student = a.pos[0],
                 .out = co_str(&a, "--out", NULL),
                 .config = co_str(&a, "--config", NULL),
                 .bits = (int)co_int(&a, "--bits", 0),
                 .overwrite = co_has(&a, "--overwrite"),
                 .quiet = co_has(&a, "--quiet"),
                 .min_size = co_real(&a, "--min-size", 0),
                 .max_size = co_real(&a, "--max-size", 0)};
    int n_fmt;
    const char **fmts = co_list(&a, "--format", &n_fmt);
    int rc = parse_formats(cmd, fmts, n_fmt, &o.formats);
    if (rc == 0 && !o.out) rc = co_usage_error(cmd, "--out DIR is required");
    if (rc != 0) {
        co_args_clear(&a);
        return rc;
    }
    /* check the destination before the (slow) model load */
    struct stat st;
    if (lstat(o.out, &st) == 0 && !o.overwrite) {
        fprintf(stderr, "hnd export: %s exists (--overwrite replaces it)\n", o.out);
        co_args_clear(&a);
        return 1;
    }
    rc = 1;
    int cfg_bits = 0;
    char tmp[4200] = "";
    hg_head h;
    memset(&h, 0, sizeof h);
    ex_files files;
    memset(&files, 0, sizeof files);
    sr_model *m = load_student(&o, &cfg_bits);
    /* an entropy bottleneck's rounded values travel as float32 or coded with
     * its tables: its link has no quantizer */
    if (o.bits == 0) o.bits = sr_entropy(m) ? 32 : cfg_bits ? cfg_bits : 8;
    if (m && sr_entropy(m) && o.bits != 32) {
        hnd_error_set("%s has an entropy bottleneck: its link is 32 bits (the rounded values, rANS-coded with "
                      "eb_tables.bin on the link), not --bits %d", o.student, o.bits);
        sr_destroy(m);
        m = NULL;
    }
    if (m && hg_from_model(m, o.bits, &h) == 0 && make_tmp(o.out, tmp, sizeof tmp) == 0) {
        if (write_bundle(&o, m, &h, tmp, &files) == 0 && move_into_place(tmp, o.out, o.overwrite) == 0) rc = 0;
    }
    if (rc != 0) {
        fprintf(stderr, "hnd export: %s\n", hnd_error());
        if (tmp[0]) path_remove_tree(tmp);
    } else if (!o.quiet) {
        summary(&o, &h, &files);
    }
    hg_clear(&h);
    sr_destroy(m);
    co_args_clear(&a);
    return rc;
}
