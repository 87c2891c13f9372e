#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "structured/tool_call_parser.h"

namespace brasa {

// A piece of one tool call in an OpenAI streaming chunk (choices[].delta.tool_calls[]).
// The first delta of a call carries index, id and name; later ones carry only
// index and an arguments fragment. The fragments of one call concatenate to its
// full arguments JSON.
struct ToolCallDelta {
  int32_t index = 0;
  std::string id;         // empty after the first delta of a call
  std::string name;       // empty after the first delta of a call
  std::string arguments;  // fragment, may be empty
};

// The output of one feed() or finish() call. Either part may be empty.
struct StreamDelta {
  std::string content;
  std::vector<ToolCallDelta> tool_calls;
};

// Streaming counterpart of parse_tool_calls. It is fed decoded text deltas in
// order. It passes text through as content until a call starts, holding back a
// tail that may still become the start of a call (such as "[get_wea" or
// "{\"na"), so no raw call syntax reaches the content. After a call starts it
// sends each call's id and name as soon as the name is complete, and the
// arguments once the call closes. finish() flushes held text.
//
// The assembled content and calls equal parse_tool_calls on the whole text
// unless the call region breaks after a call's name was sent. The stream
// cannot take that call back, so it keeps the sent calls and sends the
// unparsed rest as content (a named call that never closed gets "{}"
// arguments). parse_tool_calls returns such a text whole as content. Examples: an unclosed
// list "[f(a=1)", or text after the calls "[f(a=1)] and more".
//
// A call that `policy` rejects stays content, as in parse_tool_calls; after
// calls were sent, the rest from the rejected call on becomes content.
class ToolCallStreamParser {
 public:
  explicit ToolCallStreamParser(ToolCallPolicy policy = {}) : policy_(std::move(policy)) {}

  StreamDelta feed(std::string_view text);
  StreamDelta finish();

 private:
  enum class Mode { Content, Call, Failed };

  StreamDelta scan_content();
  StreamDelta advance_calls(bool final);

  ToolCallPolicy policy_;
  Mode mode_ = Mode::Content;
  std::string pending_;    // content mode: text not yet sent
  std::string call_text_;  // call mode: text from the call start on
  std::vector<std::string> ids_;
  int32_t n_named_ = 0;     // calls whose id and name were sent
  int32_t n_complete_ = 0;  // calls whose arguments were sent
};

}  // namespace brasa
