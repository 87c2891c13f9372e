#include "structured/grammar_matcher.h"

#include <algorithm>
#include <unordered_map>

#include "core/error.h"

namespace brasa {
namespace {

// Stepping follows rule references and alternative ends that consume nothing.
// The builder writes no left recursion, so this only guards against a bug.
constexpr int kMaxStepDepth = 4096;

// Past this many frames, accept_bytes copies the live stacks into a fresh arena.
constexpr size_t kCompactThreshold = 1 << 16;

}  // namespace

GrammarMatcher::GrammarMatcher(std::shared_ptr<const Grammar> grammar)
    : grammar_(std::move(grammar)), seen_top_(grammar_->elements.size() + 1, 0) {
  for (int32_t start : grammar_->rules[grammar_->root]) stacks_.push_back(push_frame(start, kAccept));
}

int32_t GrammarMatcher::push_frame(int32_t pos, int32_t parent) {
  frames_.push_back({pos, parent});
  return static_cast<int32_t>(frames_.size()) - 1;
}

// Consumes `byte` from the stack that resumes at element `pos` with `parent`
// below it, pushing each resulting stack onto `out`. Rule references expand
// only into alternatives whose first set holds the byte (or that may match
// nothing and so pass it on), which keeps the work per byte close to one path.
void GrammarMatcher::step(int32_t pos, int32_t parent, uint8_t byte, std::vector<int32_t>& out, int depth) {
  BRASA_CHECK(depth < kMaxStepDepth, "grammar expansion too deep (left recursion?)");
  const Grammar& grammar = *grammar_;
  const GrammarElement& element = grammar.elements[pos];
  switch (element.kind) {
    case GrammarElement::Kind::End:
      if (parent != kAccept) step(frames_[parent].pos, frames_[parent].parent, byte, out, depth + 1);
      return;

    case GrammarElement::Kind::Bytes: {
      if (!grammar.byte_sets[element.value].contains(byte)) return;
      // An alternative that just ended resumes straight at its parent.
      bool ends = grammar.elements[pos + 1].kind == GrammarElement::Kind::End;
      out.push_back(ends ? parent : push_frame(pos + 1, parent));
      return;
    }

    case GrammarElement::Kind::Rule: {
      if (!grammar.first[pos].contains(byte) && !grammar.nullable[pos]) return;
      // A reference in tail position resumes straight at the parent, so
      // right-recursive rules (repetitions) do not grow the stack.
      int32_t resume = parent;
      if (grammar.elements[pos + 1].kind != GrammarElement::Kind::End) resume = push_frame(pos + 1, parent);
      for (int32_t start : grammar.rules[element.value]) {
        if (grammar.first[start].contains(byte) || grammar.nullable[start]) step(start, resume, byte, out, depth + 1);
      }
      return;
    }
  }
}

void GrammarMatcher::advance(const std::vector<int32_t>& from, uint8_t byte, std::vector<int32_t>& out) {
  out.clear();
  for (int32_t stack : from) {
    if (stack == kAccept) continue;
    step(frames_[stack].pos, frames_[stack].parent, byte, out, 0);
  }
  if (out.size() > 1) remove_duplicates(out);
}

// Drops stacks equal to an earlier one frame by frame. Duplicates appear when
// alternatives converge (an optional item followed by the same text), and
// without this step their number could grow with every byte.
void GrammarMatcher::remove_duplicates(std::vector<int32_t>& stacks) {
  // Fast path: equal stacks have equal top positions, and usually all tops
  // differ. seen_top_[pos + 1] == epoch_ marks a top already met in this call.
  ++epoch_;
  bool shared_top = false;
  for (int32_t stack : stacks) {
    size_t slot = stack == kAccept ? 0 : static_cast<size_t>(frames_[stack].pos) + 1;
    if (seen_top_[slot] == epoch_) {
      shared_top = true;
      break;
    }
    seen_top_[slot] = epoch_;
  }
  if (!shared_top) return;

  auto equal = [&](int32_t a, int32_t b) {
    while (a != kAccept && b != kAccept) {
      if (a == b) return true;
      if (frames_[a].pos != frames_[b].pos) return false;
      a = frames_[a].parent;
      b = frames_[b].parent;
    }
    return a == b;
  };
  size_t kept = 0;
  for (size_t i = 0; i < stacks.size(); ++i) {
    bool duplicate = false;
    for (size_t j = 0; j < kept && !duplicate; ++j) duplicate = equal(stacks[j], stacks[i]);
    if (!duplicate) stacks[kept++] = stacks[i];
  }
  stacks.resize(kept);
}

bool GrammarMatcher::accept_bytes(std::string_view bytes) {
  std::vector<int32_t> next;
  for (char c : bytes) {
    advance(stacks_, static_cast<uint8_t>(c), next);
    stacks_.swap(next);
    if (stacks_.empty()) return false;
  }
  if (frames_.size() > kCompactThreshold) compact();
  return true;
}

// A stack can end when every position from its top down to the bottom may
// match nothing.
bool GrammarMatcher::can_end() const {
  for (int32_t stack : stacks_) {
    int32_t frame = stack;
    while (frame != kAccept && grammar_->nullable[frames_[frame].pos]) frame = frames_[frame].parent;
    if (frame == kAccept) return true;
  }
  return false;
}

bool GrammarMatcher::must_end() const {
  if (!can_end()) return false;
  for (int32_t stack : stacks_) {
    // Any byte that some position reachable without consuming can take
    // means the text may go on.
    for (int32_t frame = stack; frame != kAccept; frame = frames_[frame].parent) {
      int32_t pos = frames_[frame].pos;
      if (!grammar_->first[pos].empty()) return false;
      if (!grammar_->nullable[pos]) break;
    }
  }
  return true;
}

// Copies the frames reachable from the live stacks into a new arena.
void GrammarMatcher::compact() {
  std::vector<Frame> fresh;
  std::unordered_map<int32_t, int32_t> moved;
  auto copy = [&](auto&& self, int32_t frame) -> int32_t {
    if (frame == kAccept) return kAccept;
    auto found = moved.find(frame);
    if (found != moved.end()) return found->second;
    int32_t parent = self(self, frames_[frame].parent);
    fresh.push_back({frames_[frame].pos, parent});
    int32_t index = static_cast<int32_t>(fresh.size()) - 1;
    moved[frame] = index;
    return index;
  };
  for (int32_t& stack : stacks_) stack = copy(copy, stack);
  frames_.swap(fresh);
}

void GrammarMatcher::walk_trie(const VocabularyIndex& vocabulary, int32_t node, size_t depth,
                               std::vector<uint64_t>& allowed) {
  const std::vector<VocabularyIndex::Node>& nodes = vocabulary.nodes();
  // A deeper call may reallocate scratch_, so each iteration takes its buffer
  // references afresh.
  if (scratch_.size() <= depth) scratch_.resize(depth + 1);

  for (int32_t child = nodes[node].first_child; child >= 0; child = nodes[child].next_sibling) {
    size_t mark = frames_.size();
    std::vector<int32_t>& next = scratch_[depth];
    advance(depth == 0 ? stacks_ : scratch_[depth - 1], nodes[child].byte, next);
    if (!next.empty()) {
      for (int32_t t = nodes[child].first_token; t < nodes[child].end_token; ++t) {
        int32_t id = vocabulary.token_ids()[t];
        allowed[id >> 6] |= uint64_t{1} << (id & 63);
      }
      if (nodes[child].first_child >= 0) walk_trie(vocabulary, child, depth + 1, allowed);
    }
    frames_.resize(mark);
  }
}

void GrammarMatcher::fill_token_bitmask(const VocabularyIndex& vocabulary, std::vector<uint64_t>& allowed) {
  BRASA_CHECK(allowed.size() * 64 >= static_cast<size_t>(vocabulary.vocab_size()), "bitmask too small");
  if (stacks_.empty()) return;
  walk_trie(vocabulary, 0, 0, allowed);
}

size_t GrammarMatcher::accepted_prefix_length(std::string_view bytes) {
  size_t mark = frames_.size();
  std::vector<int32_t> current = stacks_;
  std::vector<int32_t> next;
  size_t length = 0;
  while (length < bytes.size() && !current.empty()) {
    advance(current, static_cast<uint8_t>(bytes[length]), next);
    current.swap(next);
    if (!current.empty()) ++length;
  }
  frames_.resize(mark);
  return length;
}

std::optional<GrammarMatcher::StringBody> GrammarMatcher::string_body() const {
  const Grammar& grammar = *grammar_;
  if (grammar.string_body.empty() || stacks_.size() != 1 || stacks_[0] == kAccept) return std::nullopt;
  const Frame& top = frames_[stacks_[0]];
  const StringBodyMark& mark = grammar.string_body[top.pos];
  if (mark.syntax < 0) return std::nullopt;
  if (mark.quote_next) return StringBody{mark, top.parent};

  // The closing quote is the last element of the parent's alternative, so
  // after it the parent's parent resumes.
  if (top.parent == kAccept) return std::nullopt;
  const Frame& quote = frames_[top.parent];
  const GrammarElement& element = grammar.elements[quote.pos];
  uint8_t quote_byte = grammar.string_syntaxes[mark.syntax].quote;
  bool is_closing_quote = element.kind == GrammarElement::Kind::Bytes &&
                          grammar.byte_sets[element.value] == ByteSet{}.add(quote_byte) &&
                          grammar.elements[quote.pos + 1].kind == GrammarElement::Kind::End;
  if (!is_closing_quote) return std::nullopt;
  return StringBody{mark, quote.parent};
}

bool GrammarMatcher::accepts_after(int32_t continuation, std::string_view bytes) {
  if (bytes.empty()) return true;
  size_t mark = frames_.size();
  std::vector<int32_t> current = {continuation};
  std::vector<int32_t> next;
  for (char c : bytes) {
    advance(current, static_cast<uint8_t>(c), next);
    current.swap(next);
    if (current.empty()) break;
  }
  frames_.resize(mark);
  return !current.empty();
}

std::string GrammarMatcher::stack_key(int32_t continuation) const {
  std::string key;
  for (int32_t frame = continuation; frame != kAccept; frame = frames_[frame].parent) {
    int32_t pos = frames_[frame].pos;
    key.append(reinterpret_cast<const char*>(&pos), sizeof(pos));
  }
  return key;
}

std::string GrammarMatcher::state_key() const {
  std::string key;
  for (int32_t stack : stacks_) {
    for (int32_t frame = stack; frame != kAccept; frame = frames_[frame].parent) {
      int32_t pos = frames_[frame].pos;
      key.append(reinterpret_cast<const char*>(&pos), sizeof(pos));
    }
    key += '|';
  }
  return key;
}

}  // namespace brasa
