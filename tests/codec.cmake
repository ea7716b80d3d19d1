# Lossless coding of the 8-bit bottleneck (infer/rans.h, infer/link_codec.h).
hnd_add_test(test_rans SOURCES test_rans.c LIBS hnd_codec hnd_util m)
