"""Oracle for the weight store: h5py reads the file hnd wrote, then writes
one of its own for hnd to read. Usage: check_wstore.py OURS.h5 THEIRS.h5"""
import sys

import h5py
import numpy as np

ours, theirs = sys.argv[1], sys.argv[2]
with h5py.File(ours, "r") as f:
    w = f["weights"]
    assert sorted(w.keys()) == ["bn.num_batches_tracked", "conv.weight", "empty",
                                "flag", "half.weight", "mask.u8"], list(w.keys())
    a = w["conv.weight"][()]
    assert a.dtype == np.float32 and a.shape == (2, 3), (a.dtype, a.shape)
    assert np.array_equal(a, np.array([[1.5, -2.25, 3.0], [1e-30, -0.0, 1e30]], np.float32))
    h = w["half.weight"][()]
    assert h.dtype == np.float16, h.dtype
    assert np.array_equal(h, np.array([1.0, -2.0, 0.5, 65504.0], np.float16)), h
    s = w["bn.num_batches_tracked"][()]
    assert w["bn.num_batches_tracked"].shape == () and s.dtype == np.int64 and s == 1234567890123
    u = w["mask.u8"][()]
    assert u.dtype == np.uint8 and list(u) == [0, 128, 255]
    assert list(w["flag"][()]) == [1, 0, 1]
    e = w["empty"]
    assert e.shape == (0, 5) and e.dtype == np.float32
    t = f["train"]["param.0.exp_avg"][()]
    assert t.dtype == np.float64 and t[0] == 0.1 and t[1] == -1e300
    cfg = f.attrs["config"]
    if isinstance(cfg, bytes):
        cfg = cfg.decode()
    assert cfg == '{"train": {"lr": 0.001}}', cfg

with h5py.File(theirs, "w") as f:
    g = f.create_group("weights")
    g["b"] = np.array([True, False, False, True])
    g["h"] = np.array([1.0, -2.0, 0.5, 65504.0], np.float16)
    g["i"] = np.arange(24, dtype=np.int64).reshape(2, 3, 4)
    f.attrs["config"] = np.string_('{"a": 1}')   # fixed-length bytes string
print("h5py interop ok")
