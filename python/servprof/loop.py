"""Stalls of the asyncio event loop, measured and given to the requests that waited on them
(docs/python.md, "Event loop stalls").

A blocking call on the loop (a CPU-bound tokenisation or detokenisation, a torch call, time.sleep in an
async handler) holds every other request: none is read, advanced or answered until it returns. Without
a measure the report shows that time as `network` (a request that arrived while the loop was blocked
is read late), `other` (a result that waits for the loop to hand it on) or the middleware's filled
`postprocess`. The middlewares of servprof.asgi and servprof.aiohttp run a StallMonitor on their loop.
It measures the loop one of two ways:

- `selector` (asyncio's own loops, whose iterations wait in loop._selector.select): the monitor wraps
  that selector and times each iteration, from the return of one select() to the call of the next:
  the time the loop spent running callbacks. An iteration longer than `threshold_ms` is a stall
  [start, end), exact, and nothing wakes the loop: the cost is two clock reads a loop iteration;
- `ticker` (a loop without such a selector, e.g. uvloop's; only when asked, mode="ticker": "auto"
  measures nothing on such a loop, for the cost below), while a request is in flight (begin() to
  end(); an idle loop is not woken): a loop.call_at callback every `interval_ms`; a tick that runs
  later than it was due by more than `threshold_ms` is a stall [due, ran). A stall is seen from the
  tick's due time, so up to one interval of its start is missed. Each tick wakes the loop (about 85 us
  of CPU a wake on the project's VM: docs/BENCHMARKS.md, "Event loop stalls").

Each stall is told by the loop thread's CPU time over it (time.thread_time_ns) and whether the thread
went off the CPU of its own accord (a voluntary context switch, getrusage RUSAGE_THREAD): at least half
the stall on the CPU, or at least the threshold and never off it voluntarily: the loop was busy with
work on it (CPU-bound tokenisation, detokenisation, torch calls; slowed down or not by other
processes), stage `event_loop`; at least the threshold but under half, with a voluntary switch: a mix
(one iteration that ran some Python and a call that sleeps or waits), its CPU time `event_loop` and the
rest `event_loop_wait` (stall_parts); less than the threshold: the loop thread was off the CPU while
the loop was held (a call that sleeps or waits: synchronous I/O, time.sleep, a lock, the GIL held by
another thread; with the ticker also an idle loop whose process waited for a CPU on a busy host),
stage `event_loop_wait`.

The stalls are kept in a ring of `keep` (older ones dropped and counted in `stalls_dropped`). At each
request's end the middleware calls end(request), which calls attribute(request): the stalls that
overlap the request's life [arrival, done], and the one in progress (an iteration running, or a tick
overdue, for longer than the threshold: up to now), less what the application's own spans and
batches cover (Request._covered), are recorded as spans of those two stages, at most `max_pieces` a
request and stage (more dropped and counted in `pieces_dropped`). So are, before its arrival, the
stalls it may have waited on unread (its bytes came in while the loop was blocked; before()): the
chain of stalls that ends right before the arrival (each at most `pre_gap_ns`, three thresholds,
before the next), since the later of `pre_window_ns` (10 s) before the arrival and the loop's last
idle wait before it (selector: a select() with nothing to do; ticker: two ticks on time in a row, the
first of them), the latest `pre_pieces` (8). The server cannot know when the
request was sent; the analysis keeps only their part after the client's send, when a client trace is
merged, and none of it without one.

stall_pieces() is the pure part, unit-tested with known answers (tests/python/test_loop.py).
"""
import asyncio
import collections
import itertools
import os
import time
import warnings

try:
    import resource
except ImportError:  # not a Unix
    resource = None

from . import now_ns

# whether a middleware measures its loop's stalls when not told (loop_stalls=None):
# SERVPROF_LOOP_STALLS=0 in the environment turns it off
DEFAULT = os.environ.get("SERVPROF_LOOP_STALLS", "1") != "0"

STAGE = "event_loop"            # the loop busy with work on it
WAIT_STAGE = "event_loop_wait"  # the loop thread off the CPU while the loop was due
STAGES = (STAGE, WAIT_STAGE)
INTERVAL_MS = 2.0
THRESHOLD_MS = 2.0
KEEP = 4096
MAX_PIECES = 64
# the stalls before a request's arrival it may have waited on unread (StallMonitor.pre_from): at most
# this many parts, ended at most this long before the arrival
PRE_PIECES = 8
PRE_WINDOW_MS = 10000.0
# before(): stalls of a chain before an arrival are at most this many thresholds apart (an ordinary
# iteration is shorter than one; a request read after a stall reaches the middleware within two)
PRE_GAP_THRESHOLDS = 3
# a select() that lasted this long waited: no socket was readable when it was called (one returns at
# once, in a few microseconds)
IDLE_WAIT_NS = 200000


def stall_parts(start, end, busy, threshold, waited=True):
    """The stall [start, end), during which the loop thread ran `busy` ns on the CPU, as (start, end,
    stage) parts; `waited`: the thread went off the CPU of its own accord during it (a sleep, a lock,
    the GIL, I/O: a voluntary context switch), not only because other processes took the CPU. On the
    CPU for at least half of it: the loop was busy with work on it, all `event_loop`. Less than half
    but at least `threshold`: without `waited`, CPU-bound work slowed down by other processes, all
    `event_loop` as well; with it, a mix, e.g. one iteration that resumed several streams whose
    callbacks each sleep 3 ms and run some Python: its CPU time is `event_loop`, the rest
    `event_loop_wait`, in that order (where in the stall each ran is not known; the lengths are).
    Less than `threshold`: all `event_loop_wait`."""
    if 2 * busy >= end - start or (busy >= threshold and not waited):
        return [(start, end, STAGE)]
    if busy >= threshold:
        return [(start, start + busy, STAGE), (start + busy, end, WAIT_STAGE)]
    return [(start, end, WAIT_STAGE)]


if resource is not None and hasattr(resource, "RUSAGE_THREAD"):
    def _waits():
        """The calling thread's voluntary context switches so far (getrusage, about 0.6 us)."""
        return resource.getrusage(resource.RUSAGE_THREAD).ru_nvcsw
else:
    _calls = itertools.count()

    def _waits():
        """No per-thread count (not Linux): a new number each call, so every mixed stall is taken as one
        that waited."""
        return next(_calls)


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


class _TimedSelector:
    """loop._selector wrapped: select() notes when each loop iteration starts (select returns) and ends
    (the next select is called) on its monitor; everything else is the selector's."""

    def __init__(self, selector, monitor):
        self._sp_selector = selector
        self._sp_monitor = monitor

    def select(self, timeout=None):
        mon = self._sp_monitor
        # the iteration that ends here: a stall when longer than the threshold (inline: once an iteration)
        start = mon._iter_start
        mon.iterations += 1
        called = now_ns()
        if start is not None and called - start > mon.threshold_ns:
            mon._stall(start, called, time.thread_time_ns() - mon._iter_cpu, _waits() - mon._iter_vol)
        try:
            events = self._sp_selector.select(timeout)
        finally:
            t = mon._iter_start = now_ns()
            # the thread's CPU time (a system call, about 0.6 us) at most every half threshold: a busy
            # loop's iterations take one reading between them, which then counts up to half a threshold
            # of the CPU before the iteration as the stall's (stall_parts' threshold allows for it)
            if t - mon._iter_cpu_at >= mon._cpu_every:
                mon._iter_cpu = time.thread_time_ns()
                mon._iter_vol = _waits()
                mon._iter_cpu_at = t
        # an idle wait: the loop had nothing ready (timeout not 0) and no socket was readable when it
        # called select (nothing came back, or it waited: a readable one returns at once), so no request
        # was on its way into the server then and none arriving later waited on a stall before it
        # (StallMonitor.pre_from). A wait that a preemption made look long only keeps a stall from a
        # request (its time stays `network`, as without the measure). The first idle wait after a
        # stall is enough to know.
        if mon._stalled and timeout != 0 and (not events or t - called >= IDLE_WAIT_NS):
            mon._stalled = False
            mon.idles.append((called, called))
        return events

    def __getattr__(self, name):
        return getattr(self._sp_selector, name)


class StallMonitor:
    """The stalls of one event loop (the one running when a request first begins, or a new one that
    replaces it) and their attribution to requests. Never blocks and never raises into the service:
    the middleware counts what goes wrong in its `errors`. mode: "auto" (selector where the loop has
    one, else nothing: stats()["mode"] None), "selector" or "ticker"."""

    def __init__(self, recorder, *, interval_ms=INTERVAL_MS, threshold_ms=THRESHOLD_MS, keep=KEEP,
                 max_pieces=MAX_PIECES, mode="auto"):
        for name, v in (("interval_ms", interval_ms), ("threshold_ms", threshold_ms)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
                raise ValueError("loop_stalls: %s must be a number above 0, not %r" % (name, v))
        for name, v in (("keep", keep), ("max_pieces", max_pieces)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError("loop_stalls: %s must be an int of 1 or more, not %r" % (name, v))
        if mode not in ("auto", "selector", "ticker"):
            raise ValueError("loop_stalls: mode must be 'auto', 'selector' or 'ticker', not %r" % (mode,))
        self.recorder = recorder
        self.mode = mode
        self.interval_s = interval_ms / 1e3
        self.threshold_ns = int(threshold_ms * 1e6)
        self.max_pieces = max_pieces
        self.stalls = collections.deque(maxlen=keep)
        self.pre_window_ns = int(PRE_WINDOW_MS * 1e6)
        self.pre_gap_ns = PRE_GAP_THRESHOLDS * self.threshold_ns
        self.pre_pieces = PRE_PIECES
        # the first idle wait after each stall, as (since, bound): a request that arrived after `since`
        # waited on no stall before `bound` (ns; pre_from). Selector: an idle select(), both its call;
        # ticker: two ticks on time in a row, since the second, bound the first (_on_time)
        self.idles = collections.deque(maxlen=keep)
        self._stalled = False    # a stall since the last idle wait noted in idles
        self._on_time_at = None  # ticker: the first tick on time since the last stall (ns), if one came
        self.loop = None
        self.using = None        # how the running loop is measured: "selector" or "ticker"
        self.due = None          # ticker: when the next tick is due (ns, servprof.now_ns's clock)
        self._cpu = 0            # ticker: the loop thread's CPU time at the last tick (time.thread_time_ns)
        self._handle = None
        self._wrapped = None     # selector: the wrapper put on the loop, and the selector it wraps
        self._iter_start = None  # selector: when the running iteration started
        self._iter_cpu = 0       # selector: the loop thread's CPU time at _iter_cpu_at, at most half a
        self._iter_cpu_at = 0    # threshold before the running iteration started
        self._iter_vol = 0       # selector: the loop thread's voluntary context switches then (_waits)
        self._vol = 0            # ticker: the same at the last tick
        self._cpu_every = self.threshold_ns // 2
        self._declared = set()
        self._warned = False     # auto on a loop it cannot measure: said once (_unmeasured)
        self.inflight = 0        # requests between begin() and end(): the ticker runs while there are some
        self.ticks = 0
        self.iterations = 0
        self.stalls_seen = 0     # stalls measured (with those the ring has let go)
        self.stalled_ns = 0      # their total length
        self.stalled_cpu_ns = 0  # the part of it told as work on the loop (event_loop)
        self.stalls_dropped = 0  # stall parts the ring let go (the oldest, past `keep`; a split stall is two)
        self.pieces = 0          # event_loop spans recorded
        self.pieces_dropped = 0  # pieces past max_pieces of a request, not recorded

    def stats(self):
        return {"mode": self.using, "ticks": self.ticks, "iterations": self.iterations, "stalls": self.stalls_seen,
                "stalled_ns": self.stalled_ns, "stalled_cpu_ns": self.stalled_cpu_ns,
                "stalls_dropped": self.stalls_dropped, "pieces": self.pieces, "pieces_dropped": self.pieces_dropped}

    def begin(self):
        """A request starts on the running loop: counted in flight, and the measure started there unless
        it runs already (a new loop, e.g. another asyncio.run, gets a fresh start). end() must follow."""
        self.inflight += 1
        if self.using != "selector" or self.loop is not asyncio._get_running_loop():
            self.ensure()

    def end(self, req):
        """A request of begin() ended: its event_loop spans (attribute), one fewer in flight."""
        if self.inflight > 0:
            self.inflight -= 1
        if req is None or not req.ended or self.using is None:
            return 0
        # the usual request: no stall since pre_gap_ns before its arrival, none in progress (attribute's
        # answer, sooner)
        if self.using == "selector":
            stalls, start = self.stalls, self._iter_start
            if ((not stalls or stalls[-1][1] + self.pre_gap_ns <= req.arrival_ns)
                    and (start is None or now_ns() - start <= self.threshold_ns)):
                return 0
        return self.attribute(req)

    def ensure(self):
        """Starts the measure on the running loop unless it runs there already."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # driven without a loop (by hand): nothing to measure, nothing to attribute
            self.stop()
            return
        if loop is self.loop:
            if self.using == "ticker" and self._handle is None:
                self._cpu = time.thread_time_ns()
                self._vol = _waits()
                self._schedule(loop)
            return
        self.stop()
        self.loop = loop
        self.stalls.clear()
        self.idles.clear()
        self._stalled = False
        self._on_time_at = None
        sel = getattr(loop, "_selector", None)
        if self.mode != "ticker" and sel is not None and callable(getattr(sel, "select", None)):
            # (another monitor's wrapper is wrapped in turn: each times the same iterations)
            self._wrapped = (_TimedSelector(sel, self), loop._selector)
            loop._selector = self._wrapped[0]
            self.using = "selector"
            # the running iteration (this callback's) started before now: from here it is timed
            self._iter_start = self._iter_cpu_at = now_ns()
            self._iter_cpu = time.thread_time_ns()
            self._iter_vol = _waits()
            return
        if self.mode == "selector":
            raise RuntimeError("loop_stalls: %s has no selector to time (mode='selector')" % type(loop).__name__)
        if self.mode == "auto":
            # no selector to time (uvloop's loop): the ticker's wake-ups cost 4-5% of a core while a request
            # is in flight (docs/BENCHMARKS.md, "Event loop stalls"), more than the recorder may take from a
            # service unasked, so "auto" measures nothing here; mode="ticker" asks for it. Said once, in
            # a warning and in the trace (property event_loop.stalls): uvicorn's default loop is uvloop
            # wherever uvloop is installed, so a service can lose the measure without choosing to
            self.using = None
            self.due = None
            self._unmeasured(loop)
            return
        self.using = "ticker"
        self._cpu = time.thread_time_ns()
        self._vol = _waits()
        self._schedule(loop)

    def _unmeasured(self, loop):
        """The first loop "auto" cannot measure: a RuntimeWarning and the trace property
        event_loop.stalls (docs/native-format.md, "Properties"), once per monitor."""
        if self._warned:
            return
        self._warned = True
        what = "%s.%s" % (type(loop).__module__, type(loop).__qualname__)
        why = ("%s has no selector to time (a loop such as uvloop's, which uvicorn picks "
               "wherever uvloop is installed). Run uvicorn with loop=\"asyncio\" (--loop asyncio), or pass "
               "loop_stalls=servprof.loop.StallMonitor(rec, mode=\"ticker\") (4-5%% of a core)" % what)
        try:
            self.recorder.set_property("event_loop.stalls", "unmeasured: " + why)
        except Exception:  # noqa: BLE001  (a closed recorder or a stand-in: the warning still says it)
            pass
        warnings.warn("servprof: event loop stalls not measured: " + why, RuntimeWarning, stacklevel=2)

    def _schedule(self, loop):
        when = loop.time() + self.interval_s
        # loop.time() is time.monotonic(): CLOCK_MONOTONIC, servprof.now_ns()'s clock
        self.due = int(when * 1e9)
        self._handle = loop.call_at(when, self._tick)

    def stop(self):
        """Stops measuring: the ticker cancelled, the loop's own selector put back."""
        if self._handle is not None:
            self._handle.cancel()
        self._handle = None
        if self._wrapped is not None and self.loop is not None and self.loop._selector is self._wrapped[0]:
            self.loop._selector = self._wrapped[1]
        self._wrapped = None
        self._iter_start = None
        self.loop = None
        self.using = None
        self.due = None

    def _parts(self, start, t, busy, waits):
        """A stall [start, t) during which the loop thread ran `busy` ns and went off the CPU of its own
        accord `waits` times, as (start, end, stage) parts (stall_parts)."""
        return stall_parts(start, t, busy, self.threshold_ns, waits != 0)

    def _stall(self, start, t, busy, waits):
        self.stalls_seen += 1
        self._stalled = True
        self._on_time_at = None
        self.stalled_ns += t - start
        for part in self._parts(start, t, busy, waits):
            if len(self.stalls) == self.stalls.maxlen:
                self.stalls_dropped += 1
            self.stalls.append(part)
            if part[2] == STAGE:
                self.stalled_cpu_ns += part[1] - part[0]

    def _tick(self):
        t = now_ns()
        cpu = time.thread_time_ns()
        self.ticks += 1
        due = self.due
        if due is not None and t - due > self.threshold_ns:
            self._stall(due, t, cpu - self._cpu, _waits() - self._vol)
        elif due is not None and self._stalled:
            self._on_time(t)
        self._cpu = cpu
        self._vol = _waits()
        loop = self.loop
        if self.inflight > 0 and loop is not None and not loop.is_closed():
            self._schedule(loop)
        else:  # nothing in flight: the loop may sleep until the next request's begin()
            self._handle = None
            self.due = None
            self._on_time_at = None  # the next two ticks on time must come after the restart

    def _on_time(self, t):
        """A tick ran on time at `t` after a stall (ticker). The loop was free then, but a tick is a timer,
        run at the start of an iteration: a request whose bytes came in during the stall may be read in
        this very iteration and start after it. The next tick on time, with no stall between, shows that
        iteration done and the loop free again: a request read in it has started by then (its task runs
        in the next iteration, which a ready task does not wait for, nor a blocking one go unseen past
        the threshold), so one that arrives after that second tick waited on no stall before the first.
        Noted in idles as (second, first), as the selector's idle wait is."""
        if self._on_time_at is None:
            self._on_time_at = t
            return
        self.idles.append((t, self._on_time_at))
        self._stalled = False
        self._on_time_at = None

    def pre_from(self, arrival):
        """Since when a request that arrived (was read, the middleware's entry) at `arrival` may have
        waited on the loop before it: a request whose bytes reach the server while the loop is blocked
        is read after the stall, which the client's trace shows as time before the arrival. The server
        cannot know when the request was sent, so the stalls since this bound are recorded as its spans
        before the arrival, and the analysis keeps only their part after the client's send (a merged
        client trace; without one, nothing before the arrival counts): docs/python.md, "Event loop
        stalls". The bound: `pre_window_ns` before the arrival, or the last time before it that the
        loop was seen free with no request on its way in (idles: a selector's idle wait; the ticker's
        first of two ticks on time, for arrivals after the second), whichever is later."""
        lo = arrival - self.pre_window_ns
        for since, bound in reversed(self.idles):
            if since < arrival:
                return bound if bound > lo else lo
        return lo

    def _running(self, done):
        """The stall in progress now, as parts, when it has lasted longer than the threshold and began
        before `done` (told by the CPU time of the calling thread: the loop's, where a middleware calls
        it); else []."""
        if self.using == "selector":
            start, cpu0, vol0 = self._iter_start, self._iter_cpu, self._iter_vol
        else:
            start, cpu0, vol0 = self.due, self._cpu, self._vol
        if start is not None and self.loop is not None:
            t = now_ns()
            if t - start > self.threshold_ns and start < done:
                return self._parts(start, t, time.thread_time_ns() - cpu0, _waits() - vol0)
        return []

    def _kept(self, arrival, done):
        """The stalls of the ring that overlap [arrival, done), in time order."""
        out = []
        for st in reversed(self.stalls):
            if st[1] <= arrival:
                break
            if st[0] < done:
                out.append(st)
        out.reverse()
        return out

    def overlapping(self, arrival, done):
        """The stalls (start, end, stage) that overlap [arrival, done), in time order, with the one in
        progress now when it has lasted longer than the threshold."""
        return self._kept(arrival, done) + self._running(done)

    def before(self, arrival, running=()):
        """The stall parts (start, end, stage) before `arrival` that a request read then may have waited
        on unread, in time order, cut at the arrival: walking back from it, each part ending at most
        `pre_gap_ns` before the next one's start (the first: before the arrival), so a chain of stalls
        with no more than a couple of ordinary iterations between them (a request read right after a
        stall reaches the middleware within one or two); since pre_from(arrival); the latest
        `pre_pieces`. `running`: the stall in progress (_running), after the ring's. A request read
        long after the last stall pays nothing here (end()'s test)."""
        lo = self.pre_from(arrival)
        out = []
        edge = arrival
        for st in itertools.chain(reversed(running), reversed(self.stalls)):
            s, e, k = st
            if s >= arrival:  # in the life (attribute's other pieces)
                continue
            if e <= lo or e + self.pre_gap_ns < edge:
                break
            out.append((max(s, lo), min(e, arrival), k))
            if len(out) == self.pre_pieces:
                break
            edge = s
        out.reverse()
        return out

    def attribute(self, req):
        """Records the event_loop spans of ended request `req` (a servprof.Request); returns how many."""
        if req is None or self.loop is None:
            return 0
        arrival, done = req.arrival_ns, req.done_ns
        if done is None:
            return 0
        running = self._running(done)
        stalls = self._kept(arrival, done) + running
        # before the arrival: nothing of the application covers them (its spans start at the arrival)
        pre = self.before(arrival, running)
        if not stalls and not pre:
            return 0
        covered = req._covered
        n = 0
        for stage in STAGES:
            pieces, dropped = stall_pieces([(s, e) for s, e, k in stalls if k == stage], arrival, done, covered,
                                           self.max_pieces)
            self.pieces_dropped += dropped
            pieces = [(s, e) for s, e, k in pre if k == stage] + pieces
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
