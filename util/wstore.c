/* wstore.c: named tensors in HDF5 (see wstore.h for the layout). */
#include "wstore.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hnd_error.h"

struct ws_writer {
    hid_t file;
    char *path;
    char *tmp;
};

struct ws_reader {
    hid_t file;
    char *path;
    /* names of the last listed group, kept until the next list or close */
    char **names;
    int count;
};

/* HDF5 prints its own error stack to stderr by default; we report through
 * hnd_error instead, once per process is enough. */
static void ws_quiet_hdf5(void) {
    static int done;
    if (!done) {
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        done = 1;
    }
}

int64_t ws_numel(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

void ws_tensor_clear(ws_tensor *t) {
    if (!t) return;
    free(t->name);
    free(t->data);
    memset(t, 0, sizeof *t);
}

/* An IEEE 754 half type: HDF5 1.10 has no predefined one; h5py maps this
 * layout (sign 15, exponent 10..14 bias 15, mantissa 0..9) to float16. */
static hid_t ws_half_type(void) {
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    H5Tset_fields(t, 15, 10, 5, 0, 10);
    H5Tset_size(t, 2);
    H5Tset_ebias(t, 15);
    H5Tset_precision(t, 16);
    return t;
}

/* File and memory type of a dtype; *owned says whether to H5Tclose it. */
static hid_t ws_h5_type(ct_dtype dt, int *owned) {
    *owned = 0;
    switch (dt) {
    case CT_F32: return H5T_IEEE_F32LE;
    case CT_F64: return H5T_IEEE_F64LE;
    case CT_F16: *owned = 1; return ws_half_type();
    case CT_I64: return H5T_STD_I64LE;
    case CT_I32: return H5T_STD_I32LE;
    case CT_I16: return H5T_STD_I16LE;
    case CT_I8: return H5T_STD_I8LE;
    case CT_U8: return H5T_STD_U8LE;
    /* h5py stores numpy bool as an enum; a plain uint8 is simpler to read
     * everywhere, and we mark it with an attribute to round-trip. */
    case CT_BOOL: return H5T_STD_U8LE;
    default: return -1;
    }
}

/* The dtype of a stored dataset, from its HDF5 type. -1 if unsupported. */
static int ws_dtype_of(hid_t type, hid_t dset) {
    H5T_class_t cls = H5Tget_class(type);
    size_t size = H5Tget_size(type);
    if (cls == H5T_FLOAT) {
        if (size == 4) return CT_F32;
        if (size == 8) return CT_F64;
        if (size == 2) return CT_F16;
        return -1;
    }
    if (cls == H5T_INTEGER) {
        H5T_sign_t sign = H5Tget_sign(type);
        if (sign == H5T_SGN_NONE) {
            if (size != 1) return -1;
            if (H5Aexists(dset, "ct_bool") > 0) return CT_BOOL;
            return CT_U8;
        }
        if (size == 8) return CT_I64;
        if (size == 4) return CT_I32;
        if (size == 2) return CT_I16;
        if (size == 1) return CT_I8;
        return -1;
    }
    if (cls == H5T_ENUM && size == 1) return CT_BOOL; /* h5py's bool */
    return -1;
}

static char *ws_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* ------------------------------------------------------------ writing */

ws_writer *ws_writer_open(const char *path) {
    ws_quiet_hdf5();
    if (!path || !*path) {
        hnd_error_set("weight store: empty output path");
        return NULL;
    }
    ws_writer *w = calloc(1, sizeof *w);
    if (!w) {
        hnd_error_set("weight store: out of memory");
        return NULL;
    }
    size_t n = strlen(path) + 32;
    w->path = ws_strdup(path);
    w->tmp = malloc(n);
    if (!w->path || !w->tmp) {
        free(w->path);
        free(w->tmp);
        free(w);
        hnd_error_set("weight store: out of memory");
        return NULL;
    }
    snprintf(w->tmp, n, "%s.tmp.%ld", path, (long)getpid());
    w->file = H5Fcreate(w->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (w->file < 0) {
        hnd_error_set("%s: cannot create file (directory missing or not writable?)", w->tmp);
        free(w->path);
        free(w->tmp);
        free(w);
        return NULL;
    }
    return w;
}

/* The group, created on first use. */
static hid_t ws_group(hid_t file, const char *group, int create) {
    htri_t ex = H5Lexists(file, group, H5P_DEFAULT);
    if (ex > 0) return H5Gopen2(file, group, H5P_DEFAULT);
    if (!create) return -1;
    return H5Gcreate2(file, group, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
}

int ws_writer_put(ws_writer *w, const char *group, const char *name, ct_dtype dtype,
                  int ndim, const int64_t *shape, const void *data) {
    if (!w || !group || !name || (!data && ws_numel(ndim, shape) > 0))
        return hnd_error_set("weight store: NULL argument to put");
    if (!*name || strchr(name, '/'))
        return hnd_error_set("weight store: invalid tensor name '%s' (empty or contains '/')", name);
    if (ndim < 0 || ndim > CT_MAX_DIMS)
        return hnd_error_set("weight store: '%s': %d dimensions (at most %d)", name, ndim, CT_MAX_DIMS);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0) return hnd_error_set("weight store: '%s': negative dimension", name);
    int owned;
    hid_t type = ws_h5_type(dtype, &owned);
    if (type < 0) return hnd_error_set("weight store: '%s': unsupported dtype %d", name, (int)dtype);

    int rc = -1;
    hid_t g = ws_group(w->file, group, 1), space = -1, dset = -1;
    if (g < 0) {
        hnd_error_set("%s: cannot create group /%s", w->path, group);
        goto out;
    }
    if (H5Lexists(g, name, H5P_DEFAULT) > 0) {
        hnd_error_set("%s: duplicate tensor /%s/%s", w->path, group, name);
        goto out;
    }
    if (ndim == 0) {
        space = H5Screate(H5S_SCALAR);
    } else {
        hsize_t dims[CT_MAX_DIMS];
        for (int i = 0; i < ndim; i++) dims[i] = (hsize_t)shape[i];
        space = H5Screate_simple(ndim, dims, NULL);
    }
    dset = H5Dcreate2(g, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (dset < 0) {
        hnd_error_set("%s: cannot create dataset /%s/%s", w->path, group, name);
        goto out;
    }
    if (ws_numel(ndim, shape) > 0 && H5Dwrite(dset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
        hnd_error_set("%s: cannot write /%s/%s (disk full?)", w->path, group, name);
        goto out;
    }
    if (dtype == CT_BOOL) {
        hid_t as = H5Screate(H5S_SCALAR);
        hid_t a = H5Acreate2(dset, "ct_bool", H5T_STD_U8LE, as, H5P_DEFAULT, H5P_DEFAULT);
        uint8_t one = 1;
        if (a >= 0) H5Awrite(a, H5T_NATIVE_UINT8, &one);
        if (a >= 0) H5Aclose(a);
        H5Sclose(as);
    }
    rc = 0;
out:
    if (dset >= 0) H5Dclose(dset);
    if (space >= 0) H5Sclose(space);
    if (g >= 0) H5Gclose(g);
    if (owned) H5Tclose(type);
    return rc;
}

int ws_writer_set_attr(ws_writer *w, const char *name, const char *value) {
    if (!w || !name || !value) return hnd_error_set("weight store: NULL argument to set_attr");
    if (H5Aexists(w->file, name) > 0) H5Adelete(w->file, name);
    /* Variable-length UTF-8 string: h5py returns it as a Python str. */
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(w->file, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    int rc = 0;
    if (a < 0 || H5Awrite(a, type, &value) < 0)
        rc = hnd_error_set("%s: cannot write attribute '%s'", w->path, name);
    if (a >= 0) H5Aclose(a);
    H5Sclose(space);
    H5Tclose(type);
    return rc;
}

static void ws_writer_free(ws_writer *w) {
    free(w->path);
    free(w->tmp);
    free(w);
}

int ws_writer_commit(ws_writer *w) {
    if (!w) return hnd_error_set("weight store: NULL writer");
    int rc = 0;
    if (H5Fflush(w->file, H5F_SCOPE_GLOBAL) < 0 || H5Fclose(w->file) < 0) {
        rc = hnd_error_set("%s: cannot finish writing (disk full?)", w->tmp);
        remove(w->tmp);
    } else if (rename(w->tmp, w->path) != 0) {
        rc = hnd_error_set("%s: cannot rename %s into place", w->path, w->tmp);
        remove(w->tmp);
    }
    ws_writer_free(w);
    return rc;
}

void ws_writer_abort(ws_writer *w) {
    if (!w) return;
    H5Fclose(w->file);
    remove(w->tmp);
    ws_writer_free(w);
}

/* ------------------------------------------------------------ reading */

ws_reader *ws_reader_open(const char *path) {
    ws_quiet_hdf5();
    if (!path) {
        hnd_error_set("weight store: NULL path");
        return NULL;
    }
    if (access(path, R_OK) != 0) {
        hnd_error_set("%s: cannot open (no such file or not readable)", path);
        return NULL;
    }
    if (H5Fis_hdf5(path) <= 0) {
        hnd_error_set("%s: not an HDF5 file", path);
        return NULL;
    }
    ws_reader *r = calloc(1, sizeof *r);
    if (!r) {
        hnd_error_set("weight store: out of memory");
        return NULL;
    }
    r->path = ws_strdup(path);
    r->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (r->file < 0 || !r->path) {
        hnd_error_set("%s: cannot open HDF5 file", path);
        if (r->file >= 0) H5Fclose(r->file);
        free(r->path);
        free(r);
        return NULL;
    }
    return r;
}

static void ws_reader_free_names(ws_reader *r) {
    for (int i = 0; i < r->count; i++) free(r->names[i]);
    free(r->names);
    r->names = NULL;
    r->count = 0;
}

void ws_reader_close(ws_reader *r) {
    if (!r) return;
    ws_reader_free_names(r);
    H5Fclose(r->file);
    free(r->path);
    free(r);
}

typedef struct {
    char **names;
    int count, cap;
    int failed;
} ws_name_list;

static herr_t ws_collect(hid_t g, const char *name, const H5L_info_t *info, void *op) {
    ws_name_list *l = op;
    if (l->count == l->cap) {
        int cap = l->cap ? l->cap * 2 : 64;
        char **n = realloc(l->names, (size_t)cap * sizeof *n);
        if (!n) {
            l->failed = 1;
            return -1;
        }
        l->names = n;
        l->cap = cap;
    }
    l->names[l->count] = ws_strdup(name);
    if (!l->names[l->count]) {
        l->failed = 1;
        return -1;
    }
    l->count++;
    return 0;
}

int ws_reader_list(ws_reader *r, const char *group, const char *const **names, int *count) {
    if (!r || !group || !names || !count) return hnd_error_set("weight store: NULL argument to list");
    ws_reader_free_names(r);
    *names = NULL;
    *count = 0;
    hid_t g = ws_group(r->file, group, 0);
    if (g < 0) return 0;
    ws_name_list l = {0};
    /* Creation order is not tracked by default; name order is stable and
     * what h5py shows too. */
    herr_t e = H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, ws_collect, &l);
    H5Gclose(g);
    r->names = l.names;
    r->count = l.count;
    if (e < 0 || l.failed) return hnd_error_set("%s: cannot list group /%s", r->path, group);
    *names = (const char *const *)r->names;
    *count = r->count;
    return 0;
}

static int ws_read(ws_reader *r, const char *group, const char *name, ws_tensor *out, int with_data) {
    if (!r || !group || !name || !out) return hnd_error_set("weight store: NULL argument to get");
    memset(out, 0, sizeof *out);
    int rc = -1;
    hid_t g = ws_group(r->file, group, 0), dset = -1, ftype = -1, space = -1, mtype = -1;
    int owned = 0;
    if (g < 0 || H5Lexists(g, name, H5P_DEFAULT) <= 0) {
        hnd_error_set("%s: no tensor /%s/%s", r->path, group, name);
        goto out;
    }
    dset = H5Dopen2(g, name, H5P_DEFAULT);
    if (dset < 0) {
        hnd_error_set("%s: /%s/%s is not a dataset", r->path, group, name);
        goto out;
    }
    ftype = H5Dget_type(dset);
    int dt = ws_dtype_of(ftype, dset);
    if (dt < 0) {
        hnd_error_set("%s: /%s/%s has an unsupported element type", r->path, group, name);
        goto out;
    }
    space = H5Dget_space(dset);
    int nd = H5Sget_simple_extent_ndims(space);
    if (nd < 0 || nd > CT_MAX_DIMS) {
        hnd_error_set("%s: /%s/%s has %d dimensions (at most %d)", r->path, group, name, nd, CT_MAX_DIMS);
        goto out;
    }
    hsize_t dims[CT_MAX_DIMS];
    H5Sget_simple_extent_dims(space, dims, NULL);
    out->dtype = (ct_dtype)dt;
    out->ndim = nd;
    for (int i = 0; i < nd; i++) out->shape[i] = (int64_t)dims[i];
    out->nbytes = (size_t)ws_numel(nd, out->shape) * ct_dtype_size(out->dtype);
    out->name = ws_strdup(name);
    if (!out->name) {
        hnd_error_set("weight store: out of memory");
        goto out;
    }
    if (with_data) {
        out->data = malloc(out->nbytes ? out->nbytes : 1);
        if (!out->data) {
            hnd_error_set("%s: /%s/%s: cannot allocate %zu bytes", r->path, group, name, out->nbytes);
            goto out;
        }
        if (H5Tget_class(ftype) == H5T_ENUM) {
            /* h5py's bool: an int8 enum {FALSE=0, TRUE=1}; the raw bytes
             * are already our 0/1 bool bytes. */
            if (out->nbytes && H5Dread(dset, ftype, H5S_ALL, H5S_ALL, H5P_DEFAULT, out->data) < 0) {
                hnd_error_set("%s: cannot read /%s/%s", r->path, group, name);
                goto out;
            }
        } else {
            mtype = ws_h5_type(out->dtype, &owned);
            if (out->nbytes && H5Dread(dset, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, out->data) < 0) {
                hnd_error_set("%s: cannot read /%s/%s", r->path, group, name);
                goto out;
            }
        }
    }
    rc = 0;
out:
    if (rc != 0) ws_tensor_clear(out);
    if (owned && mtype >= 0) H5Tclose(mtype);
    if (space >= 0) H5Sclose(space);
    if (ftype >= 0) H5Tclose(ftype);
    if (dset >= 0) H5Dclose(dset);
    if (g >= 0) H5Gclose(g);
    return rc;
}

int ws_reader_get(ws_reader *r, const char *group, const char *name, ws_tensor *out) {
    return ws_read(r, group, name, out, 1);
}

int ws_reader_info(ws_reader *r, const char *group, const char *name, ws_tensor *out) {
    return ws_read(r, group, name, out, 0);
}

char *ws_reader_attr(ws_reader *r, const char *name) {
    if (!r || !name || H5Aexists(r->file, name) <= 0) return NULL;
    hid_t a = H5Aopen(r->file, name, H5P_DEFAULT);
    if (a < 0) return NULL;
    hid_t ftype = H5Aget_type(a);
    char *result = NULL;
    if (H5Tget_class(ftype) == H5T_STRING) {
        if (H5Tis_variable_str(ftype) > 0) {
            hid_t mtype = H5Tcopy(H5T_C_S1);
            H5Tset_size(mtype, H5T_VARIABLE);
            H5Tset_cset(mtype, H5Tget_cset(ftype));
            char *s = NULL;
            if (H5Aread(a, mtype, &s) >= 0 && s) {
                result = ws_strdup(s);
                H5free_memory(s);
            }
            H5Tclose(mtype);
        } else {
            size_t n = H5Tget_size(ftype);
            result = calloc(1, n + 1);
            if (result && H5Aread(a, ftype, result) < 0) {
                free(result);
                result = NULL;
            }
        }
    }
    H5Tclose(ftype);
    H5Aclose(a);
    return result;
}
