"""PyTorch's spellings beside numpy's: dim/keepdim, Tensor methods and dunders, save/load,
ModuleDict, adaptive average pooling, weighted and smoothed cross-entropy, the model summary.

The PyTorch comparisons of everyday code are in test_pytorch_idioms.py; here
are the gradients (float64 finite differences), the errors, and the rules
that PyTorch has no equivalent for.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import functional as F
from tinygrad_cnn import nn
from tinygrad_cnn.cli import main
from tinygrad_cnn.conv import adaptive_pool_matrix


def t64(array, requires_grad=True):
    return tg.Tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


# ---------------------------------------------------------------------------
# dim/keepdim beside axis/keepdims: one helper, every axis-taking function
# ---------------------------------------------------------------------------

AXIS_FUNCTIONS = {
    "sum": lambda x, **kw: x.sum(**kw),
    "mean": lambda x, **kw: x.mean(**kw),
    "max": lambda x, **kw: x.max(**kw),
    "min": lambda x, **kw: x.min(**kw),
    "argmax": lambda x, **kw: x.argmax(**kw),
    "argmin": lambda x, **kw: x.argmin(**kw),
    "var": lambda x, **kw: x.var(**kw),
    "std": lambda x, **kw: x.std(**kw),
    "softmax": lambda x, **kw: F.softmax(x, **kw),
    "log_softmax": lambda x, **kw: F.log_softmax(x, **kw),
    "squeeze": lambda x, **kw: x.reshape(2, 1, 3).squeeze(**kw),
    "unsqueeze": lambda x, **kw: x.unsqueeze(**kw),
    "concatenate": lambda x, **kw: tg.concatenate([x, x], **kw),
    "stack": lambda x, **kw: tg.stack([x, x], **kw),
}


@pytest.mark.parametrize("name", sorted(AXIS_FUNCTIONS))
def test_dim_is_axis_and_both_is_an_error(name):
    function = AXIS_FUNCTIONS[name]
    x = tg.randn(2, 3)
    with_axis, with_dim = function(x, axis=1), function(x, dim=1)
    if name in ("var", "std"):  # spelled with dim, PyTorch's default correction=1 applies
        with_axis = function(x, axis=1, ddof=1)
    if name in ("max", "min"):
        with_dim = with_dim.values  # PyTorch's (values, indices) pair
    assert with_axis.shape == with_dim.shape
    np.testing.assert_array_equal(with_axis.data, with_dim.data)
    with pytest.raises(TypeError, match=rf"{name}: give axis \(numpy's name\) or dim \(PyTorch's name\), not both"):
        function(x, axis=1, dim=1)


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "argmax", "argmin", "var", "std"])
def test_keepdim_is_keepdims_and_both_is_an_error(name):
    function = AXIS_FUNCTIONS[name]
    x = tg.randn(2, 3, 4)
    kept = function(x, axis=1, keepdims=True)
    also_kept = function(x, axis=1, keepdim=True)
    assert kept.shape == also_kept.shape == (2, 1, 4)
    np.testing.assert_array_equal(kept.data, also_kept.data)
    with pytest.raises(TypeError, match=f"{name}: give keepdims .* or keepdim .*, not both"):
        function(x, axis=1, keepdims=True, keepdim=True)
    with pytest.raises(TypeError, match=f"{name}: keepdims must be True or False, got int 1"):
        function(x, axis=1, keepdims=1)


def test_max_and_min_with_dim_return_values_and_indices_as_pytorch():
    x = tg.Tensor([[1.0, 5.0, 5.0], [7.0, -2.0, 0.0]], requires_grad=True)
    values, indices = x.max(dim=1)
    np.testing.assert_array_equal(values.data, [5.0, 7.0])
    np.testing.assert_array_equal(indices.data, [1, 0])  # the first maximum
    assert indices.dtype == np.int64 and not indices.requires_grad
    values.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[0, 1, 0], [1, 0, 0]])
    low = x.min(dim=0, keepdim=True)
    assert low.values.shape == low.indices.shape == (1, 3)
    np.testing.assert_array_equal(low.indices.data, [[0, 1, 1]])
    # numpy's spelling (or a position) gives the values only, as numpy does.
    assert isinstance(x.max(axis=1), tg.Tensor) and isinstance(x.max(1), tg.Tensor)
    with pytest.raises(TypeError, match="argmax: axis must be an int"):
        x.max(dim=(0, 1))


def test_argmax_edge_cases():
    x = tg.Tensor([[1, 3], [4, 2]])
    assert x.argmax().item() == 2  # over the flattened tensor
    assert x.argmax(keepdim=True).shape == (1, 1)
    assert tg.Tensor(2.0).argmax(dim=0).item() == 0
    with pytest.raises(ValueError, match=r"argmax: cannot take the argmax of an empty tensor \(shape \(0, 2\)\)"):
        tg.zeros(0, 2).argmax()
    with pytest.raises(ValueError, match=r"argmin: cannot reduce over an empty axis: axis 0 of input shape \(0, 2\)"):
        tg.zeros(0, 2).argmin(dim=0)
    with pytest.raises(ValueError, match="argmax: axis 2 is out of range"):
        x.argmax(dim=2)


def test_var_and_std_defaults_follow_the_spelling():
    data = np.random.default_rng(0).standard_normal((4, 5))
    x = tg.Tensor(data)
    np.testing.assert_allclose(x.var(axis=1).data, data.var(axis=1))  # numpy's ddof=0
    np.testing.assert_allclose(x.var(dim=1).data, data.var(axis=1, ddof=1))  # PyTorch's correction=1
    np.testing.assert_allclose(x.var().data, data.var())
    np.testing.assert_allclose(x.std(dim=0, correction=0).data, data.std(axis=0))
    np.testing.assert_allclose(x.std(axis=0, unbiased=True).data, data.std(axis=0, ddof=1))
    np.testing.assert_allclose(x.std(ddof=2).data, data.std(ddof=2))
    with pytest.raises(TypeError, match=r"var: give one of ddof \(numpy\), correction or unbiased \(PyTorch\)"):
        x.var(ddof=1, correction=1)
    with pytest.raises(TypeError, match="std: unbiased must be True or False, got int 1"):
        x.std(unbiased=1)
    with pytest.raises(ValueError, match="var: ddof=5 leaves no degrees of freedom for 5 elements"):
        x.var(dim=1, correction=5)


@pytest.mark.parametrize("shape, kwargs", [
    ((5,), {}), ((3, 4), {"dim": 1}), ((3, 4), {"axis": 0, "keepdims": True}), ((2, 3, 4), {"dim": (0, 2)}),
    ((1, 6), {"dim": 1, "correction": 0}), ((2, 1, 3), {"axis": -1, "ddof": 1}),
])
def test_std_gradients(rng, shape, kwargs):
    x = t64(rng.standard_normal(shape))
    np.testing.assert_allclose(x.std(**kwargs).data, np.sqrt(x.var(**kwargs).data))
    assert tg.gradcheck(lambda x: x.std(**kwargs), [x])
    assert tg.gradgradcheck(lambda x: x.std(**kwargs), [x])


def test_unsqueeze_needs_a_position():
    with pytest.raises(TypeError, match=r"unsqueeze: missing the position of the new axis \(axis= or dim=\)"):
        tg.randn(2).unsqueeze()


def test_cat_is_concatenate_and_a_lone_tensor_is_refused():
    assert tg.cat is tg.concatenate
    x = tg.randn(2, 3)
    assert tg.cat((x, x), dim=-1).shape == (2, 6)
    with pytest.raises(TypeError, match="stack: tensors must be a list or tuple of tensors, got a single Tensor"):
        tg.stack(x)
    with pytest.raises(TypeError, match="concatenate: tensors must be a list or tuple"):
        tg.cat(x, dim=0)


# ---------------------------------------------------------------------------
# size, numel, view, clone, t, conversions
# ---------------------------------------------------------------------------


def test_size_is_pytorch_method_and_numpy_habits_get_a_clear_error():
    x = tg.zeros(2, 3, 4)
    assert x.size() == (2, 3, 4) and x.size(1) == 3 and x.size(-1) == 4
    assert x.numel() == 24 and x.dim() == 3
    message = r"t.size is a method here, as in PyTorch: .* use t.numel\(\)"
    for numpy_habit in (lambda: x.size == 24, lambda: x.size > 0, lambda: 1.0 / x.size, lambda: bool(x.size),
                        lambda: range(x.size), lambda: int(x.size)):
        with pytest.raises(TypeError, match=message):
            numpy_habit()
    with pytest.raises(IndexError, match=r"size: dim 3 is out of range for a tensor of shape \(2, 3, 4\)"):
        x.size(3)
    with pytest.raises(IndexError, match="size: dim 0 is out of range"):
        tg.Tensor(1.0).size(0)
    with pytest.raises(TypeError, match="size: dim must be an int, got str"):
        x.size("1")


def test_view_needs_a_compatible_layout():
    x = tg.arange(12.0).reshape(3, 4)
    v = x.view(2, 6)
    assert v.shape == (2, 6) and np.shares_memory(v.data, x.data)
    assert x[:, 1:3].view(3, 1, 2).shape == (3, 1, 2)  # a slice whose rows stay apart can be viewed
    with pytest.raises(RuntimeError, match=r"view: a tensor of shape \(4, 3\) .* cannot be viewed as shape \(12,\) "
                                           r"without copying; use .reshape\(...\)"):
        x.t().view(12)
    assert x.t().contiguous().view(12).shape == (12,)
    assert x.contiguous() is x
    with pytest.raises(ValueError, match=r"reshape: cannot reshape a tensor of shape \(3, 4\) \(12 elements\)"):
        x.view(5, -1)
    with pytest.raises(TypeError, match="view: reinterpreting the bytes as dtype"):
        x.view(np.int32)


@pytest.mark.parametrize("shape", [(), (5,), (2, 3), (2, 1, 3)])
def test_clone_is_a_differentiable_copy(rng, shape):
    x = t64(rng.standard_normal(shape))
    y = x.clone()
    assert y.grad_fn is not None and not np.shares_memory(y.data, x.data)
    np.testing.assert_array_equal(y.data, x.data)
    assert tg.gradcheck(lambda x: x.clone() * x, [x])
    assert tg.gradgradcheck(lambda x: x.clone() * x, [x])
    with tg.no_grad():
        copy = x.clone()
    copy.data[...] = 7  # its own memory
    assert not (x.data == 7).any()


def test_transpose_of_two_axes_is_never_silently_read_two_ways():
    m = tg.randn(2, 3)
    assert m.transpose(1, 0).shape == (3, 2)  # numpy's permutation and PyTorch's swap agree
    with pytest.raises(ValueError, match=r"transpose: axes \(0, 1\) are ambiguous for a matrix: numpy reads them as "
                                         r"the identity permutation .* PyTorch as a swap"):
        m.transpose(0, 1)
    with pytest.raises(ValueError, match=r"transpose: axes \(1, 2\) are not a permutation of the 3 axes .*; to swap "
                                         r"two axes, as PyTorch's transpose\(dim0, dim1\) does, use swapaxes\(1, 2\)"):
        tg.randn(2, 3, 4).transpose(1, 2)
    assert tg.randn(2, 3, 4).swapaxes(1, 2).shape == (2, 4, 3)


def test_t_and_contiguous():
    m = tg.randn(2, 3)
    assert m.t().shape == (3, 2) and tg.randn(4).t().shape == (4,)
    with pytest.raises(ValueError, match=r"t: expects a tensor with at most 2 dimensions, got shape \(2, 3, 4\)"):
        tg.randn(2, 3, 4).t()


def test_dtype_conversions_and_names():
    x = tg.Tensor([1.7, -2.5, 0.0])
    assert x.float() is x and x.double().dtype == tg.float64 == np.float64
    assert x.half().dtype == np.float16
    np.testing.assert_array_equal(x.long().data, [1, -2, 0])  # truncated toward zero
    assert x.long().dtype == tg.int64 and x.int().dtype == tg.int32
    np.testing.assert_array_equal(x.bool().data, [True, True, False])
    assert tg.bool is np.bool_ and tg.long is np.int64 and tg.double is np.float64 and tg.float is np.float32
    w = tg.Tensor([1.0, 2.0], requires_grad=True)
    (w.double() * 3).sum().backward()
    assert w.grad.dtype == np.float32 and (w.grad.data == 3).all()
    assert not w.long().requires_grad


def test_to_and_device():
    x = tg.randn(2, requires_grad=True)
    assert x.to("cpu") is x and x.cpu() is x and x.to(tg.device("cpu")) is x
    assert x.device == "cpu" and x.device == tg.device("cpu") and repr(x.device) == "device(type='cpu')"
    assert x.to("cpu", tg.float64).dtype == np.float64 and x.to(dtype="float64").dtype == np.float64
    assert x.to(tg.zeros(1, dtype=tg.float16)).dtype == np.float16
    copy = x.to("cpu", copy=True)
    assert copy is not x and copy.grad_fn is not None
    with pytest.raises(ValueError, match="to: device 'cuda:0' is not available: this library computes with numpy on "
                                         "the CPU"):
        x.to("cuda:0")
    with pytest.raises(ValueError, match="device: only 'cpu' is available"):
        tg.device("mps")
    with pytest.raises(TypeError, match="to: expected a dtype, a device .* got list"):
        x.to([1])
    with pytest.raises(TypeError, match="to: dtype given twice"):
        x.to(tg.float64, dtype=tg.float32)


# ---------------------------------------------------------------------------
# Python numbers and formatting
# ---------------------------------------------------------------------------


def test_float_int_and_format_of_one_element():
    loss = tg.Tensor([[2.71828]])
    assert float(loss) == pytest.approx(2.71828) and int(tg.Tensor(-2.7)) == -2
    assert f"{loss:.2f}" == "2.72" and f"{tg.Tensor(3):>4d}" == "   3"
    assert f"{loss}" == str(loss)  # no spec: the tensor's text
    x = tg.randn(3)
    for convert, what in ((float, "float"), (int, "int"), (lambda t: f"{t:.3f}", "format with '.3f'")):
        with pytest.raises(TypeError, match=rf"{what}: only a tensor with one element can be converted to a "
                                            r"Python number, got shape \(3,\)"):
            convert(x)


# ---------------------------------------------------------------------------
# t[index] = value
# ---------------------------------------------------------------------------


def test_setitem_writes_and_bumps_the_version():
    x = tg.zeros(2, 3)
    x[0] = 1
    x[:, 2] = tg.Tensor([5.0, 6.0])
    x[x == 0] = -1.0
    np.testing.assert_array_equal(x.data, [[1, 1, 5], [-1, -1, 6]])
    assert x._version == 3
    counts = tg.zeros(3, dtype=tg.int64)
    counts[1] = 2.9  # converted to the tensor's dtype, as numpy and PyTorch do
    assert counts.data.tolist() == [0, 2, 0]


def test_setitem_after_use_makes_backward_refuse_the_stale_graph():
    w = tg.randn(3, requires_grad=True)
    x = tg.randn(3)
    y = (w * x).sum()  # Mul's gradient with respect to w reads x
    x[0] = 100.0
    with pytest.raises(RuntimeError, match="changed by an in-place operation after the forward pass used it"):
        y.backward()
    view = x[1:]
    z = (w[1:] * view).sum()
    x[2] = 5.0  # a write to the base changes the view's values too
    with pytest.raises(RuntimeError, match="changed by an in-place operation"):
        z.backward()


def test_setitem_errors():
    w = tg.randn(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"setitem \(t\[index\] = value\): a leaf tensor that requires grad"):
        w[0] = 1.0
    with tg.no_grad():
        w[0] = 1.0  # allowed, as in PyTorch
    with pytest.raises(RuntimeError, match=r"setitem .*computed by a recorded op \(Mul\)"):
        y = w * 2
        y[0] = 0.0
    x = tg.zeros(2, 3)
    with pytest.raises(RuntimeError, match="setitem .*: the value requires grad"):
        x[0] = w
    with pytest.raises(ValueError, match=r"setitem: a value of shape \(4,\) cannot be broadcast to the indexed part of "
                                         r"shape \(3,\) \(tensor shape \(2, 3\)\)"):
        x[1] = np.ones(4)
    with pytest.raises(IndexError, match=r"setitem: index 5 does not fit a tensor of shape \(2, 3\)"):
        x[5] = 1.0
    with pytest.raises(TypeError, match="setitem: the value must be a Tensor, an array or a number, got str"):
        x[0] = "1"
    with pytest.raises(ValueError, match="setitem: cannot write nan into a int64 tensor"):
        tg.zeros(2, dtype=tg.int64)[0] = float("nan")
    with pytest.raises(ValueError, match="read-only"):
        tg.randn(3).broadcast_to(2, 3)[0] = 1.0


# ---------------------------------------------------------------------------
# numpy functions given a tensor
# ---------------------------------------------------------------------------


def test_numpy_functions_refuse_tensors_with_the_fix():
    t = tg.randn(3, requires_grad=True)
    with pytest.raises(TypeError, match=r"np.mean does not take a tinygrad_cnn Tensor: .*drop the graph .*Use "
                                        r"t.mean\(...\); .* np.mean\(t.numpy\(\)\)"):
        np.mean(t)
    with pytest.raises(TypeError, match=r"np.exp does not take a tinygrad_cnn Tensor: .*Use t.exp\(...\)"):
        np.exp(t)
    with pytest.raises(TypeError, match=r"np.concatenate does not take a tinygrad_cnn Tensor"):
        np.concatenate([t, t])
    with pytest.raises(TypeError, match=r"np.allclose does not take .* np.allclose\(t.numpy\(\), ...\)"):
        np.allclose(t, 1.0)
    with pytest.raises(TypeError, match=r"np.cumsum does not take a tinygrad_cnn Tensor: .*Use the tensor ops"):
        np.cumsum(t)
    array = np.ones(3)
    with pytest.raises(TypeError, match="np.add with out=: .*write `arr = arr \\+ t`"):
        array += t
    # What numpy may do: give the array, and use its operators, which run the tensor's ops.
    np.testing.assert_array_equal(np.asarray(t), t.data)
    result = np.ones(3, dtype=np.float32) * t + np.float64(1.0)
    assert isinstance(result, tg.Tensor) and result.dtype == np.float32 and result.grad_fn is not None
    assert (np.zeros(3) < t).dtype == bool and isinstance(np.zeros(3) == t, tg.Tensor)
    assert isinstance(np.eye(3) @ t, tg.Tensor)


# ---------------------------------------------------------------------------
# from_numpy, inference_mode, save and load
# ---------------------------------------------------------------------------


def test_from_numpy_shares_memory_and_keeps_the_dtype():
    array = np.zeros(3)
    t = tg.from_numpy(array)
    array[1] = 4.0
    assert t.dtype == np.float64 and t.data[1] == 4.0
    copied = tg.tensor(array, requires_grad=True)  # torch.tensor copies
    array[2] = 5.0
    assert copied.data[2] == 0.0 and copied.requires_grad and copied.dtype == np.float64
    with pytest.raises(TypeError, match="from_numpy: expected a numpy ndarray, got list"):
        tg.from_numpy([1.0])
    with pytest.raises(TypeError, match="from_numpy: unsupported dtype <U1"):
        tg.from_numpy(np.array(["a"]))


def test_inference_mode_records_nothing():
    w = tg.randn(2, requires_grad=True)
    with tg.inference_mode():
        assert not (w * 2).requires_grad
    with tg.inference_mode(False):
        assert (w * 2).requires_grad

    @tg.inference_mode()
    def predict(x):
        return x * w

    assert not predict(tg.ones(2)).requires_grad and tg.is_grad_enabled()
    with pytest.raises(TypeError, match="inference_mode: mode must be True or False"):
        tg.inference_mode("yes")


def test_save_and_load_round_trip(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    path = tmp_path / "model.npz"
    tg.save(model.state_dict(), path)
    state = tg.load(path)
    assert list(state) == list(model.state_dict())  # the order is kept
    for key, value in model.state_dict().items():
        assert isinstance(state[key], np.ndarray) and state[key].dtype == value.dtype
        np.testing.assert_array_equal(state[key], value)
    other = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    other.load_state_dict(state)
    np.testing.assert_array_equal(other[0].weight.data, model[0].weight.data)
    # Tensors come back as tensors, arrays as arrays; a lone tensor as a tensor.
    tg.save({"w": tg.ones(2, dtype=tg.float64), "steps": np.array(3)}, str(path))
    mixed = tg.load(str(path))
    assert isinstance(mixed["w"], tg.Tensor) and mixed["w"].dtype == np.float64
    assert isinstance(mixed["steps"], np.ndarray) and mixed["steps"] == 3
    tg.save({"file": tg.ones(1), "allow_pickle": np.zeros(1)}, path)  # the names of np.savez's own arguments
    assert list(tg.load(path)) == ["file", "allow_pickle"]
    tg.save(tg.arange(4), path)
    loaded = tg.load(path)
    assert isinstance(loaded, tg.Tensor) and loaded.data.tolist() == [0, 1, 2, 3] and loaded.dtype == np.int64
    # A plain numpy archive reader can read it (no pickle inside).
    with np.load(path, allow_pickle=False) as archive:
        assert archive["tensor"].tolist() == [0, 1, 2, 3]


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "state.npz"
    tg.save({"a": np.ones(2)}, path)
    before = path.read_bytes()

    def write_half_then_fail(member, array, allow_pickle):
        member.write(b"\x93NUMPY half an array")
        raise KeyboardInterrupt

    monkeypatch.setattr(np.lib.format, "write_array", write_half_then_fail)
    with pytest.raises(KeyboardInterrupt):
        tg.save({"a": np.zeros(2)}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["state.npz"]  # no temporary file left behind


def test_save_and_load_errors(tmp_path):
    path = tmp_path / "x.npz"
    with pytest.raises(TypeError, match="save: expected a Tensor or a dict of tensors .* got list"):
        tg.save([tg.ones(1)], path)
    with pytest.raises(TypeError, match="save: the keys of the dict must be strings, got int 3"):
        tg.save({3: tg.ones(1)}, path)
    with pytest.raises(ValueError, match="save: key '__kind__' is reserved"):
        tg.save({"__kind__": tg.ones(1)}, path)
    with pytest.raises(TypeError, match="save: the value of 'a' must be a Tensor or a numeric numpy array, got "
                                        "ndarray"):
        tg.save({"a": np.array([object()])}, path)
    with pytest.raises(FileNotFoundError, match="save: the folder .* does not exist"):
        tg.save(tg.ones(1), tmp_path / "missing" / "x.npz")
    with pytest.raises(FileNotFoundError, match="load: no such file"):
        tg.load(tmp_path / "nothing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="load: .*junk.npz' is not a file written by tinygrad_cnn.save"):
        tg.load(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", a=np.ones(2))
    with pytest.raises(ValueError, match="is an .npz archive, but not one written by tinygrad_cnn.save"):
        tg.load(tmp_path / "other.npz")
    np.save(tmp_path / "single.npy", np.ones(2))
    with pytest.raises(ValueError, match="holds a single .npy array"):
        tg.load(tmp_path / "single.npy")


# ---------------------------------------------------------------------------
# Modules: to, ModuleDict, inplace flags
# ---------------------------------------------------------------------------


def test_module_to():
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    assert model.to("cpu") is model and model[0].weight.dtype == np.float32
    model.to("cpu", tg.float64)
    assert model[0].weight.dtype == np.float64 and model[1].running_mean.dtype == np.float64
    assert model[1].num_batches_tracked.dtype == np.int64  # integer buffers are left alone
    model.to(dtype=tg.float32)
    assert model[0].weight.dtype == np.float32
    with pytest.raises(ValueError, match="to: device 'cuda' is not available"):
        model.to("cuda")
    with pytest.raises(TypeError, match="to: dtype must be floating point, got int64"):
        model.to(tg.int64)


def test_module_dict():
    heads = nn.ModuleDict({"digits": nn.Linear(4, 10)})
    heads["parity"] = nn.Linear(4, 2)
    heads.update([("sign", nn.Linear(4, 1))])
    assert list(heads) == ["digits", "parity", "sign"] and len(heads) == 3 and "parity" in heads
    assert [name for name, _ in heads.named_parameters()][:3] == ["digits.weight", "digits.bias", "parity.weight"]
    assert list(heads.state_dict())[-1] == "sign.bias"
    removed = heads.pop("parity")
    assert isinstance(removed, nn.Linear) and list(heads.keys()) == ["digits", "sign"]
    del heads["sign"]
    assert [type(m).__name__ for m in heads.values()] == ["Linear"] and heads.num_parameters() == 50
    with pytest.raises(KeyError, match="ModuleDict: no module named 'parity' \\(keys: 'digits'\\)"):
        heads["parity"]
    with pytest.raises(TypeError, match="ModuleDict: can only hold Modules, got a int for key 'x'"):
        heads["x"] = 3
    with pytest.raises((ValueError, KeyError), match="dot"):
        heads["a.b"] = nn.ReLU()
    assert "(digits): Linear" in repr(heads)


def test_inplace_flags_are_accepted_and_computed_out_of_place():
    x = tg.Tensor([-1.0, 2.0])
    for layer in (nn.ReLU(inplace=True), nn.LeakyReLU(0.1, inplace=True), nn.Dropout(0.5, inplace=True).eval()):
        out = layer(x)
        assert out is not x or isinstance(layer, nn.Dropout)
        assert "inplace=True" in repr(layer)
    np.testing.assert_array_equal(F.relu(x, inplace=True).data, [0.0, 2.0])
    np.testing.assert_array_equal(F.leaky_relu(x, 0.5, inplace=True).data, [-0.5, 2.0])
    assert F.dropout(x, 0.3, training=True, inplace=True) is not x
    np.testing.assert_array_equal(x.data, [-1.0, 2.0])  # the input keeps its values
    assert repr(nn.ReLU()).splitlines()[0] == "ReLU()"
    with pytest.raises(TypeError, match="ReLU: inplace must be True or False, got str 'yes'"):
        nn.ReLU("yes")
    with pytest.raises(TypeError, match="relu: inplace must be True or False"):
        F.relu(x, inplace=None)


# ---------------------------------------------------------------------------
# Adaptive average pooling
# ---------------------------------------------------------------------------


def test_adaptive_pool_windows_follow_pytorch_rule():
    # 5 cells to 3 outputs: [0, 2), [1, 4), [3, 5), start floor(i*5/3), end ceil((i+1)*5/3).
    matrix = adaptive_pool_matrix(5, 3, np.float64)
    np.testing.assert_allclose(matrix, [[1 / 2, 1 / 2, 0, 0, 0], [0, 1 / 3, 1 / 3, 1 / 3, 0], [0, 0, 0, 1 / 2, 1 / 2]])
    np.testing.assert_allclose(adaptive_pool_matrix(2, 4, np.float64), [[1, 0], [1, 0], [0, 1], [0, 1]])


ADAPTIVE_CASES = [
    ((2, 3, 6, 4), (3, 2)),  # sizes divide: windows of 2 x 2, like avg_pool2d(2)
    ((1, 2, 7, 5), (3, 2)),  # they do not: overlapping windows
    ((2, 1, 5, 5), 1),  # global average pooling
    ((1, 1, 3, 2), (5, 4)),  # larger than the input: cells repeat
    ((2, 2, 4, 6), (None, 4)),  # None keeps the height
    ((3, 5, 7), (2, 3)),  # (C, H, W) input
]


@pytest.mark.parametrize("shape, output_size", ADAPTIVE_CASES)
def test_adaptive_avg_pool2d_values_and_gradients(rng, shape, output_size):
    x = t64(rng.standard_normal(shape))
    out = F.adaptive_avg_pool2d(x, output_size)
    sizes = (output_size, output_size) if isinstance(output_size, int) else output_size
    out_h = shape[-2] if sizes[0] is None else sizes[0]
    out_w = shape[-1] if sizes[1] is None else sizes[1]
    assert out.shape == shape[:-2] + (out_h, out_w)
    # Each output cell is the mean of its window, computed directly.
    height, width = shape[-2:]
    for i in range(out_h):
        for j in range(out_w):
            top, bottom = i * height // out_h, -(-(i + 1) * height // out_h)
            left, right = j * width // out_w, -(-(j + 1) * width // out_w)
            window = x.data[..., top:bottom, left:right]
            np.testing.assert_allclose(out.data[..., i, j], window.mean(axis=(-2, -1)), rtol=1e-12)
    assert tg.gradcheck(lambda x: F.adaptive_avg_pool2d(x, output_size), [x])
    assert tg.gradgradcheck(lambda x: F.adaptive_avg_pool2d(x, output_size), [x])


def test_adaptive_avg_pool2d_equals_avg_pool2d_when_sizes_divide(rng):
    x = tg.Tensor(rng.standard_normal((2, 3, 8, 6)))
    np.testing.assert_allclose(F.adaptive_avg_pool2d(x, (4, 2)).data, F.avg_pool2d(x, (2, 3)).data, rtol=1e-12)


def test_adaptive_avg_pool2d_errors():
    x = tg.randn(1, 2, 4, 4)
    with pytest.raises(ValueError, match="adaptive_avg_pool2d: output_size must be positive, got 0"):
        F.adaptive_avg_pool2d(x, 0)
    with pytest.raises(TypeError, match="adaptive_avg_pool2d: output_size must be an int, got float 1.5"):
        F.adaptive_avg_pool2d(x, (1.5, 2))
    with pytest.raises(TypeError, match=r"adaptive_avg_pool2d: output_size must be an int or a pair"):
        F.adaptive_avg_pool2d(x, (1, 2, 3))
    with pytest.raises(ValueError, match=r"adaptive_avg_pool2d: input must be \(N, C, H, W\) or \(C, H, W\), got "
                                         r"shape \(4, 4\)"):
        F.adaptive_avg_pool2d(tg.randn(4, 4), 2)
    with pytest.raises(TypeError, match="adaptive_avg_pool2d: input must be a floating-point tensor"):
        F.adaptive_avg_pool2d(tg.zeros(1, 1, 2, 2, dtype=tg.int64), 1)
    with pytest.raises(ValueError, match=r"has an empty spatial axis"):
        F.adaptive_avg_pool2d(tg.zeros(1, 1, 0, 2), 1)
    with pytest.raises(ValueError, match="AdaptiveAvgPool2d: output_size must be positive"):
        nn.AdaptiveAvgPool2d((2, -1))
    layer = nn.AdaptiveAvgPool2d([2, None])
    assert repr(layer).splitlines()[0] == "AdaptiveAvgPool2d(output_size=(2, None))" and layer(x).shape == (1, 2, 2, 4)
    with pytest.raises(ValueError, match=r"AdaptiveAvgPool2d: expected input of shape \(N, C, H, W\) or \(C, H, W\)"):
        layer(tg.randn(4))


# ---------------------------------------------------------------------------
# Cross-entropy with class weights and label smoothing
# ---------------------------------------------------------------------------


def _reference_cross_entropy(logits, target, weight, smoothing, reduction, ignore_index=-100):
    """PyTorch's definition, written out in numpy (class-index targets)."""
    num_classes = logits.shape[1]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    weight = np.ones(num_classes) if weight is None else weight
    counted = target != ignore_index
    safe = np.where(counted, target, 0)
    picked = np.take_along_axis(log_p, np.expand_dims(safe, 1), axis=1).squeeze(1)
    nll = np.where(counted, -weight[safe] * picked, 0.0)
    weight_shape = (1, num_classes) + (1,) * (logits.ndim - 2)
    smooth = np.where(counted, -(log_p * weight.reshape(weight_shape)).sum(axis=1), 0.0)
    losses = (1 - smoothing) * nll + smoothing / num_classes * smooth
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / np.where(counted, weight[safe], 0).sum()


CE_CASES = [((6, 4), (6,)), ((3, 5, 2, 3), (3, 2, 3)), ((1, 2), (1,))]


@pytest.mark.parametrize("logit_shape, target_shape", CE_CASES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing, weighted", [(0.0, True), (0.25, False), (0.25, True), (1.0, True)])
def test_cross_entropy_weight_and_label_smoothing(rng, logit_shape, target_shape, reduction, smoothing, weighted):
    logits = rng.standard_normal(logit_shape) * 2
    target = rng.integers(0, logit_shape[1], target_shape)
    if target.size > 2:
        target.flat[1] = -100
    weight = rng.uniform(0.2, 3.0, logit_shape[1]) if weighted else None
    kwargs = {"weight": None if weight is None else tg.Tensor(weight), "label_smoothing": smoothing,
              "reduction": reduction}
    out = F.cross_entropy(tg.Tensor(logits), target, **kwargs)
    np.testing.assert_allclose(out.data, _reference_cross_entropy(logits, target, weight, smoothing, reduction),
                               rtol=1e-10)
    module = nn.CrossEntropyLoss(**kwargs)
    np.testing.assert_allclose(module(tg.Tensor(logits), target).data, out.data, rtol=1e-12)
    x = t64(logits)
    assert tg.gradcheck(lambda x: F.cross_entropy(x, target, **kwargs), [x])
    assert tg.gradgradcheck(lambda x: F.cross_entropy(x, target, **kwargs), [x])


@pytest.mark.parametrize("logit_shape", [(5, 3), (2, 4, 3)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_soft_targets_with_weight_and_smoothing(rng, logit_shape, reduction):
    logits = rng.standard_normal(logit_shape)
    probabilities = rng.dirichlet(np.ones(logit_shape[1]), (logit_shape[0],) + logit_shape[2:])
    probabilities = np.moveaxis(probabilities, -1, 1)
    weight = rng.uniform(0.5, 2, logit_shape[1])
    x, y = t64(logits), t64(probabilities)
    kwargs = {"weight": weight, "label_smoothing": 0.2, "reduction": reduction}
    smoothed = probabilities * 0.8 + 0.2 / logit_shape[1]
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    per_sample = -(smoothed * weight.reshape((1, -1) + (1,) * (len(logit_shape) - 2)) * log_p).sum(axis=1)
    expected = {"none": per_sample, "sum": per_sample.sum(), "mean": per_sample.mean()}[reduction]
    np.testing.assert_allclose(F.cross_entropy(x, y, **kwargs).data, expected, rtol=1e-10)
    assert tg.gradcheck(lambda x, y: F.cross_entropy(x, y, **kwargs), [x, y])
    assert tg.gradgradcheck(lambda x, y: F.cross_entropy(x, y, **kwargs), [x, y])


def test_nll_loss_weight(rng):
    logits = rng.standard_normal((5, 3))
    target = np.array([0, 2, 1, -100, 2])
    weight = np.array([0.5, 2.0, 1.5])
    log_p = F.log_softmax(t64(logits), dim=1)
    out = F.nll_loss(log_p, target, tg.Tensor(weight))
    np.testing.assert_allclose(out.data, _reference_cross_entropy(logits, target, weight, 0.0, "mean"), rtol=1e-10)
    module = nn.NLLLoss(weight=tg.Tensor(weight), reduction="sum")
    np.testing.assert_allclose(module(log_p, target).data, _reference_cross_entropy(logits, target, weight, 0, "sum"))
    x = t64(logits)
    assert tg.gradcheck(lambda x: F.nll_loss(F.log_softmax(x, dim=1), target, weight), [x])


def test_weighted_cross_entropy_errors():
    x, target = tg.randn(4, 3), np.array([0, 1, 2, 0])
    with pytest.raises(ValueError, match=r"cross_entropy: weight must have one entry per class, shape \(3,\) for "
                                         r"input of shape \(4, 3\), got \(4,\)"):
        F.cross_entropy(x, target, weight=np.ones(4))
    with pytest.raises(ValueError, match=r"cross_entropy: label_smoothing must be in \[0, 1\], got 1.5"):
        F.cross_entropy(x, target, label_smoothing=1.5)
    with pytest.raises(TypeError, match="cross_entropy: label_smoothing must be a number, got str"):
        F.cross_entropy(x, target, label_smoothing="0.1")
    with pytest.raises(ValueError, match="cross_entropy: weight requires grad, but class weights are constants"):
        F.cross_entropy(x, target, weight=tg.ones(3, requires_grad=True))
    with pytest.raises(TypeError, match="nll_loss: weight must hold numbers, got dtype bool"):
        F.nll_loss(x, target, np.ones(3, dtype=bool))
    # Every target ignored: the mean is nan, as in PyTorch, and the gradient is 0, not nan.
    w = tg.randn(2, 3, requires_grad=True)
    loss = F.cross_entropy(w, np.array([-100, -100]), weight=np.ones(3), label_smoothing=0.1)
    loss.backward()
    assert np.isnan(loss.item()) and (w.grad.data == 0).all()


# ---------------------------------------------------------------------------
# The model summary
# ---------------------------------------------------------------------------


def test_summary_of_lenet(capsys):
    from tinygrad_cnn.models import build_model

    model = build_model("lenet_bn")
    model.train()
    result = tg.summary(model, (2, 1, 28, 28))
    printed = capsys.readouterr().out
    assert printed.strip() == str(result)
    rows = {row.name: row for row in result.rows}
    assert rows["conv1"].output_shapes == [(2, 32, 28, 28)] and rows["conv1"].num_params == 32 * 9
    assert rows["bn1"].num_params == 64 and rows["pool2"].output_shapes == [(2, 64, 7, 7)]
    assert rows["fc2"].output_shapes == [(2, 10)] and rows[""].type_name == "LeNet" and rows[""].num_params is None
    assert result.total_params == model.num_parameters() == 421_738
    assert sum(row.num_params for row in result.rows if row.num_params is not None) == result.total_params
    assert model.training and model.bn1.training  # the mode is restored
    assert "  conv2 (Conv2d)" in printed and "Total params: 421,738" in printed


def test_summary_of_nested_modules_and_frozen_parameters():
    model = nn.Sequential(nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU()), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(4, 2))
    model[0][0].requires_grad_(False)
    result = tg.summary(model, (1, 3, 9, 9), verbose=False)
    assert [(row.name, row.depth) for row in result.rows] == [
        ("", 0), ("0", 1), ("0.0", 2), ("0.1", 2), ("1", 1), ("2", 1), ("3", 1)]
    assert result.rows[4].output_shapes == [(1, 4, 1, 1)] and result.rows[1].num_params is None
    assert result.trainable_params == 10 and result.non_trainable_params == 4 * 3 * 9 + 4
    assert "Non-trainable params: 112" in str(result)


def test_summary_errors():
    with pytest.raises(TypeError, match="summary: model must be an nn.Module, got function"):
        tg.summary(lambda x: x, (1, 2))
    with pytest.raises(TypeError, match=r"summary: input_shape must be a tuple of positive ints including the batch "
                                        r"axis, e.g. \(1, 1, 28, 28\), got \(1, 0\)"):
        tg.summary(nn.Linear(2, 3), (1, 0))
    with pytest.raises(ValueError, match=r"summary: the model does not accept an input of shape \(1, 5\): linear: "
                                         r"input of shape \(1, 5\) does not match"):
        tg.summary(nn.Linear(2, 3), (1, 5), verbose=False)


def test_graph_command_prints_the_summary(capsys):
    assert main(["graph", "--model", "lenet", "--summary"]) == 0
    printed = capsys.readouterr().out
    assert "conv1 (Conv2d)      (2, 32, 28, 28)" in printed and "Total params: 421,642" in printed
    assert main(["graph", "--model", "mlp", "--summary", "--batch-size", "5"]) == 0
    assert "Input: (5, 1, 28, 28)" in capsys.readouterr().out
    # Usage errors are one line on stderr and exit status 2.
    for arguments, message in ((["--example", "tiny-cnn"], "--summary needs --model NAME"),
                               (["--model", "lenet", "-o", "x.svg"], "--summary prints a table: it takes no -o")):
        assert main(["graph", *arguments, "--summary"]) == 2
        error = capsys.readouterr().err
        assert message in error and len(error.strip().splitlines()) == 1
    assert main(["graph", "--model", "resnet", "--summary"]) == 2
    assert "unknown model 'resnet'" in capsys.readouterr().err
