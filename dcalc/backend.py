"""Where the arrays live: NumPy on the host, or CuPy on a GPU (``--backend cupy``).

The engines take the array module as ``xp`` and never call NumPy on the arrays
they are given, so the same code runs on either. Values go to the device once,
before an engine runs (:func:`to_device`), and results come back once, for the
renderers (:func:`to_host`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InputError
from .graph import array_namespace

BACKENDS = ("numpy", "cupy")


def array_module(name: str):
    """numpy, or cupy when it is installed and finds a GPU; otherwise a clear InputError."""
    if name == "numpy":
        return np
    if name != "cupy":
        raise InputError(f"unknown backend {name!r}: use {' or '.join(BACKENDS)}")
    try:
        import cupy
    except ImportError:
        raise InputError(
            "--backend cupy needs CuPy, which is not installed",
            hint="pip install 'dcalc[gpu]' (CuPy for CUDA 12; for CUDA 13, pip install cupy-cuda13x)",
        ) from None
    except Exception as error:  # CuPy is there but its CUDA libraries are not
        raise InputError(f"--backend cupy: CuPy could not be loaded: {error}") from None
    try:
        available = cupy.is_available()
    except Exception:  # a driver that fails to answer counts as no GPU
        available = False
    if not available:
        raise InputError("--backend cupy: CuPy is installed but finds no usable GPU (no CUDA device, or no driver)", hint="leave out --backend to run on the CPU")
    return cupy


def to_device(values: dict, xp) -> dict:
    """The values as arrays of ``xp`` (a copy to the device for cupy)."""
    if xp is np:
        return values
    return {name: xp.asarray(np.asarray(value, dtype=float)) for name, value in values.items()}


def to_host(value: Any) -> Any:
    """A NumPy array (or number) for a device array; anything else as it is."""
    xp = array_namespace((value,))
    return value if xp is np else xp.asnumpy(value)


def result_to_host(result):
    """An engine's Derivatives with every array on the host (in place; returned)."""
    return None if result is None else result.map_arrays(to_host)
