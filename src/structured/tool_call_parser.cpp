#include "structured/tool_call_parser.h"

#include <algorithm>
#include <random>

#include "structured/tool_call_syntax.h"

namespace brasa {

std::string make_tool_call_id() {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 generator{std::random_device{}()};
  std::uniform_int_distribution<size_t> pick(0, kAlphabet.size() - 1);

  std::string id = "call_";
  for (int i = 0; i < 24; ++i) id += kAlphabet[pick(generator)];
  return id;
}

bool ToolCallPolicy::allows_region(std::string_view region) const {
  return tool_syntax::is_json_region(region) ? json_form : pythonic_form;
}

bool ToolCallPolicy::allows_name(std::string_view name) const {
  return tool_names.empty() || std::find(tool_names.begin(), tool_names.end(), name) != tool_names.end();
}

ParsedToolOutput parse_tool_calls(std::string_view text, const ToolCallPolicy& policy) {
  // Try each place a call may start, left to right; the first region that
  // parses through to the end of the text wins.
  for (size_t start = 0; start < text.size(); ++start) {
    char c = text[start];
    if (c != '<' && c != '[' && c != '{') continue;
    std::string_view rest = text.substr(start);
    if (tool_syntax::match_start(rest) != tool_syntax::StartMatch::Confirmed) continue;
    if (!policy.allows_region(rest)) continue;

    tool_syntax::RegionParse region = tool_syntax::parse_region(rest);
    if (region.status != tool_syntax::RegionStatus::Complete || region.calls.empty()) continue;
    bool names_allowed = std::all_of(region.calls.begin(), region.calls.end(),
                                     [&](const tool_syntax::RawCall& call) { return policy.allows_name(call.name); });
    if (!names_allowed) continue;

    ParsedToolOutput output;
    output.content = std::string(text.substr(0, start));
    for (tool_syntax::RawCall& call : region.calls) {
      output.tool_calls.push_back({make_tool_call_id(), std::move(call.name), std::move(call.arguments)});
    }
    return output;
  }
  return {std::string(text), {}};
}

}  // namespace brasa
