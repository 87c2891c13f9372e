#include <gtest/gtest.h>

#include "server/stop_matcher.h"

namespace brasa::server {
namespace {

// Feeds pieces one by one and returns everything sent, as a client would see it.
std::string feed(StopMatcher& matcher, const std::vector<std::string>& pieces) {
  std::string sent;
  for (const std::string& piece : pieces) sent += matcher.push(piece);
  return sent;
}

TEST(StopMatcher, FindsStopInsideOnePiece) {
  StopMatcher matcher({"END"});
  EXPECT_EQ(feed(matcher, {"abc END def"}), "abc ");
  EXPECT_TRUE(matcher.stopped());
}

TEST(StopMatcher, FindsStopAcrossPieces) {
  StopMatcher matcher({"\n\nUser:"});
  EXPECT_EQ(feed(matcher, {"Hello", ".\n", "\nUs", "er", ":", " more"}), "Hello.");
  EXPECT_TRUE(matcher.stopped());
}

TEST(StopMatcher, HoldsBackPossibleStart) {
  StopMatcher matcher({"stop"});
  EXPECT_EQ(matcher.push("a st"), "a ");
  EXPECT_EQ(matcher.push("ew"), "stew");
  EXPECT_FALSE(matcher.stopped());
  EXPECT_EQ(matcher.push("s"), "");
  EXPECT_EQ(matcher.flush(), "s");
}

TEST(StopMatcher, EarliestOfSeveralWins) {
  StopMatcher matcher({"cd", "b"});
  EXPECT_EQ(feed(matcher, {"abcd"}), "a");
}

TEST(StopMatcher, NothingAfterStop) {
  StopMatcher matcher({"x"});
  EXPECT_EQ(matcher.push("axb"), "a");
  EXPECT_EQ(matcher.push("more"), "");
  EXPECT_EQ(matcher.flush(), "");
}

TEST(StopMatcher, NoStopsPassesThrough) {
  StopMatcher matcher({});
  EXPECT_EQ(feed(matcher, {"a", "b"}), "ab");
  EXPECT_EQ(matcher.flush(), "");
}

TEST(Utf8Stream, HoldsSplitCharacter) {
  Utf8Stream stream;
  std::string euro = "\xE2\x82\xAC";
  EXPECT_EQ(stream.push("a" + euro.substr(0, 1)), "a");
  EXPECT_EQ(stream.push(euro.substr(1, 1)), "");
  EXPECT_EQ(stream.push(euro.substr(2) + "b"), euro + "b");
  EXPECT_EQ(stream.flush(), "");
}

TEST(Utf8Stream, ReplacesInvalidBytes) {
  Utf8Stream stream;
  const std::string replacement = "\xEF\xBF\xBD";
  EXPECT_EQ(stream.push("\x80" "a"), replacement + "a");
  EXPECT_EQ(stream.push("\xC0\xAF"), replacement + replacement);  // overlong form
  EXPECT_EQ(stream.push("\xED\xA0\x80"), replacement + replacement + replacement);  // surrogate
  EXPECT_EQ(stream.push("\xF0\x9F"), "");
  EXPECT_EQ(stream.flush(), replacement);
}

TEST(Utf8Stream, FourByteCharacterByteByByte) {
  Utf8Stream stream;
  std::string emoji = "\xF0\x9F\x98\x80";
  std::string out;
  for (char c : emoji) out += stream.push(std::string(1, c));
  EXPECT_EQ(out, emoji);
}

}  // namespace
}  // namespace brasa::server
