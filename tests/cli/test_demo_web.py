"""``seobatch demo --web`` leaves the web page running on the demo's database, with an
admin whose one-time password it prints: a real process, signed in to over a socket."""

from __future__ import annotations

import http.cookiejar
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

_LINE = re.compile(r"seobatch web on (http://127\.0\.0\.1:\d+)/ .* one-time password (\S+) ")
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_demo_web_serves_the_demo_database_to_the_admin_it_prints(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "seobatch", "demo", "--processing-seconds", "0.2", "--web", "--web-port", "0",
         "--db", str(tmp_path / "demo.db")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    try:
        assert proc.stdout is not None
        match, printed = None, []
        for line in proc.stdout:
            printed.append(line)
            match = _LINE.search(line)
            if match:
                break
        assert match, "the demo printed no web address"
        base, password = match.groups()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        token = _CSRF.search(opener.open(f"{base}/login").read().decode()).group(1)
        body = urllib.parse.urlencode({"name": "admin", "password": password, "csrf_token": token}).encode()
        runs = opener.open(f"{base}/login", data=body).read().decode()
        assert "admin · admin" in runs and 'data-job="1"' in runs  # the demo's job
        audit = opener.open(f"{base}/audit").read().decode()
        for _ in range(300):  # "computing…" reloads itself until the background audit is done
            if 'http-equiv="refresh"' not in audit:
                break
            time.sleep(0.2)
            audit = opener.open(f"{base}/audit").read().decode()
        # the page's overview is the one the demo printed (seobatch audit of its database)
        pages, fired = re.search(r"audit of (\d+) page\(s\), published values: (\d+) check", "".join(printed)).groups()
        rows = re.findall(r'<tr class="sev-[a-z]+" data-check="([a-z0-9_]+)" data-count="(\d+)"', audit)
        assert f'data-pages="{pages}"' in audit and len(rows) == int(fired) > 0
        for check, count in rows:
            assert re.search(rf" {check} +{count} ", "".join(printed)), check
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) in (0, 1, -signal.SIGINT)
