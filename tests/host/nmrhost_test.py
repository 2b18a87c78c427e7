#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tests/host/nmrhost_test.py - nmrhost tests that a script file cannot express.

    nmrhost_test.py NMRHOST MODULE_DIR SOURCE_DIR TEST

The tty_* tests run nmrhost on a pseudo-terminal (pty.fork): the prompt,
Ctrl-C typed at the terminal (the line discipline turns it into SIGINT for
the foreground process group, as for a user), and output that arrives while
the prompt is shown.  The others run nmrhost plainly and look at what it
wrote.  Every wait is bounded: a test fails after its timeout, it never
hangs, and a nmrhost still running at the end is killed.

Exit status: 0 pass, 1 fail, 77 skipped (ctest SKIP_RETURN_CODE).
"""
import json
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

NPI_ECHO = "6f1d2c3b"
CTRL_C = b"\x03"
CTRL_D = b"\x04"


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


class Tty:
    """nmrhost on a pseudo-terminal, with expect-like reads."""

    def __init__(self, argv, env, cwd=None):
        self.argv = argv
        pid, fd = pty.fork()
        if pid == 0:                      # child: fd 0, 1, 2 are the slave
            try:
                import fcntl
                import termios
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))
                if cwd is not None:
                    os.chdir(cwd)
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.buf = b""                    # everything read so far
        self.pos = 0                      # what expect() has consumed
        self.status = None

    def text(self):
        return self.buf.decode("utf-8", "replace")

    def _read(self, timeout):
        r, _, _ = select.select([self.fd], [], [], max(timeout, 0))
        if not r:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:                   # EIO: the slave side is closed
            data = b""
        if not data:
            return False
        self.buf += data
        return True

    def expect(self, regex, timeout, what=None):
        """Wait until the output after the last match matches regex."""
        deadline = time.monotonic() + timeout
        pat = re.compile(regex.encode() if isinstance(regex, str) else regex)
        while True:
            m = pat.search(self.buf, self.pos)
            if m:
                self.pos = m.end()
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if not self._read(min(left, 0.2)):     # end of output
                time.sleep(0.1)
                self.exited()
                break
        raise Fail("%s: no output matching %r within %g s%s" %
                   (what or "nmrhost", regex, timeout,
                    "" if self.status is None else
                    " (nmrhost ended: %s)" % self.describe_status()))

    def drain(self, seconds):
        """Read whatever comes during seconds."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not self._read(deadline - time.monotonic()):
                break

    def send(self, data):
        os.write(self.fd, data)

    def exited(self):
        if self.status is None:
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid == self.pid:
                self.status = st
        return self.status is not None

    def describe_status(self):
        st = self.status
        if os.WIFSIGNALED(st):
            return "killed by signal %d (%s)" % (os.WTERMSIG(st),
                                                 signal.Signals(os.WTERMSIG(st)).name)
        return "exit status %d" % os.WEXITSTATUS(st)

    def wait_exit(self, timeout):
        deadline = time.monotonic() + timeout
        while not self.exited():
            if time.monotonic() > deadline:
                raise Fail("nmrhost did not exit within %g s" % timeout)
            self._read(0.1)
        while self._read(0.05):           # what is left in the pty
            pass
        if os.WIFSIGNALED(self.status):
            raise Fail("nmrhost was %s" % self.describe_status())
        return os.WEXITSTATUS(self.status)

    def alive(self, what):
        if self.exited():
            raise Fail("%s: nmrhost is gone (%s)" % (what, self.describe_status()))

    def close(self):
        if not self.exited():
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)


class Env:
    def __init__(self, host, moddir, srcdir):
        self.host, self.moddir, self.srcdir = host, moddir, srcdir
        self.tmp = tempfile.mkdtemp(prefix="nmrhost-test.")
        self.env = dict(os.environ)
        self.env.update({"HOME": self.tmp, "TERM": "vt100", "NMR_STRICT": "0"})
        self.env.pop("NMRHOST_MODULE_PATH", None)
        self.ttys = []
        # "line editing: libedit ..." (without it the line says "none: ...
        # (build with libedit-dev)", which names libedit too)
        self.libedit = re.search(r"line editing: libedit", subprocess.run(
            [host, "--version"], capture_output=True, text=True, timeout=30).stdout) is not None

    def tty(self, *args, cwd=None):
        t = Tty([self.host, "-M", self.moddir, "--progress=off"] + list(args),
                   self.env, cwd)
        self.ttys.append(t)
        return t

    def run(self, *args, cwd=None, env=None, timeout=60):
        e = dict(self.env)
        e.update(env or {})
        return subprocess.run([self.host] + list(args), capture_output=True, text=True,
                              cwd=cwd, env=e, timeout=timeout)

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


PROMPT = r"nmrhost> "


def load_blocking_pair(t, hold_ms):
    """A client bound to badmod, whose unload then blocks hold_ms."""
    t.expect(PROMPT, 10, "the first prompt")
    t.send(b"load echo_client threads=1 quiet\n")
    t.expect(r"loaded echo_client", 10)
    t.expect(PROMPT, 10)
    t.send(("load badmod mode=slow-detach hold-ms=%d\n" % hold_ms).encode())
    t.expect(r"loaded badmod", 10)
    t.expect(PROMPT, 10)
    t.send(("wait-bound %s 1 5000\n" % NPI_ECHO).encode())
    t.expect(r"1 binding attached", 10)
    t.expect(PROMPT, 10)


# ---- item 13: Ctrl-C ------------------------------------------------------
def test_tty_prompt_intr(e):
    """Ctrl-C at the prompt clears the line and gives a new prompt; nmrhost
    goes on; at the end every module is unloaded and the report printed."""
    t = e.tty()
    try:
        t.expect(PROMPT, 10, "the first prompt")
        t.send(b"load badmod\n")
        t.expect(r"loaded badmod", 10)
        t.expect(PROMPT, 10)
        t.send(b"frobnicate")
        t.expect(r"frobnicate", 5, "the echo of the typed text")
        t.send(CTRL_C)
        t.expect(PROMPT, 5, "a new prompt after Ctrl-C")
        t.drain(0.2)
        t.alive("after Ctrl-C at the prompt")
        t.send(b"list\n")
        m = t.expect(r"(badmod +loaded|unknown command '\S*')", 5, "list after Ctrl-C")
        check(m.group(1).startswith(b"badmod"),
              "the line was not cleared by Ctrl-C: %s" % m.group(1).decode())
        t.expect(PROMPT, 5)
        t.send(CTRL_C)                     # on an empty line: nothing happens
        t.expect(PROMPT, 5, "a new prompt after Ctrl-C on an empty line")
        t.send(CTRL_D)                     # end of input: unload, report
        t.expect(r"unloaded badmod", 10, "the unload at the end")
        t.expect(r"== report", 10, "the final report after Ctrl-C")
        rc = t.wait_exit(10)
        check(rc == 0, "exit status %d, expected 0 (Ctrl-C at the prompt stops nothing)"
              % rc)
    finally:
        t.close()


def test_tty_sleep_intr(e):
    """Ctrl-C during sleep stops the sleep (not nmrhost); quit then unloads
    every module and prints the report."""
    t = e.tty()
    try:
        t.expect(PROMPT, 10, "the first prompt")
        t.send(b"load echo_provider_v1\n")
        t.expect(r"loaded echo_provider_v1", 10)
        t.expect(PROMPT, 10)
        t.send(b"sleep 60000\n")
        t.drain(0.5)
        t.alive("during sleep")
        t0 = time.monotonic()
        t.send(CTRL_C)
        t.expect(r"sleep: interrupted", 5, "the sleep stopped by Ctrl-C")
        t.expect(PROMPT, 5, "the prompt after the interrupted sleep")
        check(time.monotonic() - t0 < 5, "the sleep did not stop promptly")
        t.send(b"list\n")
        t.expect(r"echo_provider_v1 +loaded", 5, "the module still loaded")
        t.expect(PROMPT, 5)
        t.send(b"quit\n")
        t.expect(r"unloaded echo_provider_v1", 10)
        t.expect(r"== report", 10, "the final report after Ctrl-C")
        rc = t.wait_exit(10)
        check(rc == 130, "exit status %d, expected 130 (a command was interrupted)" % rc)
    finally:
        t.close()


def test_tty_unload_intr(e):
    """Ctrl-C during an unload that blocks stops waiting for it (the module
    stays resident, its unload running); at the end nmrhost waits for that
    unload again, unmaps the module and prints the report."""
    t = e.tty("--unload-warn-ms=0")
    try:
        load_blocking_pair(t, 4000)
        t.send(b"unload badmod\n")
        t.drain(0.5)
        t.alive("during the blocked unload")
        t0 = time.monotonic()
        t.send(CTRL_C)
        t.expect(r"unload: badmod: interrupted", 3, "the unload stopped by Ctrl-C")
        t.expect(PROMPT, 3, "the prompt after the interrupted unload")
        check(time.monotonic() - t0 < 3, "the unload was not stopped by Ctrl-C")
        t.send(b"expect-state badmod resident\n")
        t.expect(r"badmod is resident", 5)
        t.expect(PROMPT, 5)
        t.send(b"quit\n")
        t.expect(r"unloaded badmod", 15, "badmod (newest) unloaded at the end")
        t.expect(r"unloaded echo_client", 10, "echo_client unloaded at the end")
        t.expect(r"== report", 10, "the final report after Ctrl-C")
        rc = t.wait_exit(10)
        check(rc == 130, "exit status %d, expected 130" % rc)
    finally:
        t.close()


def test_tty_unload_all_intr(e):
    """A script on a terminal: the first Ctrl-C stops its sleep and the
    script; the unload of every module follows; a second Ctrl-C while an
    unload blocks says what it waits for; then all are unloaded and the
    report printed."""
    script = os.path.join(e.tmp, "intr.nmr")
    with open(script, "w") as f:
        f.write("load echo_client threads=1 quiet\n"
                "load badmod mode=slow-detach hold-ms=3000\n"
                "wait-bound %s 1 5000\n"
                "sleep 60000\n"
                "echo not reached\n" % NPI_ECHO)
    t = e.tty("--unload-warn-ms=0", script)
    try:
        t.expect(r"1 binding attached", 10)
        t.drain(0.3)
        t.send(CTRL_C)
        t.expect(r"sleep: interrupted", 5, "the sleep stopped by the first Ctrl-C")
        t.expect(r"unloading every module", 5, "the unload at the end")
        t.drain(0.5)
        t.alive("during the unload of every module")
        t.send(CTRL_C)
        t.expect(r"waiting for the unload of badmod", 3,
                 "the second Ctrl-C saying what it waits for")
        t.expect(r"provider registration 0x[0-9a-f]+: NPI", 3, "what badmod still has")
        t.expect(r"unloaded badmod", 10)
        t.expect(r"unloaded echo_client", 10)
        t.expect(r"== report", 10, "the final report")
        rc = t.wait_exit(10)
        check(b"not reached" not in t.buf, "the script went on after Ctrl-C")
        check(rc == 130, "exit status %d, expected 130" % rc)
    finally:
        t.close()


# ---- item 14: the prompt redrawn after a watchdog report -------------------
def test_tty_watchdog_redraw(e):
    """A watchdog report printed while the prompt is shown is followed by
    the prompt again, with what was typed."""
    t = e.tty("--unload-warn-ms=400", "--unload-timeout-ms=100")
    try:
        load_blocking_pair(t, 3000)
        t.send(b"unload badmod\n")
        t.expect(r"did not return within 100 ms", 5)
        t.expect(PROMPT, 5)
        t.send(b"ech")
        t.expect(r"ech", 5)
        t.expect(r"watchdog: [^\r\n]*", 10, "a watchdog report at the prompt")
        want = PROMPT + ("ech" if e.libedit else "")
        t.expect(re.escape(want), 3, "the prompt redrawn after the report")
        t.send(b"o redrawn-ok\n")
        t.expect(r"\nredrawn-ok", 5, "the command typed across the redraw")
        t.expect(PROMPT, 5)
        t.send(b"sleep 3000\n")              # badmod's unload returns meanwhile
        t.expect(PROMPT, 10)
        t.send(b"quit\n")
        t.expect(r"unloaded badmod", 15)
        rc = t.wait_exit(15)
        check(rc == 1, "exit status %d, expected 1 (the unload that timed out)" % rc)
    finally:
        t.close()


# ---- item 14: load NAME from the current directory --------------------------
def test_load_cwd(e):
    """load NAME finds NAME.so in the current directory: with no module path,
    and after the module path."""
    for opts in ([], ["-M", os.path.join(e.tmp, "nonexistent")]):
        r = e.run("--progress=off", "-e", *opts, "-c",
                  "load badmod; expect-state badmod loaded; unload badmod",
                  cwd=e.moddir)
        print(r.stdout + r.stderr)
        check(r.returncode == 0, "load badmod in %s (options %s) failed" % (e.moddir, opts))
        check(re.search(r"loaded badmod from \./badmod\.so", r.stdout),
              "badmod was not loaded from ./badmod.so")
    r = e.run("--progress=off", "-c", "load nosuchmodule", cwd=e.moddir)
    print(r.stdout + r.stderr)
    check(r.returncode == 1 and "current directory" in r.stderr,
          "the error for a missing module does not name the current directory")


# ---- item 14: the DOT graph -------------------------------------------------
def bound_pair_commands(tail):
    return ("load echo_provider_v1; load echo_client threads=1 quiet; "
            "wait-bound %s 1 5000; %s" % (NPI_ECHO, tail))


def test_graph_dot(e):
    """graph FILE.dot: nodes labelled with module names, the NPI GUID in the
    tooltip; a legend of one small node."""
    dotfile = os.path.join(e.tmp, "g.dot")
    r = e.run("--progress=off", "-q", "-e", "-M", e.moddir, "-c",
              bound_pair_commands("graph %s" % dotfile))
    print(r.stdout + r.stderr)
    check(r.returncode == 0, "nmrhost failed")
    dot = open(dotfile).read()
    print(dot)
    labels = re.findall(r'label="([^"]*)"', dot)
    check(any(l.startswith("echo_client") for l in labels),
          "no node labelled with the module name echo_client")
    check(any(l.startswith("echo_provider_v1") for l in labels),
          "no node labelled with the module name echo_provider_v1")
    check(re.search(r'tooltip="[^"]*NPI \{6F1D2C3B-8A47-4E59-B1C2-3D4E5F607182\}', dot),
          "the NPI GUID is not in a node's tooltip")
    legend = [l for l in dot.splitlines() if re.match(r"\s*legend\w*\s*\[", l)]
    check(len(legend) == 1, "the legend has %d nodes, not 1" % len(legend))
    if shutil.which("dot"):
        plain = subprocess.run(["dot", "-Tplain", dotfile], capture_output=True,
                               text=True, timeout=60)
        check(plain.returncode == 0, "dot -Tplain failed: %s" % plain.stderr)
        graph_w = graph_h = None
        for line in plain.stdout.splitlines():
            w = line.split()
            if w[0] == "graph":
                graph_w, graph_h = float(w[2]), float(w[3])
            if w[0] == "node" and w[1].startswith("legend"):
                lw, lh = float(w[4]), float(w[5])
                print("legend %.2f x %.2f in, graph %.2f x %.2f in" %
                      (lw, lh, graph_w, graph_h))
                check(lw <= 2.5 and lh <= 1.0, "the legend is %.2f x %.2f in" % (lw, lh))
    else:
        print("(dot not installed: the legend's size is not measured)")


# ---- item 14: show json -------------------------------------------------------
def test_show_json(e):
    """show json writes the snapshot as JSON, to standard output or a file."""
    out = os.path.join(e.tmp, "snap.json")
    r = e.run("--progress=off", "-q", "-e", "-M", e.moddir, "-c",
              bound_pair_commands("show json %s; show json" % out))
    print(r.stdout + r.stderr)
    check(r.returncode == 0, "nmrhost failed")
    docs = [json.load(open(out)), json.loads(r.stdout)]
    for doc in docs:
        check(len(doc["registrations"]) == 2, "not 2 registrations")
        check(len(doc["bindings"]) == 1, "not 1 binding")
    try:
        import jsonschema
    except ImportError:
        print("(python3-jsonschema not installed: no schema validation)")
        return
    schema = json.load(open(os.path.join(e.srcdir, "docs", "snapshot.schema.json")))
    for doc in docs:
        jsonschema.validate(doc, schema)
    print("valid against docs/snapshot.schema.json")


# ---- item 14: the bpftrace summary ----------------------------------------------
def test_bt_summary(e):
    """tools/nmr-bindings.bt: what its END block prints has handles in hex
    (pointer-typed map keys, which bpftrace prints as 0x...) and times in ms,
    not raw nsecs since boot."""
    path = os.path.join(e.srcdir, "tools", "nmr-bindings.bt")
    src = re.sub(r"/\*.*?\*/", "", open(path).read(), flags=re.S)
    m = re.search(r"\nEND\s*\{(.*?)\n\}", src, re.S)
    check(m, "no END block")
    printed = re.findall(r"print\(\s*@(\w+)", m.group(1))
    check(printed, "the END block prints no map")
    for name in printed:
        stores = re.findall(r"@%s\[([^\]]*)\]\s*=\s*([^;]*);" % name, src)
        check(stores, "@%s is printed but never set" % name)
        for key, value in stores:
            first = key.split(",")[0].strip()
            check(re.match(r"\(\s*(u?int8|void)\s*\*\s*\)", first),
                  "@%s[%s]: the handle key is not a pointer, so bpftrace prints it in "
                  "decimal" % (name, key))
            check(re.search(r"/\s*1000000\b", value) and "nsecs" in value,
                  "@%s = %s: not a time in ms" % (name, value))
    check(re.search(r"printf\([^;]*ms", m.group(1)), "the END block does not say ms")
    print("END prints %s: hex handles, ms" % ", ".join("@" + n for n in printed))


# ---- issue 15: a driver that crashes in DriverEntry --------------------------
def test_driver_crash(e):
    """A SIGSEGV in DriverEntry kills nmrhost (a process cannot survive it),
    after one line on standard error that says so and names the driver.
    Under AddressSanitizer, its report follows and it ends the process."""
    r = e.run("--progress=off", "-M", e.moddir, "-c",
              "load ping_provider_v1; load baddrv_crash; echo survived")
    print(r.stdout + r.stderr)
    check("survived" not in r.stdout, "nmrhost went on after the crash")
    check(re.search(r"nmrhost: fatal signal SIGSEGV \(address 0x10\) during DriverEntry "
                    r"of baddrv_crash: a module or driver crashed the process", r.stderr),
          "no line naming the signal and the driver")
    asan = "AddressSanitizer" in r.stderr
    if asan:
        check(r.returncode != 0, "exit status 0 under ASan")
        print("(ASan build: its SEGV report ended the process, exit status %d)" % r.returncode)
    else:
        check(r.returncode == -signal.SIGSEGV,
              "exit status %d, not killed by SIGSEGV" % r.returncode)
        print("killed by SIGSEGV, as said")


def main():
    if len(sys.argv) != 5:
        print(__doc__)
        return 2
    host, moddir, srcdir, name = sys.argv[1:]
    fn = globals().get("test_" + name)
    if fn is None:
        print("no test %s" % name)
        return 2
    e = Env(host, moddir, srcdir)
    try:
        fn(e)
    except Fail as x:
        for t in e.ttys:
            print("---- what nmrhost wrote on the terminal (%s):" % " ".join(t.argv))
            print(t.text().replace("\r", ""))
        print("FAIL: %s: %s" % (name, x))
        return 1
    except subprocess.TimeoutExpired as x:
        print("FAIL: %s: timed out: %s" % (name, x))
        return 1
    finally:
        e.cleanup()
    print("PASS: %s" % name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
