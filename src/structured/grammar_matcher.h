#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "structured/grammar.h"
#include "structured/vocabulary.h"

namespace brasa {

// Matches text against a Grammar byte by byte, like a pushdown automaton run
// on all alternatives at once. The state is a set of stacks, each a chain of
// frames. A frame is the position to resume at in one alternative, and its
// parent is the frame to resume once that alternative ends. A stack is
// expanded lazily: each byte follows only the alternatives whose first set
// contains it. The empty stack (kAccept) is a complete sentence.
//
// Frames live in one arena and are shared between stacks, so advancing a
// stack by a byte pushes a few frames at most; the token mask walks the
// vocabulary trie depth first and rolls the arena back after each subtree.
class GrammarMatcher {
 public:
  explicit GrammarMatcher(std::shared_ptr<const Grammar> grammar);

  // Advances over `bytes`; returns false (and leaves the matcher dead) when
  // they cannot continue any sentence.
  bool accept_bytes(std::string_view bytes);

  bool can_end() const;       // the text so far is a complete sentence
  bool is_dead() const { return stacks_.empty(); }
  bool must_end() const;      // a complete sentence that no byte can extend

  // Sets bit id of `allowed` (vocab_size bits, cleared by the caller) for every
  // token whose bytes can continue the text. End-of-sequence and special tokens
  // are left to the caller.
  void fill_token_bitmask(const VocabularyIndex& vocabulary, std::vector<uint64_t>& allowed);

  // A string that identifies the current state, for caching masks: two matchers
  // of the same grammar with equal keys allow the same tokens.
  std::string state_key() const;

  // The number of leading bytes of `bytes` that can continue the text; the
  // state does not change.
  size_t accepted_prefix_length(std::string_view bytes);

  // The state inside a quoted string body at a character boundary, when the
  // matcher has a single stack that rests at a marked position (StringBodyMark).
  struct StringBody {
    StringBodyMark mark;
    int32_t continuation;  // the stack that resumes after the closing quote, for accepts_after
  };
  std::optional<StringBody> string_body() const;

  // Whether `bytes` can follow from `continuation` (a StringBody field), and a
  // key that identifies that stack. The state does not change.
  bool accepts_after(int32_t continuation, std::string_view bytes);
  std::string stack_key(int32_t continuation) const;

 private:
  static constexpr int32_t kAccept = -1;

  struct Frame {
    int32_t pos;     // offset in grammar elements of the next element to match
    int32_t parent;  // frame to resume after this alternative ends, or kAccept
  };

  int32_t push_frame(int32_t pos, int32_t parent);
  void step(int32_t pos, int32_t parent, uint8_t byte, std::vector<int32_t>& out, int depth);
  void advance(const std::vector<int32_t>& from, uint8_t byte, std::vector<int32_t>& out);
  void remove_duplicates(std::vector<int32_t>& stacks);
  void compact();
  void walk_trie(const VocabularyIndex& vocabulary, int32_t node, size_t depth, std::vector<uint64_t>& allowed);

  std::shared_ptr<const Grammar> grammar_;
  std::vector<Frame> frames_;
  std::vector<int32_t> stacks_;
  std::vector<std::vector<int32_t>> scratch_;  // per trie depth, reused across masks
  std::vector<uint32_t> seen_top_;             // per element + 1, for remove_duplicates
  uint32_t epoch_ = 0;
};

}  // namespace brasa
