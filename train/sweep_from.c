/* sweep_from.c: hnd sweep --students-from (see sweep.h, sw_load_student_from).
 *
 * Why: an HND/GHND student of the demo's Mask R-CNN distills only the
 * backbone; every other tensor is the teacher's, frozen. The Faster R-CNN
 * teacher being the Mask teacher's box branch, the Mask student's file
 * already holds the Faster student (its mask head aside): evaluating it
 * costs nothing, training it again costs minutes. The one risk is a student
 * distilled from another teacher than this config's: its frozen tensors
 * would be that teacher's, and the curve a silent mix of two detectors.
 * Every frozen tensor is therefore compared bit for bit with this config's
 * teacher file. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt.h"
#include "hnd_error.h"
#include "model_params.h"
#include "sweep.h"
#include "wstore.h"

/* Keys of the other R-CNN's heads: a Mask (Keypoint) R-CNN student's file
 * has them, a Faster R-CNN student has no use for them. Nothing else may be
 * in the file and not in the model. */
static int other_head_key(const char *name) {
    return strncmp(name, "roi_heads.mask_", 15) == 0 || strncmp(name, "roi_heads.keypoint_", 19) == 0;
}

/* name is module or under module ("rpn" covers "rpn.head.conv.0.weight"). */
static int under_module(const char *name, const char *module) {
    size_t n = strlen(module);
    return strncmp(name, module, n) == 0 && (name[n] == '\0' || name[n] == '.');
}

static int is_frozen(const tc_model *m, const char *name) {
    for (int i = 0; i < m->n_frozen; i++)
        if (under_module(name, m->frozen[i])) return 1;
    return 0;
}

static int same_tensor(const ws_tensor *a, const ws_tensor *b) {
    if (a->dtype != b->dtype || a->ndim != b->ndim || a->nbytes != b->nbytes) return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return 0;
    return a->nbytes == 0 || memcmp(a->data, b->data, a->nbytes) == 0;
}

/* Every tensor of m's registry under a frozen module, as the student file
 * holds it, equal to the teacher file's. */
static int check_frozen(sr_model *m, const tc_config *cfg, ws_reader *stu, const char *path) {
    const char *tpath = cfg->teacher.ckpt;
    ws_reader *tea = ws_reader_open(tpath);
    if (!tea) return hnd_error_prefix("teacher_model.ckpt");
    mp_params *p = sr_params(m);
    int rc = 0, checked = 0;
    for (int i = 0; rc == 0 && i < mp_params_count(p); i++) {
        const char *name = mp_params_name(p, i);
        if (!is_frozen(&cfg->student, name)) continue;
        ws_tensor a = {0}, b = {0};
        if (ws_reader_get(stu, "weights", name, &a) != 0) {
            rc = -1;
        } else if (ws_reader_get(tea, "weights", name, &b) != 0) {
            rc = hnd_error_set("%s: the teacher %s has no %s, which the student %s has: not this config's teacher",
                               cfg->source, tpath, name, path);
        } else if (!same_tensor(&a, &b)) {
            rc = hnd_error_set("%s: frozen tensor %s differs from the teacher's (%s): this student was distilled "
                               "from another teacher than this config's teacher_model.ckpt",
                               path, name, tpath);
        }
        checked++;
        ws_tensor_clear(&a);
        ws_tensor_clear(&b);
    }
    ws_reader_close(tea);
    if (rc == 0 && checked == 0)
        rc = hnd_error_set("%s: student_model.frozen_modules names no tensor of the student: nothing ties the "
                           "student %s to the teacher %s",
                           cfg->source, path, tpath);
    return rc;
}

int sw_load_student_from(sr_model *m, const tc_config *cfg, const char *path) {
    ws_reader *r = ws_reader_open(path);
    if (!r) return -1;
    mp_params *p = sr_params(m);
    const char *const *names;
    int n, rc = ws_reader_list(r, "weights", &names, &n);
    /* the other detector's head keys are skipped; any other key the model
     * lacks means another architecture (the strict load below names it) */
    for (int i = 0; rc == 0 && i < n; i++)
        if (!mp_params_get(p, names[i]) && other_head_key(names[i])) rc = mp_params_ignore(p, names[i]);
    /* every tensor the model has must be in the file: name the first missing */
    for (int i = 0; rc == 0 && i < mp_params_count(p); i++) {
        const char *want = mp_params_name(p, i);
        int found = 0;
        for (int k = 0; !found && k < n; k++) found = strcmp(names[k], want) == 0;
        if (!found)
            rc = hnd_error_set("%s: no %s: not a student of this config's detector (%s)", path, want,
                               cfg->student.arch);
    }
    if (rc == 0) rc = check_frozen(m, cfg, r, path);
    ws_reader_close(r);
    if (rc != 0) return -1;
    /* strict now that the other head is ignored: shapes and stray keys */
    return sr_load(m, path);
}

/* The run's train.num_epochs from the config its last.h5 stores; -1 if unknown. */
static int64_t run_epochs(const char *last) {
    char *js = ck_attr(last, "config");
    cJSON *c = js ? cJSON_Parse(js) : NULL;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c, "train"), "num_epochs");
    int64_t n = cJSON_IsNumber(e) ? (int64_t)e->valuedouble : -1;
    cJSON_Delete(c);
    free(js);
    return n;
}

int sw_students_from_ckpt(const char *dir, int channels, char *out, size_t n) {
    snprintf(out, n, "%s/b%dch/best.h5", dir, channels);
    FILE *f = fopen(out, "rb");
    if (!f)
        return hnd_error_set("--students-from %s: no student for C=%d (%s is missing: run that sweep with C=%d "
                             "first)",
                             dir, channels, out, channels);
    fclose(f);
    /* a run stopped half-way has a best.h5 of an early epoch: not the
     * student that sweep reports; its last.h5 says how far it went */
    char last[1100];
    snprintf(last, sizeof last, "%s/b%dch/last.h5", dir, channels);
    ck_state st;
    if (access(last, R_OK) != 0) return 0;   /* a best.h5 alone: taken as final */
    if (ck_load_state(last, &st) != 0) return hnd_error_prefix("--students-from %s: C=%d", dir, channels);
    int64_t want = run_epochs(last);
    if (st.iteration != 0 || (want > 0 && st.epoch < want)) {
        char of[32] = "";
        if (want > 0) snprintf(of, sizeof of, " of %lld", (long long)want);
        return hnd_error_set("--students-from %s: the run of C=%d stopped after %lld%s epochs%s (%s): run that "
                             "sweep again to finish it",
                             dir, channels, (long long)st.epoch, of, st.iteration ? " and part of the next" : "",
                             last);
    }
    return 0;
}
