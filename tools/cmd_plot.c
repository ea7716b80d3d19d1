/* cmd_plot.c: `hnd plot R1.json[:LABEL[:bbox|segm]] ... --out FIG.png`:
 * several sweeps' results.json (hnd sweep) as labelled curves on one figure
 * (e.g. HND and GHND, Faster and Mask R-CNN: the follow-up paper's
 * comparison) and one table of all their rows. Each sweep gets its own
 * colour: its students' AP against the 8-bit bottleneck's bytes per image
 * (solid) and the float32 one's (dashed); its teacher's level (once per
 * distinct value) and its JPEG baseline when present. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_plot.h"
#include "commands.h"
#include "hnd_error.h"
#include "plot_png.h"

#define PL_MAX_SWEEPS 8
#define PL_MAX_ROWS 256

typedef struct {
    char model[16];   /* student, teacher, teacher_jpeg */
    int channels, jpeg_quality;
    double bytes8, bytes32, bytes_jpeg;
    double ap8, ap32;   /* the chosen metric: quantized (teacher: as is), float32 */
} pl_row;

typedef struct {
    char path[1024], label[128], metric[8];   /* metric: "bbox" or "segm" */
    pl_row rows[PL_MAX_ROWS];
    int n;
} pl_sweep;

static const uint32_t k_colors[PL_MAX_SWEEPS] = {0x1F77B4, 0xD62728, 0x2CA02C, 0xFF7F0E,
                                                 0x9467BD, 0x8C564B, 0xE377C2, 0x17BECF};

/* "dir/results.json:HND Mask:segm" -> path, label and metric (default:
 * --metric's); without ":LABEL" after the .json the label is the file's
 * directory name. */
static void split_arg(const char *arg, const char *metric, pl_sweep *s) {
    const char *c = strstr(arg, ".json:");
    size_t n = c ? (size_t)(c + 5 - arg) : strlen(arg);
    snprintf(s->path, sizeof s->path, "%.*s", (int)(n < sizeof s->path ? n : sizeof s->path - 1), arg);
    snprintf(s->metric, sizeof s->metric, "%s", metric);
    if (c) {
        snprintf(s->label, sizeof s->label, "%s", c + 6);
        char *m = strrchr(s->label, ':');
        if (m && (strcmp(m + 1, "bbox") == 0 || strcmp(m + 1, "segm") == 0)) {
            snprintf(s->metric, sizeof s->metric, "%s", m + 1);
            *m = '\0';
        }
        return;
    }
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", s->path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    const char *base = strrchr(dir, '/');
    snprintf(s->label, sizeof s->label, "%.127s", slash ? (base ? base + 1 : dir) : s->path);
}

static double num(const cJSON *o, const char *key, int idx, int *ok) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (idx >= 0) v = cJSON_IsArray(v) ? cJSON_GetArrayItem(v, idx) : NULL;
    if (cJSON_IsNumber(v)) return v->valuedouble;
    if (cJSON_IsNull(v)) return -1;   /* e.g. segm of a Faster R-CNN: no value */
    *ok = 0;
    return 0;
}

/* Reads results.json into s: its metric's AP (index 0), quantized and float32. */
static int read_sweep(pl_sweep *s) {
    const char *metric = s->metric;
    FILE *f = fopen(s->path, "rb");
    if (!f) return hnd_error_set("%s: cannot open (a results.json of hnd sweep)", s->path);
    char *buf = NULL;
    long len = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)len + 1)) && fread(buf, 1, (size_t)len, f) == (size_t)len)
        buf[len] = '\0';
    else {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (!buf) return hnd_error_set("%s: cannot read", s->path);
    cJSON *js = cJSON_Parse(buf);
    free(buf);
    const cJSON *rows = js ? cJSON_GetObjectItemCaseSensitive(js, "rows") : NULL;
    if (!cJSON_IsArray(rows)) {
        cJSON_Delete(js);
        return hnd_error_set("%s: not a results.json of hnd sweep (no \"rows\" array)", s->path);
    }
    char m32[32];
    snprintf(m32, sizeof m32, "%s_float32", metric);
    int rc = 0, i = 0;
    const cJSON *r;
    s->n = 0;
    cJSON_ArrayForEach(r, rows) {
        if (s->n >= PL_MAX_ROWS) {
            rc = hnd_error_set("%s: more than %d rows", s->path, PL_MAX_ROWS);
            break;
        }
        pl_row *p = &s->rows[s->n];
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "model");
        int ok = cJSON_IsString(m);
        if (ok) snprintf(p->model, sizeof p->model, "%s", m->valuestring);
        p->channels = (int)num(r, "channels", -1, &ok);
        p->bytes8 = num(r, "bytes_8bit", -1, &ok);
        p->bytes32 = num(r, "bytes_float32", -1, &ok);
        p->bytes_jpeg = num(r, "bytes_jpeg", -1, &ok);
        p->jpeg_quality = (int)num(r, "jpeg_quality", -1, &ok);
        p->ap8 = num(r, metric, 0, &ok);
        p->ap32 = num(r, m32, 0, &ok);
        if (!ok) {
            rc = hnd_error_set("%s: rows[%d]: missing or mistyped model, channels, bytes_8bit, bytes_float32, "
                               "bytes_jpeg, jpeg_quality, %s or %s", s->path, i, metric, m32);
            break;
        }
        s->n++;
        i++;
    }
    cJSON_Delete(js);
    if (rc == 0 && s->n == 0) rc = hnd_error_set("%s: no rows", s->path);
    return rc;
}

/* The students' curve of s (which 0: 8-bit, 1: float32) or its JPEG rows
 * (which 2), sorted by bytes; AP < 0 (no such metric) left out. */
static int add_series(pp_plot *p, const pl_sweep *s, int which, const char *label, uint32_t rgb, int style) {
    double x[PL_MAX_ROWS], y[PL_MAX_ROWS];
    int k = 0;
    for (int i = 0; i < s->n; i++) {
        const pl_row *r = &s->rows[i];
        int jpeg = strcmp(r->model, "teacher_jpeg") == 0;
        if ((which == 2) != jpeg || (which < 2 && strcmp(r->model, "student") != 0)) continue;
        double yy = which == 1 ? r->ap32 : r->ap8, xx = which == 2 ? r->bytes_jpeg : which ? r->bytes32 : r->bytes8;
        if (yy < 0 || xx <= 0) continue;
        x[k] = xx;
        y[k++] = yy;
    }
    for (int i = 1; i < k; i++)
        for (int j = i; j > 0 && x[j] < x[j - 1]; j--) {
            double t = x[j]; x[j] = x[j - 1]; x[j - 1] = t;
            t = y[j]; y[j] = y[j - 1]; y[j - 1] = t;
        }
    return k ? pp_add(p, label, x, y, k, rgb, style) : 0;
}

static int draw(const char *out, const pl_sweep *sw, int n, const char *title) {
    pp_plot *p = pp_new(1000, 650);
    if (!p) return -1;
    pp_title(p, title);
    pp_xlabel(p, "bytes sent per image (log): the bottleneck (8-bit solid, float32 dashed), a JPEG");
    int segm = 0, bbox = 0;
    for (int k = 0; k < n; k++) {
        segm |= strcmp(sw[k].metric, "segm") == 0;
        bbox |= strcmp(sw[k].metric, "bbox") == 0;
    }
    pp_ylabel(p, segm && bbox ? "mAP (bbox or mask, as labelled)" : segm ? "mask mAP" : "bbox mAP");
    pp_xlog(p, 1);
    double drawn[PL_MAX_SWEEPS];
    int n_drawn = 0, rc = 0;
    for (int k = 0; rc == 0 && k < n; k++) {
        char l8[200], l32[200], lj[200];
        const char *mn = strcmp(sw[k].metric, "segm") == 0 ? "mask" : "bbox";
        snprintf(l8, sizeof l8, "%s %s (8-bit)", sw[k].label, mn);
        snprintf(l32, sizeof l32, "%s %s (float32)", sw[k].label, mn);
        snprintf(lj, sizeof lj, "%s: teacher %s on JPEG inputs", sw[k].label, mn);
        rc = add_series(p, &sw[k], 0, l8, k_colors[k], PP_LINE | PP_POINTS);
        if (rc == 0) rc = add_series(p, &sw[k], 1, l32, k_colors[k], PP_LINE | PP_POINTS | PP_DASHED);
        if (rc == 0) rc = add_series(p, &sw[k], 2, lj, k_colors[k] ^ 0x404040, PP_POINTS | PP_LINE);
        for (int i = 0; rc == 0 && i < sw[k].n; i++) {
            const pl_row *r = &sw[k].rows[i];
            if (strcmp(r->model, "teacher") != 0 || r->ap8 < 0) continue;
            int seen = 0;   /* sweeps of one teacher share its level: one line */
            for (int d = 0; d < n_drawn; d++) seen |= drawn[d] == r->ap8;
            if (seen) continue;
            char lt[200];
            snprintf(lt, sizeof lt, "teacher %s (%s, sends the input)",
                     strcmp(sw[k].metric, "segm") == 0 ? "mask" : "bbox", sw[k].label);
            rc = pp_hline(p, lt, r->ap8, n_drawn ? 0x7F7F7F ^ (uint32_t)(n_drawn * 0x202020) : 0x7F7F7F);
            drawn[n_drawn++] = r->ap8;
        }
    }
    if (rc == 0) rc = pp_write(p, out);
    pp_destroy(p);
    return rc;
}

static void print_table(const pl_sweep *sw, int n) {
    int w = 6;
    for (int k = 0; k < n; k++)
        if ((int)strlen(sw[k].label) > w) w = (int)strlen(sw[k].label);
    printf("%-*s %-6s %-12s %4s %11s %11s %9s %9s\n", w, "sweep", "metric", "model", "C", "bytes 8bit", "bytes f32",
           "AP", "AP f32");
    for (int k = 0; k < n; k++)
        for (int i = 0; i < sw[k].n; i++) {
            const pl_row *r = &sw[k].rows[i];
            char c[16] = "-", ap32[16] = "-", ap8[16] = "-";
            double b8 = r->bytes8, b32 = r->bytes32;
            if (strcmp(r->model, "student") == 0) {
                snprintf(c, sizeof c, "%d", r->channels);
                if (r->ap32 >= 0) snprintf(ap32, sizeof ap32, "%.4f", r->ap32);
            } else if (r->jpeg_quality > 0) {
                snprintf(c, sizeof c, "Q%d", r->jpeg_quality);
                b8 = b32 = r->bytes_jpeg;
            }
            if (r->ap8 >= 0) snprintf(ap8, sizeof ap8, "%.4f", r->ap8);
            printf("%-*s %-6s %-12s %4s %11.0f %11.0f %9s %9s\n", w, sw[k].label, sw[k].metric, r->model, c, b8, b32,
                   ap8, ap32);
        }
}

int cmd_plot(int argc, char **argv) {
    co_args args;
    if (hnd_parse("plot", argc, argv, &args) != 0) return 2;
    const char *out = co_str(&args, "--out", NULL), *title = co_str(&args, "--title", NULL);
    const char *metric = co_str(&args, "--metric", "bbox");
    int quiet = co_has(&args, "--quiet"), rc = 0;
    if (!out || args.n_pos < 1 || args.n_pos > PL_MAX_SWEEPS) {
        co_usage_error(args.cmd, !out ? "--out FIG.png is required" : "1..8 results.json files");
        co_args_clear(&args);
        return 2;
    }
    pl_sweep *sw = calloc((size_t)args.n_pos, sizeof *sw);
    if (!sw) rc = hnd_error_set("out of memory");
    for (int k = 0; rc == 0 && k < args.n_pos; k++) {
        split_arg(args.pos[k], metric, &sw[k]);
        rc = read_sweep(&sw[k]);
    }
    char t[200];
    snprintf(t, sizeof t, "%s", title ? title : "mAP vs bytes sent per image");
    if (rc == 0) rc = draw(out, sw, args.n_pos, t);
    if (rc == 0 && !quiet) {
        print_table(sw, args.n_pos);
        printf("%s\n", out);
    }
    if (rc != 0) fprintf(stderr, "hnd plot: %s\n", hnd_error());
    free(sw);
    co_args_clear(&args);
    return rc == 0 ? 0 : 1;
}
