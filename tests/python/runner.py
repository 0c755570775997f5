"""Runs one test file of tests/python with unittest, once per backend the file names in BACKENDS
(default: the C extension only), each in its own process (the backend is chosen at import). Prints
one closing line "N passed, N failed, N skipped"; exits 0, 1 on any failure, 77 when everything
skipped (a missing Python package: the reason is printed)."""
import importlib.util
import os
import subprocess
import sys
import unittest


def run_here(path):
    name = os.path.splitext(os.path.basename(path))[0]
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    except unittest.SkipTest as e:
        print("skipped: %s" % e)
        return 0, 0, 1
    suite = unittest.defaultTestLoader.loadTestsFromModule(mod)
    res = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    failed = len(res.failures) + len(res.errors) + len(res.unexpectedSuccesses)
    skipped = len(res.skipped)
    return res.testsRun - failed - skipped, failed, skipped


def main():
    path = sys.argv[1]
    if len(sys.argv) > 2 and sys.argv[2] == "--here":
        p, f, s = run_here(path)
        print("RESULT %d %d %d" % (p, f, s))
        return 0
    with open(path) as f:
        src = f.read()
    backends = ["native"]
    for line in src.splitlines():
        if line.startswith("BACKENDS = "):
            backends = eval(line.split("=", 1)[1])
    tp = tf = ts = 0
    for b in backends:
        print("==== %s with SERVPROF_BACKEND=%s" % (os.path.basename(path), b), flush=True)
        env = dict(os.environ, SERVPROF_BACKEND=b)
        out = subprocess.run([sys.executable, __file__, path, "--here"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        sys.stdout.write(out.stdout)
        res = [l for l in out.stdout.splitlines() if l.startswith("RESULT ")]
        if out.returncode != 0 or not res:
            print("FAILED: the test process exited %d" % out.returncode)
            tf += 1
            continue
        p, f, s = (int(x) for x in res[-1].split()[1:])
        tp, tf, ts = tp + p, tf + f, ts + s
    print("%d passed, %d failed, %d skipped" % (tp, tf, ts))
    if tf:
        return 1
    return 77 if tp == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
