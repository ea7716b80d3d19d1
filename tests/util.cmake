# util/: the small shared helpers (paths, strings, clock, SplitMix64).
hnd_add_test(test_util SOURCES test_util_helpers.c LIBS hnd_util)

# the reference cache's bound (tests/py/refcache.py): LRU eviction, replay
hnd_add_script_test(test_refcache ${HND_PYTHON} ${CMAKE_SOURCE_DIR}/tests/py/check_refcache.py)
