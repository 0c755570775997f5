#!/usr/bin/env bash
# The benchmarks' interval estimators (bench/overhead.py), which every overhead figure in
# docs/BENCHMARKS.md rests on. Run as: bash bench_stats.sh BINARY SOURCE_DIR
#  - median_ranks(n): the distribution-free 95% interval of the median, [x(r), x(n-r+1)] (1-based).
#    Known answers: the binomial(n, 1/2) tables, e.g. n = 20: P(B <= 5) = 0.0207, P(B <= 6) = 0.0577,
#    so r = 6 (x(6), x(15)); n = 100: P(B <= 39) = 0.0176, P(B <= 40) = 0.0284, r = 40 (x(40), x(61));
#    n = 6: P(B <= 0) = 1/64, r = 1 (the extremes); n = 5: 2/32 > 5%, no interval. Every n up to 400
#    is also checked against the defining sums, computed here separately with floats in log space.
#  - median_interval: picks those order statistics of the sorted values.
set -u
src=$2
py=/usr/bin/python3
[ -x "$py" ] || py=python3
cd "$src/bench" || exit 1
"$py" - <<'PY'
import math, sys
from overhead import median_ranks, median_interval

fail = 0
def check(what, got, want):
    global fail
    if got != want:
        print("FAIL: %s = %r, expected %r" % (what, got, want), file=sys.stderr)
        fail = 1

check("median_ranks(5)", median_ranks(5), None)
check("median_ranks(6)", median_ranks(6), (0, 5))
check("median_ranks(20)", median_ranks(20), (5, 14))
check("median_ranks(100)", median_ranks(100), (39, 60))
check("median_interval(0..19 shuffled)", median_interval([(7 * i) % 20 for i in range(20)]), (9.5, 5, 14))

def cdf(n, r):  # P(B <= r), B ~ binomial(n, 1/2), summed in log space
    return sum(math.exp(math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) - n * math.log(2))
               for k in range(r + 1))
for n in range(6, 401):
    j, k = median_ranks(n)
    r = j + 1
    check("symmetry at n=%d" % n, k, n - r)
    if 1 - 2 * cdf(n, r - 1) < 0.95 - 1e-12:
        print("FAIL: n=%d: rank %d covers only %.4f" % (n, r, 1 - 2 * cdf(n, r - 1)), file=sys.stderr); fail = 1
    if 1 - 2 * cdf(n, r) >= 0.95 + 1e-12:
        print("FAIL: n=%d: rank %d is not the largest (%d covers %.4f)" % (n, r, r + 1, 1 - 2 * cdf(n, r)),
              file=sys.stderr); fail = 1
sys.exit(fail)
PY
