#!/usr/bin/env python3
"""The docs say what the binary does: every `servprof CMD ...` invocation in README.md and docs/*.md
(fenced code blocks, shell or yaml CI steps, and inline code spans) names a command the binary has, and
every option it uses is one `servprof CMD --help` names in its option or usage lines, as tests/cli/help.sh
counts them (`servprof demo --generate --help` for the generation demo), with a value where the help
shows one (`--opt VALUE`) and none where it does not (`--json=1`). An option that ends an inline span may
stand without its value (`servprof export --otlp` names the feature). A command this build leaves out
(`servprof: 'serve' is not in this build`) is not checked. Every `make TARGET` the docs name is a Makefile
target (`make demo DEMO_ARGS="..."`'s options must be `servprof demo`'s, `make demo-generate`'s those of
`servprof demo --generate`), and every repository path they name in backticks (tests/..., scripts/...,
bench/..., src/..., examples/..., python/...) exists (globs must match; paths the .gitignore covers are build outputs, and
FOREIGN_PATHS are other projects' files the docs cite). Then every fenced block with a marker on the
line above it, `<!-- docs-check: servprof ARGS... [&& servprof ARGS...] [(exit N)] -->`, is output of
those commands: they run in a scratch folder (no shell; a relative argument naming a file of the source
tree is given as its absolute path, so earlier commands may write the inputs of later ones), the last
must exit N (default 0), and each shown line must be one of its output lines, in order (runs of spaces
count as one; a `...` in a shown line stands for any text, a line of only `...` for any lines); in a
block of abridged JSON (its first line starts with `{`) each complete `"key":value` pair shown must be
in the output as written. Figures are compared as text, so they must match exactly.

Not invocations (skipped): a `servprof` that is not at a simple command's start, after `|`, `&&`, `;`,
`$ `, `VAR=x`, `time` or a yaml `run:` (prose such as `see servprof load --help` inside a message, `pip
install servprof`); printed messages and report headers: a line whose command word, or one of the two
words after it, ends in `:` (`servprof analyze: trace.jsonl: ...`, `servprof fleet report: 3 replicas`);
placeholders (`servprof COMMAND`); and json, python, c, toml and cmake fences. A synopsis' indented
continuation line (`                 [--pad-to P] [--gpu]`) belongs to the servprof line above it, and a
`|` inside `[...]` separates alternatives, not commands. docs/BENCHMARKS.md is not
read: its subsections record commands of the binary of their day and are append only.

Run as: docs_commands.py BINARY SOURCE_DIR [--docs-root DIR] [--self-test]
  --docs-root: read README.md and docs/ from DIR instead of SOURCE_DIR
  --self-test: plant stale options (one in a synopsis' continuation line), a command, an option value, a
  make target and a path, and a changed figure in
  each checked output block, into a copy of the docs; each must be reported at its line (a checker that
  cannot fail does not pass)
Prints each stale item as FILE:LINE: what; exits 1 if there is any. Stdlib only.
"""
import fnmatch
import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

# paths in other projects' repositories that the docs cite (vLLM's tracing test, Triton 1.x's tracer)
FOREIGN_PATHS = {"tests/tracing/test_tracing.py", "src/servers/tracer.cc", "python/sglang/srt/tracing/trace.py"}
PATH_PREFIXES = ("tests/", "scripts/", "bench/", "src/", "examples/", "python/")
SEPARATORS = {"|", "||", "&&", ";", "&", "|&"}
PREFIX_WORDS = {"$", "time", "exec", "nohup", "sudo", "env", "!", "-", "run:"}  # run: a CI step (yaml)
FENCE = re.compile(r"^\s*(```+|~~~+)(.*)$")
MARKER = re.compile(r"^\s*<!--\s*docs-check:\s*(.*?)\s*-->\s*$")
SPAN = re.compile(r"(`+)(.+?)\1", re.S)

problems = []
counts = {"invocations": 0, "make targets": 0, "paths": 0}


def problem(where, what):
    problems.append(f"{where}: {what}")


# ---------------------------------------------------------------- the binary's commands and options

def run_help(binary, args):
    p = subprocess.run([binary] + args, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


OPT_LINE = re.compile(r"^ {1,4}((?:-[A-Za-z0-9]|--[a-z0-9][a-z0-9-]*)(?:, (?:-[A-Za-z0-9]|--[a-z0-9][a-z0-9-]*))*)(.*)$")


def parse_options(text):
    """{option: takes_value} from a --help text's option lines (`  -o, --output FILE   ...`) and its usage
    lines (`servprof diff [OPTIONS] --base FILE ...`), where tests/cli/help.sh also counts an option named."""
    opts = {}
    usage = re.search(r"^usage:.*?(?=\n\n|\Z)", text, re.S | re.M)
    if usage:
        for m in re.finditer(r"(?<![\w-])(--[a-z0-9][a-z0-9-]*)(?:[ =]([A-Z][A-Z0-9_.]*|'\S+'))?", usage.group(0)):
            opts[m.group(1)] = bool(m.group(2))
    for line in text.splitlines():
        m = OPT_LINE.match(line)
        if not m:
            continue
        names = m.group(1).split(", ")
        rest = m.group(2)
        # a metavar follows after exactly one space; the description after two or more
        longs = [n for n in names if n.startswith("--")]
        takes = bool(re.match(r"^[ =]\S", rest)) and len(longs) <= 1
        for n in names:
            opts[n] = takes
    return opts


class Binary:
    def __init__(self, path):
        self.path = path
        rc, text = run_help(path, ["--help"])
        if rc != 0:
            sys.exit(f"docs_commands: {path} --help exited {rc}")
        self.commands = set()
        in_cmds = False
        for line in text.splitlines():
            if line.startswith("commands:"):
                in_cmds = True
                continue
            if in_cmds:
                m = re.match(r"^  ([a-z][a-z-]*)\s{2,}", line)
                if m:
                    self.commands.add(m.group(1))
                elif line.strip() == "":
                    in_cmds = False
        if not self.commands:
            sys.exit("docs_commands: no commands in servprof --help")
        self.top = parse_options(text) or {}
        self.top.update({"--help": False, "-h": False, "--version": False})
        self.cache = {}

    def absent(self, cmd):
        """Whether CMD is a command of servprof that this build leaves out (docs/cli.md)."""
        if ("absent", cmd) not in self.cache:
            _, text = run_help(self.path, [cmd, "--help"])
            self.cache[("absent", cmd)] = f"'{cmd}' is not in this build" in text
        return self.cache[("absent", cmd)]

    def options(self, key):
        """Options of `servprof KEY... --help`, KEY a tuple such as ("demo", "--generate")."""
        if key not in self.cache:
            rc, text = run_help(self.path, list(key) + ["--help"])
            self.cache[key] = parse_options(text) if rc == 0 else None
        return self.cache[key]


# ---------------------------------------------------------------- reading the docs

def doc_files(root):
    files = [os.path.join(root, "README.md")]
    files += sorted(f for f in glob.glob(os.path.join(root, "docs", "*.md"))
                    if os.path.basename(f) != "BENCHMARKS.md")
    return files


def read_doc(path):
    """Returns (items, blocks). items: ('fence', lineno, text, info, block number) for each fenced line
    (backslash continuations and a synopsis' indented continuation lines joined to their first line) and
    ('span', lineno, text) for each inline code span outside fences (a span may run across a line
    break). blocks: each fenced block's first line, its docs-check marker (or None) and its lines."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    out = []
    fence = None
    info = ""
    marker = None
    para = []  # (lineno, text) of the current paragraph outside fences
    blocks = []

    def flush():
        if not para:
            return
        text = "\n".join(t for _, t in para)
        for m in SPAN.finditer(text):
            ln = para[0][0] + text.count("\n", 0, m.start())
            out.append(("span", ln, m.group(2).replace("\n", " ").strip()))
        para.clear()

    pending = None  # a fenced line ending in a backslash
    for i, line in enumerate(lines, 1):
        fm = FENCE.match(line)
        if fence is None:
            if fm:
                flush()
                fence = fm.group(1)[0] * 3
                info = fm.group(2).strip()
                prev = lines[i - 2] if i >= 2 else ""
                mm = MARKER.match(prev)
                marker = mm.group(1) if mm else None
                blocks.append({"line": i, "marker": marker, "body": []})
                continue
            if line.strip() == "":
                flush()
            else:
                para.append((i, line))
            continue
        if fm and fm.group(1).startswith(fence) and fm.group(2).strip() == "":
            fence = None
            continue
        blocks[-1]["body"].append((i, line))
        # a synopsis' continuation: an indented line of options after a servprof line
        if (not pending and re.match(r"^\s+[\[-]", line) and out and out[-1][0] == "fence"
                and out[-1][4] == len(blocks) and re.search(r"(^|[\s/])servprof\s", out[-1][2])):
            last = out[-1]
            out[-1] = (last[0], last[1], last[2] + " " + line.strip(), last[3], last[4])
            continue
        if pending:
            pending = (pending[0], pending[1] + " " + line.strip())
        else:
            pending = (i, line)
        if pending[1].rstrip().endswith("\\"):
            pending = (pending[0], pending[1].rstrip()[:-1])
            continue
        out.append(("fence", pending[0], pending[1], info, len(blocks)))
        pending = None
    flush()
    # a marker must sit right above a fence
    for i, line in enumerate(lines, 1):
        if MARKER.match(line) and not (i < len(lines) and FENCE.match(lines[i])):
            problem(f"{path}:{i}", "docs-check marker not directly above a fenced block")
    return out, blocks


def tokenize(text):
    try:
        return shlex.split(text, comments=False)
    except ValueError:
        return text.split()


def split_segments(tokens):
    """Shell words split into simple commands at |, &&, ;, & (a word ending in ; also ends one)."""
    seg = []
    depth = 0  # inside a synopsis' [...]: `[--stream | --chat]` is one command's alternatives
    for t in tokens:
        depth += t.count("[") - t.count("]")
        if t in SEPARATORS and depth <= 0:
            yield seg
            seg = []
            continue
        if t.endswith(";") and len(t) > 1:
            seg.append(t[:-1])
            yield seg
            seg = []
            continue
        seg.append(t)
    yield seg


def command_start(seg):
    """Index of the program word of a simple command (after VAR=x, $, time, env, timeout N)."""
    i = 0
    while i < len(seg):
        t = seg[i]
        if t in PREFIX_WORDS or re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", t):
            i += 1
        elif t == "timeout" and i + 1 < len(seg):
            i += 2
        else:
            return i
    return None


def is_servprof(word):
    return os.path.basename(word) == "servprof"


def clean(word):
    """A synopsis word without its brackets and ellipsis: `[--pad SPEC]...` -> `--pad`, `SPEC`."""
    w = word.strip("[]")
    if w.endswith("..."):
        w = w[:-3].rstrip("]")
    return w


def check_invocation(where, seg, binary, mention):
    """seg[0] is servprof: check the command, then each option against its --help. mention: an inline
    span, whose last word may be an option named without its value (`servprof export --otlp`)."""
    args = seg[1:]
    if not args:
        return
    for t in args[:3]:
        if t.endswith(":"):
            return  # a printed message or report header, not an invocation
    counts["invocations"] += 1
    cmd = clean(args[0])
    if cmd.startswith("-"):
        opts = binary.top
        rest = args
        name = "servprof"
    elif cmd == "help":
        if len(args) > 1 and re.match(r"^[a-z]+$", args[1]) and args[1] not in binary.commands:
            problem(where, f"servprof help {args[1]}: no such command")
        return
    elif not re.match(r"^[a-z][a-z-]*$", cmd):
        return  # servprof COMMAND, servprof [OPTIONS]: a placeholder
    elif cmd not in binary.commands and binary.absent(cmd):
        return  # a command this build leaves out (`servprof: 'serve' is not in this build: ...`)
    elif cmd not in binary.commands:
        problem(where, f"servprof {cmd}: no such command (servprof --help lists {', '.join(sorted(binary.commands))})")
        return
    else:
        key = (cmd, "--generate") if cmd == "demo" and "--generate" in [clean(a) for a in args] else (cmd,)
        opts = binary.options(key)
        if opts is not None and len(key) > 1:
            opts = dict(opts, **{key[1]: False})
        if opts is None:
            problem(where, f"servprof {' '.join(key)} --help failed")
            return
        rest = args[1:]
        name = "servprof " + " ".join(key)
    i = 0
    while i < len(rest):
        raw = rest[i]
        if raw in ("|",):  # `--help | --version`: alternatives in a synopsis
            i += 1
            continue
        if raw.startswith(">") or raw.startswith("2>") or raw.startswith("<"):
            i += 2 if raw in (">", "2>", "<", ">>") else 1
            continue
        w = clean(raw)
        if not w.startswith("-") or w in ("-", "--") or re.match(r"^-\d", w):
            i += 1
            continue
        if "|" in w and not w.startswith("--"):
            i += 1
            continue
        opt, eq, val = w.partition("=")
        for alt in opt.split("|"):  # --progress|--no-progress
            if alt not in opts:
                problem(where, f"{name}: option '{alt}' is not in `{name} --help`")
        takes = all(opts.get(a, False) for a in opt.split("|"))
        known = all(a in opts for a in opt.split("|"))
        if known and takes and not eq:
            raw_next = rest[i + 1] if i + 1 < len(rest) else ""
            nxt = clean(raw_next)
            if (raw_next == "" and not mention) or nxt.startswith("--") or raw_next.startswith(">"):
                problem(where, f"{name}: option '{opt}' needs a value")
            i += 2
            continue
        if known and not takes and eq:
            problem(where, f"{name}: option '{opt}' takes no value")
        i += 1


def check_commands(items, binary, rel):
    for item in items:
        kind, ln, text = item[0], item[1], item[2]
        where = f"{rel}:{ln}"
        if kind == "fence" and item[3].lower() in ("json", "python", "py", "c", "toml", "cmake"):
            continue
        for seg in split_segments(tokenize(text)):
            s = command_start(seg)
            if s is not None and is_servprof(seg[s]):
                check_invocation(where, seg[s:], binary, kind == "span")


# ---------------------------------------------------------------- make targets and paths

def make_targets(src):
    targets = set()
    with open(os.path.join(src, "Makefile"), encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^([A-Za-z0-9_.$() /-]+?)\s*:(?!=)", line)
            if m and not line.startswith("\t"):
                targets.update(m.group(1).split())
    return targets


def ignored_patterns(src):
    pats = []
    try:
        with open(os.path.join(src, ".gitignore"), encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    pats.append(line)
    except OSError:
        pass
    return pats


def is_ignored(path, pats):
    for p in pats:
        anchored = p.startswith("/")
        p = p.strip("/")
        parts = path.split("/")
        for k in range(1, len(parts) + 1):
            head = "/".join(parts[:k])
            if fnmatch.fnmatch(head, p) or (not anchored and fnmatch.fnmatch(parts[k - 1], p)):
                return True
    return False


def check_make_and_paths(items, rel, src, targets, pats, binary):
    for item in items:
        kind, ln, text = item[0], item[1], item[2]
        where = f"{rel}:{ln}"
        code = kind == "span" or item[3].lower() in ("", "sh", "bash", "shell", "console")
        if not code:
            continue
        words = tokenize(text)
        for seg in split_segments(words):
            s = command_start(seg)
            if s is None or seg[s] != "make":
                continue
            if kind == "span" and s != 0:
                continue
            target = None
            for t in seg[s + 1:]:
                if t.startswith("-") or "=" in t:
                    continue
                counts["make targets"] += 1
                if re.match(r"^[a-z][a-z0-9-]*$", t) and t not in targets:
                    problem(where, f"make {t}: no such target in the Makefile")
                target = t
                break
            # DEMO_ARGS reach `servprof demo` (scripts/demo.sh) or `servprof demo --generate`
            # (scripts/demo-generate.sh); demo-python's go to the Python service and load
            demo = {"demo": ["demo"], "demo-generate": ["demo", "--generate"]}.get(target)
            for t in seg[s + 1:]:
                if demo and t.startswith("DEMO_ARGS=") and t[len("DEMO_ARGS="):].strip() not in ("", "..."):
                    check_invocation(where, ["servprof"] + demo + tokenize(t[len("DEMO_ARGS="):]), binary, False)
        if kind != "span":
            continue
        for w in text.split():
            w = w.strip("`'\"(),;")
            if not w.startswith(PATH_PREFIXES):
                continue
            if re.search(r"[<>{}$]|\.\.\.", w):
                continue  # a placeholder: src/<part>/
            w = re.sub(r":\d+(-\d+)?$", "", w)  # file:line
            if is_ignored(w, pats) or w in FOREIGN_PATHS:
                continue
            full = os.path.join(src, w)
            counts["paths"] += 1
            if any(c in w for c in "*?["):
                if not glob.glob(full):
                    problem(where, f"{w}: matches no file")
            elif not os.path.exists(full):
                problem(where, f"{w}: no such file or directory")


# ---------------------------------------------------------------- shown output

def line_matches(shown, real):
    pieces = [re.sub(r"\s+", " ", p.strip()) for p in shown.split("...")]
    real = re.sub(r"\s+", " ", real.strip())
    pos = 0
    for k, p in enumerate(pieces):
        if p == "":
            continue
        j = real.find(p, pos)
        if j < 0 or (k == 0 and j != 0 and not shown.lstrip().startswith("...")):
            return False
        pos = j + len(p)
    if pieces[-1] != "" and not real.endswith(pieces[-1]):
        return False
    return True


def run_marker(marker, src, binary):
    """Runs a docs-check marker's commands, `servprof ... [&& servprof ...] [(exit N)]`, in a scratch folder
    (a relative argument naming a file of the source tree is given as its absolute path, so earlier
    commands can write the files later ones read); returns (stdout of the last, None), (None, why), or
    (None, None) when a command is not in this build."""
    want_rc = 0
    m = re.search(r"\s*\(exit (\d+)\)$", marker)
    if m:
        want_rc = int(m.group(1))
        marker = marker[:m.start()]
    cmds = [seg for seg in split_segments(tokenize(marker))]
    if not cmds or any(len(c) < 2 or c[0] != "servprof" for c in cmds):
        return None, "docs-check marker: each command must start with servprof, joined by &&"
    for c in cmds:
        if c[1] not in binary.commands and binary.absent(c[1]):
            print(f"docs_commands: skipped the block of `{marker}`: {c[1]} is not in this build", file=sys.stderr)
            return None, None
    with tempfile.TemporaryDirectory() as tmp:
        for k, cmd in enumerate(cmds):
            args = [a if os.path.isabs(a) or not os.path.exists(os.path.join(src, a)) else os.path.join(src, a)
                    for a in cmd[1:]]
            try:
                p = subprocess.run([binary.path] + args, cwd=tmp, capture_output=True, text=True, timeout=300)
            except subprocess.TimeoutExpired:
                return None, f"{' '.join(cmd)}: timed out"
            rc = want_rc if k == len(cmds) - 1 else 0
            if p.returncode != rc:
                return None, f"{' '.join(cmd)}: exit {p.returncode}, not {rc}: {p.stderr.strip()[:300]}"
    return p.stdout, None


def check_output(block, rel, src, binary):
    where = f"{rel}:{block['line']}"
    out, why = run_marker(block["marker"], src, binary)
    if why:
        problem(where, why)
        return
    if out is None:
        return  # not in this build
    shown_lines = [t for _, t in block["body"] if t.strip()]
    if shown_lines and shown_lines[0].lstrip().startswith("{"):
        # abridged, reflowed JSON: each complete "key":value pair shown (a number, true, false, null or a
        # one-line string) must be one the output has, written the same way
        for ln, shown in block["body"]:
            for m in re.finditer(r'"(\w+)":(-?\d[\d.e+-]*|true|false|null|"[^"]*")', shown):
                if m.group(0) not in out:
                    problem(f"{rel}:{ln}", f"not in the output of `{block['marker']}`: {m.group(0)}")
        return
    real = out.split("\n")
    pos = 0
    for ln, shown in block["body"]:
        if shown.strip() in ("", "..."):
            continue
        for j in range(pos, len(real)):
            if line_matches(shown, real[j]):
                pos = j + 1
                break
        else:
            problem(f"{rel}:{ln}", f"not in the output of `{block['marker']}` (after the lines above it): {shown.strip()}")


def run_checks(binary, src, root):
    problems.clear()
    counts.update({k: 0 for k in counts})
    targets = make_targets(src)
    pats = ignored_patterns(src)
    n_blocks = 0
    for path in doc_files(root):
        rel = os.path.relpath(path, root)
        items, blocks = read_doc(path)
        check_commands(items, binary, rel)
        check_make_and_paths(items, rel, src, targets, pats, binary)
        for b in blocks:
            if b["marker"]:
                n_blocks += 1
                check_output(b, rel, src, binary)
    return list(problems), n_blocks


def plant(root, rel, find, change):
    """In ROOT/REL, the first line matching the regex FIND gets CHANGE(line); returns its number."""
    path = os.path.join(root, rel)
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for i, line in enumerate(lines):
        if re.search(find, line):
            lines[i] = change(line)
            with open(path, "w", encoding="utf-8") as f:
                f.write("\n".join(lines))
            return i + 1
    sys.exit(f"docs_commands --self-test: nothing in {rel} matches {find}")


def self_test(binary, src):
    """Plants a stale option, a stale command, a missing make target, a missing path and a changed figure in
    each docs-check block into a copy of the docs: each must be reported at its line."""
    with tempfile.TemporaryDirectory() as root:
        shutil.copy(os.path.join(src, "README.md"), root)
        shutil.copytree(os.path.join(src, "docs"), os.path.join(root, "docs"))
        want = []
        ln = plant(root, "README.md", r"^servprof synth --gpu ", lambda l: l.replace("--gpu", "--gpus", 1))
        want.append((f"README.md:{ln}:", "'--gpus'"))
        # a synopsis' continuation line: reported at the line where its servprof command starts
        ln = plant(root, "README.md", r"^\s+\[--pad-to P\] \[--gpu\]", lambda l: l.replace("[--gpu]", "[--gpux]", 1))
        want.append((f"README.md:{ln - 1}:", "'--gpux'"))
        ln = plant(root, "README.md", r"^servprof analyze trace", lambda l: l.replace("analyze", "analyse", 1))
        want.append((f"README.md:{ln}:", "analyse: no such command"))
        ln = plant(root, "docs/cli.md", r"^servprof analyze --perfetto", lambda l: l.replace("--perfetto", "--perfetto=x.json --json=1", 1))
        want.append((f"docs/cli.md:{ln}:", "'--json' takes no value"))
        ln = plant(root, "README.md", r"`make demo-generate`", lambda l: l.replace("make demo-generate", "make demo-gen", 1))
        want.append((f"README.md:{ln}:", "make demo-gen: no such target"))
        ln = plant(root, "docs/demo.md", r"`scripts/demo.sh`", lambda l: l.replace("scripts/demo.sh", "scripts/demo2.sh", 1))
        want.append((f"docs/demo.md:{ln}:", "scripts/demo2.sh"))
        for path in doc_files(root):
            rel = os.path.relpath(path, root)
            _, blocks = read_doc(path)
            for b in blocks:
                if not b["marker"]:
                    continue
                # the block's first line with a figure: its last digit moved by one
                for n, text in b["body"]:
                    m = re.search(r"\d(?=\D*$)", text)
                    if m and text.strip() != "...":
                        d = str((int(m.group(0)) + 1) % 10)
                        changed = text[:m.start()] + d + text[m.end():]
                        plant(root, rel, "^" + re.escape(text) + "$", lambda l, c=changed: c)
                        want.append((f"{rel}:{n}:", "not in the output"))
                        break
        got, n_blocks = run_checks(binary, src, root)
        fail = 0
        for where, what in want:
            if not any(g.startswith(where) and what in g for g in got):
                print(f"docs_commands --self-test: the planted error at {where} ({what}) was not reported")
                fail = 1
        if not fail:
            print(f"docs_commands --self-test: all {len(want)} planted errors reported ({n_blocks} output blocks)",
                  file=sys.stderr)
        return fail


def main():
    args = sys.argv[1:]
    root = None
    selftest = "--self-test" in args
    if selftest:
        args.remove("--self-test")
    if "--docs-root" in args:
        k = args.index("--docs-root")
        root = args[k + 1]
        del args[k:k + 2]
    if len(args) != 2:
        sys.exit(__doc__)
    binary, src = Binary(os.path.abspath(args[0])), os.path.abspath(args[1])
    if selftest:
        return self_test(binary, src)
    got, n_blocks = run_checks(binary, src, os.path.abspath(root or src))
    for p in got:
        print(p)
    seen = ", ".join(f"{v} {k}" for k, v in counts.items())
    print(f"docs_commands: {len(got)} stale item(s); checked {seen}, {n_blocks} output blocks", file=sys.stderr)
    return 1 if got else 0


if __name__ == "__main__":
    sys.exit(main())
