"""A stand-in for CuPy, so the device path is tested on machines without a GPU.

``standin`` looks like an array module (``standin.sin``, ``standin.asarray`` ...)
whose arrays, like CuPy's, live "on a device": they refuse to become NumPy arrays
implicitly (``np.asarray(a)`` raises, as it does for CuPy), refuse to be mixed with
NumPy arrays in arithmetic, and refuse NumPy's own functions (``np.sum(a)``), so
code that is not written against the array module it was handed fails here as it
would on a GPU. Python and NumPy scalars mix freely, as with CuPy. ``asnumpy``
brings an array back to the host, like ``cupy.asnumpy``.
"""

from __future__ import annotations

import numpy as np

# What NumPy may be asked about a device array without moving it (CuPy allows these too).
METADATA = {"ndim", "shape", "size", "result_type", "iscomplexobj"}


class TransferError(TypeError):
    pass


def _unwrap(value):
    if isinstance(value, DeviceArray):
        return value.data
    if isinstance(value, np.ndarray) and value.ndim > 0:
        raise TransferError("a NumPy array was mixed with a device array; move it with the array module's asarray first")
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(item) for item in value)
    return value


def _wrap(value):
    if isinstance(value, np.ndarray):
        return DeviceArray(value)
    if isinstance(value, np.generic) and not isinstance(value, np.bool_):
        return DeviceArray(np.asarray(value))  # CuPy's reductions give 0-d arrays, not scalars
    if isinstance(value, (list, tuple)):
        return type(value)(_wrap(item) for item in value)
    return value


class DeviceArray:
    __slots__ = ("data",)

    def __init__(self, data):
        self.data = data

    def __array_namespace__(self, api_version=None):
        return standin

    # Moving to the host must be asked for.
    def __array__(self, dtype=None, copy=None):
        raise TransferError("implicit conversion of a device array to a NumPy array (use asnumpy)")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if "out" in kwargs:
            kwargs["out"] = tuple(_unwrap(item) for item in kwargs["out"])
        return _wrap(getattr(ufunc, method)(*_unwrap(inputs), **kwargs))

    def __array_function__(self, function, types, args, kwargs):
        if function.__name__ in METADATA:
            return function(*_unwrap(args), **kwargs)
        raise TransferError(f"numpy.{function.__name__} was called on a device array; use the array module's own")

    # Python numbers from a 0-d array are fine (CuPy synchronises for them).
    def __float__(self):
        return float(self.data)

    def __complex__(self):
        return complex(self.data)

    def __bool__(self):
        return bool(self.data)

    def __int__(self):
        return int(self.data)

    def __index__(self):
        return int(self.data)

    def __len__(self):
        return len(self.data)

    def __iter__(self):
        return (_wrap(item) for item in self.data)

    def __repr__(self):
        return f"standin({self.data!r})"

    def __getitem__(self, key):
        return _wrap(self.data[_unwrap(key)])

    def __setitem__(self, key, value):
        self.data[_unwrap(key)] = _unwrap(value)

    def __getattr__(self, name):
        attribute = getattr(self.data, name)
        if callable(attribute):
            return lambda *args, **kwargs: _wrap(attribute(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()}))
        return _wrap(attribute)

    @property
    def T(self):
        return DeviceArray(self.data.T)


def _operator(name):
    ufunc = {
        "add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide, "pow": np.power,
        "matmul": np.matmul, "lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
        "eq": np.equal, "ne": np.not_equal, "and": np.logical_and, "or": np.logical_or,
    }[name]

    def forward(self, other):
        return _wrap(ufunc(self.data, _unwrap(other)))

    def backward(self, other):
        return _wrap(ufunc(_unwrap(other), self.data))

    return forward, backward


for _name in ("add", "sub", "mul", "truediv", "pow", "matmul", "lt", "le", "gt", "ge", "eq", "ne", "and", "or"):
    _forward, _backward = _operator(_name)
    setattr(DeviceArray, f"__{_name}__", _forward)
    if _name not in ("lt", "le", "gt", "ge", "eq", "ne"):
        setattr(DeviceArray, f"__r{_name}__", _backward)
DeviceArray.__neg__ = lambda self: DeviceArray(-self.data)
DeviceArray.__abs__ = lambda self: DeviceArray(abs(self.data))
DeviceArray.__invert__ = lambda self: DeviceArray(~self.data)
DeviceArray.__hash__ = None


class _Module:
    """The array module: NumPy's functions, taking and giving device arrays."""

    __name__ = "standin"
    ndarray = DeviceArray

    def __getattr__(self, name):
        target = getattr(np, name)
        if not callable(target) or isinstance(target, type):
            return target

        def function(*args, **kwargs):
            return _wrap(target(*_unwrap(args), **{key: _unwrap(value) for key, value in kwargs.items()}))

        function.__name__ = name
        return function

    @staticmethod
    def asarray(value, dtype=None):
        if isinstance(value, DeviceArray):
            return value if dtype is None else DeviceArray(value.data.astype(dtype))
        return DeviceArray(np.array(value, dtype=dtype))

    array = asarray

    @staticmethod
    def asnumpy(value):
        return np.asarray(value.data) if isinstance(value, DeviceArray) else np.asarray(value)

    @staticmethod
    def is_available() -> bool:
        return True


standin = _Module()
