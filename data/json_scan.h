/* json_scan.h: the one JSON scanner of the COCO readers (data/coco_ann.c
 * for annotation files, infer/coco_eval_load.c for results files). Prefix
 * js_. Torch-free; nothing here allocates except js_file_open.
 *
 * COCO files are too big for a tree (a train2017 instances file is 450 MB,
 * several GB as cJSON nodes), so they are read in two levels:
 *
 *  - js_doc walks the top-level object (or array) by structure alone and
 *    hands out the extent of each array element; a caller parses one element
 *    at a time (with js_reader, or cJSON on that element only);
 *  - js_reader reads the text of one value strictly (RFC 8259): numbers
 *    correctly rounded (the double Python's float() gives), strings as raw
 *    bytes with their escapes validated, any value skipped with validation.
 *
 * Errors name the file and the JSON path, with the line, column and byte of
 * the offending character:
 *   "x.json: annotations[12]: invalid JSON at line 3, column 17 (byte 912)"
 *   "x.json: results[7]: truncated JSON (the file ends at byte 4096)"
 * Line and column are counted on the error path only. */
#ifndef HND_JSON_SCAN_H
#define HND_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- a file's bytes ---------------------------------------------------- */

typedef struct {
    const char *buf;
    size_t len;
    void *map_; /* private: the mapping or the malloc'd copy */
    int mapped_;
} js_file;

/* Map a file (a regular file; pipes and the like are read into memory).
 * 0 / -1 with hnd_error() "PATH: cannot open: ...". An empty file gives
 * len 0. Release with js_file_close. */
int js_file_open(js_file *f, const char *path);
void js_file_close(js_file *f);

/* ---- the document scanner ---------------------------------------------- */

typedef struct {
    const char *name; /* file name for messages */
    const char *buf, *end;
    const char *p; /* the scanner's position */
} js_doc;

void js_doc_init(js_doc *d, const char *name, const char *buf, size_t len);

/* Sets hnd_error() to "NAME: WHAT at line L, column C (byte B)", or
 * "NAME: WHAT (the file ends at byte N)" when at is the end; -1. */
int js_doc_error(const js_doc *d, const char *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* 1 if only whitespace follows d->p. */
int js_doc_at_end(const js_doc *d);

/* The members of the top-level object. js_top_begin expects '{' ("expected
 * a JSON object"); js_top_next returns 1 with the key's raw text in
 * [*key, *key + *klen) and d->p at its value (which the caller consumes:
 * js_value or an array with js_arr_*), 0 after the closing '}' (trailing
 * data is an error), -1 on error. */
typedef struct {
    js_doc *d;
    int first;
} js_top;

int js_top_begin(js_top *t, js_doc *d);
int js_top_next(js_top *t, const char **key, size_t *klen);

/* The value at d->p, by structure only (brackets and strings; content is
 * the element parser's to check): its extent [*s, *e), d->p after it. path
 * names it in messages. 0 / -1. */
int js_value(js_doc *d, const char *path, const char **s, const char **e);

/* The elements of the array at d->p. js_arr_begin: "NAME: PATH: expected an
 * array" if it is not one. js_arr_next: 1 with element a->index's extent
 * [*s, *e) (structure only), 0 after the closing ']', -1 on error
 * ("NAME: PATH[i]: truncated JSON ...", "... expected ',' or ']' after the
 * element at ..."). index counts the elements handed out so far, minus one. */
typedef struct {
    js_doc *d;
    const char *path;
    int64_t index; /* of the last element handed out; -1 before the first */
    int done;
} js_arr;

int js_arr_begin(js_arr *a, js_doc *d, const char *path);
int js_arr_next(js_arr *a, const char **s, const char **e);

/* ---- the strict reader of one value ------------------------------------ */

typedef struct {
    const char *p, *end;
    const char *err_at; /* where the first syntax error was found */
} js_reader;

static inline void js_reader_init(js_reader *r, const char *s, const char *e) {
    r->p = s;
    r->end = e;
    r->err_at = NULL;
}

static inline void js_ws(js_reader *r) {
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t')) r->p++;
}

/* Records the position of a syntax error (the first one wins); -1. */
int js_fail(js_reader *r);

/* A JSON number at r->p (no leading whitespace), correctly rounded to the
 * nearest double (ties to even): the value strtod and Python's float() give
 * for the same text. Out-of-range magnitudes give +-inf or +-0 as they do.
 * Anything that is not a JSON number (a '+', a leading zero, "1.", ".5",
 * "NaN", more than 500 characters) is a syntax error. 0 / -1. */
int js_number(js_reader *r, double *out);

/* A string at r->p: its raw bytes [*s, *s + *n) without the quotes, escapes
 * left as they are (*esc = 1 if there are any) but validated; control
 * characters refused, as JSON does. 0 / -1. */
int js_string(js_reader *r, const char **s, size_t *n, int *esc);

/* Decode a string js_string accepted into out (room for n bytes suffices):
 * escapes resolved, \uXXXX (and surrogate pairs) as UTF-8. Returns the
 * decoded length. */
size_t js_unescape(const char *s, size_t n, char *out);

/* Validate and skip any value (objects and arrays nested up to 512 deep). */
int js_skip(js_reader *r);

/* A number (*is_num = 1) or any other value, validated and skipped
 * (*is_num = 0). */
int js_num_or_skip(js_reader *r, double *v, int *is_num);

/* Walk an array: set *first = 1 and call at '['. 1 when an element follows
 * (r->p at it), 0 after the closing ']', -1 on a syntax error. */
int js_array_next(js_reader *r, int *first);

/* Walk an object: set *first = 1 and call at '{'. 1 with the key's raw text
 * in [*k, *k + *kn) and r->p at its value, 0 after the closing '}', -1 on
 * a syntax error. */
int js_object_next(js_reader *r, int *first, const char **k, size_t *kn);

/* A raw key equals a string literal. */
#define JS_KEY_IS(k, kn, lit) ((kn) == sizeof(lit) - 1 && memcmp((k), (lit), sizeof(lit) - 1) == 0)

#endif
