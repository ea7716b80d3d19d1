# Weight store: round trip of every dtype, atomic writes, errors, h5py interop.
hnd_add_test(test_wstore SOURCES test_wstore.c LIBS hnd_util)
