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
  than the threshold are. Each stall is told by the loop thread's CPU time since the tick before
  (time.thread_time_ns): at least the threshold, or half the stall, on the CPU: the loop was busy with
  work on it (CPU-bound tokenisation, detokenisation, torch calls; slowed down or not by other
  processes), stage `event_loop`; less: the loop thread was mostly off the CPU (a call that sleeps or
  waits: synchronous I/O, time.sleep, a lock, the GIL held by another thread; or an idle loop whose
  process waited for a CPU on a busy host), stage `event_loop_wait`. Between two ticks an idle loop
  runs next to nothing, so more CPU than the threshold means a callback held it;
- the stalls, kept in a ring of `keep` (older ones dropped and counted in `stalls_dropped`);
- at each request's end the middleware calls attribute(request): the stalls that overlap the
  request's life [arrival, done], and the one in progress (the tick overdue now: [due, now)), less
  what the application's own spans and batches cover (Request._covered), are recorded as spans of
  those two stages, at most `max_pieces` a request and stage (more dropped and counted in
  `pieces_dropped`).

stall_pieces() is the pure part, unit-tested with known answers (tests/python/test_loop.py).
"""
import asyncio
import collections
import os
import time

from . import now_ns

# whether a middleware measures its loop's stalls when not told (loop_stalls=None):
# SERVPROF_LOOP_STALLS=0 in the environment turns it off
DEFAULT = os.environ.get("SERVPROF_LOOP_STALLS", "1") != "0"

STAGE = "event_loop"            # the loop busy with work on it
WAIT_STAGE = "event_loop_wait"  # the loop thread off the CPU while the loop was due
STAGES = (STAGE, WAIT_STAGE)
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
        self._cpu = 0            # the loop thread's CPU time at the last tick (time.thread_time_ns)
        self._handle = None
        self._declared = set()
        self.ticks = 0
        self.stalls_seen = 0     # stalls measured (with those the ring has let go)
        self.stalled_ns = 0      # their total length
        self.stalled_cpu_ns = 0  # the part of it told as work on the loop (event_loop)
        self.stalls_dropped = 0  # stalls the ring let go (the oldest, past `keep`)
        self.pieces = 0          # event_loop spans recorded
        self.pieces_dropped = 0  # pieces past max_pieces of a request, not recorded

    def stats(self):
        return {"ticks": self.ticks, "stalls": self.stalls_seen, "stalled_ns": self.stalled_ns,
                "stalled_cpu_ns": self.stalled_cpu_ns,
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
        self._cpu = time.thread_time_ns()
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

    def _kind(self, due, t, cpu):
        """The stage of a stall [due, t) whose loop thread ran `cpu` ns since the tick before."""
        busy = cpu - self._cpu
        return STAGE if busy >= self.threshold_ns or 2 * busy >= t - due else WAIT_STAGE

    def _tick(self):
        t = now_ns()
        cpu = time.thread_time_ns()
        self.ticks += 1
        due = self.due
        if due is not None and t - due > self.threshold_ns:
            if len(self.stalls) == self.stalls.maxlen:
                self.stalls_dropped += 1
            kind = self._kind(due, t, cpu)
            self.stalls.append((due, t, kind))
            self.stalls_seen += 1
            self.stalled_ns += t - due
            if kind == STAGE:
                self.stalled_cpu_ns += t - due
        self._cpu = cpu
        loop = self.loop
        if loop is not None and not loop.is_closed():
            self._schedule(loop)

    def overlapping(self, arrival, done):
        """The stalls (start, end, stage) that overlap [arrival, done), in time order, with the one in
        progress now when the tick is overdue by more than the threshold (told by the CPU time of the
        calling thread: the loop's, where a middleware calls it)."""
        out = []
        for st in reversed(self.stalls):
            if st[1] <= arrival:
                break
            if st[0] < done:
                out.append(st)
        out.reverse()
        due = self.due
        if due is not None and self.loop is not None:
            t = now_ns()
            if t - due > self.threshold_ns and due < done:
                out.append((due, t, self._kind(due, t, time.thread_time_ns())))
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
        covered = req._covered
        n = 0
        for stage in STAGES:
            pieces, dropped = stall_pieces([(s, e) for s, e, k in stalls if k == stage], arrival, done, covered,
                                           self.max_pieces)
            self.pieces_dropped += dropped
            if not pieces:
                continue
            if stage not in self._declared:
                self.recorder.declare_stage(stage)
                self._declared.add(stage)
            for s, e in pieces:
                req.span(stage, s, e)
            n += len(pieces)
        self.pieces += n
        return n
