/* ref_probe.c: print what models/'s probe (sr_probe_file) sees in weight
 * files, one line each, for check_ref_ckpt.py:
 *   PATH kind=student|teacher C=N stu=large|small|- arch=ARCH mask=0|1
 * Exit 1 when a file cannot be probed. */
#include <stdio.h>

#include "hnd_error.h"
#include "split_rcnn.h"

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        sr_probe p;
        if (sr_probe_file(argv[i], &p) != 0) {
            fprintf(stderr, "ref_probe: %s\n", hnd_error());
            return 1;
        }
        printf("%s kind=%s C=%lld stu=%s arch=%s mask=%d\n", argv[i], p.channels > 0 ? "student" : "teacher",
               (long long)p.channels, p.channels > 0 && p.kind >= 0 ? stu_kind_name((stu_kind)p.kind) : "-",
               p.arch[0] ? p.arch : "-", p.mask);
    }
    return 0;
}
