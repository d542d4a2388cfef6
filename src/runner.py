# The runner: PID 1 of every sandbox container, started as
#   python -c <this file> <settings JSON>
# It is built into the daemon (not the image), so any image with Python 3.8+
# works. The wire format is described in include/codeexecd/protocol.h:
#
#   in   stdin:  b"CXD1" + 8 hex digits (job length) + a tar archive with
#                job.json, main.py, stdin (optional) and files/<name>
#   out  stdout: records  type(1) + length(4, big endian) + payload
#                R ready (first), O/E the code's stdout/stderr, W notes,
#                F a tar of the output files, X the final status (last)
#
# Settings (argv[1]): {"preload": [module, ...], "fork": true|false}.
#
# A zygote: a container started ahead of time (the pool) imports the preload
# modules, then says it is ready ('R') and waits for its job; a container
# started for a request preloads nothing and is ready at once. Then the
# runner forks, and the child becomes the user's program with the semantics
# of `python /execution/main.py`: a fresh __main__ module, argv, sys.path[0],
# cwd /, the same environment, default signal handlers and warning filters,
# the interpreter's own traceback, exit and shutdown sequence (atexit,
# non-daemon threads, flushing). Only the preloaded modules show: they are
# already in sys.modules. With "fork": false the child execs a plain
# `python /execution/main.py` instead (the reference the conformance tests
# compare against). Either way there is one interpreter per execution
# besides the runner, and the runner never runs the code itself.
#
# The child's stdout and stderr are pipes read here, so the code never writes
# to the daemon's stream directly. The runner makes itself non-dumpable (and
# exits if it cannot) so that the code (same uid) cannot open /proc/1/fd/1 or
# ptrace it; the child is made dumpable again, like any program. The daemon
# still treats everything here as hostile: it enforces time, output and file
# limits itself.
import ctypes
import fnmatch
import gc
import importlib
import io
import json
import os
import select
import signal
import stat
import struct
import sys
import tarfile
import time
import types
import warnings

WORK = "/execution"
MAIN = WORK + "/main.py"
CHUNK = 65536
DRAIN_AFTER_EXIT = 0.2  # seconds to collect output from orphans holding pipes
MAX_WALK = 100000       # entries of /execution/output looked at
FONT_CACHE = "/usr/local/share/codeexecd/matplotlib"  # built into the image
RUNNER_FILE = sys._getframe().f_code.co_filename      # "<string>"
RUNNER_PID = os.getpid()
PR_SET_DUMPABLE = 4

# The interpreter's state before anything is imported for the code: the
# child gets it back.
SAVED_ENV = dict(os.environ)
SAVED_PATH = list(sys.path)
SAVED_FILTERS = list(warnings.filters)


def send(kind, payload):
    data = struct.pack(">cI", kind, len(payload)) + payload
    view = memoryview(data)
    while view:
        n = os.write(1, view)
        view = view[n:]


def note(text):
    send(b"W", text.encode("utf-8", "replace"))


def set_dumpable(value):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, %d) failed" % value)


def harden():
    set_dumpable(0)  # no way to protect the runner: fail, never run the code
    # The code may signal PID 1: Python's own SIGINT handler would raise
    # KeyboardInterrupt here. A no-op handler keeps the runner going; the
    # child gets the interpreter's defaults back.
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP,
                signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, lambda *_: None)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # the daemon is gone: so are we


def seed_font_cache():
    """Copies matplotlib's font list, built into the image, into the fresh
    MPLCONFIGDIR so that no run rebuilds it."""
    dest = os.environ.get("MPLCONFIGDIR")
    try:
        names = os.listdir(FONT_CACHE)
    except OSError:
        return
    for name in names:
        if not dest or not name.endswith(".json"):
            continue
        try:
            with open(os.path.join(FONT_CACHE, name), "rb") as src:
                data = src.read()
            write_new(os.path.join(dest, name), data)
        except OSError:
            pass


def preload(modules):
    """Imports modules, then tells the daemon that the job may come (it
    hands a pooled container out only then)."""
    started, loaded, errors = time.monotonic(), [], []
    for name in modules:
        try:
            importlib.import_module(name)
            loaded.append(name)
        except Exception as exc:  # not in this image: the code will see it itself
            errors.append("%s: %s: %s" % (name, type(exc).__name__, exc))
    sys.stdout.flush()
    sys.stderr.flush()
    # Out of the collector's sight: a collection in the child would
    # otherwise write to (and so copy) every page of the preloaded objects.
    gc.collect()
    gc.freeze()
    send(b"R", json.dumps({"preloaded": loaded, "preload_errors": errors,
                           "preload_ms": int((time.monotonic() - started) * 1000)}).encode())


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
                write_new(MAIN, data)
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


# --- the child: the user's program ---------------------------------------

def become_program(stdin_r, stdout_w, stderr_w):
    """In the forked child: the process state of a freshly started
    `python /execution/main.py`."""
    os.setsid()
    os.dup2(stdin_r, 0)
    os.dup2(stdout_w, 1)
    os.dup2(stderr_w, 2)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    set_dumpable(1)
    for sig in (signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1,
                signal.SIGUSR2):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # what the interpreter sets itself
    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    os.chdir("/")
    os.environ.clear()
    os.environ.update(SAVED_ENV)


def exec_plain():
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.execvp("python", ["python", MAIN])


def new_main_module():
    """A __main__ module as the interpreter makes it for a script."""
    import builtins
    from importlib.machinery import SourceFileLoader

    main = types.ModuleType("__main__")
    ns = main.__dict__
    ns["__annotations__"] = {}
    ns["__builtins__"] = builtins
    ns["__file__"] = MAIN
    ns["__cached__"] = None
    ns["__loader__"] = SourceFileLoader("__main__", MAIN)
    sys.modules["__main__"] = main
    sys.argv[:] = [MAIN]
    if hasattr(sys, "orig_argv"):
        sys.orig_argv = ["python", MAIN]
    sys.path[:] = [WORK] + SAVED_PATH[1:]
    warnings.filters[:] = SAVED_FILTERS
    warnings._filters_mutated()
    return ns


def compile_program():
    with open(MAIN, "rb") as f:
        return compile(f.read(), MAIN, "exec", dont_inherit=True)


def report_uncaught(exc):
    """Prints exc as the interpreter prints an uncaught exception, without
    the runner's own frames; returns the interpreter's exit status."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == RUNNER_FILE:
        tb = tb.tb_next
    # The hook prints the exception's own traceback: cut it first.
    sys.excepthook(type(exc), exc.with_traceback(tb), tb)
    # 130 = 128 + SIGINT: the interpreter ends an uncaught KeyboardInterrupt
    # by killing itself with SIGINT.
    return 130 if isinstance(exc, KeyboardInterrupt) else 1


def system_exit_status(exc):
    """What the interpreter makes of an uncaught SystemExit: None is 0, an
    int its low byte (through a C long), anything else is printed to
    stderr and gives 1."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF if -(1 << 63) <= code < (1 << 63) else 255
    try:
        sys.stderr.write(str(code) + "\n")
    except Exception:
        pass
    return 1


def finish(namespace, status):
    """The end of a program as the interpreter ends it: non-daemon threads
    joined, atexit handlers, the program's own objects released (an
    unclosed file is flushed), standard streams flushed. Then _exit: the
    teardown of the preloaded libraries, which would write to every page
    the child shares with the zygote, is skipped (it took seconds)."""
    import atexit
    import threading
    try:
        threading._shutdown()
    except Exception:
        pass
    atexit._run_exitfuncs()
    for name in [n for n in namespace if n.startswith("_") and not n.startswith("__")]:
        namespace[name] = None  # the interpreter's module clearing order
    for name in [n for n in namespace if n != "__builtins__"]:
        namespace[name] = None
    gc.collect()  # the program's cycles; the zygote's objects are frozen
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            if stream is sys.stdout and status == 0:
                status = 120  # as the interpreter: output could not be written
    os._exit(status)


# --- the runner -----------------------------------------------------------

def reap(pid, status):
    """Reaps every exited process (orphans end up with PID 1); returns the
    child's wait status once it is known."""
    while True:
        try:
            got, st = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return status
        if got == 0:
            return status
        if got == pid:
            status = st


def pump(pid, out_r, err_r, stdin_w, stdin_data):
    """Forwards the child's stdout/stderr as O/E records and feeds its stdin
    until it exits, then drains what is left for a moment (orphans may hold
    the pipes). Returns the child's wait status."""
    readers = {out_r: b"O", err_r: b"E"}
    pending = memoryview(stdin_data)
    writers = [stdin_w]
    os.set_blocking(stdin_w, False)  # a child that never reads must not stop the pump
    if not pending:
        os.close(stdin_w)
        writers = []
    status, exited_at = None, None
    while readers:
        status = reap(pid, status)
        if status is not None and exited_at is None:
            exited_at = time.monotonic()
        if exited_at is not None and time.monotonic() - exited_at > DRAIN_AFTER_EXIT:
            break
        r, w, _ = select.select(list(readers), writers, [], 0.05)
        for fd in r:
            data = os.read(fd, CHUNK)
            if data:
                send(readers[fd], data)
            else:
                del readers[fd]
        for fd in w:
            try:
                pending = pending[os.write(fd, pending[:CHUNK]):]
            except BlockingIOError:
                continue
            except OSError:
                pending = pending[:0]  # the child closed its stdin
            if not pending:
                os.close(fd)
                writers = []
    if writers:
        os.close(stdin_w)
    while status is None:
        _, status = os.waitpid(pid, 0)
    return status


def sorted_names(fd):
    return sorted(os.listdir(fd), key=os.fsencode)


def walk_outputs(root):
    """The regular files under root (a directory fd), as (relative path,
    stat), in the order the engine's archive of a directory lists them (and
    so the old service saw them): depth first, each directory's entries in
    byte order of their names. Links are never followed; of several hard
    links to one file only the first counts, as in such an archive."""
    found, inodes, looked = [], set(), 0
    stack = [(root, "", iter(sorted_names(root)))]
    try:
        while stack:
            fd, prefix, names = stack[-1]
            name = next(names, None)
            if name is None:
                stack.pop()
                if fd != root:
                    os.close(fd)
                continue
            looked += 1
            if looked > MAX_WALK:
                note("output files: only the first %d entries of output/ were looked at"
                     % MAX_WALK)
                break
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                    stack.append((sub, prefix + name + "/", iter(sorted_names(sub))))
                elif stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in inodes:
                    inodes.add((st.st_dev, st.st_ino))
                    found.append(prefix + name)
            except OSError:
                continue
    finally:
        for fd, _, _ in stack:
            if fd != root:
                os.close(fd)
    return found


def open_beneath(root, rel):
    """Opens root/rel for reading without following any link on the way."""
    parts = rel.split("/")
    fd = root
    try:
        for part in parts[:-1]:
            sub = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            if fd != root:
                os.close(fd)
            fd = sub
        return os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
    finally:
        if fd != root:
            os.close(fd)


def select_outputs(paths, params):
    """The daemon's selection (it checks again): paths matching include and
    allow; with by_base_name, of equal base names the last in walk order."""
    include = params.get("include") or ["*"]
    allow = params.get("allow") or ["*"]
    chosen = [p for p in paths
              if any(fnmatch.fnmatchcase(p, i) for i in include)
              and any(fnmatch.fnmatchcase(p, a) for a in allow)]
    if params.get("by_base_name"):
        last = {p.rsplit("/", 1)[-1]: p for p in chosen}
        keep = set(last.values())
        chosen = [p for p in chosen if p in keep]
    return chosen


def collect_outputs(params):
    max_files = int(params.get("max_files", 64))
    max_file = int(params.get("max_file_bytes", 10 << 20))
    max_total = int(params.get("max_total_bytes", 50 << 20))
    try:
        root = os.open(WORK + "/output", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        if os.path.islink(WORK + "/output"):
            note("output files: /execution/output is a symbolic link; nothing is returned")
        elif os.path.lexists(WORK + "/output"):
            note("output files: /execution/output cannot be read: %s" % exc.strerror)
        return b""
    buf, total, count = io.BytesIO(), 0, 0
    try:
        chosen = select_outputs(walk_outputs(root), params)
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for rel in chosen:
                try:
                    fd = open_beneath(root, rel)
                except OSError:
                    continue
                with os.fdopen(fd, "rb") as f:
                    st = os.fstat(f.fileno())
                    if not stat.S_ISREG(st.st_mode):
                        continue
                    data = f.read(max_file + 1)
                # What was read counts, not what stat said: a file that grows
                # while it is read is cut or left out, never half-described.
                if len(data) > max_file:
                    note("output file %s left out: it is over the %d-byte limit"
                         % (rel, max_file))
                    continue
                if count >= max_files or total + len(data) > max_total:
                    note("output file %s left out: over the limit of %d files or "
                         "%d bytes in all" % (rel, max_files, max_total))
                    continue
                info = tarfile.TarInfo(rel)
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
                count, total = count + 1, total + len(data)
    finally:
        os.close(root)
    return buf.getvalue() if count else b""


def exit_fields(status):
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return 128 + sig, sig
    return os.WEXITSTATUS(status), 0


def main():
    settings = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    harden()
    for d in ("output", "files", ".cache", ".config/matplotlib", "__pycache__"):
        os.makedirs(WORK + "/" + d, exist_ok=True)
    seed_font_cache()
    preload(settings.get("preload") or [])
    params, stdin_data = unpack_job()
    ooms = oom_kills()
    started = time.monotonic()
    stdin_r, stdin_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        become_program(stdin_r, out_w, err_w)
        if not settings.get("fork", True):
            exec_plain()
        return True  # the program runs at the top level, outside the runner's handlers
    for fd in (stdin_r, out_w, err_w):
        os.close(fd)
    code, sig = exit_fields(pump(pid, out_r, err_r, stdin_w, stdin_data))
    ran = time.monotonic()
    send(b"F", collect_outputs(params))
    status = {"exit_code": code, "signal": sig, "oom_kill": oom_kills() > ooms,
              "run_ms": int((ran - started) * 1000),
              "collect_ms": int((time.monotonic() - ran) * 1000)}
    send(b"X", json.dumps(status).encode())
    return False


def start():
    try:
        return main()
    except BaseException as exc:
        msg = "codeexecd runner: %s: %s\n" % (type(exc).__name__, exc)
        if os.getpid() != RUNNER_PID:  # the child, before the code ran
            os.write(2, msg.encode("utf-8", "replace"))
            os._exit(70)
        sys.stderr.write(msg)  # the container's stderr, read by the daemon
        sys.exit(70)


# The code runs here, at the top level, so that it sits on as few runner
# frames as possible (one: a RecursionError comes one call sooner than in a
# plain interpreter); its end is the interpreter's (finish).
if start():
    _program = new_main_module()
    try:
        exec(compile_program(), _program)
        _status = 0
    except SystemExit as _exc:
        _status = system_exit_status(_exc)
    except BaseException as _exc:
        _status = report_uncaught(_exc)
    finish(_program, _status)
