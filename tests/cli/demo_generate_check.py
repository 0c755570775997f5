"""The generation demo's proofs on one run (tests/cli/demo_generate.sh): the server's native trace,
the streaming client's trace and the JSON report of both, read independently of the analysis.
Usage: demo_generate_check.py SERVER.sptrace CLIENT.jsonl REPORT.json LOAD_HEADER.txt
Prints one line per failed check and exits 1 if any failed.

What it proves (every figure in us; the report rounds to 0.001 us):
 1. analyze's server TTFT, TPOT, ITL and e2e (generation.*_us p50/p95/p99/max) equal a reference
    computed here from the trace's request and token records with DESIGN 4's nearest rank;
 2. analyze's client figures (generation.client) equal the same reference over the client trace
    (first_token_ns - intended_ns, ...), and the load generator's own summary (its printed p50/p95/p99,
    to its 0.001 ms) says the same;
 3. server and client agree within the measured network time, per request: with the clock offset the
    analysis estimated (server - client, +/- its uncertainty U), every token reaches the client no
    earlier than the server's record of it, and every request arrives no earlier than it was sent
    (each to within U + 1 us). So per request client TTFT - schedule lag - server TTFT = the request's
    network time (send -> arrival, plus the first token's server -> client), >= 0, and the report's
    TTFT `network` row sums exactly that over the requests (to 4 ns a request); TPOT and ITL differ between the two by at
    most the spread of the token delays (pairwise, hence also at every percentile);
 4. the stages add up: in each table (TTFT, TPOT, end-to-end) the rows' totals sum to the table's
    total (the table's mean x count; TPOT's rows are undivided: the requests' first-to-last-token
    spans), and `other` (time no record covers) is under 1% of p95 in each.
"""
import json
import math
import struct
import sys

server_path, client_path, report_path, header_path = sys.argv[1:5]
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)


def nearest_rank(values, pct):
    """DESIGN 4: the k-th smallest, k = ceil(pct x n / 100) in integers, at least 1."""
    v = sorted(values)
    k = max(1, (pct * len(v) + 99) // 100)
    return v[k - 1]


def read_native(path):
    """Request (3), label (4), token (15) and outcome (13) records of a native trace
    (docs/native-format.md)."""
    data = open(path, 'rb').read()
    at = struct.unpack_from('<I', data, 12)[0]
    reqs, labels, tokens, outcomes = {}, {}, {}, {}
    while at + 16 <= len(data):
        magic, size = struct.unpack_from('<II', data, at)
        assert magic == 0x4b425053, 'bad block magic'
        p, end = at + 16, at + 16 + size
        while p + 8 <= end:
            typ, rsize, aux = struct.unpack_from('<HHI', data, p)
            if typ == 3:
                rid, arrival, done = struct.unpack_from('<QQQ', data, p + 8)
                reqs[rid] = (arrival, done)
            elif typ == 4:
                rid = struct.unpack_from('<Q', data, p + 8)[0]
                labels[data[p + 16:p + 16 + aux].decode()] = rid
            elif typ == 15:
                rid, idx, t = struct.unpack_from('<QQQ', data, p + 8)
                tokens.setdefault(rid, {})[idx] = t
            elif typ == 13:
                outcomes[struct.unpack_from('<Q', data, p + 8)[0]] = aux
            p += rsize
        at = end
    return reqs, labels, tokens, outcomes


def figures(ttft, tpot, itl, e2e):
    return {'ttft_us': ttft, 'tpot_us': tpot, 'itl_us': itl, 'e2e_us': e2e}


def compare(name, ref_ns, rep):
    for p in (50, 95, 99):
        want = nearest_rank(ref_ns, p) / 1000.0
        got = rep['p%d' % p]
        check(abs(got - want) <= 0.002, '%s p%d: report %.3f us, reference %.3f us' % (name, p, got, want))
    check(rep['count'] == len(ref_ns), '%s count: report %s, reference %d' % (name, rep['count'], len(ref_ns)))


reqs, labels, tokens, outcomes = read_native(server_path)
clients = [json.loads(line) for line in open(client_path)][1:]
report = json.load(open(report_path))
gen = report['generation']

# ---- 1. server figures from the trace's own records ----
ok_ids = [rid for rid in tokens if outcomes.get(rid, 0) == 0 and 0 in tokens[rid]]
s_ttft, s_tpot, s_itl, s_e2e = [], [], [], []
for rid in ok_ids:
    arrival, done = reqs[rid]
    t = [tokens[rid][k] for k in sorted(tokens[rid])]
    s_ttft.append(t[0] - arrival)
    s_e2e.append(done - arrival)
    if len(t) >= 2:
        s_tpot.append((t[-1] - t[0]) / (len(t) - 1))
        s_itl.extend(b - a for a, b in zip(t, t[1:]))
server_ref = figures(s_ttft, s_tpot, s_itl, s_e2e)
for key, ref in server_ref.items():
    compare('server ' + key, ref, gen[key])

# ---- 2. client figures from the client trace, and the load generator's own summary ----
streamed = [c for c in clients if c.get('status') == 200 and c.get('token_ns')]
c_ttft = [c['first_token_ns'] - c['intended_ns'] for c in streamed]
c_tpot = [(c['token_ns'][-1] - c['token_ns'][0]) / (len(c['token_ns']) - 1) for c in streamed if len(c['token_ns']) >= 2]
c_itl = [b - a for c in streamed for a, b in zip(c['token_ns'], c['token_ns'][1:])]
c_e2e = [c['done_ns'] - c['intended_ns'] for c in streamed]
client_ref = figures(c_ttft, c_tpot, c_itl, c_e2e)
check(gen['client'] is not None and gen['ttft_from'] == 'send', 'the client trace did not merge')
if gen['client'] is not None:
    for key, ref in client_ref.items():
        compare('client ' + key, ref, gen['client'][key])
# "  TTFT  p50 2.503 ms  p95 4.131 ms  p99 5.473 ms  (n=51)" in the demo's header
own = {}
for line in open(header_path):
    w = line.split()
    if len(w) >= 8 and w[0] in ('TTFT', 'TPOT', 'ITL') and w[1] == 'p50':
        own[w[0].lower() + '_us'] = [float(w[2]) * 1000, float(w[5]) * 1000, float(w[8]) * 1000]
check(len(own) == 3, 'the demo header lacks the load generator\'s TTFT/TPOT/ITL lines')
for key, (p50, p95, p99) in own.items():
    ref = client_ref[key]
    for p, got in ((50, p50), (95, p95), (99, p99)):
        want = nearest_rank(ref, p) / 1000.0
        check(abs(got - want) <= 1.0, 'load %s p%d: %.3f us, trace %.3f us' % (key, p, got, want))

# ---- 3. agreement within the measured network time ----
off = report['clock']['offsets'][0]
offset_ns = off['offset_us'] * 1000.0           # server clock - client clock
slack_ns = off['uncertainty_us'] * 1000.0 + 1000.0
network_sum_ns = 0.0
worst = {'in': 0.0, 'token': 0.0}
tpot_bound = itl_bound = ttft_gap_max = 0.0
for c in streamed:
    rid = labels.get(c['id'])
    check(rid in tokens, 'client request %s has no server token records' % c['id'])
    if rid not in tokens:
        continue
    arrival, done = reqs[rid]
    st = [tokens[rid][k] for k in sorted(tokens[rid])]
    ct = [x + offset_ns for x in c['token_ns']]
    check(len(st) == len(ct), '%s: %d tokens recorded by the server, %d received' % (c['id'], len(st), len(ct)))
    if len(st) != len(ct):
        continue
    send = c['send_ns'] + offset_ns
    delay_in = arrival - send
    delays = [b - a for a, b in zip(st, ct)]
    worst['in'] = min(worst['in'], delay_in)
    worst['token'] = min(worst['token'], min(delays))
    # the network time the TTFT table's `network` row holds: outside the server's [arrival, first token]
    network_sum_ns += max(delay_in, 0) + max(delays[0], 0)
    ttft_gap_max = max(ttft_gap_max, c['send_ns'] - c['intended_ns'] + delay_in + delays[0])
    if len(st) >= 2:
        tpot_bound = max(tpot_bound, (max(delays) - min(delays)) / (len(st) - 1))
        itl_bound = max(itl_bound, max(abs(b - a) for a, b in zip(delays, delays[1:])))
check(worst['in'] >= -slack_ns, 'a request arrived %.1f us before it was sent (clock uncertainty %.1f us)'
      % (-worst['in'] / 1000, slack_ns / 1000))
check(worst['token'] >= -slack_ns, 'a token reached the client %.1f us before the server recorded it '
      '(clock uncertainty %.1f us): the server stamps tokens late' % (-worst['token'] / 1000, slack_ns / 1000))
rows = {r['name']: r for r in gen['ttft']['rows']}
check('network' in rows, 'the TTFT table has no network row')
if 'network' in rows:
    got = rows['network']['total_us'] * 1000
    # the analysis maps the client's times with the offset printed (to 0.001 us): the same sum to
    # rounding (under 1 ns a mapping, two a request, doubled for an offset the analysis keeps in whole
    # ns) and the total's own 0.001 us
    check(abs(got - network_sum_ns) <= 1 + 4 * len(streamed),
          'TTFT network row: %.1f us in the report, %.1f us measured from the traces' % (got / 1000, network_sum_ns / 1000))
# percentiles of paired values differing by at most B differ by at most B
for key, bound in (('ttft_us', None), ('tpot_us', tpot_bound), ('itl_us', itl_bound)):
    for p in (50, 95, 99):
        s = nearest_rank(server_ref[key], p)
        cl = nearest_rank(client_ref[key], p)
        if bound is None:
            lo = -slack_ns
            hi = ttft_gap_max + slack_ns  # the largest lag + network time of a request
            check(lo <= cl - s <= hi, 'TTFT p%d: client %.1f us vs server %.1f us' % (p, cl / 1000, s / 1000))
        else:
            check(abs(cl - s) <= bound + 2 * slack_ns, '%s p%d: client %.1f us, server %.1f us, token delays spread %.1f us'
                  % (key, p, cl / 1000, s / 1000, bound / 1000))

# ---- 4. the stages add up ----
def adds_up(name, table_rows, total_us, p95_us):
    s = sum(r['total_us'] for r in table_rows)
    check(abs(s - total_us) <= 0.01 * len(table_rows) + 1e-6 * total_us + 0.01 * len(streamed),
          '%s: rows sum to %.3f us, the table to %.3f us' % (name, s, total_us))
    other = [r for r in table_rows if r['name'] == 'other']
    check(other and other[0]['share_of_p95'] < 0.01, '%s: other is %s of p95' % (name, other and other[0]['share_of_p95']))
    check(all(r['total_us'] >= 0 for r in table_rows), '%s: a negative row' % name)


for t in ('ttft', 'tpot'):
    v = gen[t]['value_us']
    total = v['mean'] * v['count']
    if t == 'tpot':  # rows undivided: each request's [first token, last token]
        total = sum(
            (max(tokens[r].values()) - tokens[r][0]) for r in ok_ids if len(tokens[r]) >= 2) / 1000.0
    adds_up(t.upper(), gen[t]['rows'], total, v['p95'])
lat = report['requests']['latency_us']
adds_up('end-to-end', report['stages'], lat['mean'] * lat['count'], lat['p95'])

for f in failures:
    print('FAIL:', f)
print('checked %d requests, %d tokens; %d failures' % (len(streamed), sum(len(c['token_ns']) for c in streamed), len(failures)))
sys.exit(1 if failures else 0)
