#pragma once

#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "structured/constraint.h"
#include "structured/tool_call_parser.h"
#include "structured/vocabulary.h"

namespace brasa {

// The request fields of /v1/chat/completions that shape the output, as parsed
// JSON. Each is null when the request omits it.
struct StructuredOutputRequest {
  nlohmann::json response_format;      // {"type": "text" | "json_object" | "json_schema", ...}
  nlohmann::json tools;                // [{"type": "function", "function": {"name", "description", "parameters"}}]
  nlohmann::json tool_choice;          // "none" | "auto" | "required" | {"type": "function", "function": {"name"}}
  nlohmann::json parallel_tool_calls;  // bool, default true
};

// A request field the server must reject with HTTP 400.
struct StructuredOutputError {
  std::string param;    // the offending field, e.g. "tools[1].function.name" or
                        // "response_format.json_schema.schema.properties.age.pattern"
  std::string message;  // what is wrong with the value
};

// The output handling of one request: its constraint, tool parsing and tools.
struct StructuredOutputPlan {
  // Applied to every choice (clone_initial() for choices after the first); null
  // when the output is free text.
  std::unique_ptr<TokenConstraint> constraint;

  // True when tools are enabled (tools given, tool_choice not "none"): parse the
  // output with parse_tool_calls or ToolCallStreamParser and return the calls
  // with finish_reason "tool_calls".
  bool expect_tool_calls = false;

  // The parsed calls that may come back as tool_calls; pass it to
  // parse_tool_calls and ToolCallStreamParser. Under tool_choice "auto" it
  // rejects calls the constraint did not enforce.
  ToolCallPolicy tool_call_policy;

  // The tools to show the model: all of them, or the one tool_choice names.
  // Empty when tool_choice is "none" or there are no tools. When the chat
  // template does not read `tools`, pass them to add_tool_system_prompt.
  nlohmann::json tools = nlohmann::json::array();

  std::optional<StructuredOutputError> error;  // set: reject the request, nothing else is set
};

// Validates the fields and compiles the constraint.
//   response_format json_object: any JSON object; json_schema: output matching
//     json_schema.schema (see json_schema_grammar.h for the supported subset).
//   tool_choice "required" or a named function: the output is forced to be
//     {"name": "<tool>", "parameters": <arguments matching that tool's
//     parameters schema>}, the JSON form parse_tool_calls reads back. With
//     "required" and parallel_tool_calls (the default), several such objects
//     separated by ';' are allowed; a named function gets exactly one call.
//   tool_choice "auto" (the default when tools are given): the model may write
//     text or start a call. A call it starts in the JSON or the pythonic form
//     is constrained from then on (see LazyToolCallConstraint).
// A forced tool call takes precedence over response_format. Compiled grammars
// are cached by schema text (LRU), so repeated schemas compile once.
// Thread-safe: the server may call it from any handler thread.
StructuredOutputPlan plan_structured_output(const StructuredOutputRequest& request,
                                            std::shared_ptr<const VocabularyIndex> vocabulary);

}  // namespace brasa
