"""Escapes from the code lab's jail, each tried for real (bubblewrap, a real Redis with the
learner's ACL user). Every run must end with a clear message and leave nothing running."""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from lab.runner import UID_BASE
from learnsite.env import BASE_DIR

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def _jail_processes() -> list[str]:
    """Processes of this test process's runner slots' users (there must be none after a run:
    a jail's processes die with it)."""
    mine = UID_BASE + (os.getpid() % 1000) * 8
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        uid_line = next((line for line in status.splitlines() if line.startswith("Uid:")), "")
        uids = [int(x) for x in uid_line.split()[1:]] if uid_line else []
        if uids and mine <= uids[0] < mine + 8:
            found.append(f"{entry.name}: {status.splitlines()[0]}")
    return found


@pytest.fixture(autouse=True)
def _nothing_left_running() -> Any:
    yield
    if os.geteuid() == 0:
        deadline = time.monotonic() + 3
        while _jail_processes() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _jail_processes() == []


def code(text: str) -> str:
    return textwrap.dedent(text).lstrip()


def test_a_plain_program_runs_and_reaches_redis_as_the_learner(run: Any, lab_env: str) -> None:
    ran = run(
        code("""
        import redis
        r = redis.Redis(decode_responses=True)
        print(r.acl_whoami())
        r.set("greeting", "hello")
        print(r.get("greeting"))
    """)
    )
    assert ran.outcome.reason == "finished", ran.stderr
    assert ran.stdout.startswith(f"lrn-lab-{lab_env}-") and ran.stdout.endswith("\nhello\n")
    assert ran.events[0][0] == "out" or ran.events[0][0] == "mark" or ran.events


def test_names_live_in_the_playground_namespace(run: Any, lab_env: str, lab_redis: Any) -> None:
    ran = run(
        code("""
        import redis
        r = redis.Redis(decode_responses=True)
        r.set("k", "v")
        p = r.pubsub()
        p.subscribe("news")
        p.get_message(timeout=1)
        r.publish("news", "hi")
        print(p.get_message(timeout=1)["channel"], r.pubsub_channels(), list(r.scan_iter()))
    """)
    )
    assert ran.stdout == "news ['news'] ['k']\n", ran.stderr
    raw = redis.Redis.from_url(lab_redis.url)
    try:
        assert raw.get(f"sandbox:{lab_env}:k") == b"v"
        assert 0 < raw.ttl(f"sandbox:{lab_env}:k") <= 3600  # left keys expire
    finally:
        raw.close()


def test_the_project_its_settings_and_secrets_are_not_there(run: Any, settings: Any) -> None:
    settings_file = BASE_DIR / "learnsite" / "settings.py"
    ran = run(
        code(f"""
        import os
        print(sorted(os.environ))
        for path in ({str(settings_file)!r}, {str(BASE_DIR)!r}, "/root", "/work", "/etc/shadow"):
            print(path, os.path.exists(path))
        print(open("/proc/1/cmdline").read().split("\\0")[0])
    """)
    )
    out = ran.stdout
    assert "SECRET_KEY" not in out and "DATABASE_URL" not in out and "REDIS_URL" not in out
    assert str(settings.SECRET_KEY) not in out
    assert f"{settings_file} False" in out and f"{BASE_DIR} False" in out
    assert "/root False" in out and "/etc/shadow False" in out
    assert "bwrap" in out  # PID 1 is the jail's own: no host process is visible


@pytest.mark.parametrize(
    ("family", "address"),
    [("AF_INET", ("127.0.0.1", 5432)), ("AF_INET", ("10.0.0.1", 80)), ("AF_INET6", ("::1", 6379))],
)
def test_no_tcp_anywhere(run: Any, family: str, address: tuple[str, int]) -> None:
    ran = run(
        code(f"""
        import socket
        s = socket.socket(socket.{family}, socket.SOCK_STREAM)
        s.settimeout(2)
        try:
            s.connect({address!r})
            print("CONNECTED")
        except OSError as exc:
            print("refused:", exc)
    """)
    )
    assert ran.stdout.startswith("refused:"), ran.stdout + ran.stderr


def test_no_udp_out(run: Any) -> None:
    ran = run(
        code("""
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.sendto(b"x", ("8.8.8.8", 53))
            print("SENT")
        except OSError as exc:
            print("refused:", exc)
    """)
    )
    assert ran.stdout.startswith("refused:"), ran.stdout


def test_the_site_redis_is_out_of_reach(run: Any, redis_url: str) -> None:
    # The only Redis inside is the door to the sandbox Redis, as the learner's user: the
    # site's own Redis (another server here) cannot be named, and CONFIG cannot find it.
    ran = run(
        code("""
        import redis
        r = redis.Redis()
        for cmd in (("CONFIG", "GET", "port"), ("CLIENT", "LIST"), ("INFO",), ("SELECT", "1")):
            try:
                print(cmd[0], r.execute_command(*cmd))
            except redis.RedisError as exc:
                print(cmd[0], "->", type(exc).__name__)
    """)
    )
    for name in ("CONFIG", "CLIENT", "INFO", "SELECT"):
        assert f"{name} -> NoPermissionError" in ran.stdout, ran.stdout + ran.stderr


def test_writes_outside_the_tmpfs_fail(run: Any) -> None:
    ran = run(
        code("""
        for path in ("/usr/x", "/opt/lab/x", "/lab/x", "/run/lab/x", "/etc/x", "/x"):
            try:
                open(path, "w").write("x")
                print(path, "WRITTEN")
            except OSError as exc:
                print(path, "refused", exc.errno)
        open("/tmp/ok", "w").write("fine")
        print("tmp", open("/tmp/ok").read())
    """)
    )
    assert "WRITTEN" not in ran.stdout, ran.stdout
    assert "tmp fine" in ran.stdout


def test_a_file_larger_than_the_limit_cannot_be_written(run: Any) -> None:
    ran = run(
        code("""
        import signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        try:
            with open("/tmp/big", "wb") as f:
                f.write(b"x" * (2 * 1024 * 1024))
            print("WROTE 2 MB")
        except OSError as exc:
            print("refused", exc.errno)
    """)
    )
    assert ran.stdout.startswith("refused"), ran.stdout + ran.stderr


def test_a_fork_bomb_is_stopped(run: Any) -> None:
    ran = run(
        code("""
        import os, time
        made = 0
        try:
            for _ in range(10_000):
                if os.fork() == 0:
                    time.sleep(30)
                    os._exit(0)
                made += 1
        except OSError as exc:
            print("fork refused after", made, type(exc).__name__)
    """)
    )
    assert "fork refused after" in ran.stdout, ran.stdout + ran.stderr
    made = int(ran.stdout.split("after")[1].split()[0])
    assert made < 40
    assert ran.outcome.reason == "finished"  # the program ended; its children died with the jail


def test_a_memory_bomb_ends_as_out_of_memory(run: Any) -> None:
    ran = run("hog = []\nwhile True:\n    hog.append(bytearray(10 * 1024 * 1024))\n")
    assert ran.outcome.reason == "memory", (ran.outcome, ran.stderr)
    assert "out of memory" in ran.outcome.message


def test_a_cpu_loop_is_stopped_at_the_cpu_limit(run: Any) -> None:
    ran = run("while True:\n    pass\n")
    assert ran.outcome.reason in ("cpu", "timeout"), ran.outcome
    assert "CPU" in ran.outcome.message
    assert ran.outcome.wall_ms < 12_000


def test_a_sleeping_program_is_stopped_at_the_wall_limit(run: Any) -> None:
    ran = run("import time\nprint('start', flush=True)\ntime.sleep(60)\n")
    assert ran.outcome.reason == "timeout", ran.outcome
    assert ran.stdout == "start\n"
    assert 9_500 <= ran.outcome.wall_ms < 13_000


def test_ten_megabytes_of_output_are_cut_at_the_limit(run: Any) -> None:
    ran = run("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n")
    assert ran.outcome.reason == "output", ran.outcome
    assert len(ran.stdout) <= 64 * 1024
    assert "64 KB" in ran.outcome.message


@pytest.mark.parametrize(
    "command",
    [
        ("KEYS", "*"),
        ("FLUSHALL",),
        ("CONFIG", "SET", "maxmemory", "1"),
        ("ACL", "LIST"),
        ("EVAL", "return redis.call('FLUSHALL')", "0"),
        ("MONITOR",),
        ("CLIENT", "KILL", "TYPE", "normal"),
    ],
)
def test_commands_outside_the_learner_s_rights_are_refused_by_redis(
    run: Any, command: tuple[str, ...]
) -> None:
    ran = run(
        code(f"""
        import redis
        r = redis.Redis()
        try:
            print(r.execute_command(*{command!r}))
        except redis.exceptions.NoPermissionError as exc:
            print("NOPERM", exc)
    """)
    )
    assert ran.stdout.startswith("NOPERM"), ran.stdout + ran.stderr


def test_another_learner_s_keys_are_refused_by_redis(
    lab_env: str, lab_redis: Any, jail: Any
) -> None:
    """Past the name rewrite: connected straight to Redis as this learner's ACL user, a
    key of someone else's is refused by Redis itself."""
    from lab.acl import lab_user
    from learnsite import sandbox_acl

    credentials = sandbox_acl.credentials_for(lab_user(lab_env))
    assert credentials is not None
    direct = redis.Redis.from_url(
        lab_redis.url, username=credentials.username, password=credentials.password
    )
    try:
        with pytest.raises(redis.exceptions.NoPermissionError):
            direct.get("sandbox:ffffffffffffffff:secret")
        with pytest.raises(redis.exceptions.NoPermissionError):
            direct.publish("sandbox:ffffffffffffffff:news", "x")
        assert direct.set(f"sandbox:{lab_env}:mine", "ok")
    finally:
        direct.close()


def test_becoming_someone_else_is_refused(run: Any) -> None:
    ran = run(
        code("""
        import redis
        r = redis.Redis()
        attempts = (("AUTH", "default", "x"), ("AUTH", "x"),
                    ("HELLO", "3", "AUTH", "default", "x"), ("RESET",))
        for cmd in attempts:
            try:
                print(r.execute_command(*cmd))
            except redis.RedisError as exc:
                print("refused:", exc)
        print(r.acl_whoami())
    """)
    )
    lines = ran.stdout.splitlines()
    assert all(line.startswith("refused:") for line in lines[:4]), ran.stdout + ran.stderr
    assert lines[4].startswith("lrn-lab-")  # the run's own user, still


def test_too_many_redis_connections_are_refused(run: Any) -> None:
    ran = run(
        code("""
        import redis
        clients = []
        for i in range(12):
            c = redis.Redis()
            try:
                c.ping()
                clients.append(c)
            except redis.RedisError as exc:
                print("refused at", i, exc)
                break
        print("open", len(clients))
    """)
    )
    assert "refused at 8" in ran.stdout, ran.stdout + ran.stderr


def test_threads_work(run: Any) -> None:
    # Twenty threads alive at once, under the memory and process limits (glibc's malloc
    # arenas once cut this to about eleven).
    ran = run(
        code("""
        import threading
        seen = []
        barrier = threading.Barrier(20)
        def work(i):
            barrier.wait(timeout=5)
            seen.append(i)
        threads = [threading.Thread(target=work, args=(i,)) for i in range(20)]
        for t in threads: t.start()
        for t in threads: t.join()
        print(sorted(seen) == list(range(20)))
    """)
    )
    assert ran.stdout == "True\n", ran.stderr
