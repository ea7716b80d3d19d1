/* json_scan.c: the COCO readers' JSON scanner (see json_scan.h). */
#define _GNU_SOURCE
#include "json_scan.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hnd_error.h"

/* ---------------------------------------------------------------- files */

/* Read a file that cannot be mapped (a pipe, /dev/stdin) into memory. */
static int read_all(js_file *f, int fd, const char *path) {
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    for (;;) {
        if (!b) return hnd_error_set("%s: out of memory reading it", path);
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            free(b);
            return hnd_error_set("%s: read error: %s", path, strerror(errno));
        }
        if (r == 0) break;
        n += (size_t)r;
        if (n == cap) {
            char *t = realloc(b, cap *= 2);
            if (!t) free(b);
            b = t;
        }
    }
    f->buf = b;
    f->len = n;
    f->map_ = b;
    return 0;
}

int js_file_open(js_file *f, const char *path) {
    memset(f, 0, sizeof *f);
    f->buf = "";
    int fd = open(path, O_RDONLY);
    if (fd < 0) return hnd_error_set("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return hnd_error_set("%s: cannot stat: %s", path, strerror(e));
    }
    int rc = 0;
    if (!S_ISREG(st.st_mode)) {
        rc = read_all(f, fd, path);
    } else if (st.st_size > 0) {
        /* mapped, not read: the pages are the page cache's, and a loader
         * that walks the file once never holds two copies of it */
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            rc = hnd_error_set("%s: cannot map: %s", path, strerror(errno));
        } else {
            madvise(m, (size_t)st.st_size, MADV_SEQUENTIAL);
            f->buf = m;
            f->len = (size_t)st.st_size;
            f->map_ = m;
            f->mapped_ = 1;
        }
    }
    close(fd);
    return rc;
}

void js_file_close(js_file *f) {
    if (f->mapped_)
        munmap(f->map_, f->len);
    else
        free(f->map_);
    memset(f, 0, sizeof *f);
}

/* ---------------------------------------------------------------- errors */

int js_doc_error(const js_doc *d, const char *at, const char *fmt, ...) {
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (at < d->buf) at = d->buf;
    if (at >= d->end)
        return hnd_error_set("%s: %s (the file ends at byte %zu)", d->name, what, (size_t)(d->end - d->buf));
    /* line and column are counted only here, on the error path */
    size_t line = 1;
    const char *ls = d->buf;
    for (const char *q = d->buf; q < at; q++)
        if (*q == '\n') line++, ls = q + 1;
    return hnd_error_set("%s: %s at line %zu, column %zu (byte %zu)", d->name, what, line, (size_t)(at - ls) + 1,
                         (size_t)(at - d->buf));
}

/* ---------------------------------------------------------------- structure */

static const char *skip_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    return p;
}

/* One past the closing quote of the string at p (at '"'); NULL if the
 * buffer ends first. */
static const char *string_end(const char *p, const char *end) {
    /* memchr (vectorised) for the closing quote, then for an escape before
     * it: COCO files are mostly long strings (RLE counts) without escapes */
    for (p++; p < end;) {
        const char *q = memchr(p, '"', (size_t)(end - p));
        if (!q) return NULL;
        const char *b = memchr(p, '\\', (size_t)(q - p));
        if (!b) return q + 1;
        p = b + 2; /* the escaped character is skipped, as before */
    }
    return NULL;
}

/* One past the value at p, judged by brackets and strings only. NULL if
 * the buffer ends first (*cut = 1) or the brackets do not match (*cut = 0,
 * *bad at the offending character). */
static const char *value_end(const char *p, const char *end, int *cut, const char **bad) {
    *cut = 0;
    *bad = p;
    if (p >= end) return *cut = 1, NULL;
    if (*p == '"') {
        const char *q = string_end(p, end);
        if (!q) *cut = 1;
        return q;
    }
    if (*p != '{' && *p != '[') {
        const char *q = p;
        while (q < end && *q != ',' && *q != ']' && *q != '}' && *q != ' ' && *q != '\n' && *q != '\r' &&
               *q != '\t')
            q++;
        if (q == p) return NULL;
        return q;
    }
    char stack[512]; /* the closing bracket expected at each depth */
    int depth = 0;
    for (; p < end; p++) {
        char c = *p;
        if (c == '"') {
            p = string_end(p, end);
            if (!p) break;
            p--;
        } else if (c == '{' || c == '[') {
            if (depth == (int)sizeof stack) return *bad = p, NULL;
            stack[depth++] = c == '{' ? '}' : ']';
        } else if (c == '}' || c == ']') {
            if (depth == 0 || stack[depth - 1] != c) return *bad = p, NULL;
            if (--depth == 0) return p + 1;
        }
    }
    *cut = 1;
    return NULL;
}

void js_doc_init(js_doc *d, const char *name, const char *buf, size_t len) {
    d->name = name;
    d->buf = buf;
    d->end = buf + len;
    d->p = buf;
}

int js_doc_at_end(const js_doc *d) { return skip_ws(d->p, d->end) == d->end; }

int js_value(js_doc *d, const char *path, const char **s, const char **e) {
    int cut;
    const char *bad, *p = skip_ws(d->p, d->end), *q = value_end(p, d->end, &cut, &bad);
    if (!q) {
        if (cut) return js_doc_error(d, d->end, "%s: truncated JSON", path);
        return js_doc_error(d, bad, "%s: malformed JSON", path);
    }
    *s = p;
    *e = q;
    d->p = q;
    return 0;
}

int js_top_begin(js_top *t, js_doc *d) {
    t->d = d;
    t->first = 1;
    d->p = skip_ws(d->p, d->end);
    if (d->p >= d->end || *d->p != '{') return js_doc_error(d, d->p, "expected a JSON object");
    d->p++;
    return 0;
}

int js_top_next(js_top *t, const char **key, size_t *klen) {
    js_doc *d = t->d;
    const char *p = skip_ws(d->p, d->end), *end = d->end;
    if (p >= end) return js_doc_error(d, end, "truncated JSON: the top-level object is not closed");
    if (t->first) {
        t->first = 0;
        if (p < end && *p == '}') goto close;
    } else if (p < end && *p == ',') {
        p = skip_ws(p + 1, end);
    } else if (p < end && *p == '}') {
        goto close;
    } else {
        return js_doc_error(d, p, "expected ',' or '}' in the top-level object");
    }
    if (p >= end) return js_doc_error(d, end, "truncated JSON: the top-level object is not closed");
    if (*p != '"') return js_doc_error(d, p, "expected a key");
    const char *ke = string_end(p, end);
    if (!ke) return js_doc_error(d, end, "truncated JSON: unterminated key");
    *key = p + 1;
    *klen = (size_t)(ke - p - 2);
    p = skip_ws(ke, end);
    if (p >= end || *p != ':') return js_doc_error(d, p, "expected ':' after the key");
    d->p = skip_ws(p + 1, end);
    return 1;
close:
    d->p = p + 1;
    if (!js_doc_at_end(d)) return js_doc_error(d, skip_ws(d->p, end), "trailing data after the top-level object");
    return 0;
}

int js_arr_begin(js_arr *a, js_doc *d, const char *path) {
    a->d = d;
    a->path = path;
    a->index = -1;
    a->done = 0;
    d->p = skip_ws(d->p, d->end);
    if (d->p >= d->end || *d->p != '[') return hnd_error_set("%s: %s: expected an array", d->name, path);
    d->p = skip_ws(d->p + 1, d->end);
    if (d->p < d->end && *d->p == ']') {
        d->p++;
        a->done = 1;
    }
    return 0;
}

int js_arr_next(js_arr *a, const char **s, const char **e) {
    js_doc *d = a->d;
    if (a->done) return 0;
    const char *end = d->end, *p = skip_ws(d->p, end);
    if (a->index >= 0) { /* after an element: ',' or ']' */
        if (p < end && *p == ']') {
            d->p = p + 1;
            a->done = 1;
            return 0;
        }
        if (p >= end)
            return js_doc_error(d, end, "%s[%lld]: truncated JSON: the array is not closed", a->path,
                                (long long)a->index);
        if (*p != ',')
            return js_doc_error(d, p, "%s[%lld]: expected ',' or ']' after the element", a->path, (long long)a->index);
        p = skip_ws(p + 1, end);
    }
    a->index++;
    int cut;
    const char *bad, *q = value_end(p, end, &cut, &bad);
    if (!q) {
        if (cut) return js_doc_error(d, end, "%s[%lld]: truncated JSON", a->path, (long long)a->index);
        return js_doc_error(d, bad, "%s[%lld]: malformed JSON", a->path, (long long)a->index);
    }
    *s = p;
    *e = q;
    d->p = q;
    return 1;
}

/* ---------------------------------------------------------------- numbers */

int js_fail(js_reader *r) {
    if (!r->err_at) r->err_at = r->p;
    return -1;
}

static const double k_pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                   1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Annotation files are mostly numbers (polygon coordinates), so the common
 * ones are converted here without a copy: Clinger's fast path, exact when
 * the significant digits fit in 15 decimal digits (below 2^53) and the
 * power of ten is at most 22 (exactly representable): one correctly
 * rounded IEEE division or product of two exact values. Everything else
 * goes to glibc's strtod, which rounds correctly too. */
int js_number(js_reader *r, double *out) {
    const char *p = r->p, *end = r->end, *s = p;
    int neg = 0;
    if (p < end && *p == '-') neg = 1, p++;
    if (p >= end || *p < '0' || *p > '9') return js_fail(r);
    uint64_t mant = 0;
    int digits = 0, exp10 = 0; /* significant digits kept; the value is mant * 10^exp10 */
    if (*p == '0') {
        p++;
    } else {
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
            if (digits < 19) mant = mant * 10 + (uint64_t)(*p - '0'), digits++;
            else exp10++;
        }
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9') return r->p = p, js_fail(r);
        for (; p < end && *p >= '0' && *p <= '9'; p++)
            if (digits < 19) mant = mant * 10 + (uint64_t)(*p - '0'), digits += mant != 0, exp10--;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        int eneg = 0, ev = 0;
        if (p < end && (*p == '+' || *p == '-')) eneg = *p == '-', p++;
        if (p >= end || *p < '0' || *p > '9') return r->p = p, js_fail(r);
        for (; p < end && *p >= '0' && *p <= '9'; p++)
            if (ev < 100000) ev = ev * 10 + (*p - '0');
        exp10 += eneg ? -ev : ev;
    }
    size_t n = (size_t)(p - s);
    if (n > 500) return js_fail(r);
    r->p = p;
    if (mant == 0) {
        *out = neg ? -0.0 : 0.0;
        return 0;
    }
    if (digits <= 15 && exp10 >= -22 && exp10 <= 22) {
        double v = (double)mant;
        v = exp10 < 0 ? v / k_pow10[-exp10] : v * k_pow10[exp10];
        *out = neg ? -v : v;
        return 0;
    }
    char buf[512];
    memcpy(buf, s, n);
    buf[n] = '\0';
    *out = strtod(buf, NULL);
    return 0;
}

/* ---------------------------------------------------------------- strings */

static int is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

int js_string(js_reader *r, const char **s, size_t *n, int *esc) {
    const char *p = r->p, *end = r->end;
    if (p >= end || *p != '"') return js_fail(r);
    *s = ++p;
    *esc = 0;
    for (; p < end && *p != '"'; p++) {
        if ((unsigned char)*p < 0x20) return r->p = p, js_fail(r);
        if (*p != '\\') continue;
        *esc = 1;
        if (++p >= end) break;
        if (*p == 'u') {
            for (int k = 1; k <= 4; k++)
                if (p + k >= end || !is_hex(p[k])) return r->p = p, js_fail(r);
        } else if (!memchr("\"\\/bfnrt", *p, 8)) {
            return r->p = p, js_fail(r);
        }
    }
    if (p >= end) return r->p = end, js_fail(r);
    *n = (size_t)(p - *s);
    r->p = p + 1;
    return 0;
}

static unsigned hex4(const char *h) {
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        char c = h[k];
        v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

/* One code point as UTF-8 (at most 4 bytes; a \uXXXX escape is 6 bytes of
 * input, a pair 12, so the output never outgrows the input). */
static char *put_utf8(char *o, unsigned u) {
    if (u < 0x80) {
        *o++ = (char)u;
    } else if (u < 0x800) {
        *o++ = (char)(0xC0 | (u >> 6));
        *o++ = (char)(0x80 | (u & 63));
    } else if (u < 0x10000) {
        *o++ = (char)(0xE0 | (u >> 12));
        *o++ = (char)(0x80 | ((u >> 6) & 63));
        *o++ = (char)(0x80 | (u & 63));
    } else {
        *o++ = (char)(0xF0 | (u >> 18));
        *o++ = (char)(0x80 | ((u >> 12) & 63));
        *o++ = (char)(0x80 | ((u >> 6) & 63));
        *o++ = (char)(0x80 | (u & 63));
    }
    return o;
}

size_t js_unescape(const char *s, size_t n, char *out) {
    char *o = out;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') {
            *o++ = s[i];
            continue;
        }
        char c = s[++i];
        switch (c) {
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned u = hex4(s + i + 1);
            i += 4;
            if (u >= 0xD800 && u < 0xDC00 && i + 6 < n && s[i + 1] == '\\' && s[i + 2] == 'u') {
                unsigned lo = hex4(s + i + 3);
                if (lo >= 0xDC00 && lo < 0xE000) {
                    u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                    i += 6;
                }
            }
            o = put_utf8(o, u);
            break;
        }
        default: *o++ = c; break; /* \" \\ \/ */
        }
    }
    return (size_t)(o - out);
}

/* ---------------------------------------------------------------- values */

int js_array_next(js_reader *r, int *first) {
    js_ws(r);
    if (*first) {
        if (r->p >= r->end || *r->p != '[') return js_fail(r);
        r->p++;
        js_ws(r);
        *first = 0;
        if (r->p < r->end && *r->p == ']') return r->p++, 0;
    } else if (r->p < r->end && *r->p == ',') {
        r->p++;
        js_ws(r);
    } else if (r->p < r->end && *r->p == ']') {
        return r->p++, 0;
    } else {
        return js_fail(r);
    }
    /* callers may look at *r->p: an element is never the end of the text */
    return r->p < r->end ? 1 : js_fail(r);
}

int js_object_next(js_reader *r, int *first, const char **k, size_t *kn) {
    js_ws(r);
    if (*first) {
        if (r->p >= r->end || *r->p != '{') return js_fail(r);
        r->p++;
        js_ws(r);
        *first = 0;
        if (r->p < r->end && *r->p == '}') return r->p++, 0;
    } else if (r->p < r->end && *r->p == ',') {
        r->p++;
        js_ws(r);
    } else if (r->p < r->end && *r->p == '}') {
        return r->p++, 0;
    } else {
        return js_fail(r);
    }
    int esc;
    if (js_string(r, k, kn, &esc) < 0) return -1;
    js_ws(r);
    if (r->p >= r->end || *r->p != ':') return js_fail(r);
    r->p++;
    js_ws(r);
    return r->p < r->end ? 1 : js_fail(r);
}

static int skip_depth(js_reader *r, int depth) {
    js_ws(r);
    if (r->p >= r->end || depth > 512) return js_fail(r);
    char c = *r->p;
    int first = 1, m;
    const char *k;
    size_t kn;
    if (c == '[') {
        while ((m = js_array_next(r, &first)) == 1)
            if (skip_depth(r, depth + 1) < 0) return -1;
        return m;
    }
    if (c == '{') {
        while ((m = js_object_next(r, &first, &k, &kn)) == 1)
            if (skip_depth(r, depth + 1) < 0) return -1;
        return m;
    }
    if (c == '"') {
        int esc;
        return js_string(r, &k, &kn, &esc);
    }
    if (c == 't' || c == 'f' || c == 'n') {
        const char *w = c == 't' ? "true" : c == 'f' ? "false" : "null";
        size_t n = strlen(w);
        if ((size_t)(r->end - r->p) < n || memcmp(r->p, w, n) != 0) return js_fail(r);
        r->p += n;
        return 0;
    }
    double d;
    return js_number(r, &d);
}

int js_skip(js_reader *r) { return skip_depth(r, 0); }

int js_num_or_skip(js_reader *r, double *v, int *is_num) {
    js_ws(r);
    if (r->p < r->end && (*r->p == '-' || (*r->p >= '0' && *r->p <= '9'))) {
        *is_num = 1;
        return js_number(r, v);
    }
    *is_num = 0;
    return js_skip(r);
}
