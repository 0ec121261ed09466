"""ONNX Runtime session settings shared by every ferkit model (classifier and detectors)."""

from __future__ import annotations

from typing import Any

from ferkit.errors import FerkitError


def session_options(threads: int | None = None) -> Any:
    """`ort.SessionOptions` for one inference session: `threads` intra-op threads (None: ORT's
    default), no inter-op parallelism, and no spinning between runs."""
    import onnxruntime as ort

    if threads is not None and int(threads) < 1:
        raise FerkitError(f"threads must be 1 or more (leave it out for ONNX Runtime's "
                          f"default); got {threads}")
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = int(threads)
    # One call at a time per session; inter-op parallelism only adds thread contention here.
    options.inter_op_num_threads = 1
    # Spinning worker threads burn a core between runs: in `ferkit video` on 2 cores they
    # took it from the frame decoder (docs/BENCHMARKS.md, "What changed").
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options
