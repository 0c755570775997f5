"""Finding and loading servprof's shared libraries with ctypes.

libservprof.so.1 is what both backends record through: the C extension links it (its run path points
at the folder it was built against), the ctypes backend loads it here. libservprof-cupti.so (the
CUDA collector) links libservprof.so.1 too, so loading it after this one shares the one recorder of
the process (the dynamic loader matches the soname). Nothing here imports torch.
"""
import ctypes
import ctypes.util
import os

try:  # written by setup.py at build time: where libservprof was found
    from . import _config
except ImportError:  # running from the source tree
    _config = None

SONAME = "libservprof.so.1"
CUPTI_NAME = "libservprof-cupti.so"


def library_dirs():
    """Folders searched for servprof's libraries, in order: $SERVPROF_LIBRARY_DIR, the folder the
    package was built against."""
    dirs = []
    env = os.environ.get("SERVPROF_LIBRARY_DIR")
    if env:
        dirs.append(env)
    if _config is not None and getattr(_config, "LIBRARY_DIR", None):
        dirs.append(_config.LIBRARY_DIR)
    return dirs


def find_library(name):
    """Path of `name` in library_dirs(), else `name` itself (left to the dynamic loader's path)."""
    for d in library_dirs():
        p = os.path.join(d, name)
        if os.path.exists(p):
            return p
    return name


class _Lib:
    lib = None
    error = None


def load():
    """libservprof.so.1 as a ctypes.CDLL with the prototypes the ctypes backend uses. Raises OSError
    naming where it looked."""
    if _Lib.lib is not None:
        return _Lib.lib
    path = os.environ.get("SERVPROF_LIB") or find_library(SONAME)
    try:
        lib = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    except OSError as e:
        raise OSError("servprof: cannot load %s (looked in %s and on the loader's path): %s; set "
                      "SERVPROF_LIBRARY_DIR to the folder holding it" %
                      (SONAME, ", ".join(library_dirs()) or "no configured folder", e)) from None
    u64, i64, u32, i32, vp, sz = (ctypes.c_uint64, ctypes.c_int64, ctypes.c_uint32, ctypes.c_int32,
                                  ctypes.c_void_p, ctypes.c_size_t)

    def proto(name, restype, *args):
        f = getattr(lib, name)
        f.restype = restype
        f.argtypes = list(args)

    proto("sp_now_ns", u64)
    proto("sp_version", ctypes.c_char_p)
    proto("sp_status_str", ctypes.c_char_p, ctypes.c_int)
    proto("sp_recorder_options_init", None, vp)
    proto("sp_recorder_open", ctypes.c_int, ctypes.c_char_p, vp, ctypes.POINTER(vp))
    proto("sp_recorder_close", ctypes.c_int, vp)
    proto("sp_recorder_flush", ctypes.c_int, vp)
    proto("sp_recorder_last_error", ctypes.c_char_p, ctypes.c_char_p, sz)
    proto("sp_recorder_intern", u32, vp, ctypes.c_char_p)
    proto("sp_recorder_set_property", ctypes.c_int, vp, ctypes.c_char_p, ctypes.c_char_p)
    proto("sp_recorder_drops", None, vp, ctypes.POINTER(u64))
    proto("sp_recorder_metrics_text", ctypes.c_int, vp, ctypes.POINTER(vp), ctypes.POINTER(sz))
    proto("sp_metrics_text_free", None, vp)
    proto("sp_record_request", None, vp, u64, u64, u64, i64)
    proto("sp_record_outcome", None, vp, u64, ctypes.c_int, i32)
    proto("sp_record_request_label", None, vp, u64, ctypes.c_char_p, sz)
    proto("sp_record_request_trace", None, vp, u64, ctypes.POINTER(TraceContext))
    proto("sp_record_stage", None, vp, u64, u32, u64, u64)
    proto("sp_record_batch", None, vp, u64, ctypes.POINTER(u64), sz, u64, u64, u64, u64)
    proto("sp_record_step", None, vp, vp)
    proto("sp_record_token", None, vp, u64, u64, u64)
    proto("sp_record_kernel", None, vp, vp)
    proto("sp_record_copy", None, vp, vp)
    _Lib.lib = lib
    return lib


class RecorderOptions(ctypes.Structure):
    """sp_recorder_options (trace.h); struct_size is set by sp_recorder_options_init."""
    _fields_ = [("struct_size", ctypes.c_size_t), ("thread_buffer_bytes", ctypes.c_size_t),
                ("max_threads", ctypes.c_size_t), ("flush_interval_ms", ctypes.c_uint),
                ("price_per_hour", ctypes.c_double), ("on_fork_child", ctypes.c_int),
                ("live_metrics", ctypes.c_int), ("metrics_settle_ms", ctypes.c_uint)]


class TraceContext(ctypes.Structure):
    """sp_trace_context (trace.h)."""
    _fields_ = [("trace_id", ctypes.c_uint8 * 16), ("span_id", ctypes.c_uint8 * 8),
                ("parent_id", ctypes.c_uint8 * 8), ("flags", ctypes.c_uint8)]


class StepRecord(ctypes.Structure):
    """sp_step_record (trace.h)."""
    _fields_ = [("batch_id", ctypes.c_uint64), ("start_ns", ctypes.c_uint64), ("end_ns", ctypes.c_uint64),
                ("effective_tokens", ctypes.c_uint64), ("padded_tokens", ctypes.c_uint64),
                ("kv_used_tokens", ctypes.c_uint64), ("kv_capacity_tokens", ctypes.c_uint64),
                ("member_count", ctypes.c_size_t), ("members", ctypes.POINTER(ctypes.c_uint64)),
                ("phases", ctypes.POINTER(ctypes.c_uint8)), ("tokens", ctypes.POINTER(ctypes.c_uint32))]


class KernelRecord(ctypes.Structure):
    """sp_kernel_record (trace.h)."""
    _fields_ = [("batch_id", ctypes.c_uint64), ("name", ctypes.c_uint32), ("device", ctypes.c_uint32),
                ("stream", ctypes.c_uint32), ("correlation", ctypes.c_uint64), ("start_ns", ctypes.c_uint64),
                ("end_ns", ctypes.c_uint64)]


class CopyRecord(ctypes.Structure):
    """sp_copy_record (trace.h)."""
    _fields_ = [("batch_id", ctypes.c_uint64), ("kind", ctypes.c_int), ("device", ctypes.c_uint32),
                ("stream", ctypes.c_uint32), ("correlation", ctypes.c_uint64), ("bytes", ctypes.c_uint64),
                ("start_ns", ctypes.c_uint64), ("end_ns", ctypes.c_uint64)]


class CuptiOptions(ctypes.Structure):
    """sp_cupti_options (cupti.h)."""
    _fields_ = [("struct_size", ctypes.c_size_t), ("buffer_bytes", ctypes.c_size_t),
                ("max_buffers", ctypes.c_size_t), ("correlation_cap", ctypes.c_size_t),
                ("record_launches", ctypes.c_int), ("record_syncs", ctypes.c_int),
                ("record_nvtx_batches", ctypes.c_int), ("api_callbacks", ctypes.c_int)]


class CuptiStats(ctypes.Structure):
    """sp_cupti_stats (cupti.h)."""
    _fields_ = [("running", ctypes.c_int), ("subscriber_conflict", ctypes.c_int),
                ("conflict_with", ctypes.c_char * 64)] + \
               [(n, ctypes.c_uint64) for n in ("kernels", "copies", "memsets", "syncs", "launches", "attributed",
                                               "kernel_ns", "cupti_dropped", "invalid", "correlation_evicted")] + \
               [("clock_offset_ns", ctypes.c_int64), ("clock_error_ns", ctypes.c_uint64),
                ("clock_drift_ns", ctypes.c_int64), ("clock_stop_error_ns", ctypes.c_uint64),
                ("api_callbacks", ctypes.c_int)] + \
               [(n, ctypes.c_uint64) for n in ("window_tied", "window_ambiguous", "window_unmatched",
                                               "window_overlaps")]
