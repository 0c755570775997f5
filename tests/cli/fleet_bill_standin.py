"""A stand-in for Prometheus' query API for fleet_bill.sh: the fleets A-E (job = the case), each replica
with known requests, price, uptime, scraped time (the increase() of its uptime), `up` and device seconds
by state, answered to the fleet queries of src/fleet/prometheus.c as Prometheus would sum them. Every
request lies in one latency bucket (le 0.01 s) and is all queue time. Writes its port to argv[1]."""
import http.server
import json
import os
import re
import sys
import urllib.parse

# instance, ok requests, price ($/h, 0: none published), uptime s, scraped s, up, {state: device seconds}
A1 = ("10.0.0.1:8000", 1000, 3, 1000, 600, 1, {"useful": 300, "gap": 180, "no_batch": 120})
B2 = ("10.0.0.2:8000", 500, 6, 2000, 600, 1, {"useful": 480, "no_batch": 120})
FLEETS = {
    "A": [A1],
    "B": [A1, B2],
    "C": [A1, B2, ("10.0.0.3:8000", 100, 3, 120, 120, 1, {"useful": 60, "no_batch": 60})],
    "D": [A1, ("10.0.0.2:8000", 1000, 6, 2000, 600, 1, {"useful": 480, "no_batch": 120}),
          ("10.0.0.3:8000", 1000, 3, 900, 600, 1, {"useful": 300, "gap": 180, "no_batch": 120})],
    "E": [("10.0.0.1:8000", 400, 2, 1000, 600, 1, {"useful": 600}),
          ("10.0.0.2:8000", 300, 6, 2000, 600, 1, {"gap": 600}),
          ("10.0.0.3:8000", 100, 0, 900, 240, 0, {"useful": 40, "no_batch": 200})],
}
NOW = 1796000000.0


def answer(q):
    if q == "time()":
        return {"resultType": "scalar", "result": [NOW, "%.3f" % NOW]}
    m = re.search(r'\{job="(\w+)"\}', q)
    reps = FLEETS.get(m.group(1), []) if m else []
    out = []

    def put(labels, v):
        out.append({"metric": labels, "value": [NOW, repr(float(v))]})
    total = sum(r[1] for r in reps)
    for inst, ok, price, uptime, scraped, up, states in reps:
        lab = {"job": m.group(1), "instance": inst}
        if q.startswith("sum by (job, instance, outcome) (increase(servprof_requests_total"):
            for o in ("ok", "rejected", "error", "cancelled"):
                put(dict(lab, outcome=o), ok if o == "ok" else 0)
        elif q.startswith("sum by (job, instance, device, state) (increase(servprof_device_seconds_total"):
            for s in ("useful", "padding", "copies", "gap", "no_batch"):
                put(dict(lab, device="0", state=s), states.get(s, 0))
        elif q.startswith("max by (job, instance) (last_over_time(servprof_price_per_hour"):
            put(lab, price)
        elif q.startswith("max by (job, instance) (max_over_time(servprof_metrics_uptime_seconds"):
            put(lab, uptime)
        elif q.startswith("max by (job, instance) (increase(servprof_metrics_uptime_seconds"):
            put(lab, scraped)
        elif q.startswith("min by (job, instance) (last_over_time(up"):
            put(lab, up)
        elif q.startswith("max by (job, instance, device) (last_over_time(servprof_info"):
            put(dict(lab, device="cpu"), 1)
    if reps and q.startswith("sum by (le) (increase(servprof_request_duration_seconds_bucket"):
        put({"le": "0.01"}, total)
        put({"le": "+Inf"}, total)
    if reps and q.startswith("sum by (stage, le) (increase(servprof_request_stage_seconds_total"):
        put({"stage": "queue", "le": "0.01"}, total * 0.005)
        put({"stage": "queue", "le": "+Inf"}, total * 0.005)
    return {"resultType": "vector", "result": out}


class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(u.query).get("query", [""])[0]
        body = json.dumps({"status": "success", "data": answer(q)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
srv.serve_forever()
