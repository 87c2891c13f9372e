"""End-to-end function calling through `brasa serve`, as a user's script does it.

Usage: tool_loop_test.py BRASA_BINARY MODEL
The model has random weights, so the test checks the protocol, not the generated
text. A forced tool call comes back as tool_calls that validate against the
tool's parameters schema (python3-jsonschema). Streaming gives the same call as
the whole response. The follow-up request with the tool result returns content.
"""

import copy
import json
import os
import subprocess
import sys
import tempfile
import unittest

import jsonschema
import requests

from serve_fixture import BrasaServer, main_with_server

BINARY, MODEL = sys.argv[1], sys.argv[2]
# make-test-model finds its tokenizer under ../shared from the source root.
SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SERVER = None

# maxLength keeps a random-weight model's constrained string short, so the
# call closes well within max_tokens.
WEATHER_PARAMETERS = {
    "type": "object",
    "properties": {"location": {"type": "string", "description": "City name", "maxLength": 12}},
    "required": ["location"],
}
WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "description": "Get today's weather in a city.", "parameters": WEATHER_PARAMETERS},
}
QUESTION = [{"role": "user", "content": "What's the weather in London today?"}]
FORCE_WEATHER = {"type": "function", "function": {"name": "get_weather"}}
TOOL_RESULT = {"location": "London", "temperature_c": 14, "condition": "cloudy"}


def model_name():
    return requests.get(SERVER.base + "/v1/models").json()["data"][0]["id"]


def chat(body):
    reply = requests.post(SERVER.base + "/v1/chat/completions", json=body, timeout=300)
    if reply.status_code != 200:
        raise AssertionError(f"status {reply.status_code}: {reply.text}")
    return reply.json()


def chat_stream(test, body):
    """Sends a streaming request and assembles content, tool_calls and finish_reason from its chunks."""
    reply = requests.post(SERVER.base + "/v1/chat/completions", json={**body, "stream": True}, stream=True, timeout=300)
    test.assertEqual(reply.status_code, 200, reply.text if reply.status_code != 200 else "")
    content, calls, finish_reason, done = "", [], None, False
    # Server-sent events are UTF-8, but requests would decode a text/event-stream without charset as Latin-1.
    for raw_line in reply.iter_lines():
        line = raw_line.decode("utf-8")
        if not line.startswith("data: "):
            continue
        data = line[len("data: "):]
        if data == "[DONE]":
            done = True
            continue
        choice = json.loads(data)["choices"][0]
        delta = choice["delta"]
        if delta.get("content"):
            content += delta["content"]
        for call in delta.get("tool_calls", []):
            if call["index"] == len(calls):
                # The first delta of a call carries its id, type and name.
                test.assertTrue(call["id"].startswith("call_"), call)
                test.assertEqual(call["type"], "function")
                test.assertIsInstance(call["function"]["name"], str)
                test.assertIsInstance(call["function"]["arguments"], str)
                calls.append({"id": call["id"], "type": "function",
                              "function": {"name": call["function"]["name"], "arguments": ""}})
            else:
                test.assertLess(call["index"], len(calls), "a delta for a call that never started")
                test.assertNotIn("id", call)
            calls[call["index"]]["function"]["arguments"] += call["function"].get("arguments", "")
        if choice["finish_reason"] is not None:
            finish_reason = choice["finish_reason"]
    test.assertTrue(done, "the stream did not end with [DONE]")
    return content, calls, finish_reason


class ToolLoopTest(unittest.TestCase):
    def first_request(self, tool_choice, **extra):
        return {"model": model_name(), "messages": copy.deepcopy(QUESTION), "tools": [WEATHER_TOOL],
                "tool_choice": tool_choice, "temperature": 0, "seed": 11, "max_tokens": 64, **extra}

    def check_weather_call(self, call):
        self.assertTrue(call["id"].startswith("call_"), call)
        self.assertEqual(call["type"], "function")
        self.assertEqual(call["function"]["name"], "get_weather")
        arguments = json.loads(call["function"]["arguments"])
        jsonschema.validate(arguments, WEATHER_PARAMETERS)

    def follow_up(self, call):
        """Returns the second request: the question, the call with content "", and the tool's result."""
        messages = copy.deepcopy(QUESTION)
        messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
        messages.append({"role": "tool", "tool_call_id": call["id"], "content": json.dumps(TOOL_RESULT)})
        return {"model": model_name(), "messages": messages, "tools": [WEATHER_TOOL], "temperature": 0, "max_tokens": 8}

    def check_final_answer(self, message, finish_reason):
        self.assertIsInstance(message["content"], str)
        self.assertNotIn("tool_calls", message)
        self.assertIn(finish_reason, ("stop", "length"))

    def run_loop(self, tool_choice, **extra):
        response = chat(self.first_request(tool_choice, **extra))
        choice = response["choices"][0]
        self.assertEqual(choice["finish_reason"], "tool_calls", choice)
        calls = choice["message"]["tool_calls"]
        self.assertEqual(len(calls), 1, calls)
        self.check_weather_call(calls[0])

        final = chat(self.follow_up(calls[0]))["choices"][0]
        self.check_final_answer(final["message"], final["finish_reason"])
        return calls[0]

    def test_named_tool_choice_loop(self):
        self.run_loop(FORCE_WEATHER)

    def test_required_tool_choice_loop(self):
        self.run_loop("required", parallel_tool_calls=False)

    def test_streamed_call_equals_whole_call(self):
        for tool_choice in (FORCE_WEATHER, "required"):
            with self.subTest(tool_choice=tool_choice):
                request = self.first_request(tool_choice, parallel_tool_calls=False)
                whole = chat(request)["choices"][0]["message"]["tool_calls"]
                content, calls, finish_reason = chat_stream(self, request)
                self.assertEqual(finish_reason, "tool_calls")
                self.assertEqual(content, "", "call syntax leaked into content")
                self.assertEqual(len(calls), 1, calls)
                self.check_weather_call(calls[0])
                # Ids are random per response; greedy decoding makes the rest equal.
                self.assertEqual(calls[0]["function"], whole[0]["function"])

                content, final_calls, finish_reason = chat_stream(self, self.follow_up(calls[0]))
                self.assertIsInstance(content, str)
                self.assertEqual(final_calls, [])
                self.assertIn(finish_reason, ("stop", "length"))

    def test_response_format_json_schema(self):
        schema = {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 10}, "sunny": {"type": "boolean"},
                           "temperature": {"type": "integer", "minimum": -40, "maximum": 50}},
            "required": ["city", "sunny", "temperature"],
            "additionalProperties": False,
        }
        body = {"model": model_name(), "messages": copy.deepcopy(QUESTION), "temperature": 0, "max_tokens": 64,
                "response_format": {"type": "json_schema", "json_schema": {"name": "weather", "schema": schema}}}
        choice = chat(body)["choices"][0]
        self.assertEqual(choice["finish_reason"], "stop", choice)
        jsonschema.validate(json.loads(choice["message"]["content"]), schema)

        content, calls, finish_reason = chat_stream(self, body)
        self.assertEqual(finish_reason, "stop")
        self.assertEqual(calls, [])
        jsonschema.validate(json.loads(content), schema)

    def test_invalid_tools_are_400_naming_field(self):
        name = model_name()
        nameless = {"type": "function", "function": {"parameters": WEATHER_PARAMETERS}}
        list_parameters = {"type": "function", "function": {"name": "get_time", "parameters": ["location"]}}
        bad_schema = {"type": "json_schema",
                      "json_schema": {"name": "x", "schema": {"type": "object", "properties": {"a": {"type": "strnig"}}}}}
        # Each case: the request fields, the expected error param, and a word its message must contain.
        cases = [
            ({"tools": [nameless]}, "tools[0].function", "name"),
            ({"tools": [WEATHER_TOOL, list_parameters]}, "tools[1].function.parameters", "parameters"),
            ({"tools": [WEATHER_TOOL], "tool_choice": {"type": "function", "function": {"name": "get_time"}}},
             "tool_choice", "get_time"),
            ({"response_format": bad_schema}, "response_format.json_schema.schema.properties.a.type", "strnig"),
        ]
        for fields, param, word in cases:
            with self.subTest(param=param):
                body = {"model": name, "messages": copy.deepcopy(QUESTION), "max_tokens": 4, **fields}
                reply = requests.post(SERVER.base + "/v1/chat/completions", json=body, timeout=60)
                self.assertEqual(reply.status_code, 400, reply.text)
                error = reply.json()["error"]
                self.assertEqual(error["type"], "invalid_request_error")
                self.assertEqual(error["param"], param)
                self.assertIn(word, error["message"])


# A Llama 4 chat format that never reads `tools`, so the server must put the
# tool definitions into the system message itself.
TEMPLATE_WITHOUT_TOOLS = (
    "{{ bos_token }}{% for m in messages %}<|header_start|>{{ m['role'] }}<|header_end|>\n\n"
    "{{ m['content'] }}<|eot|>{% endfor %}"
    "{% if add_generation_prompt %}<|header_start|>assistant<|header_end|>\n\n{% endif %}")


class TemplateWithoutToolsTest(unittest.TestCase):
    def test_tools_reach_prompt_and_loop_completes(self):
        with tempfile.TemporaryDirectory(prefix="brasa-e2e-") as work:
            template_path = os.path.join(work, "template.jinja")
            with open(template_path, "w") as template:
                template.write(TEMPLATE_WITHOUT_TOOLS)
            checkpoint = os.path.join(work, "scout-tiny-no-tools")
            subprocess.run([BINARY, "make-test-model", "--preset", "scout-tiny", "--chat-template", template_path,
                            "--out", checkpoint], check=True, cwd=SOURCE_DIR, capture_output=True)
            server = BrasaServer(BINARY, checkpoint)
            try:
                base = server.base
                name = requests.get(base + "/v1/models").json()["data"][0]["id"]
                plain = {"model": name, "messages": QUESTION, "temperature": 0, "max_tokens": 64}
                with_tools = {**plain, "tools": [WEATHER_TOOL], "tool_choice": FORCE_WEATHER}
                plain_reply = requests.post(base + "/v1/chat/completions", json=plain, timeout=300).json()
                tools_reply = requests.post(base + "/v1/chat/completions", json=with_tools, timeout=300).json()

                # The tool system prompt lists the schema, so the prompt grows by far more than a few tokens.
                growth = tools_reply["usage"]["prompt_tokens"] - plain_reply["usage"]["prompt_tokens"]
                self.assertGreater(growth, 40, (plain_reply["usage"], tools_reply["usage"]))
                choice = tools_reply["choices"][0]
                self.assertEqual(choice["finish_reason"], "tool_calls", choice)
                call = choice["message"]["tool_calls"][0]
                self.assertEqual(call["function"]["name"], "get_weather")
                jsonschema.validate(json.loads(call["function"]["arguments"]), WEATHER_PARAMETERS)

                # The server rewrites the call as pythonic content and the "tool" message as an
                # "ipython" message, which this template prints like any other message.
                messages = copy.deepcopy(QUESTION)
                messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": json.dumps(TOOL_RESULT)})
                follow_up = {"model": name, "messages": messages, "tools": [WEATHER_TOOL], "temperature": 0, "max_tokens": 8}
                reply = requests.post(base + "/v1/chat/completions", json=follow_up, timeout=300)
                self.assertEqual(reply.status_code, 200, reply.text)
                final = reply.json()["choices"][0]
                self.assertIsInstance(final["message"]["content"], str)
                self.assertIn(final["finish_reason"], ("stop", "length"))
            finally:
                self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    main_with_server(globals(), BINARY, MODEL)
