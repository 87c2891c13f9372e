#include "structured/tool_call_stream.h"

#include "structured/tool_call_syntax.h"

namespace brasa {
namespace {

void append(StreamDelta& into, StreamDelta&& from) {
  into.content += from.content;
  for (ToolCallDelta& delta : from.tool_calls) into.tool_calls.push_back(std::move(delta));
}

}  // namespace

StreamDelta ToolCallStreamParser::feed(std::string_view text) {
  switch (mode_) {
    case Mode::Content:
      pending_ += text;
      return scan_content();
    case Mode::Call:
      call_text_ += text;
      return advance_calls(false);
    case Mode::Failed:
      break;
  }
  return {std::string(text), {}};
}

StreamDelta ToolCallStreamParser::finish() {
  StreamDelta out;
  while (true) {
    if (mode_ == Mode::Content) {
      append(out, scan_content());
      if (mode_ == Mode::Content) {
        // What is still held back never became a call.
        out.content += pending_;
        pending_.clear();
        return out;
      }
      continue;
    }
    if (mode_ == Mode::Failed) return out;

    append(out, advance_calls(true));
    if (mode_ != Mode::Content) return out;
  }
}

StreamDelta ToolCallStreamParser::scan_content() {
  StreamDelta out;
  for (size_t start = 0; start < pending_.size(); ++start) {
    char c = pending_[start];
    if (c != '<' && c != '[' && c != '{') continue;

    std::string_view rest = std::string_view(pending_).substr(start);
    tool_syntax::StartMatch match = tool_syntax::match_start(rest);
    if (match == tool_syntax::StartMatch::None) continue;
    if (match == tool_syntax::StartMatch::Confirmed && !policy_.allows_region(rest)) continue;

    out.content = pending_.substr(0, start);
    if (match == tool_syntax::StartMatch::Prefix) {
      pending_.erase(0, start);  // hold the tail until it is decided
      return out;
    }

    call_text_ = pending_.substr(start);
    pending_.clear();
    mode_ = Mode::Call;
    append(out, advance_calls(false));
    return out;
  }
  out.content = std::move(pending_);
  pending_.clear();
  return out;
}

StreamDelta ToolCallStreamParser::advance_calls(bool final) {
  // Re-parse the whole call text each time: call regions are short, and a
  // fresh parse keeps this in step with parse_tool_calls.
  tool_syntax::RegionParse region = tool_syntax::parse_region(call_text_);
  bool failed = region.status == tool_syntax::RegionStatus::Invalid ||
                (final && region.status == tool_syntax::RegionStatus::Incomplete) ||
                (final && region.calls.empty());

  // A call of a name the policy rejects ends the region where that call starts.
  for (size_t i = 0; i < region.calls.size(); ++i) {
    if (policy_.allows_name(region.calls[i].name)) continue;
    region.calls_end = i == 0 ? 0 : region.call_ends[i - 1];
    region.calls.resize(i);
    region.open_name.clear();
    failed = true;
    break;
  }
  if (!region.open_name.empty() && !policy_.allows_name(region.open_name)) {
    region.open_name.clear();
    failed = true;
  }

  if (failed && n_named_ == 0) {
    // Not a call after all: send its first character as content and look for
    // a later start in the rest, as parse_tool_calls does.
    StreamDelta out;
    out.content = call_text_.substr(0, 1);
    pending_ = call_text_.substr(1);
    call_text_.clear();
    mode_ = Mode::Content;
    if (!final) append(out, scan_content());
    return out;
  }

  StreamDelta out;
  int32_t n_calls = static_cast<int32_t>(region.calls.size());
  for (int32_t i = n_complete_; i < n_calls; ++i) {
    ToolCallDelta delta;
    delta.index = i;
    if (i >= n_named_) {
      ids_.push_back(make_tool_call_id());
      delta.id = ids_[i];
      delta.name = region.calls[i].name;
      ++n_named_;
    }
    delta.arguments = region.calls[i].arguments;
    out.tool_calls.push_back(std::move(delta));
  }
  n_complete_ = n_calls;

  if (!failed && !region.open_name.empty() && n_named_ == n_calls) {
    ids_.push_back(make_tool_call_id());
    out.tool_calls.push_back({n_calls, ids_.back(), region.open_name, ""});
    ++n_named_;
  }

  if (failed) {
    // Calls were already sent. A named call that never closed gets empty
    // arguments so its JSON stays valid, and the unparsed text becomes content.
    // NOTE: parse_tool_calls returns this whole output as content instead.
    if (n_named_ > n_complete_) {
      out.tool_calls.push_back({n_complete_, "", "", "{}"});
      n_complete_ = n_named_;
    }
    out.content += call_text_.substr(region.calls_end);
    call_text_.clear();
    mode_ = Mode::Failed;
  }
  return out;
}

}  // namespace brasa
