#!/usr/bin/env bash
# The HTML report in a real browser: `servprof synth --gpu | servprof analyze --html` opened in
# headless Chromium. Checks that the page loads with no console message at all (no failed fetch, no
# parse complaint), that every chart's <svg> lays out with a non-zero box and has visible shapes (a
# small script added to a copy of the page measures them and writes the result into the DOM, read
# back with --dump-dom), that each table caption (the GPU block's idle time by stream) starts where its
# table's first column's text starts, as the page's labels do, not centred as browsers default (it was,
# 67 px to the right, before the page's CSS had a caption rule), and that a screenshot renders. Skips (77) when no Chromium is installed
# (scripts/setup.sh installs it unless SERVPROF_BROWSER_TESTS=0).
# Run as: bash html_browser.sh BINARY SOURCE_DIR. Set SP_HTML_SCREENSHOT=FILE.png to keep the picture.
set -u
bin=$1
browser=
for b in chromium chromium-browser google-chrome; do
  command -v "$b" >/dev/null && { browser=$b; break; }
done
if [ -z "$browser" ]; then
  echo "html_browser: no chromium found (install the Debian package 'chromium', or run scripts/setup.sh" \
       "without SERVPROF_BROWSER_TESTS=0): skipped" >&2
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

"$bin" synth --gpu --requests 3000 | "$bin" analyze --html "$tmp/report.html" /dev/stdin > "$tmp/report.txt" ||
  { echo "FAIL: analyze --html exited non-zero" >&2; exit 1; }

run_browser() { # URL-FILE, extra flags...; stdout: DOM, stderr: browser log
  local f=$1; shift
  timeout 25 "$browser" --headless=new --no-sandbox --disable-gpu --no-first-run --user-data-dir="$tmp/profile" \
    --enable-logging=stderr --v=0 "$@" "file://$f"
}

# 1. The page as written: no console message of any kind, no src/href attributes.
run_browser "$tmp/report.html" --dump-dom > "$tmp/dom0.html" 2> "$tmp/log0.txt"
rc=$?
if [ $rc -ne 0 ] || ! grep -q '</html>' "$tmp/dom0.html"; then
  echo "FAIL: $browser did not load the page (exit $rc)" >&2
  tail -20 "$tmp/log0.txt" >&2
  exit 1
fi
if grep -q 'CONSOLE' "$tmp/log0.txt"; then
  echo "FAIL: console messages while loading the report:" >&2
  grep 'CONSOLE' "$tmp/log0.txt" >&2
  fail=1
fi
if grep -Eq '<[^>]+ (src|href|xlink:href)=' "$tmp/dom0.html"; then
  echo "FAIL: an element loads something (src/href attribute)" >&2
  fail=1
fi
n_svg=$(grep -o '<svg class="chart"' "$tmp/dom0.html" | wc -l)
# verdict has no chart; shares, latency, stages, padding, timeline and cost each have one
[ "$n_svg" -eq 6 ] || { echo "FAIL: $n_svg charts in the DOM, expected 6" >&2; fail=1; }

# 2. A copy with a measuring script: every chart has a laid-out box and visible shapes, and nothing
#    was fetched (Resource Timing lists every fetch, failed ones included).
cat > "$tmp/check.js" <<'JS'
<script>
(function () {
  var out = [], bad = [];
  var svgs = document.querySelectorAll('svg.chart');
  for (var i = 0; i < svgs.length; i++) {
    var s = svgs[i], b = s.getBoundingClientRect();
    var shapes = s.querySelectorAll('rect, line, circle'), vis = 0;
    for (var j = 0; j < shapes.length; j++) {
      var r = shapes[j].getBoundingClientRect();
      if (r.width > 0 || r.height > 0) vis++;
    }
    if (!(b.width > 300 && b.height > 20) || vis === 0) bad.push(s.id + ':' + Math.round(b.width) + 'x' +
                                                            Math.round(b.height) + ':' + vis);
    out.push(s.id + '=' + vis);
  }
  // self-contained: the page fetched nothing (failed fetches do not reach the console log headless)
  var res = performance.getEntriesByType('resource');
  for (var k = 0; k < res.length; k++) bad.push('fetched:' + res[k].name);
  // a table's caption (the GPU block's idle time by stream) starts where its first column's text
  // starts, as the page's other labels do; a caption without CSS is centred over the table
  var caps = document.querySelectorAll('caption');
  if (!caps.length) bad.push('no-caption');
  for (var c = 0; c < caps.length; c++) {
    var th = caps[c].parentNode.querySelector('th, td'), rc = document.createRange(), rt = document.createRange();
    rc.selectNodeContents(caps[c]); rt.selectNodeContents(th);
    var dx = rc.getBoundingClientRect().left - rt.getBoundingClientRect().left;
    if (Math.abs(dx) > 1) bad.push('caption:' + (caps[c].parentNode.id || c) + ':' + Math.round(dx) + 'px');
  }
  var verdict = document.getElementById('verdict');
  if (!verdict || verdict.getBoundingClientRect().height < 20) bad.push('verdict');
  document.documentElement.setAttribute('data-svg-check',
      (bad.length ? 'fail ' + bad.join(' ') : 'ok') + ' | ' + out.join(' '));
  console.log('servprof-check ' + (bad.length ? 'fail' : 'ok'));
})();
</script>
JS
awk -v f="$tmp/check.js" '{ i = index($0, "</body>")
  if (i) { printf "%s", substr($0, 1, i - 1); while ((getline l < f) > 0) print l; print substr($0, i) }
  else print }' "$tmp/report.html" > "$tmp/check.html"
run_browser "$tmp/check.html" --dump-dom > "$tmp/dom1.html" 2> "$tmp/log1.txt"
check=$(grep -o 'data-svg-check="[^"]*"' "$tmp/dom1.html")
case "$check" in
  'data-svg-check="ok |'*) ;;
  *) echo "FAIL: chart layout check: ${check:-no result (script did not run)}" >&2; fail=1 ;;
esac
others=$(grep 'CONSOLE' "$tmp/log1.txt" | grep -v '"servprof-check ok"')
[ -z "$others" ] || { echo "FAIL: console messages: $others" >&2; fail=1; }
grep -q '"servprof-check ok"' "$tmp/log1.txt" ||
  { echo "FAIL: the check's console message was not captured (console capture broken?)" >&2; fail=1; }

# 3. A screenshot renders (look at it with SP_HTML_SCREENSHOT=/tmp/report.png).
run_browser "$tmp/report.html" --hide-scrollbars --window-size=1000,3200 --screenshot="$tmp/shot.png" \
  > /dev/null 2> "$tmp/log2.txt"
size=$(stat -c %s "$tmp/shot.png" 2>/dev/null || echo 0)
[ "$size" -gt 20000 ] || { echo "FAIL: screenshot missing or blank ($size bytes)" >&2; fail=1; }
[ -n "${SP_HTML_SCREENSHOT:-}" ] && cp "$tmp/shot.png" "$SP_HTML_SCREENSHOT"

[ $fail -eq 0 ] && echo "html_browser: ok ($browser; $check)"
exit $fail
