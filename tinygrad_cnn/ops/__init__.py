"""The ops: the primitive `Function`s and the functions built on them, by family.

- common.py: argument checks shared by every op, and DependsOn;
- elementwise.py: arithmetic, activations, where, dtype changes;
- reductions.py: sum, max, min, mean, var, std, argmax;
- shape.py: reshape, transpose, broadcast, pad, indexing, concatenation, copies;
- matrix.py: the matrix product;
- inplace.py: in-place changes (not recorded);
- numpy_protocol.py: what numpy's functions do with a Tensor.

Convolution and pooling live in conv.py, losses and layers' functions in
functional.py. Tensor's methods call the functions exported here.
"""

from .common import (
    DependsOn,
    as_float,
    as_int,
    as_number,
    as_tensor,
    axis_arg,
    check_float,
    constant,
    depends_on,
    keepdims_arg,
    normalize_axes,
    promote_floats,
    shape_arg,
    spelled_either_way,
)
from .elementwise import (
    Abs,
    Add,
    Cast,
    Clip,
    Div,
    Exp,
    Log,
    Maximum,
    Mul,
    Neg,
    Pow,
    Relu,
    Sigmoid,
    Sub,
    Tanh,
    Where,
    absolute,
    add,
    astype,
    clamp,
    clip,
    compare,
    div,
    exp,
    log,
    maximum,
    minimum,
    mul,
    neg,
    power,
    promote_mixed,
    relu,
    sigmoid,
    sqrt,
    sub,
    tanh,
    to,
    to_arguments,
    where,
)
from .inplace import add_, copy_, fill_, mul_, setitem, sub_, zero_
from .matrix import MatMul, matmul
from .numpy_protocol import numpy_function_on_tensor, numpy_ufunc_on_tensor
from .reductions import (
    Max,
    Sum,
    ValuesIndices,
    argmax,
    argmin,
    mean,
    reduce_max,
    reduce_min,
    reduce_sum,
    std,
    var,
)
from .shape import (
    BroadcastTo,
    Clone,
    Concatenate,
    GetItem,
    Pad,
    Permute,
    Reshape,
    ScatterAdd,
    broadcast_to,
    cat,
    clone,
    concatenate,
    contiguous,
    flatten,
    getitem,
    normalize_index,
    pad,
    reshape,
    squeeze,
    stack,
    sum_to,
    swapaxes,
    t,
    transpose,
    unsqueeze,
    view,
)

__all__ = [
    "Abs", "Add", "BroadcastTo", "Cast", "Clip", "Clone", "Concatenate", "DependsOn", "Div", "Exp", "GetItem",
    "Log", "MatMul", "Max", "Maximum", "Mul", "Neg", "Pad", "Permute", "Pow", "Relu", "Reshape", "ScatterAdd",
    "Sigmoid", "Sub", "Sum", "Tanh", "ValuesIndices", "Where",
    "absolute", "add", "add_", "argmax", "argmin", "as_float", "as_int", "as_number", "as_tensor", "astype",
    "axis_arg", "broadcast_to", "cat", "check_float", "clamp", "clip", "clone", "compare", "concatenate",
    "constant", "contiguous", "copy_", "depends_on", "div", "exp", "fill_", "flatten", "getitem",
    "keepdims_arg", "log", "matmul", "maximum", "mean", "minimum", "mul", "mul_", "neg", "normalize_axes",
    "normalize_index", "numpy_function_on_tensor", "numpy_ufunc_on_tensor", "pad", "power", "promote_floats",
    "promote_mixed", "reduce_max", "reduce_min", "reduce_sum", "relu", "reshape", "setitem", "shape_arg",
    "sigmoid", "spelled_either_way", "sqrt", "squeeze", "stack", "std", "sub", "sub_", "sum_to", "swapaxes",
    "t", "tanh", "to", "to_arguments", "transpose", "unsqueeze", "var", "view", "where", "zero_",
]
