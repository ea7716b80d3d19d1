# util/: the small shared helpers (paths, strings, clock, SplitMix64).
hnd_add_test(test_util SOURCES test_util_helpers.c LIBS hnd_util)
