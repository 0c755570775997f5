"""PyTorch support: what runs inside a batch, and record_function ranges for torch.profiler.

    import servprof, servprof.torch
    rec = servprof.Recorder("server.sptrace")
    att = servprof.torch.attach(rec, model)          # once, after the model is built
    ...
    with rec.batch(requests, effective_tokens=e, padded_tokens=p):
        out = model(ids).cpu()                        # outputs back on the host: the window ends here

On the CPU, attach() times the forward passes of the model's modules (forward pre-hook and hook, in
C) and records each innermost pass, one inside which no other module's pass began, as device work (a
kernel named by the module's qualified name, device 0, stream 0) of the batch running in that thread
or task: the `kernel` stage is time inside the modules that did the work, `gap` the batch's time
between them (Python glue, tensor packing). Innermost rather than leaf: a module may do its
children's work without calling them (nn.TransformerEncoderLayer's fused inference path,
nn.MultiheadAttention's use of out_proj's weights), which leaf hooks would never see. On CUDA it starts the in-process
CUPTI collector (libservprof-cupti.so, docs/gpu.md) on the recorder instead: kernels, copies and
memsets with the device's own timestamps, tied to each batch by its window; no module hooks.

With annotate=True (the default), requests, stages and batches also open torch.profiler
record_function ranges named by docs/annotations.md (servprof.request:<id>, servprof.stage.<name>:<id>,
servprof.batch:<id>[<ids>];effective=N;padded=N) while a profiler is running, so a Kineto trace of
the service alone carries the breakdown (`servprof analyze trace.json`). While no profiler runs the
cost is one check per block. This module imports torch; `import servprof` does not.
"""
import ctypes
import os
import re
import warnings

import torch

import servprof
from servprof import _clib

_impl = servprof._impl
_BAD_ID = re.compile(r"[,;\[\]]")
SP_CUPTI_API_ALL, SP_CUPTI_API_NONE = 0, 2


def _id_text(x):
    # annotation ids may not hold , ; [ ] (docs/annotations.md): replaced so the name stays parseable
    return _BAD_ID.sub("_", str(x))


class Annotator:
    """Mirrors a recorder's requests, stages and batches as record_function ranges while
    torch.profiler runs (installed by attach(); Recorder.annotator). `enabled()` says whether a
    profiler runs: the C extension calls it before each *_begin method and skips the method call
    while none does (a Python call less per block, the common case in production)."""

    def __init__(self):
        # torch's own record_function's calls (torch 1.13 to 2.11 as read): enabled() is
        # torch.autograd._profiler_enabled; a range opens with profiler::_record_function_enter_new and
        # closes with profiler::_record_function_exit's _RecordFunction overload, which torch 2.x's
        # record_function names outside TorchScript (the packet, as 1.13 called it, picks it too)
        self._enabled = self.enabled = torch.autograd._profiler_enabled
        self._enter = torch.ops.profiler._record_function_enter_new
        exit_packet = torch.ops.profiler._record_function_exit
        self._exit = getattr(exit_packet, "_RecordFunction", exit_packet)

    def request_begin(self, r):
        if not self._enabled():
            return None
        return self._enter("servprof.request:%s" % _id_text(r.id), None)

    def request_tokens(self, r):
        # the request's range opened before its tokens were known: a zero-length range inside it
        # carries them (ranges of one request widen one window)
        if self._enabled() and r.input_tokens is not None:
            self._exit(self._enter("servprof.request:%s;tokens=%d" % (_id_text(r.id), r.input_tokens), None))

    def stage_begin(self, r, name):
        if not self._enabled():
            return None
        return self._enter("servprof.stage.%s:%s" % (name, _id_text(r.id)), None)

    def batch_begin(self, b):
        if not self._enabled():
            return None
        ids = ",".join(_id_text(r.id) for r in b.requests)
        return self._enter("servprof.batch:%d[%s];effective=%d;padded=%d" %
                           (b.id, ids, b.effective_tokens, b.padded_tokens), None)

    def end(self, handle):
        self._exit(handle)


def kernel_name(name, m):
    """A module's kernel name: its qualified name, with its class where that name ends in a container's
    index (nn.Sequential, nn.ModuleList: "0 (Linear)", "enc.layers.0 (TransformerEncoderLayer)"), which
    alone says nothing of what ran; the model itself (no name) by its class."""
    if not name:
        return type(m).__name__
    if name.rpartition(".")[2].isdigit():
        return "%s (%s)" % (name, type(m).__name__)
    return name


def leaf_modules(model, prefix=""):
    """(kernel name, module) of each module without children: the ones whose forward does work."""
    for name, m in model.named_modules(prefix=prefix):
        if next(m.children(), None) is None:
            yield kernel_name(name, m), m


def instrument(model, recorder, modules="innermost", device=0, stream=0):
    """Times each selected module's forward pass as device work of the current batch (CPU). modules:
    "innermost" (every module hooked, a pass recorded when no other module's pass began inside it:
    the leaves that ran, and a module that did its children's work without calling them), "leaves"
    (every module without children), "children" (the model's direct children), or an iterable of
    (name, module). Returns the hook handles (call .remove() on each to undo)."""
    innermost = modules == "innermost"
    if innermost:
        chosen = [(kernel_name(name, m), m) for name, m in model.named_modules()]
    elif modules == "leaves":
        chosen = list(leaf_modules(model))
    elif modules == "children":
        chosen = [(kernel_name(name, m), m) for name, m in model.named_children()]
    elif isinstance(modules, str):
        raise ValueError("instrument(): modules %r: innermost, leaves, children or (name, module) pairs" % modules)
    else:
        chosen = list(modules)
    handles = []
    for name, m in chosen:
        if not isinstance(m, torch.nn.Module):
            raise TypeError("instrument(): %r is not a torch.nn.Module" % (name,))
        t = _impl.ModuleTimer(recorder, name, device, stream, innermost=innermost)
        handles.append(m.register_forward_pre_hook(t.pre))
        handles.append(m.register_forward_hook(t.post))
    return handles


def cupti_library():
    """Path of libservprof-cupti.so: $SERVPROF_CUPTI_LIB, else beside libservprof.so.1."""
    return os.environ.get("SERVPROF_CUPTI_LIB") or _clib.find_library(_clib.CUPTI_NAME)


class Attachment:
    """What attach() set up: `device` ("cpu" or "cuda"), `hooks` (module hook handles), `cupti`
    (True when the collector runs), `cupti_error` (why it does not, on CUDA). detach() undoes it."""

    def __init__(self, recorder, device):
        self.recorder = recorder
        self.device = device
        self.hooks = []
        self.cupti = False
        self.cupti_error = None
        self._lib = None

    def cupti_stats(self):
        """The collector's counters (sp_cupti_get_stats) as a dict, or None without it."""
        if self._lib is None:
            return None
        st = _clib.CuptiStats()
        self._lib.sp_cupti_get_stats(ctypes.byref(st))
        return {n: (getattr(st, n).decode() if n == "conflict_with" else getattr(st, n)) for n, _ in st._fields_}

    def _stop_cupti(self):
        if self.cupti:
            _impl._set_cupti_hooks(0, 0)
            self._lib.sp_cupti_stop()
            self.cupti = False

    def detach(self):
        for h in self.hooks:
            h.remove()
        self.hooks = []
        self._stop_cupti()
        if getattr(self.recorder, "annotator", None) is not None:
            self.recorder.annotator = None


def _start_cupti(att, recorder, mode, lib_path):
    lib_path = lib_path or cupti_library()
    try:
        lib = ctypes.CDLL(lib_path)
    except OSError as e:
        return "cannot load %s: %s (build servprof with the CUDA toolkit; set SERVPROF_CUPTI_LIB)" % (lib_path, e)
    lib.sp_cupti_options_init.argtypes = [ctypes.c_void_p]
    lib.sp_cupti_start.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.sp_cupti_start.restype = ctypes.c_int
    lib.sp_cupti_stop.restype = ctypes.c_int
    lib.sp_cupti_get_stats.argtypes = [ctypes.c_void_p]
    opt = _clib.CuptiOptions()
    lib.sp_cupti_options_init(ctypes.byref(opt))
    opt.api_callbacks = SP_CUPTI_API_NONE if mode == "lean" else SP_CUPTI_API_ALL
    opt.record_nvtx_batches = 0
    att._lib = lib
    st = lib.sp_cupti_start(ctypes.c_void_p(recorder._handle), ctypes.byref(opt))
    if st != 0:
        stats = att.cupti_stats()
        if stats and stats["subscriber_conflict"]:
            return ("CUPTI is held by another subscriber (%s), e.g. torch.profiler: kernels come from its trace "
                    "instead" % (stats["conflict_with"] or "unknown"))
        return "sp_cupti_start failed: status %d (%s)" % (st, servprof._clib.load().sp_status_str(st).decode())
    att.cupti = True
    begin = ctypes.cast(lib.sp_cupti_batch_begin, ctypes.c_void_p).value
    end = ctypes.cast(lib.sp_cupti_batch_end, ctypes.c_void_p).value
    _impl._set_cupti_hooks(begin, end)
    recorder._add_before_close(att._stop_cupti)
    return None


def attach(recorder, model=None, *, device=None, annotate=True, modules="innermost", cupti_mode="lean",
           cupti_lib=None):
    """Sets up `recorder` for a PyTorch model. device: "cpu", "cuda" (or a torch.device); default: the
    device of the model's first parameter. CPU: instruments `model`'s modules (instrument()). CUDA:
    starts the CUPTI collector, `cupti_mode` "lean" (activity only; work tied to the batch window it
    starts in, exact with one batch at a time: the default, as servprof serve) or "launches" (also
    launch calls: work tied by correlation id, launch delays in the report); where it cannot start,
    a RuntimeWarning says why and the trace holds batches and stages only (device time shows as gap).
    Writes the trace property `device`. Returns an Attachment."""
    if device is None:
        p = next(model.parameters(), None) if model is not None else None
        device = p.device.type if p is not None else "cpu"
    device = torch.device(device).type
    if device not in ("cpu", "cuda"):
        raise ValueError("attach(): device %r: cpu or cuda" % device)
    if cupti_mode not in ("lean", "launches"):
        raise ValueError("attach(): cupti_mode %r: lean or launches" % cupti_mode)
    att = Attachment(recorder, device)
    recorder.set_property("device", device)
    if device == "cpu":
        if model is not None:
            att.hooks = instrument(model, recorder, modules)
    else:
        err = _start_cupti(att, recorder, cupti_mode, cupti_lib)
        if err:
            att.cupti_error = err
            warnings.warn("servprof.torch: the CUPTI collector is not recording: " + err, RuntimeWarning, stacklevel=2)
    if annotate:
        recorder.annotator = Annotator()
    return att
