"""sin and cos of large float64 arrays through NumPy's SIMD tan.

NumPy computes float64 sin and cos one element at a time with the C library (about
9 ns an element on the machines we measure), while on CPUs with AVX-512 its float64
tan is SIMD code (about 1.2 ns) that rounds correctly nearly always, reducing its
argument exactly however large. With t = tan(x/2) and T = tan x:

    sin x = 2t / (1 + t^2)        cos x = sin x / T

A relative error in t reaches sin x multiplied by |cos x| at most, so sin keeps its
digits everywhere, beside its zeros too. cos x = (1 - t^2)/(1 + t^2) would not:
beside a zero of cos, 1 - t^2 cancels; there T is large and exact, and sin x / T
is as good as sin x. At x = 0 (and at the subnormal x whose half is 0) the ratio is
0/0 and cos is 1.

Measured against 200-bit and long-double references (4 x 10^6 uniform points, and
beside every multiple of pi/4 up to 300 of them, tiny, subnormal and up to 1e15),
sin is within 2.4 units in the last place and cos within 3.9 (the C library's:
0.51): the tangents' errors and three or four roundings. A subnormal x whose half
rounds gives a sin one subnormal unit off (sin 5e-324 is 0). For arrays of fewer
than ``SMALLEST`` elements, for other dtypes (complex steps), array modules and
``out`` shapes, and on machines where NumPy's float64 tan is not SIMD code
(``simd_tan``), NumPy's own sin and cos run (``worth_it`` says which: the primitive
table's sin and cos ask it). Where a schedule computes sin x as well, cos x is
``cos_from_sin``: the same numbers for one tangent and a division.
"""

from __future__ import annotations

import numpy as np

# Arrays with fewer elements go to NumPy's sin and cos: the six to ten ufunc calls
# here cost more than they save below this (measured against the C library's 9 ns an
# element: sin breaks even near 1,000 elements, cos near 3,000).
SMALLEST = 4096

_simd_tan: bool | None = None


def simd_tan() -> bool:
    """Whether NumPy's float64 tan runs as SIMD code on this machine (rather than the
    C library's, which is no faster than its sin). NumPy's only float64 tan loop
    beyond its baseline is the AVX-512 one (its sin and cos name AVX-512 loops too,
    which call the C library for float64: what they report says nothing of speed)."""
    global _simd_tan
    if _simd_tan is None:
        try:
            from numpy.lib.introspect import opt_func_info  # NumPy 2.0 and later

            loops = opt_func_info(func_name="^tan$", signature="float64").get("tan", {})
            current = next(iter(loops.values()), {}).get("current", "baseline")
            _simd_tan = not current.startswith("baseline")
        except (ImportError, AttributeError, TypeError, ValueError):
            _simd_tan = False
    return _simd_tan


def worth_it(xp, x, out) -> bool:
    """Whether to go through tan: a large float64 NumPy array, on a machine with SIMD
    tan, with a place to write of its shape that is not the argument itself."""
    return (
        xp is np
        and type(x) is np.ndarray
        and x.dtype == np.float64
        and x.size >= SMALLEST
        and (out is None or (type(out) is np.ndarray and out.dtype == np.float64 and out.shape == x.shape and not np.may_share_memory(x, out)))
        and simd_tan()
    )


def sin_by_tan(x, out=None):
    """sin x as 2t/(1 + t^2), t = tan(x/2), for a float64 array."""
    out = np.empty_like(x) if out is None else out
    t = np.multiply(x, 0.5, out=np.empty_like(x))
    np.tan(t, out=t)
    np.multiply(t, t, out=out)
    np.add(out, 1.0, out=out)  # out holds 1 + t^2 until the last step
    np.add(t, t, out=t)
    return np.divide(t, out, out=out)


def cos_by_tan(x, out=None):
    """cos x as sin x / tan x, for a float64 array (module docstring)."""
    sine = sin_by_tan(x, out)
    return cos_from_sin(x, sine, out=sine)


def cos_from_sin(x, sine, out=None):
    """cos x from ``sine``, sin x as ``sin_by_tan`` gives it (``out`` may be it): sin x / tan x."""
    whole = np.multiply(x, 0.5, out=np.empty_like(x))
    np.add(whole, whole, out=whole)  # x itself, but for a subnormal x that halving rounded
    np.tan(whole, out=whole)
    out = np.empty_like(x) if out is None else out
    if whole.all():
        return np.divide(sine, whole, out=out)
    # x = 0, or so small that its half is 0: sin x / tan x is 0/0 there, and cos x is 1.
    at_zero = whole == 0
    with np.errstate(invalid="ignore"):
        np.divide(sine, whole, out=out)
    np.copyto(out, 1.0, where=at_zero)
    return out
