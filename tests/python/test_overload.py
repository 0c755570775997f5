"""A service overloaded, timed out and killed, as a new user profiles one (docs/python.md, "Overload, client
timeouts and kill -9"): tests/python/overload_service.py (a PyTorch encoder behind FastAPI + uvicorn
or aiohttp, a bounded queue that answers 503, a bad input that raises, a slow one) driven by `servprof
load` at about twice what it serves with a client timeout, then killed with SIGKILL mid-load. The trace
must analyse without --lenient and say it did not close cleanly; each request's outcome must agree with
what the client got (200 ok, 503 rejected, 500 error, a timeout cancelled, in flight at the kill
unfinished), the report's counts with the client trace's, and the verdict must name the app's queue
and the rejections. Asserts outcomes and orderings only, never timings."""
import json
import os
import signal
import subprocess
import time

from sptest import BIN, TempDirCase, analyze, export_requests, require, start_service

require("torch")
require("aiohttp")
require("fastapi")
require("uvicorn")

BACKENDS = ("native", "ctypes")   # the service records through the backend the test runs with
SERVICE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "overload_service.py")
# the request texts, one a line, cycled by `load --length file:`: request c1-N gets line (N - 1) % 20
TEXTS = ["boom: an input the service cannot read"] + [
    ("slow " if i in (5, 15) else "") + " ".join("w%d" % ((i * 7 + j) % 50) for j in range(8 + i * 2))
    for i in range(1, 20)]
TIMEOUT_S = 1.0   # the client's; a "slow" input waits 2 s in the service: always past it. Not shorter:
# on a loaded machine (a full ctest beside other builds) a 0.25 s timeout left 1 request ok of 793


class OverloadCase(TempDirCase):
    def run_killed(self, app):
        texts = self.path("texts.txt")
        with open(texts, "w") as f:
            f.write("\n".join(TEXTS) + "\n")
        trace, client = self.path(app + ".sptrace"), self.path(app + ".client.jsonl")
        p, port, err = start_service(self, SERVICE, app, ["--app", app])
        try:
            ld = subprocess.Popen([BIN, "load", "--url", "http://127.0.0.1:%d/v1/embeddings" % port,
                                   "--rate", "400", "--duration", "4", "--timeout", str(TIMEOUT_S),
                                   "--length", "file:" + texts, "--no-progress", "--trace", client],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            time.sleep(3.5)   # slow inputs sent in the first 1.5 s are answered (and cancelled) before it
            p.send_signal(signal.SIGKILL)   # mid-load: the load goes on against a dead port
            p.wait(timeout=30)
            out, _ = ld.communicate(timeout=120)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            err.close()
        self.assertEqual(ld.returncode, 0, out)
        self.assertEqual(p.returncode, -signal.SIGKILL)
        records = {}
        with open(client) as f:
            for line in f:
                ev = json.loads(line)
                if ev.get("ev") == "client":
                    records[ev["id"]] = ev["status"]
        return trace, client, records

    def check(self, app):
        trace, client, records = self.run_killed(app)
        # it analyses, without --lenient, and says why it is short
        text = subprocess.run([BIN, "analyze", trace, client], capture_output=True, text=True, timeout=120)
        self.assertEqual(text.returncode, 0, text.stderr)
        self.assertIn("did not close cleanly", text.stdout)
        rep = analyze(trace, client)
        self.assertEqual(rep["data_quality"]["unclean_files"], 1)
        by = {k: v["count"] for k, v in rep["outcomes"]["by_outcome"].items()}
        for o in ("ok", "rejected", "error", "cancelled", "unfinished"):
            self.assertGreater(by.get(o, 0), 0, "%s: no %s request: %s" % (app, o, by))

        # each request the server recorded against what its client got
        server = {rid: (v["outcome"] or {"stringValue": "ok"})["stringValue"]
                  for rid, v in export_requests(self, trace).items()}
        self.assertEqual(sum(1 for o in server.values() if o != "unfinished"), sum(by.values()) - by["unfinished"])
        want = {200: "ok", 503: "rejected", 500: "error"}
        for rid, o in server.items():
            status = records.get(rid)
            if status is None:
                continue
            slow = TEXTS[(int(rid.split("-")[1]) - 1) % len(TEXTS)].startswith("slow")
            if status in want:
                # an answer the client got: its outcome; or unfinished, where the kill came after the
                # answer but before the writer's next cycle took the request's end (a few at most)
                self.assertIn(o, (want[status], "unfinished"), "%s: %s got %d" % (app, rid, status))
            elif status == -2 and slow:
                # the client gave up 1 s before the service answered: cancelled (or cut by the kill)
                self.assertIn(o, ("cancelled", "unfinished"), "%s: %s timed out (a slow input)" % (app, rid))
            elif o == "cancelled":
                self.assertLess(status, 0, "%s: %s cancelled, but its client got %d" % (app, rid, status))
        slow_timeouts = [rid for rid, o in server.items() if o == "cancelled"
                         and TEXTS[(int(rid.split("-")[1]) - 1) % len(TEXTS)].startswith("slow")]
        self.assertGreater(len(slow_timeouts), 0, app)
        # the unfinished are those in flight at the kill, and those answered in the writer's last period
        # whose end records the kill took (docs/recording.md: one period, more when the writer thread
        # waits for a core on a loaded machine): a tail of the run, never most of it
        unfinished = [rid for rid, o in server.items() if o == "unfinished"]
        answered = [rid for rid in unfinished if records.get(rid, -1) > 0]
        self.assertLessEqual(len(answered), len(server) // 4, "%s: %d of %d: %s" % (app, len(answered), len(server),
                                                                                  answered))

        # the report's counts and the client's: every 503 and 500 the client got is a rejected or error
        # request of the report, or one the server answered and lost when it died. The kill leaves a
        # few either way (an answer recorded but never written to the client; an unfinished request
        # whose id label the kill took, joined by trace id: seen once in a full ctest run under load,
        # 494 for 495), so the counts agree within 2% (at least 2), never more
        seen = rep["clock"]["client_records"].get("unjoined_seen", {})
        n = {s: sum(1 for v in records.values() if v == s) for s in (200, 500, 503)}
        lost = {o: sum(1 for rid in unfinished if records.get(rid) == s) for s, o in ((503, "rejected"), (500, "error"))}
        for o, s, k in (("rejected", 503, "rejected"), ("error", 500, "other_status")):
            self.assertLessEqual(abs(by[o] + lost[o] + seen.get(k, 0) - n[s]), max(2, n[s] // 50),
                                 "%s: %s %d, lost %d, unjoined %d; the client's %d: %d" %
                                 (app, o, by[o], lost[o], seen.get(k, 0), s, n[s]))
        self.assertLessEqual(n[200] - seen.get("2xx", 0), by["ok"] + len(answered), app)

        # the reading: the app's own queue, behind a saturated device, and the refusals
        v = rep["verdict"]
        self.assertEqual(v["stage"], "queue", "%s: %s %s" % (app, by, v["sentence"]))
        self.assertIn("Requests are being rejected", v["sentence"])
        # the queue's fix is capacity, never the batch window the service does not have: behind a busy
        # device, or (a Python service whose event loop is the limit) by the refusals alone
        self.assertEqual(v["ranking"][0]["fix"], "add replicas or capacity, or raise max-batch if batches are full; "
                         "a shorter batch window will not help", v["sentence"])
        self.assertRegex(v["sentence"], r"\(queue, configuration; (behind a saturated device, |a service past its "
                         r"capacity, [0-9.]+% of requests rejected; )a batch is in flight")
        self.assertIn("Requests are failing", v["sentence"])

    def test_fastapi_uvicorn(self):
        self.check("fastapi")

    def test_aiohttp(self):
        self.check("aiohttp")
