/* split_rcnn.c: building, loading and training state of the split detector
 * (split_rcnn.h). Running it is in split_rcnn_run.c, reading weight files'
 * kinds in split_rcnn_probe.c. */
#include "split_rcnn.h"
#include "split_rcnn_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hnd_error.h"
#include "wstore.h"

sr_model *sr_new(const rcnn_config *rc, const sr_bottleneck_spec *bn) {
    if (!rc) {
        hnd_error_set("split model: no config");
        return NULL;
    }
    sr_model *m = calloc(1, sizeof *m);
    if (!m) {
        hnd_error_set("out of memory");
        return NULL;
    }
    m->dev = ct_cpu();
    int student = bn && bn->channels > 0;
    if (!(m->det = rcnn_new_ex(rc, !student))) goto fail;
    if (student) {
        int kind = bn->kind >= 0 ? bn->kind : stu_kind_for_depth(rc->backbone.depth);
        if (kind < 0) {
            hnd_error_set("no bottleneck for ResNet-%d", rc->backbone.depth);
            goto fail;
        }
        if (!(m->stu = stu_new(rcnn_params(m->det), SR_LAYER1, (stu_kind)kind, bn->channels)) ||
            stu_set_transform(m->stu, bn->bits) != 0)
            goto fail;
        if (bn->entropy && (!(m->eb = ebm_new(rcnn_params(m->det), SR_LAYER1, bn->channels)) ||
                            stu_set_entropy(m->stu, m->eb) != 0))
            goto fail;
    }
    return m;
fail:
    hnd_error_prefix("%s %s", student ? "student" : "model", rc->arch);
    sr_destroy(m);
    return NULL;
}

void sr_destroy(sr_model *m) {
    if (!m) return;
    stu_destroy(m->stu);
    ebm_destroy(m->eb);
    rcnn_destroy(m->det);
    free(m);
}

rcnn_model *sr_rcnn(sr_model *m) { return m ? m->det : NULL; }
mp_params *sr_params(sr_model *m) { return m ? rcnn_params(m->det) : NULL; }
stu_bottleneck *sr_bottleneck(sr_model *m) { return m ? m->stu : NULL; }
const rcnn_config *sr_config(const sr_model *m) { return m ? rcnn_get_config(m->det) : NULL; }
ct_device sr_device(const sr_model *m) { return m ? m->dev : ct_cpu(); }
int sr_is_student(const sr_model *m) { return m && m->stu; }
int64_t sr_channels(const sr_model *m) { return m && m->stu ? stu_channels(m->stu) : 0; }
int sr_has_masks(const sr_model *m) { return m && rcnn_has_masks(m->det); }
int sr_has_keypoints(const sr_model *m) { return m && rcnn_has_keypoints(m->det); }
int sr_bits(const sr_model *m) { return m && m->stu ? stu_get_transform(m->stu) : 0; }
ebm_model *sr_entropy(sr_model *m) { return m ? m->eb : NULL; }

int sr_set_bits(sr_model *m, int bits) {
    if (!m) return hnd_error_set("split model: NULL");
    return m->stu ? stu_set_transform(m->stu, bits) : 0;
}

const char *sr_label(const sr_model *m, char *buf, size_t n) {
    const rcnn_config *c = sr_config(m);
    if (m && m->stu) snprintf(buf, n, "%s+bottleneck(C=%lld)", c->arch, (long long)stu_channels(m->stu));
    else snprintf(buf, n, "%s", c ? c->arch : "?");
    return buf;
}

/* ------------------------------------------------------------ weights */

/* Prefixes the load error with what the file holds when it is not this
 * model's kind, so that a teacher file given for a student (or a student
 * of another C) says so before the list of keys (which may be cut). */
static void explain_mismatch(const sr_model *m, const char *path) {
    char msg[2048];
    snprintf(msg, sizeof msg, "%s", hnd_error());
    sr_probe p;
    int same = 1;
    char what[160], mine[160];
    if (sr_probe_file(path, &p) == 0) {
        sr_probe_describe(&p, what, sizeof what);
        same = (p.channels > 0) == (m->stu != NULL) && (!m->stu || p.channels == stu_channels(m->stu));
    }
    hnd_error_set("%s", msg);
    if (same) {
        hnd_error_prefix("%s", path);
    } else {
        sr_label(m, mine, sizeof mine);
        hnd_error_prefix("%s holds a %s, the model is %s", path, what, mine);
    }
}

int sr_load(sr_model *m, const char *path) {
    if (!m || !path) return hnd_error_set("split model: NULL argument");
    /* trainable flags survive loading (ct_copy_ runs under no-grad) */
    if (rcnn_load(m->det, path, 1) < 0) {
        explain_mismatch(m, path);
        return -1;
    }
    return 0;
}

int sr_load_from_teacher(sr_model *m, const char *teacher_path) {
    if (!m || !m->stu) return hnd_error_set("loading from a teacher: not a student");
    mp_params *p = rcnn_params(m->det);
    /* the teacher's layer1 keys are expected in the file and skipped */
    ws_reader *r = ws_reader_open(teacher_path);
    if (!r) return -1;
    const char *const *names;
    int n;
    int rc = ws_reader_list(r, "weights", &names, &n);
    for (int i = 0; rc == 0 && i < n; i++)
        if (strncmp(names[i], SR_LAYER1, strlen(SR_LAYER1)) == 0 && !mp_params_get(p, names[i]))
            rc = mp_params_ignore(p, names[i]);
    ws_reader_close(r);
    if (rc != 0) return -1;
    int missing = 0, unexpected = 0;
    int loaded = mp_params_load(p, teacher_path, 0, &missing, &unexpected);
    if (loaded < 0) return hnd_error_prefix("%s", teacher_path);
    /* every tensor but the bottleneck must have come from the teacher */
    int n_stu = 0;
    for (int i = 0; i < mp_params_count(p); i++)
        if (strncmp(mp_params_name(p, i), SR_LAYER1, strlen(SR_LAYER1)) == 0) n_stu++;
    if (unexpected != 0 || missing != n_stu || loaded != mp_params_count(p) - n_stu)
        return hnd_error_set("%s: not a teacher of this student (%d tensors loaded, %d missing, %d unexpected; "
                             "expected %d loaded and the %d bottleneck tensors missing)",
                             teacher_path, loaded, missing, unexpected, mp_params_count(p) - n_stu, n_stu);
    return stu_init(m->stu);
}

/* ------------------------------------------------------------ halves */

static int has_prefix(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

int sr_is_head_key(const sr_model *m, const char *name) {
    if (!name) return 0;
    if (has_prefix(name, "backbone.body.conv1.") || has_prefix(name, "backbone.body.bn1.")) return 1;
    /* an entropy bottleneck's density (its medians) rounds and codes on the
     * device; the tail receives the values (the tables: eb_tables.bin) */
    return m && m->stu && (has_prefix(name, SR_ENCODER_PREFIX) || has_prefix(name, SR_LAYER1 EBM_KEY));
}

static int keep_tail(const char *name, void *ctx) { return !sr_is_head_key(ctx, name); }

int sr_save_tail(const sr_model *m, const char *path, const char *const (*attrs)[2], int n_attrs) {
    if (!m || !path) return hnd_error_set("split model: NULL argument");
    ws_writer *w = ws_writer_open(path);
    if (!w) return hnd_error_prefix("%s", path);
    int rc = mp_params_save_if(rcnn_params(m->det), w, keep_tail, (void *)m);
    for (int i = 0; rc == 0 && i < n_attrs; i++) rc = ws_writer_set_attr(w, attrs[i][0], attrs[i][1]);
    if (rc != 0) {
        ws_writer_abort(w);
        return hnd_error_prefix("%s", path);
    }
    return ws_writer_commit(w) == 0 ? 0 : hnd_error_prefix("%s", path);
}

/* Names up to a few keys of the model's tail the file lacks. */
static void name_missing(const sr_model *m, const char *const *names, int n, char *buf, size_t len) {
    const mp_params *p = rcnn_params(m->det);
    int shown = 0;
    buf[0] = 0;
    for (int i = 0; i < mp_params_count(p) && shown < 4; i++) {
        const char *k = mp_params_name(p, i);
        if (sr_is_head_key(m, k)) continue;
        int found = 0;
        for (int j = 0; j < n && !found; j++) found = strcmp(names[j], k) == 0;
        if (!found) {
            size_t l = strlen(buf);
            snprintf(buf + l, len - l, "%s%s", shown++ ? ", " : "", k);
        }
    }
}

int sr_load_tail(sr_model *m, const char *path) {
    if (!m || !path) return hnd_error_set("split model: NULL argument");
    ws_reader *r = ws_reader_open(path);
    if (!r) return hnd_error_prefix("%s", path);
    const char *const *names;
    int n, rc = ws_reader_list(r, "weights", &names, &n);
    for (int i = 0; rc == 0 && i < n; i++)
        if (sr_is_head_key(m, names[i]))
            rc = hnd_error_set("%s: %s belongs to the head, not in a tail file (a whole model? use it as one)",
                               path, names[i]);
    char missing_keys[512] = "";
    if (rc == 0) name_missing(m, names, n, missing_keys, sizeof missing_keys);
    ws_reader_close(r);
    if (rc != 0) return -1;
    mp_params *p = rcnn_params(m->det);
    int n_head = 0;
    for (int i = 0; i < mp_params_count(p); i++) n_head += sr_is_head_key(m, mp_params_name(p, i));
    int missing = 0, unexpected = 0;
    int loaded = mp_params_load(p, path, 0, &missing, &unexpected);
    if (loaded < 0) return hnd_error_prefix("%s", path);
    if (unexpected != 0 || loaded != mp_params_count(p) - n_head) {
        char mine[160];
        return hnd_error_set("%s: not the tail of %s (%d tensors loaded, %d unexpected, %d expected%s%s)", path,
                             sr_label(m, mine, sizeof mine), loaded, unexpected, mp_params_count(p) - n_head,
                             missing_keys[0] ? "; missing " : "", missing_keys);
    }
    return 0;
}

/* ------------------------------------------------------------ training */

int sr_to_device(sr_model *m, ct_device dev) {
    if (!m) return hnd_error_set("split model: NULL");
    if (rcnn_to_device(m->det, dev) != 0) return -1;
    m->dev = dev;
    return 0;
}

int sr_freeze(sr_model *m) { return sr_set_trainable(m, NULL, 0) < 0 ? -1 : 0; }

static int under(const char *name, const char *module) {
    size_t n = strlen(module);
    return strncmp(name, module, n) == 0 && (name[n] == 0 || name[n] == '.');
}

int sr_set_trainable(sr_model *m, const char (*frozen)[128], int n_frozen) {
    if (!m) return hnd_error_set("split model: NULL");
    mp_params *p = rcnn_params(m->det);
    int n = 0;
    for (int i = 0; i < mp_params_count(p); i++) {
        const char *name = mp_params_name(p, i);
        /* frozen == NULL (sr_freeze): everything off, students included */
        int on = frozen && m->stu && mp_params_kind(p, i) == MP_PARAM;
        for (int k = 0; on && k < n_frozen; k++)
            if (under(name, frozen[k])) on = 0;
        if (ct_set_requires_grad(mp_params_tensor(p, i), on) != 0)
            return hnd_error_set("%s: %s", name, ct_last_error());
        n += on;
    }
    return n;
}

void sr_set_training(sr_model *m, int training) {
    if (m && m->stu) stu_set_training(m->stu, training);
}

int sr_is_training(const sr_model *m) { return m && m->stu ? stu_is_training(m->stu) : 0; }

int sr_stages(sr_model *m, const ct_tensor *batch, int upto, ct_tensor *out[5]) {
    for (int i = 0; i < 5; i++) out[i] = NULL;
    if (!m || !batch || upto < 1 || upto > 4) return hnd_error_set("split model stages: bad arguments");
    bb_backbone *bb = rcnn_backbone(m->det);
    ct_scope_begin();
    int ok = (out[0] = bb_stem(bb, batch)) != NULL;
    for (int k = 1; ok && k <= upto; k++) {
        if (k == 1 && m->stu) out[1] = stu_forward(m->stu, out[0]);
        else out[k] = bb_layer(bb, k, out[k - 1]);
        ok = out[k] != NULL;
    }
    if (ok)
        for (int k = 0; k <= upto; k++) ct_scope_keep(out[k]);
    ct_scope_end();
    if (!ok) {
        for (int i = 0; i < 5; i++) out[i] = NULL;
        return -1;
    }
    return 0;
}
