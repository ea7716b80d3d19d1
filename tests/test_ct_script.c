/* test_ct_script.c: ct_script_save — a module written from C, read back by
 * PyTorch (torch.jit.load), and its failures: a source that does not
 * compile, bad names, NULLs, a missing directory (never a temporary file
 * left, never the old file lost). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>

#include "ctorch.h"
#include "test_util.h"

static const char *SRC =
    "def forward(self, x: Tensor) -> Tensor:\n"
    "    return x * self.w + self.b\n"
    "\n"
    "def twice(self, x: Tensor) -> Tuple[Tensor, Tensor]:\n"
    "    y = self.forward(x)\n"
    "    return y, y.half()\n";

static ct_tensor *vec(const float *v, int64_t n) { return ct_from_buffer(v, CT_F32, 1, &n); }

/* Files in the scratch directory whose name contains ".tmp." and starts with
 * prefix. */
static int tmp_files(const char *prefix) {
    char dir[512];
    tu_tmp(dir, sizeof dir, "");
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 && strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

static long file_size(const char *p) {
    FILE *f = fopen(p, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

static void test_save_and_load_in_pytorch(void **state) {
    (void)state;
    char path[512];
    tu_tmp(path, sizeof path, "ct_script_ok.pt");
    remove(path);
    const float w[3] = {1.0f, 2.0f, -3.0f}, b[3] = {0.5f, 0.25f, 0.125f};
    ct_scope_begin();
    const char *names[2] = {"w", "b"};
    const ct_tensor *ts[2] = {vec(w, 3), vec(b, 3)};
    assert_int_equal(ct_script_save(path, "test.Affine", SRC, names, ts, 2, "{\"k\": 1}"), 0);
    ct_scope_end();
    assert_true(tu_file_exists(path));
    assert_int_equal(tmp_files("ct_script_ok"), 0);

    /* PyTorch reads it: class, parameters (no grad), eval mode, both methods,
     * the extra file. */
    const char *py = getenv("HND_PYTHON");
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "%s -c \"import torch, json, sys\n"
             "e = {'hnd.json': ''}\n"
             "m = torch.jit.load(sys.argv[1], _extra_files=e)\n"
             "assert json.loads(e['hnd.json']) == {'k': 1}, e\n"
             "assert m.original_name == 'Affine', m.original_name\n"
             "assert not m.training\n"
             "p = dict(m.named_parameters())\n"
             "assert sorted(p) == ['b', 'w'] and not any(t.requires_grad for t in p.values()), p\n"
             "assert list(dict(m.named_buffers())) == []\n"
             "x = torch.tensor([1.0, 1.0, 2.0])\n"
             "y, h = m.twice(x)\n"
             "assert torch.equal(m(x), torch.tensor([1.5, 2.25, -5.875])) and torch.equal(h, y.half()), y\n"
             "torch.jit.freeze(m)\n"
             "\" %s",
             py && *py ? py : "/usr/bin/python3", path);
    int st = system(cmd);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    remove(path);
}

static void test_compile_error_keeps_old_file(void **state) {
    (void)state;
    char path[512];
    tu_tmp(path, sizeof path, "ct_script_err.pt");
    remove(path);
    const float w[2] = {1.0f, 2.0f};
    ct_scope_begin();
    const char *names[1] = {"w"};
    const ct_tensor *ts[1] = {vec(w, 2)};
    const char *ok = "def forward(self, x: Tensor) -> Tensor:\n    return x * self.w\n";
    assert_int_equal(ct_script_save(path, "T", ok, names, ts, 1, NULL), 0);
    long size = file_size(path);
    assert_true(size > 0);

    /* an undefined attribute: the compiler's message, on one line */
    const char *bad = "def forward(self, x: Tensor) -> Tensor:\n    return x * self.nope\n";
    assert_int_equal(ct_script_save(path, "T", bad, names, ts, 1, NULL), -1);
    const char *e = ct_last_error();
    assert_non_null(strstr(e, "script_save: TorchScript does not compile"));
    assert_non_null(strstr(e, "nope"));
    assert_null(strchr(e, '\n'));
    /* a syntax error */
    assert_int_equal(ct_script_save(path, "T", "def forward(self, x: Tensor) -> Tensor\n", names, ts, 1, NULL), -1);
    assert_non_null(strstr(ct_last_error(), "does not compile"));
    assert_int_equal(file_size(path), size);
    assert_int_equal(tmp_files("ct_script_err"), 0);
    ct_scope_end();
    remove(path);
}

static void test_bad_arguments(void **state) {
    (void)state;
    char path[512], missing[512];
    tu_tmp(path, sizeof path, "ct_script_bad.pt");
    tu_tmp(missing, sizeof missing, "no_such_dir_ct_script/x.pt");
    remove(path);
    const float w[2] = {1.0f, 2.0f};
    const char *src = "def forward(self, x: Tensor) -> Tensor:\n    return x\n";
    ct_scope_begin();
    ct_tensor *t = vec(w, 2);
    struct {
        const char *name, *cls, *expect;
        const ct_tensor *t;
    } cases[] = {
        {"a.b", "T", "'a.b' is not a valid attribute name", t},
        {"1w", "T", "'1w' is not a valid attribute name", t},
        {"training", "T", "'training' is not a valid attribute name", t},
        {"__w", "T", "'__w' is not a valid attribute name", t},
        {"w", "T", "tensor 'w' is NULL", NULL},
        {"w", "a..b", "class name 'a..b'", t},
        {"w", "a-b", "class name 'a-b'", t},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *names[1] = {cases[i].name};
        const ct_tensor *ts[1] = {cases[i].t};
        assert_int_equal(ct_script_save(path, cases[i].cls, src, names, ts, 1, NULL), -1);
        if (!strstr(ct_last_error(), cases[i].expect)) fail_msg("case %zu: %s", i, ct_last_error());
    }
    const char *dup[2] = {"w", "w"};
    const ct_tensor *ts2[2] = {t, t};
    assert_int_equal(ct_script_save(path, "T", src, dup, ts2, 2, NULL), -1);
    assert_non_null(strstr(ct_last_error(), "'w' given twice"));
    assert_int_equal(ct_script_save(path, "T", NULL, NULL, NULL, 0, NULL), -1);
    assert_non_null(strstr(ct_last_error(), "source is NULL"));
    assert_int_equal(ct_script_save(path, NULL, src, NULL, NULL, 0, NULL), -1);
    assert_int_equal(ct_script_save("", "T", src, NULL, NULL, 0, NULL), -1);
    assert_int_equal(ct_script_save(path, "T", src, NULL, NULL, 1, NULL), -1);
    assert_false(tu_file_exists(path));
    /* no tensors at all is fine */
    assert_int_equal(ct_script_save(path, "T", src, NULL, NULL, 0, NULL), 0);
    assert_true(tu_file_exists(path));
    remove(path);
    /* a directory that does not exist: named, nothing written */
    assert_int_equal(ct_script_save(missing, "T", src, NULL, NULL, 0, NULL), -1);
    assert_non_null(strstr(ct_last_error(), "no_such_dir_ct_script"));
    ct_scope_end();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_save_and_load_in_pytorch),
        cmocka_unit_test(test_compile_error_keeps_old_file),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
