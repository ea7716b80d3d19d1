# util/: weight store (round trip, atomic writes, errors, h5py) and atomic text files.
hnd_add_test(test_wstore SOURCES test_wstore.c LIBS hnd_util)
hnd_add_test(test_atomic_file SOURCES test_atomic_file.c LIBS hnd_util)
