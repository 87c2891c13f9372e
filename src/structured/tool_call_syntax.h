#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

// Internals shared by the whole-text and the streaming tool-call parsers.
namespace brasa::tool_syntax {

// A call as parsed, before it gets an id.
struct RawCall {
  std::string name;
  std::string arguments;  // compact JSON object
};

enum class RegionStatus {
  Complete,    // calls closed, only whitespace or end markers after them
  Incomplete,  // the text ends inside the region; more text may complete it
  Invalid,     // not a call region
};

struct RegionParse {
  RegionStatus status = RegionStatus::Invalid;
  std::vector<RawCall> calls;  // the calls that closed before the text ended or failed
  std::string open_name;       // Incomplete only: the name of the open call, once it is complete
  size_t calls_end = 0;        // offset just past the last call in `calls`
  std::vector<size_t> call_ends;  // offset just past each call in `calls`
};

// Parses a call region that starts at text[0]: an optional <|python_start|>,
// then a pythonic call list, a JSON call list or ';'-separated JSON calls, then
// optional end markers and whitespace up to the end of the text.
RegionParse parse_region(std::string_view text);

enum class StartMatch { None, Prefix, Confirmed };

// Decides whether a call region may start at text[0]. Confirmed: the text opens
// with "<|python_start|>", "[name(", "[{\"name\"" or "{\"name\"" (whitespace
// allowed between the parts). Prefix: the text is too short to tell.
StartMatch match_start(std::string_view text);

// Returns whether the call region that starts at text[0] is in the JSON form: "{" or
// "[" then "{" after whitespace. Any other region is pythonic.
bool is_json_region(std::string_view text);

}  // namespace brasa::tool_syntax
