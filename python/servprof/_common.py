"""What both backends share: argument checks, names and constants of the recording API, so the C
extension (_native.c, _native_asgi.c) and the ctypes backend (_pure.py) refuse the same input with the
same words. The C extension repeats these checks in C for speed; tests/test_api.py runs against both."""
import contextvars
import os

# stage names the recorder always knows (trace.h: SP_STAGE_PREPROCESS, _QUEUE, _POSTPROCESS)
KNOWN_STAGES = {"preprocess": 1, "queue": 2, "postprocess": 3}
# stage rows servprof computes itself (DESIGN 3): a span may not carry one of these names
DERIVED_STAGES = ("h2d", "kernel", "gap", "d2h", "network", "other", "padding")
OUTCOMES = ("ok", "rejected", "error", "cancelled", "unfinished")
DROP_CAUSES = ("buffer_full", "too_large", "no_buffer", "write_failed", "reentrant", "after_close")
COPY_KINDS = ("h2d", "d2h", "d2d", "memset", "other")
NO_BATCH = (1 << 64) - 1
MAX_LABEL = 255          # request label bytes (trace.h)
MAX_NAME = 4095          # interned name bytes (trace.h)
MAX_MEMBERS = 4096       # batch members (trace.h)
MAX_PRICE_PER_HOUR = 1e6  # SP_MAX_PRICE_PER_HOUR (servprof.h): sp_recorder_open refuses more
# generation steps (trace.h sp_step_record, docs/native-format.md "Generation: steps and tokens"): a
# member's phase is its index here (SP_PHASE_DECODE 0, _PREFILL 1, _PREFILL_CHUNK 2)
PHASES = ("decode", "prefill", "prefill_chunk")
MAX_STEP_MEMBERS = 4091  # SP_STEP_MAX_MEMBERS: a larger step is dropped as too_large, as sp_record_step does
MAX_STEP_TOKENS = (1 << 32) - 1
# request ids servprof makes for string ids (their text id is the label): the top bit set, so they
# never meet a caller's integer ids below 2**63
LABELLED_ID_BASE = 1 << 63
ON_FORK = ("own_file", "drop")

# the batch whose block is running in this context (thread or asyncio task): servprof.torch's module
# hooks tie their records to it
current_batch = contextvars.ContextVar("servprof_current_batch", default=None)


def check_stage_name(name):
    """Checks a stage name a recorder may declare; returns it. TypeError / ValueError otherwise."""
    if not isinstance(name, str):
        raise TypeError("stage name must be a str, not %s" % type(name).__name__)
    b = name.encode("utf-8", "surrogatepass")
    if not b or len(b) > MAX_NAME or b"\0" in b:
        raise ValueError("stage name %r: must be 1..%d bytes without NUL" % (name[:60], MAX_NAME))
    if name in DERIVED_STAGES:
        raise ValueError("stage name %r is computed by servprof (from batches, device activity and the client "
                         "trace), never recorded as a span; record a batch instead" % name)
    return name


def check_property(key, value, what="set_property"):
    """Checks a trace property's types (both str); TypeError naming the key otherwise."""
    if not isinstance(key, str):
        raise TypeError("%s: property key %r: keys and values must be str, not %s"
                        % (what, key, type(key).__name__))
    if not isinstance(value, str):
        raise TypeError("%s: property %r = %r: keys and values must be str, not %s (write str(value))"
                        % (what, key[:60], value, type(value).__name__))


def check_properties(properties):
    """Recorder(properties=...): a mapping of str to str, checked before the trace is opened (so a bad
    one leaves no file behind); returns its items as a list of (key, value)."""
    if properties is None:
        return []
    if not hasattr(properties, "items"):
        raise TypeError("Recorder(properties=...) must be a mapping of str to str, not %s"
                        % type(properties).__name__)
    items = [(k, v) for k, v in properties.items()]  # tuples, whatever the mapping's items() yields
    for k, v in items:
        check_property(k, v, "Recorder(properties=...)")
    return items


def check_time(value, what):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("%s must be an int (ns of servprof.now_ns()), not %s" % (what, type(value).__name__))
    if value < 0 or value >= NO_BATCH:
        raise ValueError("%s = %d is out of range (0 .. 2**64-2 ns)" % (what, value))
    return value


def check_span(start_ns, end_ns):
    """A time span's two ends (check_time each), the end not before the start."""
    check_time(start_ns, "start_ns")
    check_time(end_ns, "end_ns")
    if end_ns < start_ns:
        raise ValueError("end_ns %d is before start_ns %d" % (end_ns, start_ns))


def check_count(value, what, allow_none=True):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("%s must be an int%s, not %s" % (what, " or None" if allow_none else "", type(value).__name__))
    if value < 0 or value >= (1 << 63):
        raise ValueError("%s = %d is out of range (0 .. 2**63-1)" % (what, value))
    return value


def check_request_id(request_id):
    """A request id is a str (X-Request-Id, a traceparent trace id: 1..255 bytes of printable text) or
    an int in 0 .. 2**63-1 (the trace's own numeric id)."""
    if isinstance(request_id, str):
        b = request_id.encode("utf-8", "surrogatepass")
        if not b or len(b) > MAX_LABEL:
            raise ValueError("request id %r: must be 1..%d bytes" % (request_id[:60], MAX_LABEL))
        if any(c < 0x20 or c == 0x7f for c in b):
            raise ValueError("request id %r holds a control character" % request_id[:60])
        return request_id
    if isinstance(request_id, bool) or not isinstance(request_id, int):
        raise TypeError("request id must be a str or an int, not %s" % type(request_id).__name__)
    if request_id < 0 or request_id >= LABELLED_ID_BASE:
        raise ValueError("integer request id %d is out of range (0 .. 2**63-1)" % request_id)
    return request_id


def check_step_member(member, i):
    """Member `i` of a step: a (request, phase, tokens) tuple or list -> (request, phase index, tokens).
    `request` is checked by the caller (a Request or a request id). TypeError / ValueError otherwise."""
    if not isinstance(member, (tuple, list)) or len(member) != 3:
        raise TypeError("step member %d must be a (request, phase, tokens) tuple, not %r" % (i, member))
    request, phase, tokens = member
    if not isinstance(phase, str):
        raise TypeError("step member %d: phase must be a str (one of %s), not %s" % (i, ", ".join(PHASES),
                                                                                   type(phase).__name__))
    if phase not in PHASES:
        raise ValueError("step member %d: unknown phase %r (one of %s)" % (i, phase[:60], ", ".join(PHASES)))
    if isinstance(tokens, bool) or not isinstance(tokens, int):
        raise TypeError("step member %d: tokens must be an int, not %s" % (i, type(tokens).__name__))
    if tokens < 1 or tokens > MAX_STEP_TOKENS:
        raise ValueError("step member %d: tokens = %d is out of range (1 .. 2**32-1: the tokens the step computed "
                         "for it, 1 for a decode)" % (i, tokens))
    return request, PHASES.index(phase), tokens


def check_kv(used, capacity):
    """A step's KV cache occupancy after it and its capacity, in tokens (None: 0, unknown capacity)."""
    used = check_count(used, "kv_used") or 0
    capacity = check_count(capacity, "kv_capacity") or 0
    if capacity and used > capacity:
        raise ValueError("kv_used %d exceeds kv_capacity %d" % (used, capacity))
    return used, capacity


def check_outcome(outcome, status):
    if not isinstance(outcome, str):
        raise TypeError("outcome must be a str, one of %s" % ", ".join(OUTCOMES))
    if outcome not in OUTCOMES:
        raise ValueError("unknown outcome %r (one of %s)" % (outcome, ", ".join(OUTCOMES)))
    if isinstance(status, bool) or not isinstance(status, int):
        raise TypeError("status must be an int (an HTTP status, 0 for none)")
    if status < 0 or status > 999:
        raise ValueError("status %d is out of range (0..999)" % status)
    return OUTCOMES.index(outcome)


_HEX = frozenset("0123456789abcdefABCDEF")


def _hex_id(value, nbytes, what, allow_none=False):
    if value is None and allow_none:
        return bytes(nbytes)
    if isinstance(value, (bytes, bytearray)):
        if len(value) != nbytes:
            raise ValueError("%s must be %d bytes, not %d" % (what, nbytes, len(value)))
        b = bytes(value)
    elif isinstance(value, str):
        if len(value) != 2 * nbytes or not set(value) <= _HEX:
            raise ValueError("%s %r: must be %d hex digits" % (what, value[:40], 2 * nbytes))
        b = bytes.fromhex(value)
    else:
        raise TypeError("%s must be a str of hex digits or bytes, not %s" % (what, type(value).__name__))
    if not any(b):
        raise ValueError("%s is all zeros (not a valid W3C id)" % what)
    return b


def check_trace_context(trace_id, span_id, parent_id=None, flags=1):
    """A W3C trace context (hex text or bytes): returns (trace_id 16 bytes, span_id 8, parent_id 8 (zeros:
    none), flags). TypeError / ValueError otherwise."""
    t = _hex_id(trace_id, 16, "trace_id")
    s = _hex_id(span_id, 8, "span_id")
    p = _hex_id(parent_id, 8, "parent_id", allow_none=True)
    if isinstance(flags, bool) or not isinstance(flags, int):
        raise TypeError("flags must be an int (W3C trace-flags)")
    if flags < 0 or flags > 255:
        raise ValueError("flags %d is out of range (0..255)" % flags)
    return t, s, p, flags


def parse_traceparent(value):
    """A W3C `traceparent` header value (bytes or str) -> (trace_id, parent_id, flags) as (hex, hex,
    int), or None when it is not valid under the Recommendation's rules (lower-case hex; version 00
    exactly 55 characters; a later version, not ff, at least that with a '-' after it; trace-id and
    parent-id not all zero). The same rules as the C library's sp_trace_context_parse."""
    if isinstance(value, (bytes, bytearray)):
        try:
            value = bytes(value).decode("ascii")
        except UnicodeDecodeError:
            return None
    if not isinstance(value, str):
        return None
    v = value.strip(" \t")
    if len(v) < 55 or v[2] != "-" or v[35] != "-" or v[52] != "-":
        return None
    lower = set("0123456789abcdef")
    version, trace, parent, flags = v[0:2], v[3:35], v[36:52], v[53:55]
    if not (set(version) | set(trace) | set(parent) | set(flags)) <= lower or version == "ff":
        return None
    if version == "00" and len(v) != 55:
        return None
    if len(v) > 55 and v[55] != "-":
        return None
    if trace == "0" * 32 or parent == "0" * 16:
        return None
    return trace, parent, int(flags, 16)


def open_error(path, resolved, message):
    """The message of the OSError of a Recorder that could not open `resolved` (from `path`, as given):
    libservprof's `message`, and where another process records to the file and the path as given has
    no {pid}, the likely cause (the workers of uvicorn --workers N or gunicorn, each opening the same
    file: the second one's start-up fails) and the fix."""
    if isinstance(message, bytes):  # the C extension passes libservprof's bytes (a path need not be UTF-8)
        message = message.decode(errors="replace")
    if not message:
        message = "servprof.Recorder(%r): I/O error" % resolved
    given = os.fsdecode(os.fspath(path))
    if "is recording to it" in message and "{pid}" not in given:
        stem, ext = os.path.splitext(given)
        message += ("; each process needs a trace file of its own (uvicorn --workers N, gunicorn): put {pid} "
                    "in the path, e.g. %r" % (stem + "-{pid}" + (ext or ".sptrace")))
    return message


def resolve_path(path):
    """The recorder's file: os.PathLike or str; "{pid}" is replaced with this process's id (one
    trace per worker process of a server such as uvicorn --workers N)."""
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, str):
        raise TypeError("path must be a str or os.PathLike")
    if not path:
        raise ValueError("path is empty")
    return path.replace("{pid}", str(os.getpid()))


# how many disjoint intervals a Request keeps of what its spans and batches cover (_native_int.h's
# SP_PY_COVER): servprof.loop's event_loop spans keep out of them
COVER_KEEP = 8


def cover_add(cover, s, e, keep=COVER_KEEP):
    """Adds [s, e) to `cover`, a list of sorted, disjoint [start, end) pairs (overlapping or touching
    ones merged); past `keep` intervals the two with the smallest gap between them become one, so the
    list stays a superset of what was added. _native.c's cover_add does the same in C."""
    if e <= s:
        return
    n = len(cover)
    i = 0
    while i < n and cover[i][1] < s:
        i += 1
    j = i
    while j < n and cover[j][0] <= e:
        s = min(s, cover[j][0])
        e = max(e, cover[j][1])
        j += 1
    cover[i:j] = [(s, e)]
    if len(cover) > keep:
        k = min(range(len(cover) - 1), key=lambda m: cover[m + 1][0] - cover[m][1])
        cover[k:k + 2] = [(cover[k][0], cover[k + 1][1])]
