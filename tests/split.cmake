# The split link (issue 14), torch-free parts: the wire format and its
# sockets (infer/wire.c, infer/net_io.c in hnd_split_net).
hnd_add_test(test_wire SOURCES test_wire.c LIBS hnd_split_net hnd_util Threads::Threads m LABELS split)
