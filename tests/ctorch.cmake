# ctorch: the C API over libtorch. test_ctorch runs tests/py/ref_ctorch.py
# (with $HND_PYTHON) in its group setup for PyTorch reference values.
hnd_add_test(test_ctorch SOURCES test_ctorch.c LIBS ctorch LABELS torch)
# the large-CPU-tensor cache: reuse, the bound, off, and (ASan) stale reads
hnd_add_test(test_ct_alloc SOURCES test_ct_alloc.c LIBS ctorch LABELS torch)
