"""Optional onnxsim pass: constant folding and shape simplification before conversion."""

from __future__ import annotations

import os
import warnings

import onnx

# onnxsim reads its fixed-point iteration budget from this environment variable.
_ITERS_VARIABLE = "ONNXSIM_FIXED_POINT_ITERS"


def try_simplify(model: onnx.ModelProto, fixed_point_iters: int | None = 100) -> onnx.ModelProto:
    """The onnxsim-simplified model, or the model unchanged (with a warning) if onnxsim fails."""
    saved = os.environ.get(_ITERS_VARIABLE)
    if fixed_point_iters is not None:
        os.environ[_ITERS_VARIABLE] = str(int(fixed_point_iters))
    try:
        import onnxsim

        simplified, ok = onnxsim.simplify(model, mutable_initializer=False)
    except Exception as err:  # onnxsim raises bare RuntimeErrors from C++: any failure means "keep the original"
        warnings.warn(f"onnxsim failed ({type(err).__name__}: {err}); converting the unsimplified model", stacklevel=3)
        return model
    finally:
        if saved is None:
            os.environ.pop(_ITERS_VARIABLE, None)
        else:
            os.environ[_ITERS_VARIABLE] = saved
    if not ok:
        warnings.warn("onnxsim could not validate its result; converting the unsimplified model", stacklevel=3)
        return model
    return simplified
