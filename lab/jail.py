"""The code lab's jail: one fresh bubblewrap sandbox per run.

What is inside: Debian's ``/usr`` read-only (the jail's Python is the system's
``python3``, never the site's virtualenv), a read-only ``/opt/lab`` with redis-py and
``labkit`` copied in, the learner's program at ``/lab/main.py``, a small private ``/tmp``,
and ``/run/lab/redis.sock``: the one way out, a Unix socket to the runner's proxy, which
speaks to the sandbox Redis as the learner's own ACL user. What is not: the project, its
settings, its database, its environment and secrets, any network (a new network namespace
has only its own loopback), other processes (a new PID namespace), the host's users.

Limits, set as resource limits before ``bwrap`` starts and so inherited by everything in
the jail: CPU seconds, address space, processes (counted per user: each runner slot runs as
a user of its own when the runner is root), file size, open files. The wall clock and the
output size are watched by the runner, which kills the whole jail (its process group; the
PID namespace dies with its first process).
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import util
from pathlib import Path

JAIL_FILES = Path(__file__).resolve().parent / "jailfiles"
BWRAP = "bwrap"
INSTALL_HINT = (
    "The code lab runs your code in a bubblewrap jail, which needs Linux with user "
    "namespaces and the bubblewrap package (Debian and Ubuntu: sudo apt install bubblewrap)."
)


@dataclass(frozen=True)
class Limits:
    cpu_seconds: int = 5
    wall_seconds: float = 10.0
    memory_bytes: int = 256 * 1024 * 1024
    processes: int = 32  # processes and threads of the jail's user
    file_bytes: int = 1024 * 1024
    output_bytes: int = 64 * 1024
    tmpfs_bytes: int = 16 * 1024 * 1024
    open_files: int = 64
    redis_connections: int = 8
    redis_bytes: int = 4 * 1024 * 1024  # what one run may send to Redis


LIMITS = Limits()


class JailUnavailable(RuntimeError):
    """bubblewrap is missing or cannot make namespaces here; the message says what to do."""


@cache
def _probe(bwrap: str) -> str | None:
    """None when a jail can be made, else why not (cached per process)."""
    if shutil.which(bwrap) is None:
        return f"bubblewrap ({bwrap}) is not installed. {INSTALL_HINT}"
    try:
        done = subprocess.run(
            [
                bwrap,
                "--unshare-all",
                "--die-with-parent",
                "--ro-bind",
                "/usr",
                "/usr",
                *_root_links(),
                "/usr/bin/true",
            ],
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap could not start: {exc}. {INSTALL_HINT}"
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip() or f"exit status {done.returncode}"
        return f"bubblewrap cannot make a jail here ({why}). {INSTALL_HINT}"
    return None


def unavailable_reason() -> str | None:
    """None when the lab can run code on this machine, else a sentence saying why not."""
    return _probe(BWRAP)


def _root_links() -> list[str]:
    """/bin, /lib, /lib64, /sbin as the host has them: links into /usr (merged /usr, as on
    Debian 12) or directories of their own, bound read-only."""
    args: list[str] = []
    for name in ("/bin", "/lib", "/lib64", "/sbin"):
        path = Path(name)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), name]
        elif path.is_dir():
            args += ["--ro-bind", name, name]
    return args


@cache
def jail_python() -> str:
    """The interpreter the jail runs: LAB_PYTHON, else the system's python3 (it lives in
    /usr, which the jail has), else this one's if it lives in /usr."""
    chosen = os.environ.get("LAB_PYTHON") or "/usr/bin/python3"
    if Path(chosen).exists():
        return chosen
    return sys.executable


def _jail_minor(python: str) -> str:
    done = subprocess.run(
        [python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    return done.stdout.strip()


def _package_dir(name: str) -> Path | None:
    spec = util.find_spec(name)
    if spec is None or spec.origin is None:
        return None
    origin = Path(spec.origin)
    return origin.parent if origin.name == "__init__.py" else origin


def build_site(dest: Path, python: str) -> Path:
    """Fill ``dest`` with what the jail's Python imports: redis-py (and hiredis and
    async-timeout where that Python needs them), ``labkit``, the jail's boot program and a
    tiny /etc (hosts, passwd). Everything world-readable, nothing of the project."""
    dest.mkdir(parents=True, exist_ok=True)
    version = tuple(int(part) for part in _jail_minor(python).split("."))
    packages = ["redis"]
    if version[:2] == sys.version_info[:2]:
        packages.append("hiredis")  # a compiled module: only for the same Python
    if version < (3, 11, 3):
        packages.append("async_timeout")  # redis.asyncio imports it before 3.11.3
    for name in packages:
        found = _package_dir(name)
        if found is None:
            continue
        target = dest / found.name
        if found.is_dir():
            shutil.copytree(
                found, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(found, target)
    for name in ("labkit.py", "boot.py"):
        shutil.copy2(JAIL_FILES / name, dest / name)
    etc = dest / "etc"
    etc.mkdir(exist_ok=True)
    (etc / "hosts").write_text("127.0.0.1 localhost lab\n")
    (etc / "passwd").write_text("learner:x:1000:1000:learner:/tmp:/usr/sbin/nologin\n")
    (etc / "group").write_text("learner:x:1000:\n")
    (etc / "nsswitch.conf").write_text("hosts: files\npasswd: files\ngroup: files\n")
    # Compiled once here with the jail's own Python: the jail's /opt/lab is read-only, and
    # compiling redis-py on every run would cost most of a run's start-up.
    subprocess.run(
        [python, "-m", "compileall", "-q", "-j", "0", str(dest)],
        capture_output=True,
        timeout=120,
        check=False,
    )
    for root, dirs, files in os.walk(dest):
        for name in dirs:
            os.chmod(Path(root) / name, 0o755)
        for name in files:
            os.chmod(Path(root) / name, 0o644)
    os.chmod(dest, 0o755)
    return dest


@dataclass
class Jail:
    """What a runner process prepares once: the site directory and the interpreter."""

    site: Path
    python: str
    limits: Limits = LIMITS

    @classmethod
    def prepare(cls, *, limits: Limits = LIMITS) -> Jail:
        reason = unavailable_reason()
        if reason is not None:
            raise JailUnavailable(reason)
        python = jail_python()
        site = build_site(Path(tempfile.mkdtemp(prefix="codelab-site-")), python)
        return cls(site=site, python=python, limits=limits)

    def cleanup(self) -> None:
        shutil.rmtree(self.site, ignore_errors=True)

    def command(self, *, program_dir: Path, socket_dir: Path) -> list[str]:
        """The bwrap command line of one run (``program_dir`` holds ``main.py``)."""
        etc = self.site / "etc"
        return [
            BWRAP,
            "--unshare-all",  # IPC, PID, network, UTS and cgroup namespaces
            "--unshare-user",  # and a user namespace, even when the runner is root
            "--disable-userns",
            "--die-with-parent",
            "--new-session",
            "--cap-drop",
            "ALL",
            "--hostname",
            "lab",
            "--ro-bind",
            "/usr",
            "/usr",
            *_root_links(),
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--size",
            str(self.limits.tmpfs_bytes),
            "--tmpfs",
            "/tmp",
            "--ro-bind",
            str(self.site),
            "/opt/lab",
            "--ro-bind",
            str(etc / "hosts"),
            "/etc/hosts",
            "--ro-bind",
            str(etc / "passwd"),
            "/etc/passwd",
            "--ro-bind",
            str(etc / "group"),
            "/etc/group",
            "--ro-bind",
            str(etc / "nsswitch.conf"),
            "/etc/nsswitch.conf",
            "--ro-bind",
            str(program_dir),
            "/lab",
            "--ro-bind",
            str(socket_dir),
            "/run/lab",
            # Everything above is in place: the jail's root (a tmpfs bwrap made) becomes
            # read-only, so the only writable place is the size-limited /tmp.
            "--remount-ro",
            "/",
            "--chdir",
            "/tmp",
            "--clearenv",
            "--setenv",
            "PATH",
            "/usr/bin:/bin",
            "--setenv",
            "HOME",
            "/tmp",
            "--setenv",
            "LANG",
            "C.UTF-8",
            "--setenv",
            "PYTHONPATH",
            "/opt/lab",
            "--setenv",
            "PYTHONDONTWRITEBYTECODE",
            "1",
            "--setenv",
            "PYTHONUNBUFFERED",
            "1",
            # glibc reserves 64 MB of address space per malloc arena, one per thread: under
            # the memory limit that allowed about 11 threads. Two arenas leave room for many.
            "--setenv",
            "MALLOC_ARENA_MAX",
            "2",
            "--setenv",
            "LAB_NPROC",
            str(self.limits.processes),
            "--",
            self.python,
            "-u",
            "/opt/lab/boot.py",
        ]

    def preexec(self, uid: int | None) -> Callable[[], None]:
        """What the child runs between fork and exec of bwrap: resource limits, and (when
        the runner is root) a user of its own, so the process limit counts only this run."""
        limits = self.limits

        def apply() -> None:
            setrl = resource.setrlimit
            setrl(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
            setrl(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
            setrl(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
            setrl(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
            setrl(resource.RLIMIT_CORE, (0, 0))
            setrl(resource.RLIMIT_STACK, (4 * 1024 * 1024, 4 * 1024 * 1024))
            if uid is not None:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
                # A user of this run's own: the limit counts this run's processes only.
                setrl(resource.RLIMIT_NPROC, (limits.processes, limits.processes))

        return apply
