/* image_ids.c: see image_ids.h. */
#include "image_ids.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hnd_error.h"
#include "img.h"
#include "path.h"

static int push_input(ii_inputs *in, const char *path) {
    if (in->n == in->cap) {
        int cap = in->cap ? 2 * in->cap : 64;
        ii_input *v = realloc(in->v, sizeof *v * (size_t)cap);
        if (!v) return hnd_error_set("out of memory");
        in->v = v;
        in->cap = cap;
    }
    if (!(in->v[in->n].path = strdup(path))) return hnd_error_set("out of memory");
    in->v[in->n++].image_id = -1;
    return 0;
}

int ii_add_path(ii_inputs *in, const char *path) {
    char **names;
    int n, rc = 0;
    if (img_list_files(path, &names, &n) != 0) return -1;
    for (int i = 0; i < n && rc == 0; i++) rc = push_input(in, names[i]);
    img_list_destroy(names, n);
    return rc;
}

int ii_assign_ids(ii_inputs *in, const coco_dataset *ds) {
    for (int i = 0; i < in->n; i++) {
        const char *b = path_base(in->v[i].path);
        if (ds) {
            for (int64_t k = 0; k < ds->n_images; k++)
                if (strcmp(path_base(coco_str(ds, ds->images[k].file_name)), b) == 0) {
                    in->v[i].image_id = ds->images[k].id;
                    break;
                }
            if (in->v[i].image_id < 0)
                return hnd_error_set("%s: no image with file_name '%s' in %s", in->v[i].path, b, ds->path);
        } else {
            char *end;
            errno = 0;
            long long id = strtoll(b, &end, 10);
            if (end == b || *end != '.' || errno || id < 0)
                return hnd_error_set("%s: cannot derive an image_id from a non-numeric file name "
                                     "(pass --ann instances.json)",
                                     in->v[i].path);
            in->v[i].image_id = id;
        }
    }
    return 0;
}

void ii_inputs_clear(ii_inputs *in) {
    for (int i = 0; i < in->n; i++) free(in->v[i].path);
    free(in->v);
    memset(in, 0, sizeof *in);
}
