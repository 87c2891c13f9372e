"""Starts `brasa serve` on a free loopback port and stops it with SIGTERM."""

import os
import socket
import subprocess
import sys
import time
import unittest

import requests


# The number of server logs kept in the log folder. A starting server removes older ones.
KEPT_LOGS = 40


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prune_logs(log_dir):
    """Removes all but the newest KEPT_LOGS server logs, so reruns do not pile them up."""
    logs = []
    for name in os.listdir(log_dir):
        if name.startswith("serve-") and name.endswith(".log"):
            path = os.path.join(log_dir, name)
            try:
                logs.append((os.path.getmtime(path), path))
            except FileNotFoundError:
                continue  # a parallel test removed it
    logs.sort(reverse=True)
    for _, path in logs[KEPT_LOGS:]:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


class BrasaServer:
    def __init__(self, binary, model, extra_args=(), env=None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        # Logs stay in the build tree beside the binary, so failed runs can be
        # read afterwards and nothing piles up in /tmp.
        log_dir = os.environ.get("BRASA_E2E_LOG_DIR") or os.path.join(os.path.dirname(os.path.abspath(binary)), "e2e-logs")
        os.makedirs(log_dir, exist_ok=True)
        prune_logs(log_dir)
        self.log_path = os.path.join(log_dir, f"serve-{os.getpid()}-{self.port}.log")
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [binary, "serve", "--model", model, "--host", "127.0.0.1", "--port", str(self.port), "--threads", "2",
             "--kv-cache-memory", "64M", *extra_args],
            stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"brasa serve exited with {self.process.returncode}: {self.read_log()}")
            try:
                if requests.get(self.base + "/health", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("brasa serve did not become healthy within 120 s: " + self.read_log())

    def read_log(self):
        with open(self.log_path) as log:
            return log.read()

    def stop(self):
        """Sends SIGTERM and returns the exit status."""
        self.process.terminate()
        try:
            return self.process.wait(timeout=60)
        finally:
            self.log.close()


def main_with_server(module_globals, binary, model):
    """Starts `brasa serve` as the module's SERVER, runs the module's tests, then stops it and exits.

    The exit status is 0 only when every test passed and the server exited cleanly on SIGTERM.
    """
    server = BrasaServer(binary, model)
    module_globals["SERVER"] = server
    try:
        result = unittest.main(argv=[sys.argv[0], "-v"], exit=False).result
    finally:
        status = server.stop()
    if status != 0:
        print(f"brasa serve exited with {status} after SIGTERM")
    sys.exit(0 if result.wasSuccessful() and status == 0 else 1)
