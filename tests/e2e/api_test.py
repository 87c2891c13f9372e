"""End-to-end checks of `brasa serve` with Python requests.

Usage: api_test.py BRASA_BINARY MODEL [GOLDEN_JSON]
With GOLDEN_JSON (llama.cpp's greedy continuations of stories260K), greedy output
through /v1/completions, prompted with the golden prompt ids, must equal the golden text.
"""

import json
import os
import random
import re
import socket
import sys
import threading
import unittest

import requests

from serve_fixture import BrasaServer, main_with_server

BINARY, MODEL = sys.argv[1], sys.argv[2]
GOLDEN = sys.argv[3] if len(sys.argv) > 3 else None
SERVER = None
# Soak size as "clients,requests per client,max tokens"; large models need a smaller one.
SOAK_CLIENTS, SOAK_REQUESTS, SOAK_MAX_TOKENS = (int(x) for x in os.environ.get("BRASA_E2E_SOAK", "10,25,60").split(","))
SOAK_ROUNDS = int(os.environ.get("BRASA_E2E_SOAK_ROUNDS", "8"))


def model_name():
    return requests.get(SERVER.base + "/v1/models").json()["data"][0]["id"]


def post(path, body, **kwargs):
    return requests.post(SERVER.base + path, json=body, timeout=120, **kwargs)


def metric(name):
    text = requests.get(SERVER.base + "/metrics").text
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(match.group(1)) if match else None


class ApiTest(unittest.TestCase):
    def test_error_statuses(self):
        name = model_name()
        chat = "/v1/chat/completions"
        cases = [
            (chat, "{not json", 400, None),
            (chat, {"model": name, "messages": []}, 400, "messages"),
            (chat, {"model": name, "messages": [{"role": "user", "content": "hi"}], "temperature": 3}, 400, "temperature"),
            (chat, {"model": name, "messages": [{"role": "user", "content": "hi"}], "logprobs": True, "top_logprobs": 21},
             400, "top_logprobs"),
            (chat, {"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]}, 404, "model"),
            (chat, {"model": name, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10 ** 7}, 400, "max_tokens"),
            ("/v1/completions", {"model": name, "prompt": [1, 10 ** 6]}, 400, "prompt"),
            ("/v1/completions", {"model": name, "prompt": []}, 400, "prompt"),
            ("/v1/completions", {"model": name, "prompt": "x " * 20000}, 400, "prompt"),
        ]
        for path, body, status, param in cases:
            data = body if isinstance(body, str) else json.dumps(body)
            reply = requests.post(SERVER.base + path, data=data, headers={"Content-Type": "application/json"})
            self.assertEqual(reply.status_code, status, (body if isinstance(body, str) else str(body)[:200], reply.text))
            error = reply.json()["error"]
            self.assertIsInstance(error["message"], str)
            if param:
                self.assertEqual(error["param"], param)
        self.assertEqual(requests.get(SERVER.base + "/v1/nope").status_code, 404)
        self.assertEqual(requests.get(SERVER.base + chat).status_code, 405)
        too_big = requests.post(SERVER.base + chat, data=b"x" * (9 << 20))
        self.assertEqual(too_big.status_code, 413)

    def test_stop_string_is_cut(self):
        name = model_name()
        free = post("/v1/completions", {"model": name, "prompt": "Once upon a time", "max_tokens": 24, "temperature": 0}).json()
        text = free["choices"][0]["text"]
        self.assertGreater(len(text), 10)
        stop = text[5:8]
        cut = post("/v1/completions", {"model": name, "prompt": "Once upon a time", "max_tokens": 24, "temperature": 0,
                                        "stop": [stop]}).json()
        self.assertEqual(cut["choices"][0]["text"], text[:text.find(stop)])
        self.assertEqual(cut["choices"][0]["finish_reason"], "stop")

    def test_cached_tokens_on_repeated_prefix(self):
        name = model_name()
        prompt = "Once upon a time there was a big dog. " * 12
        first = post("/v1/completions", {"model": name, "prompt": prompt, "max_tokens": 2}).json()
        second = post("/v1/completions", {"model": name, "prompt": prompt, "max_tokens": 2}).json()
        self.assertEqual(first["usage"]["prompt_tokens"], second["usage"]["prompt_tokens"])
        self.assertGreaterEqual(second["usage"]["prompt_tokens_details"]["cached_tokens"], 16)

    def test_greedy_matches_llama_cpp_golden(self):
        if not GOLDEN:
            self.skipTest("no golden file for this model")
        with open(GOLDEN) as golden:
            cases = json.load(golden)["cases"]
        name = model_name()
        for case in cases:
            reply = post("/v1/completions", {"model": name, "prompt": case["prompt_token_ids"], "temperature": 0,
                                             "max_tokens": case["n_predict"], "logprobs": 0})
            self.assertEqual(reply.status_code, 200, reply.text)
            choice = reply.json()["choices"][0]
            self.assertEqual(choice["text"], case["generated_text"], case["prompt"])

    def test_echo_scores_prompt(self):
        name = model_name()
        reply = post("/v1/completions", {"model": name, "prompt": "Once upon a time", "echo": True, "logprobs": 2,
                                         "max_tokens": 0}).json()
        logprobs = reply["choices"][0]["logprobs"]
        self.assertIsNone(logprobs["token_logprobs"][0])
        self.assertTrue(all(value <= 0 for value in logprobs["token_logprobs"][1:]))
        self.assertEqual(len(logprobs["tokens"]), reply["usage"]["prompt_tokens"])
        self.assertEqual(reply["usage"]["completion_tokens"], 0)
        # The echoed text is the prompt as sent, without the BOS token the server added.
        text = reply["choices"][0]["text"]
        self.assertEqual(text, "Once upon a time")

        # Each token starts at its text_offset in the echoed text. A SentencePiece
        # vocabulary writes the first word as "▁Once", whose space decoding drops.
        tokens, offsets = logprobs["tokens"], logprobs["text_offset"]
        self.assertEqual(offsets[:2], [0, 0])
        ends = offsets[2:] + [len(text)]
        for i in range(1, len(tokens)):
            piece = tokens[i][1:] if i == 1 and tokens[i].startswith(" ") else tokens[i]
            self.assertEqual(text[offsets[i]:ends[i - 1]], piece, f"text_offset[{i}] of {tokens}: {offsets}")

    def test_head_has_get_headers_and_no_body(self):
        for path in ("/health", "/v1/models"):
            get = requests.get(SERVER.base + path)
            head = requests.head(SERVER.base + path)
            self.assertEqual(head.status_code, 200, path)
            self.assertEqual(head.headers["Content-Type"], get.headers["Content-Type"], path)
            self.assertEqual(head.content, b"", path)
        self.assertEqual(requests.head(SERVER.base + "/health").headers["Content-Length"],
                         requests.get(SERVER.base + "/health").headers["Content-Length"])
        # A body after the HEAD headers would corrupt the next response on the same connection.
        with requests.Session() as session:
            for _ in range(3):
                self.assertEqual(session.head(SERVER.base + "/v1/models").status_code, 200)
                self.assertEqual(session.get(SERVER.base + "/v1/models").json()["object"], "list")

    def test_suffix_is_rejected(self):
        reply = post("/v1/completions", {"model": model_name(), "prompt": "Once", "suffix": "the end."})
        self.assertEqual(reply.status_code, 400)
        self.assertEqual(reply.json()["error"]["param"], "suffix")
        self.assertIn("not supported", reply.json()["error"]["message"])

    def test_best_of_returns_most_likely_candidate(self):
        # With a seed, candidate i samples with seed + i, as choice i of n does, so
        # the n = 3 request shows every candidate of the best_of = 3 request.
        name = model_name()
        body = {"model": name, "prompt": "Once upon a time", "max_tokens": 8, "temperature": 1.0, "seed": 11, "logprobs": 0}
        candidates = post("/v1/completions", {**body, "n": 3}).json()["choices"]
        totals = [sum(choice["logprobs"]["token_logprobs"]) for choice in candidates]
        self.assertEqual(len(set(choice["text"] for choice in candidates)), 3, "the seeds gave equal candidates")

        reply = post("/v1/completions", {**body, "best_of": 3})
        self.assertEqual(reply.status_code, 200, reply.text)
        best = reply.json()
        self.assertEqual(len(best["choices"]), 1)
        self.assertEqual(best["choices"][0]["text"], candidates[totals.index(max(totals))]["text"])
        self.assertEqual(best["usage"]["completion_tokens"], sum(len(c["logprobs"]["tokens"]) for c in candidates))

        streamed = post("/v1/completions", {**body, "best_of": 3, "stream": True})
        self.assertEqual(streamed.status_code, 400)
        self.assertEqual(streamed.json()["error"]["param"], "best_of")

    def test_client_disconnect_counts_as_499(self):
        name = model_name()
        text = requests.get(SERVER.base + "/metrics").text
        self.assertRegex(text, r"# HELP brasa_requests_total .*499.*client disconnected")
        before = metric('brasa_requests_total{status="499"}') or 0
        body = json.dumps({"model": name, "prompt": "Once upon a time", "max_tokens": 200, "ignore_eos": True,
                           "stream": True}).encode()
        with socket.create_connection(("127.0.0.1", SERVER.port)) as sock:
            sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            sock.recv(100)  # the stream has started
        for _ in range(100):
            if (metric('brasa_requests_total{status="499"}') or 0) > before:
                break
            threading.Event().wait(0.05)
        self.assertEqual(metric('brasa_requests_total{status="499"}'), before + 1)

    def test_soak_with_cancellations_frees_kv_blocks(self):
        name = model_name()
        rng = random.Random(1234)
        errors = []

        def client(seed):
            local = random.Random(seed)
            for _ in range(SOAK_REQUESTS):
                body = {"model": name, "prompt": "Once upon a time" + " and" * local.randrange(30),
                        "max_tokens": local.randrange(1, SOAK_MAX_TOKENS), "stream": local.random() < 0.6,
                        "temperature": local.random(), "n": local.choice([1, 1, 2])}
                action = local.random()
                try:
                    if action < 0.25:
                        # Disconnect mid-request from a raw socket.
                        payload = json.dumps(body).encode()
                        with socket.create_connection(("127.0.0.1", SERVER.port)) as sock:
                            sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                         + f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
                            if local.random() < 0.5:
                                sock.recv(200)
                    elif body["stream"]:
                        with requests.post(SERVER.base + "/v1/completions", json=body, stream=True, timeout=120) as reply:
                            for i, _ in enumerate(reply.iter_lines()):
                                if action < 0.45 and i > 2:
                                    break  # closes the stream early
                    else:
                        reply = post("/v1/completions", body)
                        if reply.status_code != 200:
                            errors.append(reply.text)
                except requests.RequestException as error:
                    errors.append(str(error))

        # Rounds of SOAK_CLIENTS x SOAK_REQUESTS requests (2,000 by default on
        # stories260K). After the first rounds have warmed the allocators and the
        # prefix cache up, the server's resident memory must stay flat.
        rss_kib = []
        for _ in range(SOAK_ROUNDS):
            threads = [threading.Thread(target=client, args=(rng.random(),)) for _ in range(SOAK_CLIENTS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            rss_kib.append(resident_kib(SERVER.process.pid))
        self.assertEqual(errors, [])
        if SOAK_ROUNDS >= 4:
            warm = rss_kib[SOAK_ROUNDS // 2 - 1]
            self.assertLess(max(rss_kib[SOAK_ROUNDS // 2:]) - warm, 32 * 1024, f"resident memory per round (KiB): {rss_kib}")
        # Cancelled sequences release their blocks within an engine step.
        for _ in range(100):
            if metric("brasa_kv_cache_blocks_used") == 0 and metric("brasa_num_requests_running") == 0:
                break
            threading.Event().wait(0.1)
        self.assertEqual(metric("brasa_kv_cache_blocks_used"), 0)
        self.assertEqual(metric("brasa_num_requests_running"), 0)
        self.assertEqual(metric("brasa_num_requests_waiting"), 0)


def resident_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def open_descriptors(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def read_response(sock):
    """Reads one HTTP response with a Content-Length body and returns it as text."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return data.decode(errors="replace")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = re.search(rb"(?i)content-length: *(\d+)", head)
    while length and len(body) < int(length.group(1)):
        chunk = sock.recv(4096)
        if not chunk:
            break
        body += chunk
    return (head + b"\r\n\r\n" + body).decode(errors="replace")


def open_session(port):
    """Opens a connection that has completed one keep-alive request, so the server counts it as open.

    The server may still count a connection that its client has closed, such as
    BrasaServer's /health probe, until it reads the close. A connection opened
    meanwhile gets a 503 and is replaced.
    """
    for _ in range(100):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.settimeout(5)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        if read_response(sock).startswith("HTTP/1.1 200"):
            return sock
        sock.close()
        threading.Event().wait(0.05)
    raise AssertionError("/health returned no 200 on 100 new connections: the server counts connections the test does not hold")


class ConnectionCapTest(unittest.TestCase):
    def test_flood_gets_503_and_bounded_descriptors(self):
        cap = 8
        server = BrasaServer(BINARY, MODEL, extra_args=["--max-connections", str(cap)])
        open_sockets = []
        try:
            baseline = open_descriptors(server.process.pid)
            # Fill the cap with connections that each got a 200. Otherwise a
            # connection the server still counts after its client closed it
            # (BrasaServer's /health probe) takes a slot, and when the server
            # reads the close during the flood, a flood connection gets a 200.
            for _ in range(cap):
                open_sockets.append(open_session(server.port))

            # A flood far past the cap: each connection sends a request and gets a
            # 503, or is closed unanswered while 64 rejections are already in flight.
            statuses = []
            max_descriptors = 0
            for _ in range(300):
                sock = socket.create_connection(("127.0.0.1", server.port))
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                open_sockets.append(sock)
                max_descriptors = max(max_descriptors, open_descriptors(server.process.pid))
            for sock in open_sockets[cap:]:
                sock.settimeout(5)
                try:
                    reply = sock.recv(4096).decode(errors="replace")
                except OSError:
                    reply = ""
                statuses.append(reply.split(" ")[1] if reply.startswith("HTTP/1.1 ") else "closed")
                if reply.startswith("HTTP/1.1 503"):
                    error = json.loads(reply.split("\r\n\r\n", 1)[1])["error"]
                    self.assertEqual(error["code"], "too_many_connections")
            self.assertNotIn("200", statuses)
            self.assertGreater(statuses.count("503"), 0)
            # Descriptors: the cap, the rejections in flight and a margin for timing.
            self.assertLess(max_descriptors - baseline, cap + 64 + 16)

            for sock in open_sockets:
                sock.close()
            open_sockets = []
            for _ in range(100):
                reply = requests.get(server.base + "/health")
                if reply.status_code == 200:
                    break
                threading.Event().wait(0.05)
            self.assertEqual(reply.status_code, 200)
        finally:
            for sock in open_sockets:
                sock.close()
            self.assertEqual(server.stop(), 0)


class ApiKeyTest(unittest.TestCase):
    def test_key_required_and_not_logged(self):
        server = BrasaServer(BINARY, MODEL, env={"BRASA_API_KEY": "sk-e2e-secret"})
        try:
            base = server.base
            self.assertEqual(requests.get(base + "/v1/models").status_code, 401)
            self.assertEqual(requests.get(base + "/v1/models", headers={"Authorization": "Bearer wrong"}).status_code, 401)
            self.assertEqual(requests.get(base + "/v1/models", headers={"Authorization": "Bearer sk-e2e-secret"}).status_code, 200)
            # The scheme is case-insensitive; the key is not.
            self.assertEqual(requests.get(base + "/v1/models", headers={"Authorization": "bearer sk-e2e-secret"}).status_code, 200)
            self.assertEqual(requests.get(base + "/v1/models", headers={"Authorization": "Bearer SK-E2E-SECRET"}).status_code, 401)
        finally:
            self.assertEqual(server.stop(), 0)
        self.assertNotIn("sk-e2e-secret", server.read_log())


if __name__ == "__main__":
    main_with_server(globals(), BINARY, MODEL)
