"""servprof for Python services: record each request's stages and each batch into servprof's native
trace, so `servprof analyze` gives the whole-path breakdown (queue, preprocess, kernel, gap,
postprocess, network) and the verdict for a Python inference service.

    import servprof
    rec = servprof.Recorder("server.sptrace")
    with rec.request("req-42", input_tokens=37) as r:
        with r.stage("preprocess"):
            ...
        with rec.batch([r], effective_tokens=37, padded_tokens=64):
            ...                                   # the model call
        with r.stage("postprocess"):
            ...
    rec.close()

A generation service records each scheduler step and each output token as well:

    with rec.step([(r, "prefill", 37), (r2, "decode", 1)], kv_used=420, kv_capacity=4096):
        ...                                       # the model's step: the new tokens on the host
    r.token()                                     # after writing its chunk (index: the next one)

servprof.asgi.Middleware records every HTTP request of an ASGI app (FastAPI, Starlette, ...),
servprof.aiohttp.middleware(rec) every request of an aiohttp.web app;
servprof.torch times a PyTorch model's modules inside batches (CPU) or starts the CUPTI collector
(CUDA). docs/python.md has the whole API.

Two backends implement the same classes: the C extension servprof._native (the default, built by
`pip install`) and a ctypes fallback (servprof._pure), chosen with SERVPROF_BACKEND=native|ctypes.
`servprof.BACKEND` says which one runs.
"""
import atexit as _atexit
import os as _os

from ._common import (OUTCOMES, DROP_CAUSES, KNOWN_STAGES as _KNOWN, DERIVED_STAGES, COPY_KINDS, PHASES,
                      current_batch as _current_batch)

_want = _os.environ.get("SERVPROF_BACKEND", "")
if _want not in ("", "native", "ctypes"):
    raise ImportError("SERVPROF_BACKEND=%r: use native or ctypes" % _want)
_impl = None
if _want != "ctypes":
    try:
        from . import _native as _impl
    except ImportError:
        if _want == "native":
            raise
if _impl is None:
    from . import _pure as _impl

def _forget_open_requests_in_child():
    # a forked worker starts with no request of its parent open (its records go to its own trace)
    for rec in list(_impl._live):
        rec._forget_open()


_os.register_at_fork(after_in_child=_forget_open_requests_in_child)


def _close_open_recorders_at_exit():
    # A recorder still open when the interpreter exits is closed here, as rec.close() would: its
    # last records reach the file and the trace gets its end record. Without this the file holds
    # only what the writer wrote before (a module global held by a daemon thread or a reference
    # cycle, as under `uvicorn app:app`, is never deallocated): the records of the writer's last
    # period are lost and the trace reads as killed. Not run on os._exit or a fatal signal.
    for rec in list(_impl._live):
        try:
            rec.close()
        except Exception:  # noqa: BLE001 - exiting: nothing to report to
            pass


_atexit.register(_close_open_recorders_at_exit)

BACKEND = "native" if _impl.__name__.endswith("_native") else "ctypes"
Recorder = _impl.Recorder
Request = _impl.Request
Stage = _impl.Stage
Batch = _impl.Batch
Step = _impl.Step
ModuleTimer = _impl.ModuleTimer
now_ns = _impl.now_ns
library_version = _impl.library_version
KNOWN_STAGES = tuple(_KNOWN)

try:
    from ._config import VERSION as __version__
except ImportError:
    __version__ = "0+source"


def current_batch():
    """The servprof.Batch whose `with` block is running in this thread or asyncio task, or None."""
    return _current_batch.get()


__all__ = ["Recorder", "Request", "Stage", "Batch", "Step", "ModuleTimer", "now_ns", "current_batch", "library_version", "BACKEND",
           "OUTCOMES", "DROP_CAUSES", "KNOWN_STAGES", "DERIVED_STAGES", "COPY_KINDS", "PHASES"]
