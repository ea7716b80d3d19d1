/* cmd_common.c: see cmd_common.h. */
#include "cmd_common.h"

#include <stdlib.h>

#include "device.h"
#include "device_spec.h"
#include "hnd_error.h"
#include "thread_cap.h"

int cc_threads(const co_args *a) {
    if (!co_has(a, "--threads")) return 0;
    long long n = co_int(a, "--threads", 0);
    if (tcap_check(n, "--threads") != 0) return co_usage_error(a->cmd, "%s", hnd_error());
    ct_set_num_threads((int)n);
    return 0;
}

int cc_device(const co_command *cmd, const char *s, ct_device *out) {
    int idx;
    if (s && dspec_parse(s, &idx) != 0) return co_usage_error(cmd, "--device: %s", hnd_error());
    if (md_device_parse(s, out) != 0) {
        fprintf(stderr, "hnd %s: --device: %s\n", cmd->name, hnd_error());
        return 1;
    }
    return 0;
}

int cc_env_threads(void) {
    const char *th = getenv("HND_THREADS");
    long long n = 0;
    if (th && *th) {
        if (co_parse_ll(th, 0, 1LL << 40, &n) != 0) {
            fprintf(stderr, "hnd: HND_THREADS='%s': expected a thread count (0 = all cores)\n", th);
            return 2;
        }
        if (tcap_check(n, "HND_THREADS") != 0) {
            fprintf(stderr, "hnd: %s\n", hnd_error());
            return 2;
        }
    }
    ct_set_num_threads((int)n);
    return 0;
}
