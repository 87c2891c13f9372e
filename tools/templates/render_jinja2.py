#!/usr/bin/python3
"""Render chat templates with Python's jinja2, set up the way Hugging Face
transformers sets it up for apply_chat_template, to produce the expected
outputs that brasa's Jinja interpreter is tested against.

Usage:
  render_jinja2.py --now UNIX_SECONDS --conversations FILE TEMPLATE...
      prints {template path: [result per conversation]}
  render_jinja2.py --now UNIX_SECONDS --cases FILE
      renders a list of {"name", "template", "variables"} and prints
      [result per case]
A result is {"output": text} or {"error": "ExceptionType: message"}.
"""

import argparse
import json
import sys
from datetime import datetime

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment


class GenerationBlock(jinja2.ext.Extension):
    """{% generation %}...{% endgeneration %}: transformers marks assistant text
    with it for training masks. Rendering keeps the body unchanged, and the body
    gets its own scope, as in transformers' AssistantTracker call block."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.Scope(body).set_lineno(lineno)


def make_environment(now):
    """Return the environment transformers builds: sandboxed, trim_blocks and
    lstrip_blocks, loop controls, the generation tag, its own tojson,
    raise_exception and strftime_now."""

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.fromtimestamp(now).strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols, GenerationBlock])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render(template, conversation):
    try:
        if isinstance(template, Exception):
            raise template
        variables = dict(conversation.get("extra", {}))
        variables.update(
            messages=conversation.get("messages", []),
            tools=conversation.get("tools"),
            add_generation_prompt=conversation.get("add_generation_prompt", True),
            bos_token=conversation.get("bos_token", ""),
            eos_token=conversation.get("eos_token", ""),
        )
        return {"output": template.render(**variables)}
    except Exception as error:  # every failure is a result the C++ side must match
        return {"error": f"{type(error).__name__}: {error}"}


def render_cases(env, cases):
    results = []
    for case in cases:
        try:
            template = env.from_string(case["template"])
            results.append({"output": template.render(**case.get("variables", {}))})
        except Exception as error:  # every failure is a result the C++ side must match
            results.append({"error": f"{type(error).__name__}: {error}"})
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", help="JSON file with a list of conversations")
    parser.add_argument("--cases", help="JSON file with a list of template cases")
    parser.add_argument("--now", type=int, required=True, help="the time strftime_now formats, in Unix seconds")
    parser.add_argument("templates", nargs="*", help="template files")
    args = parser.parse_args()
    env = make_environment(args.now)

    if args.cases:
        with open(args.cases, encoding="utf-8") as f:
            json.dump(render_cases(env, json.load(f)), sys.stdout, ensure_ascii=False)
        return

    with open(args.conversations, encoding="utf-8") as f:
        conversations = json.load(f)
    results = {}
    for path in args.templates:
        with open(path, encoding="utf-8") as f:
            source = f.read()
        try:
            template = env.from_string(source)
        except Exception as error:  # a syntax error fails every conversation
            template = error
        results[path] = [render(template, conversation) for conversation in conversations]
    json.dump(results, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
