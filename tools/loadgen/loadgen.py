#!/usr/bin/python3
"""Serving benchmark client for brasa serve (or any OpenAI-compatible server).

Runs N concurrent clients, each sending streaming /v1/completions requests back
to back for a fixed number of requests, and reports requests/s, output tokens/s,
and time-to-first-token and inter-token latency percentiles. Token counts come
from the usage the server reports (stream_options.include_usage).

Example: tools/loadgen/loadgen.py --url http://127.0.0.1:8000 --clients 1 8 32 --requests 64
"""

import argparse
import json
import statistics
import threading
import time

import requests


def percentile(values, fraction):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run_request(session, args, model, results, lock):
    body = {"model": model, "prompt": args.prompt, "max_tokens": args.max_tokens, "temperature": args.temperature,
            "ignore_eos": True, "stream": True, "stream_options": {"include_usage": True}}
    start = time.perf_counter()
    first = None
    last = None
    gaps = []
    completion_tokens = 0
    with session.post(args.url + "/v1/completions", json=body, stream=True, timeout=600) as reply:
        reply.raise_for_status()
        for line in reply.iter_lines():
            if not line.startswith(b"data: ") or line == b"data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                completion_tokens = chunk["usage"]["completion_tokens"]
            if not chunk["choices"] or not chunk["choices"][0].get("text"):
                continue
            now = time.perf_counter()
            if first is None:
                first = now
            else:
                gaps.append(now - last)
            last = now
    end = time.perf_counter()
    with lock:
        results["ttft"].append((first or end) - start)
        results["itl"].extend(gaps)
        results["latency"].append(end - start)
        results["tokens"] += completion_tokens


def run_level(args, model, n_clients):
    results = {"ttft": [], "itl": [], "latency": [], "tokens": 0}
    lock = threading.Lock()
    per_client = max(1, args.requests // n_clients)

    def client():
        with requests.Session() as session:
            for _ in range(per_client):
                run_request(session, args, model, results, lock)

    threads = [threading.Thread(target=client) for _ in range(n_clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    n_requests = len(results["latency"])
    ms = lambda seconds: seconds * 1000.0
    print(f"clients {n_clients:3d}: {n_requests} requests in {elapsed:.1f} s, {n_requests / elapsed:.2f} req/s, "
          f"{results['tokens'] / elapsed:.1f} output tok/s | TTFT ms p50 {ms(percentile(results['ttft'], 0.5)):.0f} "
          f"p90 {ms(percentile(results['ttft'], 0.9)):.0f} p99 {ms(percentile(results['ttft'], 0.99)):.0f} | "
          f"ITL ms p50 {ms(percentile(results['itl'], 0.5)):.1f} p90 {ms(percentile(results['itl'], 0.9)):.1f} "
          f"p99 {ms(percentile(results['itl'], 0.99)):.1f} | mean latency {statistics.mean(results['latency']):.2f} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="server base URL")
    parser.add_argument("--model", help="model id (default: the first of /v1/models)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32], help="concurrency levels to run")
    parser.add_argument("--requests", type=int, default=64, help="requests per concurrency level")
    parser.add_argument("--max-tokens", type=int, default=64, help="tokens generated per request")
    parser.add_argument("--prompt", default="Once upon a time, in a small village by the sea,", help="prompt text")
    parser.add_argument("--temperature", type=float, default=0.8)
    args = parser.parse_args()
    model = args.model or requests.get(args.url + "/v1/models", timeout=30).json()["data"][0]["id"]
    for n_clients in args.clients:
        run_level(args, model, n_clients)


if __name__ == "__main__":
    main()
