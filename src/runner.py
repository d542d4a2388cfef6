# The runner: PID 1 of every sandbox container, started as
#   python -I -c <this file>
# It is built into the daemon (not the image), so any image with Python 3.8+
# works. The wire format is described in include/codeexecd/protocol.h:
#
#   in   stdin:  b"CXD1" + 8 hex digits (job length) + a tar archive with
#                job.json, main.py, stdin (optional) and files/<name>
#   out  stdout: records  type(1) + length(4, big endian) + payload
#                O/E the code's stdout/stderr, W notes, F a tar of the
#                output files, X the final status (JSON, always last)
#
# The code runs as a child process (`python /execution/main.py`, working
# directory /) whose stdout and stderr are pipes read here, so the code never
# writes to the daemon's stream directly. The runner makes itself
# non-dumpable so that the code (same uid) cannot open /proc/1/fd/1 or ptrace
# it. The daemon still treats everything here as hostile: it enforces time,
# output and file limits itself.
import ctypes
import fnmatch
import io
import json
import os
import selectors
import signal
import stat
import struct
import subprocess
import sys
import tarfile
import threading
import time

WORK = "/execution"
CHUNK = 65536
DRAIN_AFTER_EXIT = 0.2  # seconds to collect output from orphans holding pipes
OUT = sys.stdout.buffer.raw if hasattr(sys.stdout.buffer, "raw") else sys.stdout.buffer


def send(kind, payload):
    data = struct.pack(">cI", kind, len(payload)) + payload
    view = memoryview(data)
    while view:
        n = os.write(1, view)
        view = view[n:]


def note(text):
    send(b"W", text.encode("utf-8", "replace"))


def harden():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except Exception:
        pass
    # The code may signal PID 1: Python's own SIGINT handler would raise
    # KeyboardInterrupt here. A no-op handler (not SIG_IGN, which the child
    # would inherit) keeps the runner going; the child starts with defaults.
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP,
                signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, lambda *_: None)


def read_exact(n):
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(0, min(n - len(buf), 1 << 20))
        if not chunk:
            raise EOFError("job truncated")
        buf += chunk
    return bytes(buf)


def write_new(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def unpack_job():
    head = read_exact(12)
    if head[:4] != b"CXD1":
        raise ValueError("bad job header")
    job = read_exact(int(head[4:], 16))
    params, stdin_data = {}, b""
    with tarfile.open(fileobj=io.BytesIO(job), mode="r:") as tar:
        for m in tar:
            if not m.isreg():
                continue
            data = tar.extractfile(m).read()
            if m.name == "job.json":
                params = json.loads(data)
            elif m.name == "main.py":
                write_new(WORK + "/main.py", data)
            elif m.name == "stdin":
                stdin_data = data
            elif m.name.startswith("files/"):
                write_new(WORK + "/" + m.name, data)
    return params, stdin_data


def oom_kills():
    for path, key in (("/sys/fs/cgroup/memory.events", "oom_kill"),
                      ("/sys/fs/cgroup/memory/memory.oom_control", "oom_kill")):
        try:
            with open(path) as f:
                for line in f:
                    k, _, v = line.partition(" ")
                    if k == key:
                        return int(v)
        except (OSError, ValueError):
            continue
    return 0


def feed_stdin(pipe, data):
    try:
        if data:
            pipe.write(data)
    except OSError:
        pass
    finally:
        try:
            pipe.close()
        except OSError:
            pass


def pump(proc):
    """Forwards the child's stdout/stderr as O/E records until it exits,
    then drains what is left for a moment (orphans may hold the pipes)."""
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, b"O")
    sel.register(proc.stderr, selectors.EVENT_READ, b"E")
    exited_at = None
    while sel.get_map():
        if exited_at is None and proc.poll() is not None:
            exited_at = time.monotonic()
        if exited_at is not None and time.monotonic() - exited_at > DRAIN_AFTER_EXIT:
            break
        for key, _ in sel.select(0.05):
            data = os.read(key.fd, CHUNK)
            if data:
                send(key.data, data)
            else:
                sel.unregister(key.fileobj)
    sel.close()
    return proc.wait()


def collect_outputs(params):
    root = WORK + "/output"
    include = params.get("include") or ["*"]
    max_files = int(params.get("max_files", 64))
    max_file = int(params.get("max_file_bytes", 10 << 20))
    max_total = int(params.get("max_total_bytes", 50 << 20))
    buf, total, count = io.BytesIO(), 0, 0
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            dirnames.sort()
            for name in sorted(filenames):
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                if not any(fnmatch.fnmatchcase(rel, p) for p in include):
                    continue
                try:
                    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
                except OSError:
                    continue
                with os.fdopen(fd, "rb") as f:
                    st = os.fstat(f.fileno())
                    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
                        continue
                    if st.st_size > max_file:
                        note("output file %s left out: %d bytes is over the %d-byte limit"
                             % (rel, st.st_size, max_file))
                        continue
                    if count >= max_files or total + st.st_size > max_total:
                        note("output file %s left out: over the limit of %d files or "
                             "%d bytes in all" % (rel, max_files, max_total))
                        continue
                    data = f.read(max_file + 1)
                if len(data) > max_file:
                    continue
                info = tarfile.TarInfo(rel)
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
                count, total = count + 1, total + len(data)
    return buf.getvalue() if count else b""


def main():
    harden()
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    params, stdin_data = unpack_job()
    for d in ("output", "files", ".cache", ".config/matplotlib", "__pycache__"):
        os.makedirs(WORK + "/" + d, exist_ok=True)
    ooms = oom_kills()
    proc = subprocess.Popen(
        ["python", WORK + "/main.py"], cwd="/", stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True,
        start_new_session=True)
    threading.Thread(target=feed_stdin, args=(proc.stdin, stdin_data), daemon=True).start()
    code = pump(proc)
    status = {"exit_code": code if code >= 0 else 128 - code,
              "signal": -code if code < 0 else 0,
              "oom_kill": oom_kills() > ooms}
    send(b"F", collect_outputs(params))
    send(b"X", json.dumps(status).encode())


try:
    main()
except BaseException as exc:  # reported on the container's stderr, read by the daemon
    sys.stderr.write("codeexecd runner: %s: %s\n" % (type(exc).__name__, exc))
    sys.exit(70)
