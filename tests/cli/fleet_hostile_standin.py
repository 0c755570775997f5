"""A stand-in for Prometheus' query API that answers oddly, for fleet_hostile.sh: the fleet of
fleet_bill_standin.py's case B (two replicas, $3/h and $6/h, 1000 and 500 requests, both up the 600 s
range: $1.50) with one thing changed per case, the case being the selector's job (`{job="nan"}`), or
the URL's first path segment for what happens before any answer (/hang, /redirect, /big). What each
case should give is in fleet_hostile.sh. Writes its port to argv[1]."""
import http.server
import json
import os
import re
import sys
import time
import urllib.parse

NOW = 1796000000.0
# instance, ok requests, price ($/h), uptime s, scraped s, up, {state: device seconds}
BASE = [("10.0.0.1:8000", 1000, 3, 1000, 600, 1, {"useful": 300, "gap": 180, "no_batch": 120}),
        ("10.0.0.2:8000", 500, 6, 2000, 600, 1, {"useful": 480, "no_batch": 120})]
MANY = int(os.environ.get("STANDIN_MANY", "3000"))  # replicas of the case "many"

Q_REQ = "sum by (job, instance, outcome) (increase(servprof_requests_total"
Q_LAT = "sum by (le) (increase(servprof_request_duration_seconds_bucket"
Q_STAGE = "sum by (stage, le) (increase(servprof_request_stage_seconds_total"
Q_DEV = "sum by (job, instance, device, state) (increase(servprof_device_seconds_total"
Q_PRICE = "max by (job, instance) (last_over_time(servprof_price_per_hour"
Q_UPTIME = "max by (job, instance) (max_over_time(servprof_metrics_uptime_seconds"
Q_SCRAPED = "max by (job, instance) (increase(servprof_metrics_uptime_seconds"
Q_UP = "min by (job, instance) (last_over_time(up"


def fleet(case):
    if case == "many":
        # MANY replicas at $2/h, 10 requests each, two devices each all useful: $2 x 600/3600 each
        return [("10.%d.%d.%d:8000" % (i >> 16, (i >> 8) & 255, i & 255), 10, 2, 1000, 600, 1, {"useful": 600})
                for i in range(MANY)]
    if case == "longname":
        # two instances alike for their first 300 characters
        return [("a" * 300 + r[0], *r[1:]) for r in BASE]
    if case == "nodev":
        return BASE + [("10.0.0.3:8000", 500, 3, 1000, 600, 1, None)]
    if case == "nodevmany":
        # seven replicas at $6/h, 100 requests each, with no device series
        return BASE + [("10.0.1.%d:8000" % i, 100, 6, 1000, 600, 1, None) for i in range(1, 8)]
    if case == "nodevall":
        # no replica with device series (a CPU-only fleet)
        return [r[:6] + (None,) for r in BASE]
    return BASE


def vector(case, q):
    """The answer's result list as Prometheus would give it for the unchanged fleet."""
    reps = fleet(case)
    out = []

    def put(labels, v):
        out.append({"metric": labels, "value": [NOW, v if isinstance(v, str) else repr(float(v))]})
    total = sum(r[1] for r in reps)
    for inst, ok, price, uptime, scraped, up, states in reps:
        lab = {"job": case, "instance": inst}
        if q.startswith(Q_REQ):
            for o in ("ok", "rejected", "error", "cancelled"):
                put(dict(lab, outcome=o), ok if o == "ok" else 0)
        elif q.startswith(Q_DEV) and states is not None:
            for d in ("0", "1") if case == "many" else ("0",):
                for s in ("useful", "padding", "copies", "gap", "no_batch"):
                    put(dict(lab, device=d, state=s), states.get(s, 0))
        elif q.startswith(Q_PRICE):
            put(lab, price)
        elif q.startswith(Q_UPTIME):
            put(lab, uptime)
        elif q.startswith(Q_SCRAPED):
            put(lab, scraped)
        elif q.startswith(Q_UP):
            put(lab, up)
        elif q.startswith("max by (job, instance, device) (last_over_time(servprof_info") and states is not None:
            put(dict(lab, device="cpu"), 1)
    if reps and q.startswith(Q_LAT):
        put({"le": "0.01"}, total)
        put({"le": "+Inf"}, total)
    if reps and q.startswith(Q_STAGE):
        put({"stage": "queue", "le": "0.01"}, total * 0.005)
        put({"stage": "queue", "le": "+Inf"}, total * 0.005)
    return out


def first(res, **labels):
    return next(r for r in res if all(r["metric"].get(k) == v for k, v in labels.items()))


def answer(case, q):
    """(HTTP status, body bytes) for query q of the case."""
    if q == "time()":
        return 200, {"status": "success", "data": {"resultType": "scalar", "result": [NOW, "%.3f" % NOW]}}
    res = vector(case, q)
    data = {"resultType": "vector", "result": res}
    ok = {"status": "success", "data": data}
    r2 = "10.0.0.2:8000"
    if case == "nan" and q.startswith(Q_REQ):
        first(res, instance=r2, outcome="ok")["value"][1] = "NaN"
    elif case == "inf" and q.startswith(Q_LAT):
        first(res, le="+Inf")["value"][1] = "+Inf"
    elif case == "neginf" and q.startswith(Q_DEV):
        first(res, instance=r2, state="useful")["value"][1] = "-Inf"
    elif case == "negative" and q.startswith(Q_DEV):
        first(res, instance=r2, state="no_batch")["value"][1] = "-120"
    elif case == "negreq" and q.startswith(Q_REQ):
        first(res, instance=r2, outcome="ok")["value"][1] = "-500"
    elif case == "decreasing" and q.startswith(Q_LAT):
        # cumulative buckets that fall: le 0.01 above +Inf (a counter reset seen through federation)
        first(res, le="+Inf")["value"][1] = "1000"
    elif case == "scalar" and q.startswith(Q_REQ):
        data.update(resultType="scalar", result=[NOW, "1500"])
    elif case == "matrix" and q.startswith(Q_REQ):
        data["resultType"] = "matrix"
        for r in res:
            r["values"] = [r.pop("value")]
    elif case == "string" and q.startswith(Q_REQ):
        data.update(resultType="string", result=[NOW, "x"])
    elif case == "dup" and q.startswith(Q_REQ):
        res.append(json.loads(json.dumps(first(res, instance=r2, outcome="ok"))))
    elif case == "noinstance" and (q.startswith(Q_REQ) or q.startswith(Q_DEV)):
        for r in res:
            r["metric"].pop("instance", None)
    elif case == "nojob" and q.startswith(Q_REQ):
        for r in res:
            r["metric"].pop("job", None)
    elif case == "price0" and q.startswith(Q_PRICE):
        for r in res:
            r["value"][1] = "0"
    elif case == "priceneg" and q.startswith(Q_PRICE):
        first(res, instance=r2)["value"][1] = "-6"
    elif case == "pricehuge" and q.startswith(Q_PRICE):
        first(res, instance=r2)["value"][1] = "1e308"
    elif case == "uptimebig" and q.startswith(Q_UPTIME):
        first(res, instance=r2)["value"][1] = "1e12"
    elif case == "uptimeneg" and q.startswith(Q_UPTIME):
        first(res, instance=r2)["value"][1] = "-5"
    elif case == "uptimenan" and q.startswith(Q_UPTIME):
        first(res, instance=r2)["value"][1] = "NaN"
    elif case == "scrapedneg" and q.startswith(Q_SCRAPED):
        first(res, instance=r2)["value"][1] = "-600"
    elif case == "uptwo" and q.startswith(Q_UP):
        first(res, instance=r2)["value"][1] = "2"
    elif case == "uponly" and not q.startswith(Q_UP):
        data["result"] = []
    elif case == "uponly" and q.startswith(Q_UP):
        for r in res:
            r["value"][1] = "0"
    elif case == "notjson" and q.startswith(Q_REQ):
        return 200, b"<html><body>Welcome to nginx!</body></html>"
    elif case == "cut" and q.startswith(Q_REQ):
        return 200, json.dumps(ok).encode()[:40]
    elif case == "e500" and q.startswith(Q_REQ):
        return 500, {"status": "error", "errorType": "internal", "error": "expanding series: out of memory"}
    elif case == "e503" and q.startswith(Q_REQ):
        return 503, {"status": "error", "errorType": "unavailable", "error": "too many queries"}
    elif case == "e503html" and q.startswith(Q_REQ):
        return 503, b"<html><body>503 Service Temporarily Unavailable</body></html>"
    elif case == "e500empty" and q.startswith(Q_REQ):
        return 500, b""
    elif case == "nodata" and q.startswith(Q_REQ):
        return 200, {"status": "success"}
    elif case == "lebad" and q.startswith(Q_LAT):
        first(res, le="0.01")["metric"]["le"] = "fast"
    elif case == "lemismatch" and q.startswith(Q_STAGE):
        first(res, le="0.01")["metric"]["le"] = "0.02"
    elif case == "valuebad" and q.startswith(Q_REQ):
        first(res, instance=r2, outcome="ok")["value"] = [NOW, 500]
    elif case == "labelnum" and q.startswith(Q_REQ):
        first(res, instance=r2, outcome="ok")["metric"]["instance"] = 7
    return 200, ok


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once, not 40 ms apart

    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        if u.path.startswith("/hang/"):
            time.sleep(3600)  # accepted, never answered
            return
        if u.path.startswith("/redirect/"):
            self.send_response(302)
            self.send_header("Location", self.path[len("/redirect"):])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if u.path.startswith("/redirectftp/"):
            # a redirect off HTTP(S): not followed
            self.send_response(302)
            self.send_header("Location", "ftp://127.0.0.1:9/api/v1/query")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if u.path.startswith("/redirectloop/"):
            self.send_response(302)
            self.send_header("Location", self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if u.path.startswith("/big/"):
            # an answer over the client's limit (256 MiB): 257 MiB of one JSON string, sent as it is made
            chunk = b"x" * (1 << 20)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(257 * len(chunk) + 2))
            self.end_headers()
            try:
                self.wfile.write(b'"')
                for _ in range(257):
                    self.wfile.write(chunk)
                self.wfile.write(b'"')
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        q = urllib.parse.parse_qs(u.query).get("query", [""])[0]
        t = re.match(r"/time=([^/]+)/", u.path)
        if t and q == "time()":
            # Prometheus' present as the case's path gives it: /time=1e300/, /time=-5/, /time=NaN/
            body = json.dumps({"status": "success", "data": {"resultType": "scalar", "result": [
                float(t.group(1)), t.group(1)]}}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        m = re.search(r'\{job="(\w+)"\}', q)
        code, body = answer(m.group(1) if m else "", q)
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


class S(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that hung up (the over-limit and hang cases do)


srv = S(("127.0.0.1", 0), H)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
srv.serve_forever()
