"""Slow clients do not stall the webhook (issue #11).

The real `modelbot serve`, with the shipped gunicorn settings (bot.app.gunicorn_conf, the file the
Procfile and the Dockerfile use) and its default two workers, on each test backend: 50
connections send a delivery's headers and then its body at one byte a second; meanwhile a real
signed delivery must be answered 2xx within GitHub's 10 s (a bound on correctness under
attack, not a speed goal), and the slow connections must be cut off by the body deadline
(408, or closed) instead of holding the workers until gunicorn's timeout. The same server
shows that it shares no control socket with the user's other servers.
"""

from __future__ import annotations

import errno
import json
import select
import socket
import threading
import time
import uuid

import pytest

from bot.app.web import BODY_DEADLINE_SECONDS, ReadDeadlines
from tests.conftest import SECRET
from tests.support import webhooks
from tests.support.processes import post_delivery, web_process

pytestmark = pytest.mark.slow

SLOW_CLIENTS = 50
GITHUB_TIMEOUT = 10.0  # GitHub's documented wait for a delivery's answer
MARGIN = 4.0  # past the deadline: the deadline thread's tick, a loaded 2-core machine


def _slow_request(port: int) -> tuple[bytes, bytes]:
    """(headers, body) of a genuine signed ping; the body is what gets trickled."""
    body, headers = webhooks.delivery(webhooks.ping(), "ping", SECRET, str(uuid.uuid4()))
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (f"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{head}Content-Length: {len(body)}\r\n\r\n"
            .encode(), body)


class Trickler:
    """SLOW_CLIENTS connections that sent their headers and now send one body byte a second,
    each until it reads an answer or the server closes it."""

    def __init__(self, port: int, headers_too: bool = False):
        self.port = port
        self.headers_too = headers_too  # send only the request line, then trickle headers and body
        self.socks: list[socket.socket] = []
        self.bodies: dict[socket.socket, bytes] = {}
        self.started: dict[socket.socket, float] = {}
        self.answers: dict[socket.socket, bytes] = {}
        self.ended: dict[socket.socket, tuple[float, str]] = {}  # when, how (answer / eof / reset)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def open(self) -> None:
        for _ in range(SLOW_CLIENTS):
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            head, body = _slow_request(self.port)
            if self.headers_too:
                line, rest = head.split(b"\r\n", 1)
                head, body = line + b"\r\n", rest + body
            s.sendall(head)
            s.setblocking(False)
            self.socks.append(s)
            self.bodies[s] = body
            self.started[s] = time.monotonic()
            self.answers[s] = b""
        self.thread.start()

    def _end(self, s: socket.socket, how: str) -> None:
        self.ended.setdefault(s, (time.monotonic() - self.started[s], how))

    def _run(self) -> None:
        sent = 0
        while not self.stop.is_set() and len(self.ended) < len(self.socks):
            live = [s for s in self.socks if s not in self.ended]
            for s in live:
                try:
                    s.send(self.bodies[s][sent:sent + 1])
                except OSError:
                    self._end(s, "reset")
            sent += 1
            until = time.monotonic() + 1.0
            while (left := until - time.monotonic()) > 0:
                live = [s for s in self.socks if s not in self.ended]
                if not live:
                    return
                readable, _, _ = select.select(live, [], [], left)
                for s in readable:
                    try:
                        chunk = s.recv(65536)
                    except OSError as exc:
                        self._end(s, "answer" if self.answers[s] else
                                  "reset" if exc.errno == errno.ECONNRESET else repr(exc))
                        continue
                    if chunk:
                        self.answers[s] += chunk
                    else:
                        self._end(s, "answer" if self.answers[s] else "eof")

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        for s in self.socks:
            s.close()


@pytest.mark.parametrize("headers_too", [False, True], ids=["slow-bodies", "slow-headers"])
def test_signed_delivery_answered_while_fifty_clients_trickle(bot_env, tmp_path, headers_too):
    home = tmp_path / "home"
    home.mkdir()
    # gunicorn's default control socket is one per user, under $XDG_RUNTIME_DIR or ~/.gunicorn:
    # every `modelbot serve` of the user would share it. The shipped settings create none.
    env = {**bot_env, "MODELBOT_FEATURES": "tests.support.features", "MODELBOT_TEST_MARKERS": str(tmp_path),
           "HOME": str(home), "XDG_RUNTIME_DIR": ""}
    t0 = time.monotonic()
    with web_process(env, workers=2) as url:  # the shipped default (WEB_CONCURRENCY unset: 2)
        trickler = Trickler(int(url.rsplit(":", 1)[1]), headers_too)
        try:
            trickler.open()
            time.sleep(2.0)  # every slow connection is accepted and inside its body read
            assert not trickler.ended, "a slow client was cut off before the deadline"

            asked = time.monotonic()
            status, answer = post_delivery(url, "ping", webhooks.ping(), SECRET, str(uuid.uuid4()))
            took = time.monotonic() - asked
            assert 200 <= status < 300 and answer["outcome"] == "queued", (status, answer)
            assert took < GITHUB_TIMEOUT, f"the signed delivery took {took:.1f} s"

            limit = time.monotonic() + BODY_DEADLINE_SECONDS + MARGIN
            while len(trickler.ended) < SLOW_CLIENTS and time.monotonic() < limit:
                time.sleep(0.2)
        finally:
            trickler.close()

        assert len(trickler.ended) == SLOW_CLIENTS, \
            f"{SLOW_CLIENTS - len(trickler.ended)} slow clients still connected after the deadline"
        late = [when for when, _ in trickler.ended.values() if when > BODY_DEADLINE_SECONDS + MARGIN]
        assert not late, f"cut off too late: {sorted(late)[-3:]} s"
        early = [when for when, _ in trickler.ended.values() if when < BODY_DEADLINE_SECONDS - 1]
        assert not early, f"cut off before the deadline: {sorted(early)[:3]} s"
        answered = [a for a in trickler.answers.values() if a]
        # Whatever a slow client read is the 408 (the server may also reset the socket first);
        # one cut off in its headers has no request to answer: the connection just ends.
        for a in answered:
            assert a.startswith(b"HTTP/1.1 408 "), a[:200]
            assert json.loads(a.split(b"\r\n\r\n", 1)[1])["outcome"] == "timeout"
        assert answered or headers_too, "no slow client read the 408"
        assert list(home.rglob("*")) == [], "the server left a control socket in the user's home"
    assert time.monotonic() - t0 < 60


def test_deadline_cuts_the_read_side_of_a_late_socket_only():
    """The deadline thread shuts down only the sockets still armed past their deadline."""
    deadlines = ReadDeadlines()
    late_server, late_client = socket.socketpair()
    quick_server, quick_client = socket.socketpair()
    try:
        late = deadlines.arm(late_server, 0.3)
        quick = deadlines.arm(quick_server, 0.3)
        assert deadlines.disarm(quick) is False  # read in time: never touched
        late_client.sendall(b"x")
        started = time.monotonic()
        assert late_server.recv(1) == b"x"
        assert late_server.recv(1) == b""  # blocked until the deadline cut the read side
        assert 0.1 < time.monotonic() - started < 2.0
        assert deadlines.disarm(late) is True
        late_server.sendall(b"answer")  # the answer can still be written
        assert late_client.recv(16) == b"answer"
        quick_client.sendall(b"y")
        time.sleep(0.5)
        quick_server.settimeout(1)
        assert quick_server.recv(1) == b"y"
    finally:
        for s in (late_server, late_client, quick_server, quick_client):
            s.close()
