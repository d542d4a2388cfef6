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
# The child is forked before the job comes (a pooled container forks while
# it waits, so the fork is off the request's path) and waits for a go message
# on a pipe of its own. A session ("session" in job.json) keeps the child:
# it runs each job of the session in the same __main__ and reports each
# job's status on a control pipe, then waits for the next go. Figures
# (matplotlib) that the code shows or leaves open are saved as
# output/figure-N.png when the job asks ("capture_figures"), and announced
# on the control pipe at once when it streams ("stream").
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
import importlib.machinery
import io
import json
import mmap
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
import weakref

WORK = "/execution"
MAIN = WORK + "/main.py"
CHUNK = 65536
DRAIN_AFTER_EXIT = 0.2  # seconds to collect output from orphans holding pipes
DRAIN_READS = 16        # chunks read after a session call's status (a thread may go on)
HOLD_S = 0.005          # a one-shot run's output waits this long for more (see pump)
HOLD_WINDOW_S = 0.25    # ... in the run's first quarter second only (timeouts are >= 1 s)
LINGER_S = 1.0          # after the last record, for the daemon to remove the container
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


def record(kind, payload):
    return struct.pack(">cI", kind, len(payload)) + payload


def send(kind, payload, more=b"", before=b""):
    """Writes a record to the daemon, after before and before more (records
    already made), in one write."""
    write_all(before + record(kind, payload) + more)


def write_all(data):
    view = memoryview(data)
    while view:
        view = view[os.write(1, view):]


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


def in_background(fn, *args):
    """Runs fn(*args) in a thread of the SCHED_IDLE policy and returns its
    result. A pooled container prepares itself while other containers run
    code: preloading takes seconds of CPU, and at its CPU weight alone it
    would still hold a core for a few milliseconds each time a running
    execution's process wakes up (every step of a job through the engine).
    An idle-policy thread gives way at once. Only a thread: the process
    that runs the code keeps the normal policy (going back to it would need
    an RLIMIT_NICE the container does not have)."""
    import threading
    out = {}

    def body():
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # this thread
        except (AttributeError, OSError):
            pass  # no such policy here: only slower to give way
        try:
            out["value"] = fn(*args)
        except BaseException as exc:
            out["error"] = exc
    thread = threading.Thread(target=body, name="codeexecd-preload")
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


def import_all(modules):
    loaded, errors = [], []
    for name in modules:
        try:
            importlib.import_module(name)
            loaded.append(name)
        except Exception as exc:  # not in this image: the code will see it itself
            errors.append((name, exc))
    return loaded, errors


def preload(modules):
    """Imports modules; returns what the 'R' record says of them. (A
    container started for a request has none: no thread for nothing.)"""
    started = time.monotonic()
    run = in_background if modules else (lambda fn, *args: fn(*args))
    loaded, failed = run(import_all, modules)
    # A module that failed off the main thread (one that sets a signal
    # handler as it loads) is tried again on it, in the configured order.
    again, failed = import_all([name for name, _ in failed])
    loaded = [name for name in modules if name in loaded or name in again]
    errors = ["%s: %s: %s" % (name, type(exc).__name__, exc) for name, exc in failed]
    run(warm_up, loaded, True)
    sys.stdout.flush()
    sys.stderr.flush()
    return {"preloaded": loaded, "preload_errors": errors,
            "preload_ms": int((time.monotonic() - started) * 1000)}


def warm_up(loaded, freeze=False):
    """Runs, in memory, what agents' code does most: a CSV read with pandas,
    a computed column, a group-by, CSV and text out, a bar chart and a line
    chart saved as PNG. A process's first pass through these loads code
    lazily, fills caches and loads fonts: about 300 ms on one CPU, which
    the code's first read_csv and first chart no longer pay. Nothing of it
    stays visible: the objects are dropped and every figure is closed (the
    code's first is still figure 1)."""
    pandas = sys.modules.get("pandas") if "pandas" in loaded else None
    plt = sys.modules.get("matplotlib.pyplot") if "matplotlib.pyplot" in loaded else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if pandas is not None:
                frame = pandas.read_csv(io.StringIO("k,a,b\nx,1,2.5\ny,3,4.5\nx,5,6.5\n"))
                frame["c"] = frame["a"] * frame["b"]
                summary = frame.groupby("k")["c"].sum().sort_values()
                summary.to_csv(io.StringIO())
                frame.to_csv(io.StringIO(), index=False)
                summary.round(2).to_string()
                frame.describe().to_string()
                if plt is not None:
                    summary.plot(kind="bar", title="t")
                    frame.plot(x="a", y="b")
            elif plt is not None:
                plt.plot([1, 2, 3], label="t")
            if plt is not None:
                plt.xlabel("x")
                plt.legend()
                plt.tight_layout()
                plt.gcf().savefig(io.BytesIO(), format="png")
    except Exception:
        pass  # only a warm-up
    finally:
        if plt is not None:
            plt.close("all")
        # matplotlib keeps the font files it rendered with open: drop them,
        # or the code would see an fd it did not open.
        fonts = getattr(sys.modules.get("matplotlib.font_manager"), "_get_font", None)
        if hasattr(fonts, "cache_clear"):
            fonts.cache_clear()
        gc.collect()  # the warm-up's cycles (a hundred milliseconds: here, not later)
        if freeze:
            # Out of the collector's sight: a collection in the child would
            # otherwise write to (and so copy) every page of the preloaded
            # objects.
            gc.freeze()


def read_exact(n):
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(0, min(n - len(buf), 1 << 20))
        if not chunk:
            raise EOFError("job truncated")
        buf += chunk
    return bytes(buf)


def write_new(path, data, replace=False):
    """Writes a file of the job (path under WORK) into a new regular file,
    never through a link: each directory on the way is opened without
    following one (and made when missing). replace: a later job of a
    session, whose code may have left anything at that name, which is
    removed first."""
    if not path.startswith(WORK + "/"):
        raise ValueError("%s is not under %s" % (path, WORK))
    parts = path[len(WORK) + 1:].split("/")
    fd = os.open(WORK, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            try:
                os.mkdir(part, 0o755, dir_fd=fd)
            except FileExistsError:
                pass
            sub = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = sub
        if replace:
            try:
                os.unlink(parts[-1], dir_fd=fd)
            except FileNotFoundError:
                pass
        out = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW |
                      os.O_NONBLOCK, 0o644, dir_fd=fd)
    finally:
        os.close(fd)
    with os.fdopen(out, "wb") as f:
        f.write(data)


def write_file(path, data, replace):
    """A request file: in a session whose code put something in its way
    that cannot be removed (a directory), a note instead."""
    try:
        write_new(path, data, replace)
    except OSError as exc:
        if not replace:
            raise
        note("file %s was not written: %s" % (os.path.relpath(path, WORK + "/files"),
                                              exc.strerror))


def unpack_job(replace=False):
    """Reads the next job from stdin; None when the daemon closed it
    (between the jobs of a session)."""
    try:
        head = read_exact(12)
    except EOFError:
        if replace:
            return None
        raise
    if head[:4] != b"CXD1":
        raise ValueError("bad job header")
    return open_job(read_exact(int(head[4:], 16)), replace)


def pax_records(data):
    """A pax header's "<length> <key>=<value>\\n" records."""
    records, at = {}, 0
    while at < len(data):
        length = int(data[at:data.index(b" ", at)])
        if length <= 0:
            raise ValueError("bad pax record in the job archive")
        key, _, value = data[data.index(b" ", at) + 1:at + length - 1].partition(b"=")
        records[key] = value
        at += length
    return records


def tar_files(job):
    """The regular files of the job's tar archive (ustar blocks, pax or GNU
    headers for long or non-ASCII names), as (name, data) pairs. Read here
    rather than with tarfile, whose first pass in a freshly forked process
    costs about a millisecond of a print(1+1)'s time; the archive comes
    from the daemon, and anything it does not expect is an error."""
    off, pax = 0, {}
    while off + 512 <= len(job):
        head = job[off:off + 512]
        if not head.strip(b"\0"):
            return  # the end-of-archive block
        kind = head[156:157]
        size = int(pax.get(b"size") or head[124:136].strip(b" \0") or b"0",
                   10 if b"size" in pax else 8)
        data = job[off + 512:off + 512 + size]
        if len(data) != size:
            raise ValueError("job archive truncated")
        off += 512 + (size + 511) // 512 * 512
        if kind == b"x":
            pax = pax_records(data)  # for the next member only
            continue
        if kind == b"L":  # GNU: the next member's long name
            pax = {b"path": data.split(b"\0", 1)[0]}
            continue
        name = pax.get(b"path")
        if name is None:
            name, prefix = head[:100].split(b"\0", 1)[0], head[345:500].split(b"\0", 1)[0]
            name = prefix + b"/" + name if prefix else name
        pax = {}
        if kind in (b"0", b"\0"):
            yield name.decode("utf-8", "surrogateescape"), data
    raise ValueError("job archive without its end")


def open_job(job, replace, write=True):
    """The job's parameters and stdin; its code and files are written
    (unless write is false: a rehearsal)."""
    params, stdin_data = {}, b""
    for name, data in tar_files(job):
        if name == "job.json":
            params = json.loads(data)
        elif name == "main.py" and write:
            write_new(MAIN, data, replace)
        elif name == "stdin":
            stdin_data = data
        elif name.startswith("files/") and write:
            write_file(WORK + "/" + name, data, replace)
    return params, stdin_data


def rehearse_runner(prog):
    """The runner's own path through a job, once, on a job that goes
    nowhere. After the fork, the runner and the waiting child share the
    zygote's memory, and the first write to a page (a reference count
    will do) copies it: this takes those copies before the job is
    waiting, not after (they cost milliseconds)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (("job.json", b'{"session": false}'), ("main.py", b"pass\n"),
                           ("stdin", b"")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    open_job(buf.getvalue(), False, write=False)
    json.dumps({"exit_code": 0, "signal": 0, "run_ms": time.monotonic()})
    # the old client's selection (fnmatch compiles and caches each pattern)
    old = {"include": ["*.csv"], "allow": ["*"], "by_base_name": True, "capture_figures": True}
    go_message(old, b"")
    record(b"X", b"")
    scratch = WORK + "/.rehearsal"  # a job's files are written the same way
    write_new(scratch, b"pass\n")
    os.unlink(scratch)
    prog.rehearse_output()
    exit_fields(0)
    collect_outputs(old)
    oom_kills()


def rehearse_child(loaded, ctl):
    """The same for the child, up to the code: reading a go message,
    compiling and running a program (in a namespace thrown away), and the
    warm-up's work once more, here: what the code does first then runs
    on pages this process already owns (measured on one CPU: a first
    read_csv 44 ms without this, 5 ms in a process that did it before).
    Then it tells the runner, which says ready only after."""
    json.loads(go_message({}, b"")[4:])
    with open(os.devnull, "rb") as f:
        code = compile(f.read() + b"pass\n", MAIN, "exec", dont_inherit=True)
    namespace = {"__name__": "__rehearsal__", "__builtins__": __builtins__, "_x": 1}
    exec(code, namespace)
    clear_namespace(namespace)
    if loaded:
        in_background(warm_up, loaded)
    os.write(ctl, b"ready\n")


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

def become_program(stdin_r, stdout_w, stderr_w, go_r, ctl_w):
    """In the forked child: the process state of a freshly started
    `python /execution/main.py`, but for the go and control pipes, kept at
    the top of the fd table (and closed at the go unless the job needs
    them). Returns their new numbers."""
    os.setsid()
    os.dup2(stdin_r, 0)
    os.dup2(stdout_w, 1)
    os.dup2(stderr_w, 2)
    top = os.sysconf("SC_OPEN_MAX")
    go, ctl = top - 1, top - 2
    if ctl_w == go:
        ctl_w = os.dup(ctl_w)
    os.dup2(go_r, go, inheritable=False)
    os.dup2(ctl_w, ctl, inheritable=False)
    os.closerange(3, ctl)
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
    return go, ctl


class Job:
    """What the child learns at a go: how to run the code it finds in
    main.py."""

    def __init__(self, go, ctl, flags):
        self.go, self.ctl = go, ctl
        self.pid = os.getpid()  # the program's process (a fork of it is not)
        self.namespace = None  # the program's __main__ (set for the first job)
        self.session = bool(flags.get("session"))
        self.stream = bool(flags.get("stream"))
        self.figures = Figures.enable(self) if flags.get("capture_figures") else None
        if self.figures is None and Figures.current is not None:
            Figures.current.job = None  # a later job of a session that turned it off

    def tell(self, message):
        """A line on the control pipe (figures, a session job's status)."""
        if self.ctl is None:
            return
        data = json.dumps(message).encode() + b"\n"
        try:
            while data:
                data = data[os.write(self.ctl, data):]
        except OSError:
            pass  # the code closed it: only its own session suffers


def read_go(go):
    """Waits for the runner's go message: a 4-byte length, the flags as
    JSON, then (a session's job) its stdin. None when the runner is gone."""
    def exact(n):
        buf = b""
        while len(buf) < n:
            chunk = os.read(go, n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf
    head = exact(4)
    flags = head is not None and exact(struct.unpack(">I", head)[0])
    if not flags:
        return None
    flags = json.loads(flags)
    stdin_data = exact(flags.get("stdin_len", 0)) if flags.get("stdin_len") else b""
    return flags, stdin_data


def go_message(params, stdin_data=b""):
    flags = {k: bool(params.get(k)) for k in ("session", "stream", "capture_figures")}
    # Figures only when they could come back: the old service's CSV-only
    # selection never pays for a PNG (nor sees a file it did not make).
    flags["capture_figures"] &= bool(select_outputs(["figure-1.png"], params))
    flags["stdin_len"] = len(stdin_data)
    body = json.dumps(flags).encode()
    return struct.pack(">I", len(body)) + body + stdin_data


def await_job(go, ctl):
    """In the child: waits for the go (the next one, in a session); None
    when there is no more. A one-shot job closes what it does not need, so
    that the code sees the fds of a fresh interpreter."""
    got = read_go(go)
    if got is None:
        return None
    flags, stdin_data = got
    if not flags.get("session"):
        os.close(go)
        go = None
        if not flags.get("stream"):
            os.close(ctl)
            ctl = None
    job = Job(go, ctl, flags)
    if job.session:
        use_stdin(stdin_data)
    return job


def use_stdin(data):
    """A session job's stdin: a fresh file on fd 0 (the pipe of the first
    job cannot be reopened), and a fresh sys.stdin over it."""
    fd = os.memfd_create("stdin", os.MFD_CLOEXEC)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    os.dup2(fd, 0)
    os.close(fd)
    old = sys.stdin
    sys.stdin = open(0, "r", closefd=False, encoding=getattr(old, "encoding", None),
                     errors=getattr(old, "errors", None))


class Figures:
    """Saves the matplotlib figures that the code shows or leaves open as
    output/figure-N.png, unless it saved them itself. pyplot is patched
    when it is imported (at once if the zygote preloaded it). Only the
    program's own process captures: a copy it forked shows and ends as
    without this."""

    current = None  # one per process: pyplot is patched once

    @classmethod
    def enable(cls, job):
        """Captures figures for job (None: not now)."""
        if cls.current is None:
            cls.current = cls()
        cls.current.job = job
        return cls.current

    def __init__(self):
        self.job, self.saved, self.count = None, weakref.WeakSet(), 0
        self.pyplot, self.pid = None, os.getpid()
        if "matplotlib.pyplot" in sys.modules:
            self.patch(sys.modules["matplotlib.pyplot"])
        else:
            sys.meta_path.insert(0, self)

    def active(self):
        return self.pyplot is not None and self.job is not None and os.getpid() == self.pid

    # importlib's finder protocol, only to see pyplot being imported (a
    # look-up alone, importlib.util.find_spec, patches nothing)
    def find_spec(self, name, path=None, target=None):
        if name != "matplotlib.pyplot":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run_module, figures = spec.loader.exec_module, self

        def exec_module(module):
            run_module(module)
            if figures in sys.meta_path:
                sys.meta_path.remove(figures)
            figures.patch(module)
        spec.loader.exec_module = exec_module
        return spec

    def patch(self, pyplot):
        try:
            from matplotlib.figure import Figure
            from matplotlib import _pylab_helpers
        except Exception:
            return  # not the matplotlib this knows: no figures
        figures, savefig, plain_show = self, Figure.savefig, pyplot.show

        def saving(fig, *args, **kwargs):
            done = savefig(fig, *args, **kwargs)
            figures.saved.add(fig)
            return done

        def show(*args, **kwargs):
            if not figures.active():
                return plain_show(*args, **kwargs)
            figures.capture(announce=True, close=False)
            return None
        functools_wraps(saving, savefig)
        functools_wraps(show, plain_show)
        self.pyplot, self.savefig, self.managers = pyplot, savefig, _pylab_helpers.Gcf
        Figure.savefig = saving
        pyplot.show = show

    def capture(self, announce=False, close=True):
        """Saves every open figure the code did not save; close: then
        closes them all (at the end of a session's call, as a notebook
        does; plt.show() keeps them, as Agg's show does)."""
        if not self.active():
            return
        figs = [m.canvas.figure for m in self.managers.get_all_fig_managers()]
        for fig in figs:
            if fig not in self.saved:
                name = self.save(fig)
                if name and announce and self.job.stream:
                    self.job.tell({"figure": name})
        if close:
            for fig in figs:
                self.pyplot.close(fig)

    def save(self, fig):
        while True:
            self.count += 1
            name = "figure-%d.png" % self.count
            try:
                fd = os.open(WORK + "/output/" + name,
                             os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
                break
            except FileExistsError:
                continue
            except OSError:
                return None
        try:
            with os.fdopen(fd, "wb") as f:
                self.savefig(fig, f, format="png")
        except Exception as exc:
            sys.stderr.write("codeexecd: figure %d could not be saved: %s\n" % (self.count, exc))
            return None
        self.saved.add(fig)
        return name


def functools_wraps(wrapper, wrapped):
    for attr in ("__module__", "__name__", "__qualname__", "__doc__"):
        try:
            setattr(wrapper, attr, getattr(wrapped, attr))
        except AttributeError:
            pass
    wrapper.__wrapped__ = wrapped


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


def clear_namespace(namespace):
    """The program's globals released in the interpreter's module clearing
    order: names with one underscore first, then the rest."""
    for name in [n for n in namespace if n.startswith("_") and not n.startswith("__")]:
        namespace[name] = None
    for name in [n for n in namespace if n != "__builtins__"]:
        namespace[name] = None


def finish(namespace, status, copy=False):
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
    clear_namespace(namespace)
    gc.collect()  # the program's cycles; the zygote's objects are frozen
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            if stream is sys.stdout and status == 0:
                status = 120  # as the interpreter: output could not be written
    # Done but for leaving: the status goes to the page shared with the
    # runner, and the pipes close now, so the runner need not wait for the
    # kernel to take this large process apart. Nor does the kernel do it
    # now, while the answer is on its way: the process stops, and goes
    # with the container, which the daemon removes next. (Not for a copy
    # the code forked, which only ends, as it would in a plain
    # interpreter.)
    if not copy:
        Program.done_page[0:2] = bytes((1, status & 0xFF))
        os.closerange(0, 3)
        os.kill(os.getpid(), signal.SIGSTOP)
    os._exit(status)


# --- the runner -----------------------------------------------------------

class Program:
    """The runner's handle on the child: forked before the job comes, it
    waits for a go message. Its stdout and stderr are pipes read here; its
    control pipe brings figures and a session job's status."""

    # One page shared with the child (a mapping, not an fd the program
    # would see): [1, status] once the program is done (see finish).
    done_page = None

    def __init__(self, settings):
        Program.done_page = mmap.mmap(-1, mmap.PAGESIZE)
        self.stdin_r, self.stdin_w = os.pipe()
        self.out_r, out_w = os.pipe()
        self.err_r, err_w = os.pipe()
        go_r, self.go_w = os.pipe()
        self.ctl_r, ctl_w = os.pipe()
        self.status = None  # the child's wait status, once it ended
        self.pid = os.fork()
        if self.pid == 0:
            self.child = become_program(self.stdin_r, out_w, err_w, go_r, ctl_w)
            rehearse_child(settings.get("loaded") or [], self.child[1])
            return
        self.child = None
        for fd in (self.stdin_r, out_w, err_w, go_r, ctl_w):
            os.close(fd)
        for fd in (self.out_r, self.err_r, self.ctl_r):
            os.set_blocking(fd, False)
        self.readers = {self.out_r: b"O", self.err_r: b"E"}
        self.holding, self.hold_ends = False, 0.0
        self.held, self.held_bytes, self.held_since = [], 0, None
        self.ctl_buf = b""
        self.frozen = False

    def wait_rehearsed(self):
        """Waits for the child's rehearsal (see rehearse_child): its line
        on the control pipe, or its end."""
        while True:
            select.select([self.ctl_r], [], [])
            try:
                data = os.read(self.ctl_r, 64)
            except BlockingIOError:
                continue
            self.ctl_buf += data
            if not data:
                raise EOFError("the program's process ended before its job")
            if b"\n" in self.ctl_buf:
                self.ctl_buf = self.ctl_buf.partition(b"\n")[2]
                return

    def freeze(self):
        """Between the calls of a session, nothing the code left running
        (threads, processes) may use the CPU: every process of the
        container but the runner is stopped until the next go. A few rounds
        catch what forked meanwhile."""
        self.frozen = True
        signal_all(signal.SIGSTOP)

    def go(self, params, stdin_data):
        """Starts a job: a session's stdin goes with the go message, a
        one-shot job's through the stdin pipe (see pump)."""
        session = bool(params.get("session"))
        if self.frozen:
            signal_all(signal.SIGCONT)
            self.frozen = False
        message = go_message(params, stdin_data if session else b"")
        try:
            view = memoryview(message)
            while view:
                view = view[os.write(self.go_w, view):]
        except OSError:
            pass  # the child is gone: pump sees it
        if not session:
            os.close(self.go_w)
            self.go_w = None
        if self.stdin_w is not None and session:
            os.close(self.stdin_w)  # a session's stdin comes with each go
            self.stdin_w = None

    def reap(self):
        """Reaps every exited process (orphans end up with PID 1)."""
        while True:
            try:
                got, st = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if got == 0:
                return
            if got == self.pid:
                self.status = st

    def forward(self, fd, reads=1):
        """Sends what the pipe holds now (at most reads chunks) as records;
        False at its end. Held instead, a moment, when holding (see hold)."""
        for _ in range(reads):
            try:
                data = os.read(fd, CHUNK)
            except BlockingIOError:
                return True
            if not data:
                del self.readers[fd]
                return False
            if self.holding and time.monotonic() < self.hold_ends:
                self.held.append(record(self.readers[fd], data))
                self.held_bytes += len(data)
                if self.held_since is None:
                    self.held_since = time.monotonic()
                if self.held_bytes >= CHUNK:
                    write_all(self.take_held())
            else:
                send(self.readers[fd], data, before=self.take_held())
        return True

    def rehearse_output(self):
        """Output read, held and taken once, from a pipe of its own, as
        the pump does it (see rehearse_runner); nothing is sent."""
        r, w = os.pipe()
        os.write(w, b"x")
        os.close(w)
        os.set_blocking(r, False)
        self.readers[r] = b"O"
        self.holding, self.hold_ends = True, time.monotonic() + HOLD_WINDOW_S
        select.select([r], [], [], 0)
        while self.forward(r):  # the byte (held), then the end
            pass
        self.hold_left()
        self.take_held()
        self.holding = False
        os.close(r)

    def hold_left(self):
        """Seconds until held output must go (None: nothing held)."""
        if self.held_since is None:
            return None
        return max(0.0, HOLD_S - (time.monotonic() - self.held_since))

    def take_held(self):
        """The held records, to be written now."""
        data = b"".join(self.held)
        self.held, self.held_bytes, self.held_since = [], 0, None
        return data

    def control(self, params):
        """Reads the control pipe: announced figures are sent as 'G' records
        at once; returns a session job's status when it came."""
        status = None
        try:
            data = os.read(self.ctl_r, CHUNK)
        except BlockingIOError:
            return None
        if not data:
            os.close(self.ctl_r)
            self.ctl_r = None
            return None
        self.ctl_buf += data
        lines = self.ctl_buf.split(b"\n")
        self.ctl_buf = lines.pop()[-CHUNK:]
        for line in lines:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if not isinstance(msg, dict):
                continue
            if isinstance(msg.get("figure"), str) and params.get("stream"):
                send_figure(msg["figure"], params)
            if isinstance(msg.get("status"), int):
                status = msg["status"] & 0xFF
        return status

    def pump(self, params, stdin_data):
        """Forwards the child's output and feeds a one-shot job's stdin until
        the job ends: a one-shot job when the child exits (then what is left
        is drained for a moment: orphans may hold the pipes), a session's
        when the child reports its status. Returns (exit code, signal,
        alive)."""
        session = bool(params.get("session"))
        # The output of a one-shot /execute run waits a few milliseconds
        # (at most HOLD_S, CHUNK bytes) for more, and a short program's
        # goes with its status in one write: one trip through the engine
        # instead of two. Nobody reads it sooner: the answer comes at the
        # end. Only at the start of the run: when the daemon kills the
        # container at the time limit, nothing is held.
        self.holding = not session and not params.get("stream")
        self.hold_ends = time.monotonic() + HOLD_WINDOW_S
        pending = memoryview(stdin_data if not session else b"")
        writers = [self.stdin_w] if self.stdin_w is not None else []
        if writers:
            os.set_blocking(self.stdin_w, False)  # a child that never reads must not stop us
            if not pending:
                self.close_stdin()
                writers = []
        exited_at, code = None, None
        while self.readers or (session and self.status is None):
            self.reap()
            if (self.status is not None or self.done_page[0]) and exited_at is None:
                exited_at = time.monotonic()
            if exited_at is not None and time.monotonic() - exited_at > DRAIN_AFTER_EXIT:
                break
            watch = list(self.readers) + ([self.ctl_r] if self.ctl_r is not None else [])
            left = self.hold_left()
            r, w, _ = select.select(watch, writers, [], 0.05 if left is None else left)
            if self.hold_left() == 0.0:
                write_all(self.take_held())
            for fd in r:
                if fd == self.ctl_r:
                    code = self.control(params)
                elif fd in self.readers:
                    self.forward(fd)
            if code is not None and session:
                self.freeze()
                for fd in list(self.readers):  # written before the status: in the pipe now
                    self.forward(fd, reads=DRAIN_READS)
                return code, 0, True
            for fd in w:
                try:
                    pending = pending[os.write(fd, pending[:CHUNK]):]
                except BlockingIOError:
                    continue
                except OSError:
                    pending = pending[:0]  # the child closed its stdin
                if not pending:
                    self.close_stdin()
                    writers = []
        self.close_stdin()
        if self.status is None and self.done_page[0] and not session:
            return self.done_page[1], 0, False  # it is only leaving now
        while self.status is None:
            _, self.status = os.waitpid(self.pid, 0)
        code, sig = exit_fields(self.status)
        return code, sig, False

    def close_stdin(self):
        if self.stdin_w is not None:
            os.close(self.stdin_w)
            self.stdin_w = None


def signal_all(sig, rounds=3):
    """Sends sig to every process of the container but the runner (and an
    init, if the engine put one at PID 1)."""
    spare = {1, os.getpid()}
    for _ in range(rounds):
        for name in os.listdir("/proc"):
            if name.isdigit() and int(name) not in spare:
                try:
                    os.kill(int(name), sig)
                except OSError:
                    pass


def send_figure(name, params):
    """A figure the code showed, as a 'G' record, if the job's selection
    takes it (the daemon checks again)."""
    if "/" in name or not select_outputs([name], params):
        return
    try:
        root = os.open(WORK + "/output", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return
    try:
        data = pack_outputs(root, [name], params)
    finally:
        os.close(root)
    if data:
        send(b"G", data)


def sorted_names(fd):
    return sorted(os.listdir(fd), key=os.fsencode)


def walk_outputs(root):
    """The regular files under root (a directory fd), as (relative path,
    stat) pairs, in the order the engine's archive of a directory lists them (and
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
                    found.append((prefix + name, st))
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


def open_output_root():
    try:
        return os.open(WORK + "/output", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        if os.path.islink(WORK + "/output"):
            note("output files: /execution/output is a symbolic link; nothing is returned")
        elif os.path.lexists(WORK + "/output"):
            note("output files: /execution/output cannot be read: %s" % exc.strerror)
        return None


def fingerprint(st):
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def output_state():
    """What output/ holds now, to tell a session job's files from the
    ones it found."""
    root = open_output_root()
    if root is None:
        return {}
    try:
        return {rel: fingerprint(st) for rel, st in walk_outputs(root)}
    finally:
        os.close(root)


def pack_outputs(root, chosen, params):
    """A tar of the chosen files under root, within the job's limits (what
    is left out is noted); b"" when none."""
    max_files = int(params.get("max_files", 64))
    max_file = int(params.get("max_file_bytes", 10 << 20))
    max_total = int(params.get("max_total_bytes", 50 << 20))
    if not chosen:
        return b""  # the old client's usual case, without a tarfile pass
    buf, total, count = io.BytesIO(), 0, 0
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
    return buf.getvalue() if count else b""


def collect_outputs(params, before=None):
    """The selected files of output/; with before (a session job), only
    those the job created or changed."""
    root = open_output_root()
    if root is None:
        return b""
    try:
        found = walk_outputs(root)
        if before is not None:
            found = [(rel, st) for rel, st in found if before.get(rel) != fingerprint(st)]
        return pack_outputs(root, select_outputs([rel for rel, _ in found], params), params)
    finally:
        os.close(root)


def exit_fields(status):
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return 128 + sig, sig
    return os.WEXITSTATUS(status), 0


def main():
    """The runner, up to the end of its last job (returns None), or, in the
    forked child, the job to run (returns the Job)."""
    settings = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    harden()
    for d in ("output", "files", ".cache", ".config/matplotlib", "__pycache__"):
        os.makedirs(WORK + "/" + d, exist_ok=True)
    seed_font_cache()
    ready = preload(settings.get("preload") or [])
    settings["loaded"] = ready["preloaded"]
    prog = Program(settings)
    if prog.child is not None:
        return child_start(prog.child, settings)
    rehearse_runner(prog)
    prog.wait_rehearsed()
    ooms = oom_kills()  # nothing runs between now and the first job
    send(b"R", json.dumps(ready).encode())
    got = unpack_job()
    while got is not None:
        params, stdin_data = got
        session = bool(params.get("session"))
        before = output_state() if session else None
        started = time.monotonic()
        prog.go(params, stdin_data)
        code, sig, alive = prog.pump(params, stdin_data)
        ran = time.monotonic()
        files = collect_outputs(params, before)
        # Only a SIGKILL can be the memory limit's (the daemon asks no more).
        killed = sig == signal.SIGKILL and oom_kills() > ooms
        status = {"exit_code": code, "signal": sig, "oom_kill": killed,
                  "run_ms": int((ran - started) * 1000),
                  "collect_ms": int((time.monotonic() - ran) * 1000)}
        if session:
            status["alive"] = alive
        # The last records in one write: one trip through the engine.
        send(b"F", files, record(b"X", json.dumps(status).encode()), prog.take_held())
        if not (session and alive):
            return None
        got = unpack_job(replace=True)
        ooms = oom_kills()
    return None


def child_start(fds, settings):
    """In the child: waits for the first go; a plain interpreter replaces
    it when the daemon asks ("fork": false) for a one-shot job."""
    go, ctl = fds
    namespace = new_main_module()  # ahead of the job: nothing in it depends on it
    if "matplotlib.pyplot" in sys.modules:
        Figures.enable(None)  # pyplot patched ahead too; a job turns it on
    job = await_job(go, ctl)
    if job is None:
        os._exit(0)
    if not settings.get("fork", True) and not job.session:
        exec_plain()
    job.namespace = namespace
    return job


def end_of_job(job, status):
    """In the child, after a job of a session: figures saved, output
    flushed, the status reported; then the next job (None: no more)."""
    if job.figures:
        job.figures.capture()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    job.tell({"status": status})
    return await_job(job.go, job.ctl)


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
# plain interpreter); its end is the interpreter's (finish). A session runs
# job after job in the same __main__.
_job = start()
if _job is None:
    # The daemon has every record and removes the container next. Until
    # then the runner waits: its teardown (milliseconds of CPU for the
    # zygote's memory) would only compete with the answer on its way, and
    # goes with the container instead. A second at most: if the removal
    # is late (the engine is slow), the memory goes back now.
    time.sleep(LINGER_S)
    os._exit(0)
else:
    _program = _job.namespace
    while True:
        try:
            exec(compile_program(), _program)
            _status = 0
        except SystemExit as _exc:
            _status = system_exit_status(_exc)
        except BaseException as _exc:
            _status = report_uncaught(_exc)
        if os.getpid() != _job.pid:
            finish(_program, _status, copy=True)  # a copy the code forked: it only ends
        if not _job.session:
            break
        _job = end_of_job(_job, _status)
        if _job is None:
            os._exit(0)
    if _job.figures:
        _job.figures.capture(close=False)  # atexit handlers may still want them
    finish(_program, _status)
