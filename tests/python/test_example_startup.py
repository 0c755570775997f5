"""The example services (examples/python/service.py, generate_service.py) started on a port another
socket holds: each says it cannot listen, exits 1, and leaves no trace file behind (they once opened
the trace first and left an empty one)."""
import os
import socket
import subprocess
import sys

from sptest import SOURCE_DIR, TempDirCase, require

require("torch")
require("fastapi")
require("uvicorn")

EXAMPLES = os.path.join(SOURCE_DIR, "examples", "python")
SMALL = ["--layers", "1", "--hidden", "64", "--heads", "2", "--ffn", "256"]


class PortInUse(TempDirCase):
    def check(self, script):
        with socket.socket() as held:
            held.bind(("127.0.0.1", 0))
            held.listen(1)
            port = held.getsockname()[1]
            trace = self.path(script + ".sptrace")
            p = subprocess.run([sys.executable, os.path.join(EXAMPLES, script), "--port", str(port),
                                "--trace", trace, *SMALL], capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("cannot listen on 127.0.0.1 port %d" % port, p.stderr)
        self.assertFalse(os.path.exists(trace), "%s left %s behind" % (script, trace))

    def test_service(self):
        self.check("service.py")

    def test_generate_service(self):
        self.check("generate_service.py")
