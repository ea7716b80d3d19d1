/* plot_format.c: see plot_format.h. */
#include "plot_format.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "hnd_error.h"

static const char *const k_names[] = {"png", "svg", "pdf"};

static int lookup(const char *name) {
    for (int i = 0; i < 3; i++)
        if (name && strcasecmp(name, k_names[i]) == 0) return i;
    return -1;
}

int pf_parse(const char *name, pf_format *out) {
    int i = lookup(name);
    if (i >= 0) {
        *out = (pf_format)i;
        return 0;
    }
    return hnd_error_set("unknown figure format '%s' (png, svg or pdf)", name ? name : "");
}

const char *pf_name(pf_format f) { return (unsigned)f < 3 ? k_names[f] : "png"; }

/* The extension: after the last '.' of the last path component, unless
 * that dot starts the name (".hidden"). NULL when there is none. */
static const char *extension(const char *path) {
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    return dot && dot > (slash ? slash + 1 : path) ? dot : NULL;
}

pf_format pf_from_path(const char *path, pf_format def) {
    const char *e = path ? extension(path) : NULL;
    int i = e ? lookup(e + 1) : -1;
    return i >= 0 ? (pf_format)i : def;
}

int pf_path(char *out, size_t n, const char *path, pf_format f) {
    const char *dot = extension(path);
    size_t stem = dot ? (size_t)(dot - path) : strlen(path);
    int k = snprintf(out, n, "%.*s.%s", (int)stem, path, pf_name(f));
    if (k < 0 || (size_t)k >= n) return hnd_error_set("figure path too long: %s", path);
    return 0;
}
