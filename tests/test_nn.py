"""Tests of tinygrad_cnn.nn: Module bookkeeping, the layers, the loss modules
and nn.init."""

import math
from collections import OrderedDict

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import functional as F
from tinygrad_cnn import nn
from tinygrad_cnn.nn import init

# ---------------------------------------------------------------------------
# Models used by several tests
# ---------------------------------------------------------------------------


class Block(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x):
        return self.bn(self.conv(x)).relu()


class Net(nn.Module):
    def __init__(self, conv1_channels=4):
        super().__init__()
        self.conv1 = nn.Conv2d(1, conv1_channels, 3, padding=1)
        self.features = nn.Sequential(Block(conv1_channels), nn.MaxPool2d(2))
        self.flatten = nn.Flatten()
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(conv1_channels * 3 * 3, 5)

    def forward(self, x):
        x = self.conv1(x).relu()
        x = self.features(x)
        return self.fc(self.drop(self.flatten(x)))


def count(*shapes):
    return sum(math.prod(s) for s in shapes)


# ---------------------------------------------------------------------------
# Registration and names
# ---------------------------------------------------------------------------


def test_named_parameters_have_dotted_names():
    net = Net()
    names = [name for name, _ in net.named_parameters()]
    assert names == [
        "conv1.weight", "conv1.bias",
        "features.0.conv.weight", "features.0.bn.weight", "features.0.bn.bias",
        "fc.weight", "fc.bias",
    ]
    # Each parameter knows its own path as soon as the model is built.
    assert net.conv1.weight.name == "conv1.weight"
    assert net.features[0].conv.weight.name == "features.0.conv.weight"
    assert net.features[0].bn.running_mean.name == "features.0.bn.running_mean"
    assert [p is q for p, (_, q) in zip(net.parameters(), net.named_parameters(), strict=True)] == [True] * 7


def test_names_when_built_top_down():
    # The block is attached to the root before its own layer is: names are
    # fixed on the first call (or named_parameters).
    root = nn.Module()
    root.block = nn.Module()
    root.block.fc = nn.Linear(2, 3)
    root.forward = lambda x: root.block.fc(x)
    root(tg.ones(1, 2))
    assert root.block.fc.weight.name == "block.fc.weight"


def test_children_and_modules():
    net = Net()
    assert [name for name, _ in net.named_children()] == ["conv1", "features", "flatten", "drop", "fc"]
    assert list(net.children())[0] is net.conv1
    paths = [path for path, _ in net.named_modules()]
    assert paths == ["", "conv1", "features", "features.0", "features.0.conv", "features.0.bn", "features.1",
                     "flatten", "drop", "fc"]
    assert len(list(net.modules())) == 10
    assert [name for name, _ in net.named_buffers()] == [
        "features.0.bn.running_mean", "features.0.bn.running_var", "features.0.bn.num_batches_tracked",
    ]


def test_shared_parameter_is_listed_once():
    a = nn.Linear(3, 3)
    model = nn.Sequential(a, nn.ReLU(), a)
    assert len(list(model.parameters())) == 2


def test_reassigning_and_deleting_attributes():
    m = nn.Module()
    m.layer = nn.Linear(2, 2)
    m.layer = nn.Identity()  # replaces the registered Linear
    assert list(m.parameters()) == []
    m.w = nn.Parameter(np.zeros(3))
    assert [name for name, _ in m.named_parameters()] == ["w"]
    with pytest.raises(TypeError, match="cannot assign a ndarray to parameter 'w'"):
        m.w = np.zeros(3)
    m.w = None  # allowed: an optional parameter
    assert list(m.parameters()) == []
    del m.layer
    assert not hasattr(m, "layer")
    with pytest.raises(AttributeError, match="has no attribute 'missing'"):
        m.missing  # noqa: B018


def test_forgetting_super_init_is_explained():
    class Broken(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match=r"call super\(\).__init__\(\) first"):
        Broken()


def test_parameter_basics():
    p = nn.Parameter([1.0, 2.0])
    assert p.requires_grad and p.dtype == np.float32 and p.is_leaf
    assert nn.Parameter(np.zeros(2)).dtype == np.float64  # numpy arrays keep their dtype
    assert "Parameter containing" in repr(p)
    with pytest.raises(TypeError, match="Parameter: data must be floating point"):
        nn.Parameter(np.arange(3))


def test_register_buffer_and_parameter_checks():
    m = nn.Module()
    m.register_buffer("scale", tg.ones(2))
    m.register_buffer("scratch", tg.zeros(2), persistent=False)
    assert list(m.state_dict()) == ["scale"]
    assert m.scale.name == "scale"
    with pytest.raises(TypeError, match="register_buffer: 'bad' must be a Tensor"):
        m.register_buffer("bad", np.zeros(2))
    with pytest.raises(TypeError, match="register_parameter: 'bad' must be a Parameter"):
        m.register_parameter("bad", tg.zeros(2))
    with pytest.raises(TypeError, match="add_module: 'bad' must be a Module"):
        m.add_module("bad", 3)


# ---------------------------------------------------------------------------
# Calling: module scopes recorded on the graph
# ---------------------------------------------------------------------------


def test_ops_are_tagged_with_the_module_path():
    net = Net()
    x = tg.randn(2, 1, 6, 6)
    out = net(x)
    modules = set()
    stack = [out]
    seen = set()
    while stack:
        t = stack.pop()
        if id(t) in seen or t.grad_fn is None:
            continue
        seen.add(id(t))
        modules.add(t.grad_fn.module)
        stack.extend(t.grad_fn.parents)
    assert {"conv1", "features.0.conv", "features.0.bn", "features.1", "flatten", "drop", "fc"} <= modules
    # The root's own ops (the relu in Net.forward) have no module.
    assert None in modules
    assert out.grad_fn.module == "fc"


def test_sequential_tags_children_by_index():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh())
    out = model(tg.randn(2, 3))
    assert out.grad_fn.module == "1"
    assert out.grad_fn.parents[0].grad_fn.module == "0"


# ---------------------------------------------------------------------------
# Modes and gradients
# ---------------------------------------------------------------------------


def test_train_and_eval_reach_every_module():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_zero_grad_and_requires_grad():
    net = Net()
    net(tg.randn(2, 1, 6, 6)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.conv1.requires_grad_(False)
    assert net.num_parameters(trainable_only=True) == net.num_parameters() - count((4, 1, 3, 3), (4,))


def test_to_double_casts_parameters_and_buffers():
    net = Net().double()
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert net.features[0].bn.running_var.dtype == np.float64
    assert net.features[0].bn.num_batches_tracked.dtype == np.int64
    assert net(tg.Tensor(np.zeros((1, 1, 6, 6)))).dtype == np.float64
    with pytest.raises(TypeError, match="to: dtype must be floating point"):
        net.to(np.int32)


# ---------------------------------------------------------------------------
# state_dict / load_state_dict
# ---------------------------------------------------------------------------


def test_state_dict_keys_and_copies():
    net = Net()
    state = net.state_dict()
    assert isinstance(state, OrderedDict)
    assert list(state) == [
        "conv1.weight", "conv1.bias", "features.0.conv.weight", "features.0.bn.weight", "features.0.bn.bias",
        "features.0.bn.running_mean", "features.0.bn.running_var", "features.0.bn.num_batches_tracked",
        "fc.weight", "fc.bias",
    ]
    assert all(isinstance(v, np.ndarray) for v in state.values())
    state["conv1.weight"][...] = 123.0
    assert not np.any(net.conv1.weight.data == 123.0)


def test_state_dict_round_trip_reproduces_outputs():
    tg.manual_seed(1)
    a = Net()
    a(tg.randn(4, 1, 6, 6))  # training mode: updates the running statistics
    tg.manual_seed(2)
    b = Net()
    weight_array = b.conv1.weight.data
    b.load_state_dict(a.state_dict())
    assert b.conv1.weight.data is weight_array  # loaded in place
    a.eval()
    b.eval()
    x = tg.randn(3, 1, 6, 6)
    np.testing.assert_array_equal(a(x).data, b(x).data)
    assert b.features[0].bn.num_batches_tracked.item() == 1


def test_strict_load_names_missing_unexpected_and_shapes():
    small, big = Net(conv1_channels=4), Net(conv1_channels=8)
    before = [p.data.copy() for p in small.parameters()]
    state = big.state_dict()
    state["extra.weight"] = np.zeros(2)
    del state["fc.bias"]
    with pytest.raises(ValueError) as error:
        small.load_state_dict(state)
    message = str(error.value)
    assert "load_state_dict" in message
    assert "missing keys: fc.bias" in message
    assert "unexpected keys: extra.weight" in message
    assert "conv1.weight: checkpoint (8, 1, 3, 3) vs model (4, 1, 3, 3)" in message
    assert "fc.weight: checkpoint (5, 72) vs model (5, 36)" in message
    # Nothing was changed.
    for old, p in zip(before, small.parameters(), strict=True):
        np.testing.assert_array_equal(old, p.data)


@pytest.mark.parametrize("strict", [True, False])
def test_load_state_dict_names_keys_that_are_not_str(strict):
    model = nn.Linear(3, 2)
    state = {**model.state_dict(), 5: np.zeros(1), ("fc", 1): np.zeros(1)}
    before = model.weight.data.copy()
    with pytest.raises(TypeError, match=r"keys of a state dict are dotted names .*got int 5, tuple \('fc', 1\)"):
        model.load_state_dict(state, strict=strict)
    assert np.array_equal(model.weight.data, before)


def test_load_state_dict_takes_torch_parameters_and_tensors():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = torch.nn.Linear(3, 2)
    ours = nn.Linear(3, 2)
    # Parameters (they require grad: numpy cannot read them directly), then a state dict of plain tensors.
    ours.load_state_dict(dict(theirs.named_parameters()))
    assert np.array_equal(ours.weight.data, theirs.weight.detach().numpy())
    assert ours.weight.dtype == np.float32 and theirs.weight.requires_grad
    ours.load_state_dict({"weight": torch.ones(2, 3, dtype=torch.float64), "bias": torch.zeros(2)})
    assert ours.weight.dtype == np.float32 and np.array_equal(ours.weight.data, np.ones((2, 3)))
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    ours.load_state_dict(theirs.state_dict())
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    assert np.allclose(ours(tg.Tensor(x)).data, expected, atol=1e-6)


def test_load_state_dict_names_a_torch_tensor_numpy_cannot_hold():
    torch = pytest.importorskip("torch")
    ours = nn.Linear(3, 2)
    before = ours.bias.data.copy()
    state = {"weight": torch.zeros(2, 3), "bias": torch.zeros(2, dtype=torch.bfloat16)}
    with pytest.raises(ValueError, match=r"bias: cannot convert the PyTorch Tensor to a numpy array"):
        ours.load_state_dict(state)
    assert np.array_equal(ours.bias.data, before)


def test_non_strict_load_skips_and_reports_keys():
    net = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    other = nn.Sequential(nn.Linear(2, 3))
    result = net.load_state_dict({**other.state_dict(), "9.weight": np.zeros(1)}, strict=False)
    assert result.missing_keys == ["1.weight", "1.bias"]
    assert result.unexpected_keys == ["9.weight"]
    np.testing.assert_array_equal(net[0].weight.data, other[0].weight.data)
    # Shape mismatches are errors even when not strict.
    with pytest.raises(ValueError, match=r"0.weight: checkpoint \(3, 2\) vs model \(4, 2\)"):
        nn.Sequential(nn.Linear(2, 4)).load_state_dict(other.state_dict(), strict=False)
    with pytest.raises(TypeError, match="load_state_dict: expected a dict"):
        net.load_state_dict([1, 2])


# ---------------------------------------------------------------------------
# repr
# ---------------------------------------------------------------------------


def test_repr_lists_layers_and_parameter_count():
    net = Net()
    text = repr(net)
    assert text.splitlines()[0] == "Net("
    assert "  (conv1): Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))" in text
    assert "    (0): Block(" in text
    assert "      (conv): Conv2d(4, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)" in text
    assert "(fc): Linear(in_features=36, out_features=5, bias=True)" in text
    assert "(drop): Dropout(p=0.5)" in text
    expected = count((4, 1, 3, 3), (4,), (4, 4, 3, 3), (4,), (4,), (5, 36), (5,))
    assert net.num_parameters() == expected
    assert text.splitlines()[-1] == f"Total parameters: {expected:,}"
    assert repr(nn.ReLU()).splitlines()[0] == "ReLU()"


# ---------------------------------------------------------------------------
# Containers
# ---------------------------------------------------------------------------


def test_sequential_indexing_and_iteration():
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)]
    model = nn.Sequential(*layers)
    assert len(model) == 3
    assert list(model) == layers
    assert model[0] is layers[0] and model[-1] is layers[2]
    head = model[:2]
    assert isinstance(head, nn.Sequential) and list(head) == layers[:2]
    assert head(tg.ones(4, 2)).shape == (4, 3)
    model.append(nn.Sigmoid())
    assert len(model) == 4 and [n for n, _ in model.named_children()] == ["0", "1", "2", "3"]
    with pytest.raises(IndexError, match="index 7 is out of range for 4 modules"):
        model[7]
    with pytest.raises(TypeError, match="Sequential: argument 1 is a int, not a Module"):
        nn.Sequential(nn.ReLU(), 3)
    named = nn.Sequential(OrderedDict([("encoder", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert [n for n, _ in named.named_parameters()] == ["encoder.weight", "encoder.bias"]


def test_module_list_registers_its_items():
    blocks = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(blocks) == 3 and len(list(blocks.parameters())) == 6
    assert blocks[1].weight.name == "1.weight"
    with pytest.raises(TypeError, match="ModuleList: can only hold Modules"):
        blocks.append("x")


# ---------------------------------------------------------------------------
# Layers: shapes and behaviour
# ---------------------------------------------------------------------------


def test_linear_shapes():
    fc = nn.Linear(5, 3)
    assert fc.weight.shape == (3, 5) and fc.bias.shape == (3,)
    assert fc(tg.randn(4, 5)).shape == (4, 3)
    assert fc(tg.randn(2, 4, 5)).shape == (2, 4, 3)
    x = tg.randn(4, 5)
    np.testing.assert_allclose(fc(x).data, x.data @ fc.weight.data.T + fc.bias.data, rtol=1e-6)
    assert nn.Linear(5, 3, bias=False).bias is None
    assert len(list(nn.Linear(5, 3, bias=False).parameters())) == 1


@pytest.mark.parametrize(
    "kwargs, in_hw, out_hw",
    [
        (dict(kernel_size=3), (7, 5), (5, 3)),
        (dict(kernel_size=3, padding=1), (7, 5), (7, 5)),
        (dict(kernel_size=(3, 1), stride=2, padding=(1, 0)), (8, 5), (4, 3)),
        (dict(kernel_size=3, dilation=2), (9, 9), (5, 5)),
        (dict(kernel_size=1, groups=2), (3, 4), (3, 4)),
    ],
)
def test_conv2d_shapes(kwargs, in_hw, out_hw):
    conv = nn.Conv2d(4, 6, **kwargs)
    groups = kwargs.get("groups", 1)
    assert conv.weight.shape == (6, 4 // groups) + conv.kernel_size
    assert conv(tg.randn(2, 4, *in_hw)).shape == (2, 6) + out_hw


@pytest.mark.parametrize(
    "kwargs, in_hw, out_hw",
    [
        (dict(kernel_size=3), (4, 5), (6, 7)),
        (dict(kernel_size=2, stride=2), (4, 5), (8, 10)),
        (dict(kernel_size=3, stride=2, padding=1, output_padding=1), (4, 5), (8, 10)),
    ],
)
def test_conv_transpose2d_shapes(kwargs, in_hw, out_hw):
    deconv = nn.ConvTranspose2d(4, 6, **kwargs)
    assert deconv.weight.shape == (4, 6) + deconv.kernel_size
    assert deconv(tg.randn(2, 4, *in_hw)).shape == (2, 6) + out_hw


def test_pooling_shapes_and_values():
    x = tg.randn(2, 3, 6, 5)
    assert nn.MaxPool2d(2)(x).shape == (2, 3, 3, 2)
    assert nn.MaxPool2d(3, stride=1, padding=1)(x).shape == (2, 3, 6, 5)
    assert nn.AvgPool2d(2)(x).shape == (2, 3, 3, 2)
    window = x.data[:, :, :2, :2]
    np.testing.assert_allclose(nn.MaxPool2d(2)(x).data[:, :, 0, 0], window.max(axis=(2, 3)))
    np.testing.assert_allclose(nn.AvgPool2d(2)(x).data[:, :, 0, 0], window.mean(axis=(2, 3)), rtol=1e-6)


def test_activations():
    x = tg.Tensor(np.array([[-2.0, -0.5, 0.0, 1.5]]))
    np.testing.assert_allclose(nn.ReLU()(x).data, [[0, 0, 0, 1.5]])
    np.testing.assert_allclose(nn.LeakyReLU(0.1)(x).data, [[-0.2, -0.05, 0, 1.5]])
    np.testing.assert_allclose(nn.Sigmoid()(x).data, 1 / (1 + np.exp(-x.data)))
    np.testing.assert_allclose(nn.Tanh()(x).data, np.tanh(x.data))
    assert nn.Identity(3, foo=1)(x) is x


def test_softmax_dim_and_axis():
    x = tg.randn(3, 4, 5)
    for layer, axis in [(nn.Softmax(), -1), (nn.Softmax(dim=1), 1), (nn.Softmax(axis=0), 0)]:
        out = layer(x).data
        np.testing.assert_allclose(out.sum(axis=axis), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.exp(nn.LogSoftmax(dim=1)(x).data), nn.Softmax(dim=1)(x).data, rtol=1e-5)
    with pytest.raises(TypeError, match="Softmax: give axis .* or dim .*, not both"):
        nn.Softmax(dim=0, axis=1)


def test_flatten():
    x = tg.randn(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0)(x).shape == (120,)
    assert nn.Flatten(1, 2)(x).shape == (2, 12, 5)


def test_dropout_train_and_eval():
    drop = nn.Dropout(0.3)
    x = tg.ones(200, 100)
    out = drop(x).data
    dropped = np.mean(out == 0)
    assert abs(dropped - 0.3) < 0.02
    np.testing.assert_allclose(out[out != 0], 1 / 0.7, rtol=1e-6)  # the kept ones are scaled up
    drop.eval()
    assert drop(x) is x
    with pytest.raises(ValueError, match=r"Dropout: p is the probability .* got 1.5"):
        nn.Dropout(1.5)


def test_batch_norm_train_uses_batch_statistics_and_updates_running_ones(rng):
    bn = nn.BatchNorm2d(3)
    x = tg.Tensor((rng.standard_normal((8, 3, 4, 4)) * 2 + 5).astype(np.float32))
    out = bn(x).data
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(out.var(axis=(0, 2, 3)), 1, rtol=1e-3)
    mean = x.data.mean(axis=(0, 2, 3))
    unbiased_var = x.data.var(axis=(0, 2, 3), ddof=1)
    np.testing.assert_allclose(bn.running_mean.data, 0.9 * 0 + 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.data, 0.9 * 1 + 0.1 * unbiased_var, rtol=1e-5)
    assert bn.num_batches_tracked.item() == 1


def test_batch_norm_eval_uses_running_statistics(rng):
    bn = nn.BatchNorm2d(3)
    bn.running_mean.data[...] = [1.0, 2.0, 3.0]
    bn.running_var.data[...] = [4.0, 1.0, 0.25]
    bn.weight.data[...] = [1.0, 2.0, 3.0]
    bn.bias.data[...] = [0.0, 0.5, -1.0]
    bn.eval()
    x = tg.Tensor(rng.standard_normal((2, 3, 2, 2)).astype(np.float32))
    shape = (1, 3, 1, 1)
    expected = (x.data - bn.running_mean.data.reshape(shape)) / np.sqrt(bn.running_var.data.reshape(shape) + 1e-5)
    expected = expected * bn.weight.data.reshape(shape) + bn.bias.data.reshape(shape)
    np.testing.assert_allclose(bn(x).data, expected, rtol=1e-5, atol=1e-6)
    # Evaluation leaves the running statistics alone, and one example's
    # output does not depend on the rest of the batch.
    assert bn.num_batches_tracked.item() == 0
    np.testing.assert_allclose(bn(x[:1]).data, expected[:1], rtol=1e-5, atol=1e-6)


def test_batch_norm_cumulative_average_and_no_tracking(rng):
    bn = nn.BatchNorm1d(2, momentum=None)
    batches = [rng.standard_normal((5, 2)).astype(np.float32) + k for k in range(3)]
    for batch in batches:
        bn(tg.Tensor(batch))
    np.testing.assert_allclose(bn.running_mean.data, np.mean([b.mean(axis=0) for b in batches], axis=0), rtol=1e-5)
    free = nn.BatchNorm1d(2, affine=False, track_running_stats=False).eval()
    assert list(free.parameters()) == [] and list(free.state_dict()) == []
    out = free(tg.Tensor(batches[0])).data  # batch statistics even in eval mode
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-5)
    assert nn.BatchNorm1d(2)(tg.randn(4, 2, 7)).shape == (4, 2, 7)


def test_batch_norm_gradcheck(rng):
    bn = nn.BatchNorm2d(2).double()
    bn.weight.data[...] = rng.standard_normal(2)
    bn.bias.data[...] = rng.standard_normal(2)
    x = tg.Tensor(rng.standard_normal((3, 2, 2, 3)), requires_grad=True)
    assert tg.gradcheck(lambda x, w, b: bn(x), [x, bn.weight, bn.bias])
    bn.eval()
    assert tg.gradcheck(lambda x, w, b: bn(x), [x, bn.weight, bn.bias])


def test_model_gradcheck_through_every_layer(rng):
    model = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1), nn.LeakyReLU(0.2), nn.AvgPool2d(2),
        nn.ConvTranspose2d(3, 2, 2, stride=2), nn.Tanh(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 3),
        nn.Sigmoid(),
    ).double()
    x = tg.Tensor(rng.standard_normal((2, 2, 4, 4)), requires_grad=True)
    params = list(model.parameters())
    assert tg.gradcheck(lambda x, *ps: model(x), [x, *params], fast_mode=True)


def test_loss_modules_match_functional(rng):
    logits = tg.Tensor(rng.standard_normal((6, 4)).astype(np.float32))
    labels = rng.integers(0, 4, size=6)
    np.testing.assert_allclose(nn.CrossEntropyLoss()(logits, labels).data, F.cross_entropy(logits, labels).data)
    summed = nn.CrossEntropyLoss(reduction="sum")(logits, labels).data
    np.testing.assert_allclose(summed, F.cross_entropy(logits, labels, reduction="sum").data)
    log_probs = F.log_softmax(logits)
    np.testing.assert_allclose(nn.NLLLoss(ignore_index=1)(log_probs, labels).data,
                               F.nll_loss(log_probs, labels, ignore_index=1).data)
    target = rng.random((6, 4)).astype(np.float32)
    np.testing.assert_allclose(nn.MSELoss(reduction="none")(logits, target).data,
                               (logits.data - target) ** 2, rtol=1e-6)
    probs = F.sigmoid(logits)
    weight = tg.Tensor(rng.random(4).astype(np.float32))
    np.testing.assert_allclose(nn.BCELoss(weight)(probs, target).data,
                               F.binary_cross_entropy(probs, target, weight).data)
    pos_weight = tg.Tensor(rng.random(4).astype(np.float32) + 0.5)
    np.testing.assert_allclose(nn.BCEWithLogitsLoss(pos_weight=pos_weight)(logits, target).data,
                               F.binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight).data)
    assert repr(nn.MSELoss(reduction="sum")).startswith("MSELoss(reduction='sum')")
    with pytest.raises(ValueError, match="CrossEntropyLoss: reduction must be 'mean', 'sum' or 'none'"):
        nn.CrossEntropyLoss(reduction="avg")


# ---------------------------------------------------------------------------
# Layers against PyTorch (same weights via state_dict)
# ---------------------------------------------------------------------------


def test_layers_match_torch_with_loaded_weights(rng):
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    theirs = tnn.Sequential(
        tnn.Conv2d(2, 4, 3, stride=2, padding=1), tnn.BatchNorm2d(4), tnn.ReLU(),
        tnn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1), tnn.MaxPool2d(2),
        tnn.AvgPool2d(2), tnn.Flatten(), tnn.Linear(12, 5), tnn.Softmax(dim=1),
    ).double()
    ours = nn.Sequential(
        nn.Conv2d(2, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1), nn.MaxPool2d(2),
        nn.AvgPool2d(2), nn.Flatten(), nn.Linear(12, 5), nn.Softmax(dim=1),
    ).double()
    # The state dict keys are the same as PyTorch's, so its weights load directly.
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = rng.standard_normal((3, 2, 8, 8))
    for mode in ("train", "eval"):
        getattr(theirs, mode)()
        getattr(ours, mode)()
        expected = theirs(torch.tensor(x)).detach().numpy()
        np.testing.assert_allclose(ours(tg.Tensor(x)).data, expected, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ours[1].running_var.data, theirs[1].running_var.numpy(), rtol=1e-10)


# ---------------------------------------------------------------------------
# Initialisation
# ---------------------------------------------------------------------------


def test_default_init_is_kaiming_uniform_with_bound_one_over_sqrt_fan_in():
    fc = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w = fc.weight.data
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound  # U(-b, b) has std b / sqrt(3)
    assert abs(w.mean()) < 0.01 * bound
    assert np.abs(fc.bias.data).max() <= bound
    conv = nn.Conv2d(8, 16, 3)
    conv_bound = 1 / math.sqrt(8 * 9)  # fan_in = in_channels * kh * kw
    assert np.abs(conv.weight.data).max() <= conv_bound and np.abs(conv.bias.data).max() <= conv_bound
    deconv = nn.ConvTranspose2d(8, 16, 3)
    deconv_bound = 1 / math.sqrt(16 * 9)  # weight (in, out, kh, kw): fan_in is its axis 1
    assert np.abs(deconv.weight.data).max() <= deconv_bound
    assert np.abs(deconv.weight.data).max() > 0.95 * deconv_bound


def test_init_is_reproducible_with_manual_seed():
    tg.manual_seed(42)
    a = Net()
    tg.manual_seed(42)
    b = Net()
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data)
    assert not np.array_equal(Net().conv1.weight.data, a.conv1.weight.data)


def test_calculate_gain():
    assert init.calculate_gain("linear") == 1.0
    assert init.calculate_gain("conv2d") == 1.0
    assert init.calculate_gain("sigmoid") == 1.0
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01**2)))
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")


def test_fans():
    assert init.calculate_fan_in_and_fan_out(tg.zeros(16, 8, 3, 5)) == (8 * 15, 16 * 15)
    assert init.calculate_fan_in_and_fan_out(tg.zeros(30, 20)) == (20, 30)
    with pytest.raises(ValueError, match=r"fewer than 2 dimensions, got shape \(5,\)"):
        init.kaiming_uniform_(tg.zeros(5))


@pytest.mark.parametrize(
    "fill, shape, expected_std, expected_bound",
    [
        (lambda t: init.kaiming_uniform_(t, nonlinearity="relu"), (256, 64, 3, 3),
         math.sqrt(2 / 576), math.sqrt(6 / 576)),
        (lambda t: init.kaiming_uniform_(t, mode="fan_out", nonlinearity="relu"), (256, 64, 3, 3),
         math.sqrt(2 / 2304), math.sqrt(6 / 2304)),
        (lambda t: init.kaiming_normal_(t, nonlinearity="relu"), (256, 64, 3, 3), math.sqrt(2 / 576), None),
        (lambda t: init.kaiming_normal_(t, a=0.2, mode="fan_out"), (512, 300),
         math.sqrt(2 / 1.04) / math.sqrt(512), None),
        (lambda t: init.xavier_uniform_(t), (300, 500), math.sqrt(2 / 800), math.sqrt(6 / 800)),
        (lambda t: init.xavier_normal_(t, gain=2.0), (300, 500), 2 * math.sqrt(2 / 800), None),
        (lambda t: init.uniform_(t, -3.0, 1.0), (400, 300), 4 / math.sqrt(12), None),
        (lambda t: init.normal_(t, 0.0, 0.5), (400, 300), 0.5, None),
    ],
)
def test_init_statistics(fill, shape, expected_std, expected_bound):
    t = tg.zeros(*shape)
    assert fill(t) is t
    assert t.dtype == np.float32
    assert abs(t.data.std() - expected_std) < 0.02 * expected_std
    if expected_bound is not None:
        assert np.abs(t.data).max() <= expected_bound * (1 + 1e-6)
        assert np.abs(t.data).max() > 0.99 * expected_bound


def test_constant_fills_and_errors():
    t = tg.Tensor(np.empty((3, 2)))
    assert init.zeros_(t).data.sum() == 0
    assert init.ones_(t).data.sum() == 6
    np.testing.assert_array_equal(init.constant_(t, 0.5).data, np.full((3, 2), 0.5))
    assert t.dtype == np.float64
    u = init.uniform_(tg.zeros(1000), 2.0, 3.0).data
    assert u.min() >= 2.0 and u.max() < 3.0
    n = init.normal_(tg.zeros(20000), mean=4.0).data
    assert abs(n.mean() - 4.0) < 0.05
    with pytest.raises(TypeError, match="uniform_: expected a Tensor"):
        init.uniform_(np.zeros(3))
    with pytest.raises(TypeError, match="normal_: expected a floating-point tensor"):
        init.normal_(tg.Tensor(np.zeros(3, dtype=np.int64)))
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out'"):
        init.kaiming_normal_(tg.zeros(3, 3), mode="fan")


# ---------------------------------------------------------------------------
# Bad arguments and inputs
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: nn.Linear(0, 3), ValueError, "Linear: in_features must be a positive integer, got 0"),
        (lambda: nn.Linear(3, 2.5), ValueError, "Linear: out_features must be a positive integer, got 2.5"),
        (lambda: nn.Conv2d(3, 4, 3, groups=2), ValueError, "in_channels=3 and out_channels=4 must both be divisible"),
        (lambda: nn.Conv2d(3, 4, (3, 3, 3)), TypeError, "Conv2d: kernel_size must be an int or a pair of ints"),
        (lambda: nn.Conv2d(3, 4, 3, padding=-1), ValueError, r"Conv2d: padding must be non-negative, got \(-1, -1\)"),
        (lambda: nn.Conv2d(3, 4, 3, stride=0), ValueError, r"Conv2d: stride must be positive, got \(0, 0\)"),
        (lambda: nn.ConvTranspose2d(3, 4, 3, stride=2, output_padding=2), ValueError,
         "output_padding=.* must be smaller than stride"),
        (lambda: nn.MaxPool2d(2, padding=2), ValueError,
         r"MaxPool2d: padding \(2, 2\) must be at most half of kernel_size \(2, 2\)"),
        (lambda: nn.BatchNorm2d(0), ValueError, "BatchNorm2d: num_features must be a positive integer"),
        (lambda: nn.BatchNorm1d(3, momentum=2.0), ValueError, "BatchNorm1d: momentum must be in"),
    ],
)
def test_bad_layer_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_bad_inputs_name_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"Conv2d: expected input of shape \(N, C, H, W\), got shape \(3, 8, 8\)"):
        nn.Conv2d(3, 4, 3)(tg.randn(3, 8, 8))
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected input of shape \(N, C, H, W\), got shape \(4, 3\)"):
        nn.BatchNorm2d(3)(tg.randn(4, 3))
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected input of shape \(N, C\) or \(N, C, L\)"):
        nn.BatchNorm1d(3)(tg.randn(4, 3, 2, 2))
    with pytest.raises(TypeError, match="MaxPool2d: input must be a Tensor"):
        nn.MaxPool2d(2)(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match="linear"):
        nn.Linear(4, 2)(tg.randn(3, 5))
    with pytest.raises(NotImplementedError, match="Module: forward is not implemented"):
        nn.Module()(tg.ones(1))
