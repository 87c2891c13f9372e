#pragma once

// UTF-8 helpers for the Python string semantics that templates use: strip() and
// split() treat Unicode whitespace as whitespace, len() counts code points, and
// repr() escapes non-printable characters.

#include <cstdint>
#include <string>
#include <vector>

namespace brasa::jinja {

// Decodes the code point at `pos` and advances `pos`. An invalid byte decodes to
// itself (as a Latin-1 code point) so that no input can stall the caller.
uint32_t decode_utf8(const std::string& s, size_t& pos);
void append_utf8(std::string& out, uint32_t cp);
std::vector<uint32_t> to_code_points(const std::string& s);
std::string from_code_points(const std::vector<uint32_t>& cps, size_t begin, size_t end);
size_t count_code_points(const std::string& s);

// Python's str.isspace() for one code point.
bool is_space(uint32_t cp);
// Python's str.isprintable() for one code point.
// NOTE: covers ASCII, Latin-1, the Unicode separators and the common format
// characters; other unassigned or private-use code points count as printable.
bool is_printable(uint32_t cp);
bool is_alnum(uint32_t cp);

// Python's str.upper() / str.lower() for one code point.
// NOTE: covers ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic, without
// the special cases that change length (German sharp s to "SS").
uint32_t to_upper(uint32_t cp);
uint32_t to_lower(uint32_t cp);
bool is_cased(uint32_t cp);

std::string upper(const std::string& s);
std::string lower(const std::string& s);

}  // namespace brasa::jinja
