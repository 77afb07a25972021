"""A 60 MB file-mode batch through the emulator without it holding the bytes in memory.

The emulator runs as its own process (``seobatch emulator``) so its peak resident memory
(``VmHWM``) can be read from /proc and compared with its size before the upload.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import requests

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc")]

KEY = {"x-goog-api-key": "k"}
CHUNK = 8 * 1024 * 1024


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def write_input(path, target_bytes: int) -> int:
    page = "Oak furniture, made by hand. " * 200  # ~6 KB of page text per request
    n = 0
    with open(path, "w") as fh:
        while fh.tell() < target_bytes:
            text = f"URL: https://shop.example.com/p/{n}\nTitle: Oak chair {n}\n<page>\n{page}\n</page>"
            fh.write(json.dumps({"key": f"p{n}", "request": {"contents": [{"role": "user", "parts": [{"text": text}]}]}}) + "\n")
            n += 1
    return n


def test_a_60_mb_file_mode_batch_goes_through_with_bounded_emulator_memory(tmp_path):
    src = tmp_path / "input.jsonl"
    count = write_input(src, 60 * 1024 * 1024)
    size = src.stat().st_size
    proc = subprocess.Popen([sys.executable, "-m", "seobatch", "emulator", "--port", "0", "--processing-seconds", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().split("listening on ")[1].split()[0]
        requests.get(f"{url}/v1beta/batches", headers=KEY, timeout=5)  # warm up
        before = peak_rss_mb(proc.pid)

        start = requests.post(f"{url}/upload/v1beta/files", json={"file": {"display_name": "big"}}, headers={
            **KEY, "X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(size), "X-Goog-Upload-Header-Content-Type": "application/jsonl"})
        upload_url = start.headers["X-Goog-Upload-URL"]
        with open(src, "rb") as fh:
            for offset in range(0, size, CHUNK):
                last = offset + CHUNK >= size
                r = requests.post(upload_url, data=fh.read(CHUNK), timeout=60, headers={
                    "X-Goog-Upload-Command": "upload, finalize" if last else "upload",
                    "X-Goog-Upload-Offset": str(offset)})
                assert r.status_code == 200
        name = r.json()["file"]["name"]

        started = time.monotonic()
        op = requests.post(f"{url}/v1beta/models/gemini-2.5-flash:batchGenerateContent", headers=KEY, timeout=60,
                           json={"batch": {"displayName": "big", "inputConfig": {"fileName": name}}}).json()
        done = requests.get(f"{url}/v1beta/{op['name']}", headers=KEY, timeout=60).json()
        assert done["metadata"]["batchStats"]["successfulRequestCount"] == str(count)
        out = done["metadata"]["output"]["responsesFile"]
        lines = 0
        with requests.get(f"{url}/v1beta/{out}:download?alt=media", headers=KEY, stream=True, timeout=60) as r:
            for line in r.iter_lines():
                lines += bool(line)
        elapsed = time.monotonic() - started
        growth = peak_rss_mb(proc.pid) - before
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert lines == count
    print(f"\n{size / 2**20:.0f} MB, {count} requests: emulator peak RSS grew {growth:.1f} MB; "
          f"create+poll+download {elapsed:.1f}s")
    assert growth < 40, f"the emulator's peak memory grew by {growth:.0f} MB for a {size / 2**20:.0f} MB batch"


def test_a_large_anthropic_create_is_decoded_as_it_arrives_not_held_whole():
    page = "Oak furniture, made by hand. " * 200

    def body(n: int):
        yield b'{"requests": ['
        for i in range(n):
            entry = {"custom_id": f"p{i}", "params": {"model": "claude-haiku-4-5", "max_tokens": 300, "messages": [
                {"role": "user", "content": f"URL: https://shop.example.com/p/{i}\nTitle: Oak chair {i}\n<page>{page}</page>"}]}}
            yield (b"," if i else b"") + json.dumps(entry).encode()
        yield b"]}"

    count = 16_000  # about 100 MB
    proc = subprocess.Popen([sys.executable, "-m", "seobatch", "emulator", "--port", "0", "--processing-seconds", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01", "content-type": "application/json"}
    try:
        url = proc.stdout.readline().split("listening on ")[1].split()[0]
        requests.get(f"{url}/v1/messages/batches", headers=headers, timeout=5)
        before = peak_rss_mb(proc.pid)
        r = requests.post(f"{url}/v1/messages/batches", data=body(count), headers=headers, timeout=120)
        assert r.status_code == 200, r.text
        batch = requests.get(f"{url}/v1/messages/batches/{r.json()['id']}", headers=headers, timeout=30).json()
        lines = 0
        with requests.get(batch["results_url"], headers=headers, stream=True, timeout=60) as res:
            for line in res.iter_lines():
                lines += bool(line)
        growth = peak_rss_mb(proc.pid) - before
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert batch["request_counts"]["succeeded"] == lines == count
    print(f"\n~100 MB Anthropic create, {count} requests: emulator peak RSS grew {growth:.1f} MB")
    assert growth < 60


def test_a_60_mb_openai_upload_goes_to_disk_not_memory():
    from seobatch.providers.base import Prompt
    from seobatch.providers.openai import OpenAIBatches

    page = "Oak furniture, made by hand. " * 200
    count = 10_000  # about 60 MB of JSONL
    proc = subprocess.Popen([sys.executable, "-m", "seobatch", "emulator", "--port", "0", "--processing-seconds", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().split("listening on ")[1].split()[0]
        requests.get(f"{url}/v1/batches", headers={"Authorization": "Bearer k"}, timeout=5)
        before = peak_rss_mb(proc.pid)
        client = OpenAIBatches("k", f"{url}/v1", timeout=(5, 120))
        reqs = (client.build_request(f"p{i}", Prompt("Write SEO.", f"URL: https://shop.example.com/p/{i}\n"
                                                                   f"Title: Oak chair {i}\n<page>{page}</page>"),
                                     model="gpt-4o-mini", max_tokens=300) for i in range(count))
        created = client.create_batch(reqs, model="gpt-4o-mini", display_name="big")
        lines = sum(r.outcome == "succeeded" for r in client.iter_results(client.get_batch(created.id)))
        growth = peak_rss_mb(proc.pid) - before
        uploaded = requests.get(f"{url}/_emulator/stats", timeout=5).json()["openai"]["bytes_uploaded"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert lines == count and uploaded > 55_000_000
    print(f"\n{uploaded / 2**20:.0f} MB OpenAI upload, {count} requests: emulator peak RSS grew {growth:.1f} MB")
    assert growth < 40, f"the emulator's peak memory grew by {growth:.0f} MB"
