"""Pythonic tool calls under tool_choice "auto" through `brasa serve`.

Usage: pythonic_auto_call_test.py BRASA_BINARY MODEL
MODEL is the Llama 4 test checkpoint scout-tiny, whose weights are random. A
logit_bias pushes the model to open a call, either with <|python_start|> or
with "[name(" at the start of the output or after plain text. From there the
server must constrain the call, so the returned tool_calls validate against
the tool's schema (python3-jsonschema) for every seed, streamed or not, with
finish_reason "tool_calls".
"""

import json
import sys
import unittest

import jsonschema
import requests

from serve_fixture import BrasaServer, main_with_server

BINARY, MODEL = sys.argv[1], sys.argv[2]
SERVER = None

# Llama 4 token ids (the tiktoken file of scout-tiny): the special token
# <|python_start|>, and the ordinary tokens "[count" and "(".
PYTHON_START = 200016
BRACKET_COUNT = 73974
OPEN_PAREN = 20
TILDES = 7801  # "~~", plain text to write before a call

WEATHER_PARAMETERS = {
    "type": "object",
    "properties": {
        "location": {"type": "string", "minLength": 1, "maxLength": 12},
        "unit": {"enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 14},
    },
    "required": ["location"],
    "additionalProperties": False,
}
# "count" is named after a single Llama 4 token, "[count", so a bias on two
# tokens can open the bare form "[count(".
COUNT_PARAMETERS = {
    "type": "object",
    "properties": {"text": {"type": "string", "maxLength": 10}, "unique": {"type": "boolean"}},
    "required": ["text"],
    "additionalProperties": False,
}
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Get the weather in a city.",
                                      "parameters": WEATHER_PARAMETERS}},
    {"type": "function", "function": {"name": "count", "description": "Count the words of a text.",
                                      "parameters": COUNT_PARAMETERS}},
]
SCHEMAS = {"get_weather": WEATHER_PARAMETERS, "count": COUNT_PARAMETERS}
QUESTION = [{"role": "user", "content": "What's the weather in London, and how many words are in this question?"}]


def request_body(seed, logit_bias, **extra):
    """Returns a chat request with the tools, tool_choice "auto", and the given logit_bias by token id."""
    model = requests.get(SERVER.base + "/v1/models").json()["data"][0]["id"]
    return {"model": model, "messages": QUESTION, "tools": TOOLS, "tool_choice": "auto", "temperature": 1.0,
            "seed": seed, "max_tokens": 160, "logit_bias": {str(k): v for k, v in logit_bias.items()}, **extra}


def chat(body):
    reply = requests.post(SERVER.base + "/v1/chat/completions", json=body, timeout=300)
    if reply.status_code != 200:
        raise AssertionError(f"status {reply.status_code}: {reply.text}")
    return reply.json()["choices"][0]


def chat_stream(body):
    """Returns the content, tool calls and finish_reason assembled from a streamed response."""
    reply = requests.post(SERVER.base + "/v1/chat/completions", json={**body, "stream": True}, stream=True, timeout=300)
    if reply.status_code != 200:
        raise AssertionError(f"status {reply.status_code}: {reply.text}")
    content, calls, finish_reason = "", [], None
    for raw_line in reply.iter_lines():
        line = raw_line.decode("utf-8")
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        choice = json.loads(line[len("data: "):])["choices"][0]
        content += choice["delta"].get("content") or ""
        for call in choice["delta"].get("tool_calls", []):
            if call["index"] == len(calls):
                calls.append({"name": call["function"]["name"], "arguments": ""})
            calls[call["index"]]["arguments"] += call["function"].get("arguments", "")
        if choice["finish_reason"] is not None:
            finish_reason = choice["finish_reason"]
    return content, calls, finish_reason


class PythonicAutoCallTest(unittest.TestCase):
    def check_calls(self, calls, where):
        """Checks that each call names a tool and that its arguments validate against that tool's schema."""
        self.assertTrue(calls, where)
        for call in calls:
            self.assertIn(call["name"], SCHEMAS, where)
            jsonschema.validate(json.loads(call["arguments"]), SCHEMAS[call["name"]])

    def test_python_start_opens_a_constrained_call(self):
        for seed in range(8):
            with self.subTest(seed=seed):
                body = request_body(seed, {PYTHON_START: 100}, parallel_tool_calls=seed % 2 == 0)
                choice = chat(body)
                self.assertEqual(choice["finish_reason"], "tool_calls", choice)
                calls = [call["function"] for call in choice["message"]["tool_calls"]]
                self.check_calls(calls, choice)
                self.assertFalse(choice["message"].get("content"), choice)

                # The same seed streamed gives the same calls.
                content, streamed, finish_reason = chat_stream(body)
                self.assertEqual(finish_reason, "tool_calls")
                self.assertEqual(content, "", "call syntax leaked into content")
                self.check_calls(streamed, streamed)
                self.assertEqual(streamed, [{"name": c["name"], "arguments": c["arguments"]} for c in calls])

    def check_bracket_outcome(self, content, calls, finish_reason, where):
        """Checks one output of the bracket test; returns 1 when it is a bare call list, else 0.

        A list written after plain text is constrained too, so its calls must
        validate like one at the start."""
        if finish_reason == "tool_calls":
            self.assertEqual(len(calls), 1, where)
            self.check_calls(calls, where)
            return 1
        self.assertIn(finish_reason, ("stop", "length"), where)
        self.assertEqual(calls, [], where)
        return 0

    def test_bracket_name_paren_opens_a_constrained_call(self):
        # The biases make "[count" likely first, and the penalties on repeated
        # tokens then make "(" likely next, so about a third of the outputs
        # start with "[count(". The others write text such as "([count[count"
        # that must stay plain content. scout-tiny's weights are fixed, so the
        # outcome of each seed is too.
        bias = {BRACKET_COUNT: 21.8, OPEN_PAREN: 20}
        penalties = {"presence_penalty": 2.0, "frequency_penalty": 2.0, "parallel_tool_calls": False}
        n_calls = 0
        for seed in (0, 3):
            body = {**request_body(seed, bias, n=8, **penalties), "max_tokens": 64}
            reply = requests.post(SERVER.base + "/v1/chat/completions", json=body, timeout=300)
            self.assertEqual(reply.status_code, 200, reply.text)
            for choice in reply.json()["choices"]:
                calls = [call["function"] for call in choice["message"].get("tool_calls", [])]
                where = (seed, choice)
                n_calls += self.check_bracket_outcome(choice["message"].get("content"), calls, choice["finish_reason"], where)
        self.assertGreaterEqual(n_calls, 2)

        n_streamed_calls = 0
        for seed in range(8):
            body = {**request_body(seed, bias, **penalties), "max_tokens": 64}
            content, calls, finish_reason = chat_stream(body)
            n_streamed_calls += self.check_bracket_outcome(content, calls, finish_reason, (seed, content, calls))
        self.assertGreaterEqual(n_streamed_calls, 1)

    def test_bracket_after_text_opens_a_constrained_call(self):
        # A bias a little above the others makes "~~" likely first. The
        # penalties then make "[count" and "(" likely, so most outputs write
        # plain text and then "[count(", a call that must be constrained too.
        bias = {TILDES: 23, BRACKET_COUNT: 21.8, OPEN_PAREN: 20}
        penalties = {"presence_penalty": 2.0, "frequency_penalty": 2.0, "parallel_tool_calls": False}
        body = {**request_body(0, bias, n=8, **penalties), "max_tokens": 64}
        reply = requests.post(SERVER.base + "/v1/chat/completions", json=body, timeout=300)
        self.assertEqual(reply.status_code, 200, reply.text)
        n_after_text = 0
        for choice in reply.json()["choices"]:
            content = choice["message"].get("content") or ""
            calls = [call["function"] for call in choice["message"].get("tool_calls", [])]
            self.check_bracket_outcome(content, calls, choice["finish_reason"], choice)
            if calls and content.strip():
                self.assertNotIn("[count(", content, choice)
                n_after_text += 1
        self.assertGreaterEqual(n_after_text, 4)

        # Streamed, the same seed gives the same content and calls.
        for seed in range(4):
            with self.subTest(seed=seed):
                single = {**request_body(seed, bias, **penalties), "max_tokens": 64}
                choice = chat(single)
                content, calls, finish_reason = chat_stream(single)
                self.assertEqual(finish_reason, choice["finish_reason"])
                self.assertEqual(content, choice["message"].get("content") or "")
                expected = [{"name": c["function"]["name"], "arguments": c["function"]["arguments"]}
                            for c in choice["message"].get("tool_calls", [])]
                self.assertEqual(calls, expected)
                self.check_bracket_outcome(content, calls, finish_reason, (seed, content, calls))


if __name__ == "__main__":
    main_with_server(globals(), BINARY, MODEL)
