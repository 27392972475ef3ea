"""The README's admin example runs as documented: the token is required, then honoured."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


def readme_admin_example() -> tuple[dict[str, str], list[str], str, bytes, str]:
    """(env, broadway-py arguments, token sent, body, path) as the README writes them."""
    text = (ROOT / "README.md").read_text()
    block = next(
        b for b in re.findall(r"```sh\n(.*?)```", text, re.S) if "BROADWAY_ADMIN_TOKEN" in b
    )
    start, curl = block.replace("\\\n", " ").strip().split("&\n")
    words = shlex.split(start)
    env = dict(word.split("=", 1) for word in words if re.match(r"[A-Z_]+=", word))
    arguments = words[words.index(".venv/bin/broadway-py") + 1 :]
    sent = shlex.split(curl)
    token = sent[sent.index("-H") + 1].removeprefix("Authorization: Bearer ")
    body = sent[sent.index("-d") + 1].encode()
    path = re.sub(r"^https?://[^/]+", "", sent[-1])
    return env, arguments, token, body, path


def post(url: str, body: bytes, token: str | None) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, method="POST")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


def test_the_readme_admin_example() -> None:
    env, arguments, token, body, path = readme_admin_example()
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "broadway_py", *arguments],
        cwd=ROOT,
        env={**os.environ, **env, "DEMO_HTTP_PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}{path}"
    try:
        deadline = time.monotonic() + 30
        while True:  # until the port answers: without the token, 401
            try:
                status, _ = post(url, body, None)
                break
            except (ConnectionError, urllib.error.URLError):
                assert time.monotonic() < deadline, "the demo's HTTP port never answered"
                time.sleep(0.1)  # sleep-ok: poll interval of a deadline-bounded wait
        assert status == 401
        status, answer = post(url, body, token)
        assert status == 200, answer
        changed = json.loads(answer)["rate_limit"]
        assert changed["allowed_messages"] == json.loads(body)["allowed_messages"]
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err[-2000:]
    assert token not in err
