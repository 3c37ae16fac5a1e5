"""PyTorch code as PyTorch users write it, run on this library and compared with PyTorch.

Each idiom below is one snippet of PyTorch code. It runs twice, from the same
text: once with `torch`, `nn` and `F` bound to tinygrad_cnn, tinygrad_cnn.nn
and tinygrad_cnn.functional, once with the real PyTorch (when it is
installed). The snippet leaves its answer in `result` (a tensor, a tuple of
them, a number, a string...), and the two answers must agree in value, shape
and dtype. Without PyTorch our run still happens (it must not raise), and the
comparison is skipped.

Where this library differs from PyTorch on purpose, the idiom says so and
compares what is the same (`inplace=True` is computed out of place, so only the
returned tensor is compared).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import functional as tg_functional
from tinygrad_cnn import nn as tg_nn

try:
    import torch as real_torch
except ImportError:  # the comparison is skipped; our run still happens
    real_torch = None


@dataclass
class Idiom:
    name: str
    code: str
    raises: type[Exception] | None = None  # the snippet must raise this, in both libraries


IDIOMS = [
    # Reductions and axis-taking functions, with PyTorch's dim/keepdim (and numpy's spellings, which PyTorch takes)
    Idiom("sum dim", "result = torch.tensor(a).sum(dim=1)"),
    Idiom("sum dim keepdim", "result = torch.tensor(a).sum(dim=1, keepdim=True)"),
    Idiom("sum axis keepdims", "result = torch.sum(torch.tensor(a), axis=0, keepdims=True)"),
    Idiom("mean dim tuple", "result = torch.tensor(a).mean(dim=(0, 1), keepdim=True)"),
    Idiom("max dim pair", "values, indices = torch.tensor(a).max(dim=1)\nresult = (values, indices)"),
    Idiom("max dim fields", "out = torch.max(torch.tensor(a), dim=0)\nresult = (out.values, out.indices)"),
    Idiom("min dim keepdim", "result = tuple(torch.tensor(a).min(dim=1, keepdim=True))"),
    Idiom("max of all", "result = torch.tensor(a).max()"),
    Idiom("max of two tensors", "x = torch.tensor(a)\nresult = (torch.max(x, -x), x.min(x.t().t() * 2))"),
    Idiom("argmax dim", "result = torch.tensor(a).argmax(dim=1)"),
    Idiom("argmin dim keepdim", "result = torch.argmin(torch.tensor(a), dim=0, keepdim=True)"),
    Idiom("var dim (unbiased by default)", "result = torch.tensor(a).var(dim=1)"),
    Idiom("std dim", "result = torch.tensor(a).std(dim=0, keepdim=True)"),
    Idiom("softmax dim", "result = F.softmax(torch.tensor(a), dim=1)"),
    Idiom("log_softmax dim", "result = F.log_softmax(torch.tensor(a), dim=0)"),
    Idiom("nn.Softmax dim", "result = nn.Softmax(dim=1)(torch.tensor(a))"),
    Idiom("stack dim", "x = torch.tensor(a)\nresult = torch.stack([x, 2 * x], dim=1)"),
    Idiom("cat dim", "x = torch.tensor(a)\nresult = torch.cat([x, x[:, :2]], dim=1)"),
    Idiom("squeeze dim", "result = torch.tensor(a).reshape(3, 1, 4).squeeze(dim=1)"),
    Idiom("unsqueeze dim", "result = torch.tensor(a).unsqueeze(dim=-1)"),
    Idiom("flatten start_dim", "result = torch.flatten(torch.tensor(images), start_dim=1)"),
    Idiom("axis and dim together", "torch.tensor(a).sum(axis=0, dim=1)", raises=TypeError),
    # Shapes and views
    Idiom("size()", "result = torch.tensor(a).size()"),
    Idiom("size(d)", "x = torch.tensor(a)\nresult = (x.size(0), x.size(-1))"),
    Idiom("numel and dim", "x = torch.tensor(images)\nresult = (x.numel(), x.dim())"),
    Idiom("counting parameters", "model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(8 * 5 * 3, 10))\n"
          "result = sum(p.numel() for p in model.parameters() if p.requires_grad)"),
    Idiom("view(x.size(0), -1)", "x = torch.tensor(images)\nresult = x.view(x.size(0), -1)"),
    Idiom("accuracy", "logits = torch.tensor(a)\ny = torch.tensor([0, 3, 2])\n"
          "result = (logits.argmax(dim=1) == y).float().mean().item()"),
    Idiom("view", "result = torch.tensor(a).view(2, -1)"),
    Idiom("view(-1)", "result = torch.tensor(images).view(-1)"),
    Idiom("view of a transpose", "torch.tensor(a).t().view(-1)", raises=RuntimeError),
    Idiom("contiguous().view", "result = torch.tensor(a).t().contiguous().view(-1)"),
    Idiom("t()", "result = torch.tensor(a).t()"),
    # dtypes and devices
    Idiom("float() of labels", "result = torch.tensor(labels).float()"),
    Idiom("double()", "result = torch.tensor(a).double()"),
    Idiom("long()", "result = (torch.tensor(a) * 3).long()"),
    Idiom("int()", "result = (torch.tensor(a) * 3).int()"),
    Idiom("bool() of a mask", "result = (torch.tensor(a) > 0).float().bool()"),
    Idiom("to(dtype)", "result = torch.tensor(a).to(torch.float64)"),
    Idiom("to(device)", "x = torch.tensor(a)\nresult = (x.to('cpu') is x, x.cpu() is x, str(x.device))"),
    Idiom("choosing a device",
          "device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')\n"
          "model = nn.Linear(4, 2).to(device)\nx = torch.tensor(a).to(device)\n"
          "result = (str(device), model.cpu() is model, str(x.device), torch.cuda.device_count())"),
    Idiom("to(device, dtype)", "result = torch.tensor(a).to('cpu', torch.float64)"),
    Idiom("dtype names", "result = torch.zeros(2, 3, dtype=torch.float64) + torch.ones(2, 3, dtype=torch.int64)"),
    Idiom("dtype comparison", "result = torch.tensor(a).dtype == torch.float32"),
    Idiom("tensor copies", "x = torch.tensor(a)\nx[0, 0] = 100.0\nresult = (float(a[0, 0]), x)"),
    Idiom("from_numpy shares memory", "x = torch.from_numpy(a)\na[0, 0] = 100.0\nresult = x"),
    # Values as Python numbers
    Idiom("float(loss)", "result = float(torch.tensor(a).mean())"),
    Idiom("int(t)", "result = int(torch.tensor(labels)[2])"),
    Idiom("format", "loss = torch.tensor(a).sum()\nresult = f'loss {loss:.3f}, first {torch.tensor(a)[0, 0]:8.2e}'"),
    Idiom("item()", "result = torch.tensor(a)[1, 2].item()"),
    # Math
    Idiom("pow", "result = torch.tensor(a).pow(2)"),
    Idiom("clamp min", "result = torch.tensor(a).clamp(min=0)"),
    Idiom("clamp range", "result = torch.clamp(torch.tensor(a), -0.5, 0.5)"),
    Idiom("clip max", "result = torch.tensor(a).clip(max=0.25)"),
    # Autograd
    Idiom("clone keeps the graph",
          "x = torch.tensor(a, requires_grad=True)\ny = x.clone()\n(y * y).sum().backward()\nresult = x.grad"),
    Idiom("setitem", "x = torch.zeros(3, 4)\nx[0] = 1.0\nx[:, 1] = torch.tensor(labels[:3]).float()\nresult = x"),
    Idiom("setitem with a mask", "x = torch.tensor(a)\nx[x < 0] = 0.0\nresult = x"),
    Idiom("inference_mode",
          "w = torch.tensor(a, requires_grad=True)\nwith torch.inference_mode():\n    y = w * 2\n"
          "result = (y.requires_grad, y)"),
    Idiom("no_grad prediction",
          "layer = nn.Linear(4, 2)\nwith torch.no_grad():\n    layer.weight.copy_(torch.tensor(w24))\n"
          "    layer.bias.zero_()\nlayer.eval()\nwith torch.no_grad():\n"
          "    result = layer(torch.tensor(a)).argmax(dim=1)"),
    # Modules
    Idiom("ModuleDict",
          "heads = nn.ModuleDict({'digits': nn.Linear(4, 10), 'parity': nn.Linear(4, 2)})\n"
          "result = ([name for name, _ in heads.named_parameters()], list(heads.keys()), len(heads),\n"
          "          'digits' in heads)"),
    Idiom("ModuleList", "layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])\n"
          "result = (len(layers), [name for name, _ in layers.named_parameters()][:2])"),
    Idiom("model.to('cpu') and to(dtype)",
          "model = nn.Sequential(nn.Linear(4, 3), nn.ReLU())\nsame = model.to('cpu') is model\n"
          "model.to(torch.float64)\nresult = (same, str(model[0].weight.dtype).replace('torch.', ''))"),
    Idiom("AdaptiveAvgPool2d global", "result = nn.AdaptiveAvgPool2d((1, 1))(torch.tensor(images))"),
    Idiom("adaptive_avg_pool2d uneven", "result = F.adaptive_avg_pool2d(torch.tensor(images), (3, 2))"),
    Idiom("ReLU(inplace=True)", "result = nn.ReLU(inplace=True)(torch.tensor(a))"),
    # PyTorch overwrites x with inplace=True; here x keeps its values: only the result is compared.
    Idiom("F.relu(inplace=True)", "result = F.relu(torch.tensor(a), inplace=True)"),
    Idiom("cross_entropy label_smoothing",
          "result = F.cross_entropy(torch.tensor(logits), torch.tensor(targets), label_smoothing=0.1)"),
    Idiom("cross_entropy weight",
          "result = F.cross_entropy(torch.tensor(logits), torch.tensor(targets), weight=torch.tensor(class_weight))"),
    Idiom("CrossEntropyLoss everything",
          "loss_fn = nn.CrossEntropyLoss(weight=torch.tensor(class_weight), ignore_index=-100, "
          "label_smoothing=0.2)\nresult = loss_fn(torch.tensor(logits), torch.tensor(targets_ignored))"),
    Idiom("cross_entropy soft targets smoothed",
          "result = F.cross_entropy(torch.tensor(logits), torch.tensor(soft), weight=torch.tensor(class_weight), "
          "label_smoothing=0.3, reduction='sum')"),
    Idiom("save and load a state dict",
          "model = nn.Linear(4, 3)\ntorch.save(model.state_dict(), path)\nother = nn.Linear(4, 3)\n"
          "other.load_state_dict(torch.load(path))\n"
          "result = [(k, bool((v == model.state_dict()[k]).all())) for k, v in other.state_dict().items()]"),
    Idiom("save and load a tensor",
          "torch.save(torch.tensor(a), path)\nresult = torch.load(path)"),
]


def _inputs() -> dict[str, Any]:
    """The data every snippet may use (fresh copies for each run: snippets write into some)."""
    rng = np.random.default_rng(19)
    targets_ignored = rng.integers(0, 5, 6)
    targets_ignored[[1, 4]] = -100
    return {
        "a": rng.standard_normal((3, 4)).astype(np.float32),
        "labels": np.array([3, 1, 4, 1, 5], dtype=np.int64),
        "images": rng.standard_normal((2, 3, 7, 5)).astype(np.float32),
        "w24": rng.standard_normal((2, 4)).astype(np.float32),
        "logits": rng.standard_normal((6, 5)),
        "targets": rng.integers(0, 5, 6),
        "targets_ignored": targets_ignored,
        "soft": rng.dirichlet(np.ones(5), 6),
        "class_weight": rng.uniform(0.2, 2.0, 5),
    }


def _run(idiom: Idiom, torch: Any, nn: Any, functional: Any, path: str) -> Any:
    namespace = {"torch": torch, "nn": nn, "F": functional, "np": np, "path": path, **_inputs()}
    if idiom.raises is not None:
        with pytest.raises(idiom.raises):
            exec(idiom.code, namespace)
        return None
    exec(idiom.code, namespace)
    return namespace["result"]


def _plain(value: Any) -> Any:
    """A result as numpy arrays and Python values, the same for both libraries."""
    if isinstance(value, tg.Tensor):
        return value.numpy()
    if real_torch is not None and isinstance(value, real_torch.Tensor):
        return value.detach().numpy()
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    return value


def _assert_same(ours: Any, theirs: Any, where: str) -> None:
    if isinstance(theirs, np.ndarray):
        assert isinstance(ours, np.ndarray), f"{where}: ours is a {type(ours).__name__}, PyTorch's an array"
        assert ours.shape == theirs.shape, f"{where}: shape {ours.shape} != PyTorch's {theirs.shape}"
        assert ours.dtype == theirs.dtype, f"{where}: dtype {ours.dtype} != PyTorch's {theirs.dtype}"
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6, err_msg=where)
    elif isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), f"{where}: {ours!r} != {theirs!r}"
        for i, (mine, other) in enumerate(zip(ours, theirs)):
            _assert_same(mine, other, f"{where}[{i}]")
    elif isinstance(theirs, float):
        assert ours == pytest.approx(theirs, rel=1e-5), f"{where}: {ours!r} != {theirs!r}"
    else:
        assert type(ours) is type(theirs) and ours == theirs, f"{where}: {ours!r} != PyTorch's {theirs!r}"


def test_there_are_at_least_forty_idioms():
    assert len(IDIOMS) >= 40
    assert len({idiom.name for idiom in IDIOMS}) == len(IDIOMS)


@pytest.mark.parametrize("idiom", IDIOMS, ids=[idiom.name for idiom in IDIOMS])
def test_idiom(idiom, tmp_path):
    ours = _run(idiom, tg, tg_nn, tg_functional, os.path.join(tmp_path, "ours.pt"))
    if idiom.raises is None:
        assert ours is not None
    if real_torch is None:
        pytest.skip("PyTorch is not installed: ours ran, the comparison is skipped")
    theirs = _run(idiom, real_torch, real_torch.nn, real_torch.nn.functional, os.path.join(tmp_path, "torch.pt"))
    _assert_same(_plain(ours), _plain(theirs), idiom.name)


def test_the_comparison_catches_differences():
    # A negative control: a different value, dtype, shape or type must fail the comparison.
    same = np.array([1.0, 2.0], dtype=np.float32)
    _assert_same([same, 3, "x"], [same.copy(), 3, "x"], "equal")
    for ours, theirs in [
        (same, same + 1e-3),
        (same, same.astype(np.float64)),
        (same, same.reshape(2, 1)),
        (3, 3.5),
        (1, True),
        ([same], [same, same]),
        ("loss 0.500", "loss 0.501"),
    ]:
        with pytest.raises(AssertionError):
            _assert_same(ours, theirs, "different")
