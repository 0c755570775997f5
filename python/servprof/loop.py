"""Stalls of the asyncio event loop, measured and given to the requests that waited on them
(docs/python.md, "Event loop stalls").

A blocking call on the loop (a CPU-bound tokenisation or detokenisation, a torch call, time.sleep in an
async handler) holds every other request: none is read, advanced or answered until it returns. Without
a measure the report shows that time as `network` (a request that arrived while the loop was blocked
is read late) or `other` (a result that waits for the loop to hand it on). The middlewares of
servprof.asgi and servprof.aiohttp run a StallMonitor on their loop:

- a ticker: a loop.call_at callback every `interval_ms`; a tick that runs later than it was due by more
  than `threshold_ms` is a stall [due, ran) (the loop could not run it in between). A stall is measured
  from the tick's due time, so up to one interval of its start is not seen, and only blocks longer
  than the threshold are;
- the stalls, kept in a ring of `keep` (older ones dropped and counted in `stalls_dropped`);
- at each request's end the middleware calls attribute(request): the stalls that overlap the
  request's life [arrival, done], and the one in progress (the tick overdue now: [due, now)), less
  what the application's own spans and batches cover (Request._covered), are recorded as spans of the
  stage `event_loop`, at most `max_pieces` a request (more dropped and counted in `pieces_dropped`).

stall_pieces() is the pure part, unit-tested with known answers (tests/python/test_loop.py).
"""
import asyncio
import collections
import os

from . import now_ns

# whether a middleware measures its loop's stalls when not told (loop_stalls=None):
# SERVPROF_LOOP_STALLS=0 in the environment turns it off
DEFAULT = os.environ.get("SERVPROF_LOOP_STALLS", "1") != "0"

STAGE = "event_loop"
INTERVAL_MS = 1.0
THRESHOLD_MS = 2.0
KEEP = 4096
MAX_PIECES = 64


def stall_pieces(stalls, arrival, done, covered=(), cap=MAX_PIECES):
    """The event_loop pieces of one request: each stall [s, e) of `stalls` (sorted by time, disjoint)
    clipped to the request's life [arrival, done), less the intervals of `covered` (sorted, disjoint:
    the application's own spans and batches). Returns (pieces, dropped): at most `cap` pieces, in time
    order, and how many more there were."""
    pieces = []
    dropped = 0
    ci = 0
    nc = len(covered)
    for s, e in stalls:
        if e <= arrival:
            continue
        if s >= done:
            break
        s = max(s, arrival)
        e = min(e, done)
        # skip covered intervals that end before this stall starts (stalls come in time order)
        while ci < nc and covered[ci][1] <= s:
            ci += 1
        k = ci
        while s < e:
            if k < nc and covered[k][0] < e:
                cs, ce = covered[k]
                if cs > s:
                    if len(pieces) < cap:
                        pieces.append((s, cs))
                    else:
                        dropped += 1
                s = max(s, ce)
                k += 1
            else:
                if len(pieces) < cap:
                    pieces.append((s, e))
                else:
                    dropped += 1
                break
    return pieces, dropped


class StallMonitor:
    """The stalls of one event loop (the one running when start() is first called, or a new one that
    replaces it) and their attribution to requests. Never blocks and never raises into the service:
    the middleware counts what goes wrong in its `errors`."""

    def __init__(self, recorder, *, interval_ms=INTERVAL_MS, threshold_ms=THRESHOLD_MS, keep=KEEP,
                 max_pieces=MAX_PIECES):
        for name, v in (("interval_ms", interval_ms), ("threshold_ms", threshold_ms)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
                raise ValueError("loop_stalls: %s must be a number above 0, not %r" % (name, v))
        for name, v in (("keep", keep), ("max_pieces", max_pieces)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError("loop_stalls: %s must be an int of 1 or more, not %r" % (name, v))
        self.recorder = recorder
        self.interval_s = interval_ms / 1e3
        self.threshold_ns = int(threshold_ms * 1e6)
        self.max_pieces = max_pieces
        self.stalls = collections.deque(maxlen=keep)
        self.loop = None
        self.due = None          # when the next tick is due (ns, servprof.now_ns's clock)
        self._handle = None
        self._declared = False
        self.ticks = 0
        self.stalls_seen = 0     # stalls measured (with those the ring has let go)
        self.stalled_ns = 0      # their total length
        self.stalls_dropped = 0  # stalls the ring let go (the oldest, past `keep`)
        self.pieces = 0          # event_loop spans recorded
        self.pieces_dropped = 0  # pieces past max_pieces of a request, not recorded

    def stats(self):
        return {"ticks": self.ticks, "stalls": self.stalls_seen, "stalled_ns": self.stalled_ns,
                "stalls_dropped": self.stalls_dropped, "pieces": self.pieces, "pieces_dropped": self.pieces_dropped}

    def ensure(self):
        """Starts the ticker on the running loop unless it runs there already (a middleware calls this
        on each request: a new loop, e.g. another asyncio.run, gets a fresh start)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # driven without a loop (by hand): nothing to tick on, nothing to attribute
            self.stop()
            return
        if loop is self.loop:
            return
        if self._handle is not None:
            self._handle.cancel()
        self.loop = loop
        self.stalls.clear()
        self._schedule(loop)

    def _schedule(self, loop):
        when = loop.time() + self.interval_s
        # loop.time() is time.monotonic(): CLOCK_MONOTONIC, servprof.now_ns()'s clock
        self.due = int(when * 1e9)
        self._handle = loop.call_at(when, self._tick)

    def stop(self):
        if self._handle is not None:
            self._handle.cancel()
        self._handle = None
        self.loop = None
        self.due = None

    def _tick(self):
        t = now_ns()
        self.ticks += 1
        due = self.due
        if due is not None and t - due > self.threshold_ns:
            if len(self.stalls) == self.stalls.maxlen:
                self.stalls_dropped += 1
            self.stalls.append((due, t))
            self.stalls_seen += 1
            self.stalled_ns += t - due
        loop = self.loop
        if loop is not None and not loop.is_closed():
            self._schedule(loop)

    def overlapping(self, arrival, done, now=None):
        """The stalls that overlap [arrival, done), in time order, with the one in progress at `now`
        (None: servprof.now_ns()) when the tick is overdue by more than the threshold."""
        out = []
        for s, e in reversed(self.stalls):
            if e <= arrival:
                break
            if s < done:
                out.append((s, e))
        out.reverse()
        due = self.due
        if due is not None and self.loop is not None:
            t = now_ns() if now is None else now
            if t - due > self.threshold_ns and due < done:
                out.append((due, t))
        return out

    def attribute(self, req):
        """Records the event_loop spans of ended request `req` (a servprof.Request); returns how many."""
        if req is None or self.loop is None:
            return 0
        arrival, done = req.arrival_ns, req.done_ns
        if done is None:
            return 0
        stalls = self.overlapping(arrival, done)
        if not stalls:
            return 0
        pieces, dropped = stall_pieces(stalls, arrival, done, req._covered, self.max_pieces)
        self.pieces_dropped += dropped
        if not pieces:
            return 0
        if not self._declared:
            self.recorder.declare_stage(STAGE)
            self._declared = True
        for s, e in pieces:
            req.span(STAGE, s, e)
        self.pieces += len(pieces)
        return len(pieces)
