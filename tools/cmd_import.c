/* cmd_import.c: convert a torch.save()d state dict into an hnd weight file.
 *
 * Everything is read first (pth_reader), then written through ws_writer,
 * which only renames the file into place on commit: any failure aborts the
 * writer so that no partial OUT.h5 is ever left behind. */
#include "cmd_import.h"

#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "hnd_error.h"
#include "path.h"
#include "pth_reader.h"
#include "pth_ref_names.h"
#include "wstore.h"

#define CMD "import-torchvision"

/* C of a student's bottleneck: rows of its last encoder conv (after the
 * reference's names are mapped), 0 for a teacher. */
static int64_t student_channels(const pth_state *st) {
    static const char key[] = "backbone.body.layer1.encoder.7.weight";
    size_t kl = sizeof key - 1;
    for (int i = 0; i < st->count; i++) {
        size_t n = strlen(st->tensors[i].name);
        if (n >= kl && strcmp(st->tensors[i].name + n - kl, key) == 0 && st->tensors[i].ndim == 4)
            return st->tensors[i].shape[0];
    }
    return 0;
}

static void print_summary(const pth_state *st, const prn_report *ref, const char *in, const char *out) {
    int per[CT_DTYPE_COUNT] = {0};
    for (int i = 0; i < st->count; i++)
        if ((unsigned)st->tensors[i].dtype < CT_DTYPE_COUNT) per[st->tensors[i].dtype]++;
    printf("imported %s (%s format%s%s%s) -> %s\n", in, st->format, st->container ? ", state dict under '" : "",
           st->container ? st->container : "", st->container ? "'" : "", out);
    printf("  tensors: %d, %zu bytes (%.1f MiB)\n", st->count, st->total_bytes,
           (double)st->total_bytes / (1024.0 * 1024.0));
    printf("  dtypes:");
    const char *sep = " ";
    for (int d = 0; d < CT_DTYPE_COUNT; d++)
        if (per[d]) {
            printf("%s%s %d", sep, ct_dtype_name((ct_dtype)d), per[d]);
            sep = ", ";
        }
    printf("%s\n", st->count ? "" : " none");
    printf("  skipped non-tensor entries: %d\n", st->skipped);
    if (ref->renamed || ref->dropped)
        printf("  reference ExtEncoder: %d keys layer1.encoder.encoder.* -> layer1.encoder.*, %d ext_classifier "
               "tensors dropped\n",
               ref->renamed, ref->dropped);
    int64_t c = student_channels(st);
    if (c > 0) printf("  student: bottleneck C=%lld\n", (long long)c);
}

/* Write all tensors; -1 with hnd_error() set (the writer is then aborted). */
static int write_all(const pth_state *st, const char *in, const char *out, const char *strip) {
    ws_writer *w = ws_writer_open(out);
    if (!w) return -1;
    size_t sl = strip ? strlen(strip) : 0;
    for (int i = 0; i < st->count; i++) {
        const ws_tensor *t = &st->tensors[i];
        const char *name = t->name;
        if (sl && strncmp(name, strip, sl) == 0) name += sl;
        if (!*name) {
            ws_writer_abort(w);
            return hnd_error_set("key '%s' is empty after stripping '%s'", t->name, strip);
        }
        if (ws_writer_put(w, "weights", name, t->dtype, t->ndim, t->shape, t->data) < 0) {
            hnd_error_prefix("%s: tensor '%s'", out, name);
            ws_writer_abort(w);
            return -1;
        }
    }
    if (ws_writer_set_attr(w, "source", path_base(in)) < 0) {
        ws_writer_abort(w);
        return -1;
    }
    return ws_writer_commit(w); /* frees w either way */
}

int cmd_import_torchvision(int argc, char **argv) {
    co_args args;
    if (hnd_parse(CMD, argc, argv, &args) != 0) return 2;
    const char *pos[2] = {args.pos[0], args.pos[1]};
    const char *strip = co_str(&args, "--prefix-strip", NULL);
    int quiet = co_has(&args, "--quiet");
    co_args_clear(&args);
    pth_state st;
    if (pth_load(pos[0], NULL, &st) < 0) {
        fprintf(stderr, "hnd " CMD ": %s\n", hnd_error());
        return 1;
    }
    prn_report ref;
    int rc = prn_apply(&st, &ref);
    if (rc < 0) hnd_error_prefix("%s", pos[0]);
    else rc = write_all(&st, pos[0], pos[1], strip);
    if (rc < 0) fprintf(stderr, "hnd " CMD ": %s\n", hnd_error());
    else if (!quiet) print_summary(&st, &ref, pos[0], pos[1]);
    pth_state_clear(&st);
    return rc < 0 ? 1 : 0;
}
