"""Runs end to end: the site under uvicorn, a real code-lab runner process, the jobs Stream
on the real Redis, the jail, and the page's event stream; then a runner killed mid-run."""

from __future__ import annotations

import signal
import time

import pytest

from tests.lab.conftest import LabSite, Learner, wait_for_runner

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def test_a_run_streams_its_output_and_keeps_the_draft(lab_site: LabSite) -> None:
    lab_site.start_runner()
    learner = Learner(lab_site.server.base_url)
    wait_for_runner(lab_site, learner)
    code = (
        "import time\nfor i in range(3):\n    print('line', i, flush=True)\n    time.sleep(0.2)\n"
    )
    response = learner.run(code, block="lab:free")
    assert response.status_code == 202, response.text
    body = response.json()
    events = learner.events(body["stream"])
    kinds = [kind for kind, _ in events]
    assert kinds[0] in ("queued", "started") and kinds[-1] == "done"
    out = "".join(d["text"] for k, d in events if k == "out")
    assert out == "line 0\nline 1\nline 2\n"
    # Streamed as printed, not all at the end: the lines came in more than one event.
    assert sum(1 for k, _ in events if k == "out") >= 2
    done = events[-1][1]
    assert done["reason"] == "finished" and done["exit_code"] == 0
    assert learner.http.get("/lab/drafts", params={"block": "lab:free"}).json() == {"code": code}
    # A stream opened again after the end replays the whole run (resuming where it was).
    again = learner.events(body["stream"])
    assert again[-1][1]["reason"] == "finished"


def test_one_run_at_a_time_per_learner_and_runs_are_private(lab_site: LabSite) -> None:
    lab_site.start_runner()
    learner = Learner(lab_site.server.base_url)
    wait_for_runner(lab_site, learner)
    first = learner.run("import time\ntime.sleep(2)\n")
    assert first.status_code == 202
    second = learner.run("print('again')")
    assert second.status_code == 429
    assert "has not finished yet" in second.json()["error"]
    stranger = Learner(lab_site.server.base_url)
    assert stranger.http.get(first.json()["stream"]).status_code == 404
    learner.events(first.json()["stream"])
    third = learner.run("print('now')")
    assert third.status_code == 202, third.text
    learner.events(third.json()["stream"])


def test_a_runner_killed_mid_run_leaves_a_clear_message_and_another_runner_carries_on(
    lab_site: LabSite,
) -> None:
    doomed = lab_site.start_runner()
    learner = Learner(lab_site.server.base_url)
    wait_for_runner(lab_site, learner)
    response = learner.run(
        "import time\nprint('started', flush=True)\ntime.sleep(8)\nprint('never')\n"
    )
    assert response.status_code == 202
    stream = response.json()["stream"]
    learner.events(stream, until="out")
    killed_at = time.monotonic()
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(5)
    lab_site.start_runner()  # the survivor, started after the crash
    events = learner.events(stream, timeout=20)
    done = events[-1][1]
    assert done["reason"] == "runner-lost", done
    assert "Run it again" in done["message"]
    assert time.monotonic() - killed_at < 10
    assert "never" not in "".join(d.get("text", "") for k, d in events if k == "out")
    # The learner's claim was given back: a new run is accepted and runs.
    deadline = time.monotonic() + 15
    while True:
        again = learner.run("print('after the crash')")
        if again.status_code == 202 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert again.status_code == 202, again.text
    final = learner.events(again.json()["stream"])
    assert final[-1][1]["reason"] == "finished"


def test_streams_closed_at_once_give_their_slots_back(lab_site: LabSite) -> None:
    """A run's stream holds a stream slot (4 per learner). Twelve streams closed right after
    their headers must leave none held: four then open side by side, and a fifth is refused."""
    import socket
    from urllib.parse import urlsplit

    lab_site.start_runner()
    learner = Learner(lab_site.server.base_url)
    wait_for_runner(lab_site, learner)
    response = learner.run("import time\nprint('long', flush=True)\ntime.sleep(9.5)\n")
    assert response.status_code == 202
    stream = response.json()["stream"]
    url = urlsplit(lab_site.server.base_url)
    cookie = "; ".join(f"{k}={v}" for k, v in learner.http.cookies.items())

    def open_stream() -> socket.socket:
        sock = socket.create_connection((url.hostname, url.port), timeout=10)
        sock.sendall(
            f"GET {stream} HTTP/1.1\r\nHost: {url.netloc}\r\nCookie: {cookie}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        return sock

    def status(sock: socket.socket) -> int:
        head = b""
        while b"\r\n" not in head:
            head += sock.recv(1024)
        return int(head.split()[1])

    answers = []
    for _ in range(12):
        sock = open_stream()
        answers.append(status(sock))
        sock.close()  # gone right after the headers
    # Refused only while earlier ones are still being noticed as gone: never anything else.
    assert set(answers) <= {200, 429} and answers[:4] == [200] * 4, answers
    held = []
    closed_at = time.monotonic()
    deadline = closed_at + 5
    while len(held) < 4 and time.monotonic() < deadline:
        sock = open_stream()
        if status(sock) == 200:
            held.append(sock)
        else:
            sock.close()  # a slot not given back yet: it must be, within seconds
            time.sleep(0.2)
    try:
        assert len(held) == 4, f"slots still held {time.monotonic() - closed_at:.1f} s after"
        fifth = open_stream()
        assert status(fifth) == 429
        fifth.close()
    finally:
        for sock in held:
            sock.close()
