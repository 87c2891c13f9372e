#include "structured/grammar_matcher.h"

#include <algorithm>
#include <unordered_map>

#include "core/error.h"

namespace brasa {
namespace {

// Expansion follows rule references that consume nothing. The builder writes
// no left recursion, so this only guards against a grammar bug.
constexpr int kMaxExpansionDepth = 4096;

// Past this many frames, accept_bytes copies the live stacks into a fresh arena.
constexpr size_t kCompactThreshold = 1 << 16;

}  // namespace

GrammarMatcher::GrammarMatcher(std::shared_ptr<const Grammar> grammar) : grammar_(std::move(grammar)) {
  for (int32_t start : grammar_->rules[grammar_->root]) expand(start, kAccept, stacks_, 0);
  remove_duplicates(stacks_);
}

int32_t GrammarMatcher::push_frame(int32_t pos, int32_t parent) {
  frames_.push_back({pos, parent});
  return static_cast<int32_t>(frames_.size()) - 1;
}

// Pushes onto `out` every stack that results from resuming at element `pos`
// with `parent` below it, following rule references and alternative ends
// until each stack's top is a byte set (or the stack is empty).
void GrammarMatcher::expand(int32_t pos, int32_t parent, std::vector<int32_t>& out, int depth) {
  BRASA_CHECK(depth < kMaxExpansionDepth, "grammar expansion too deep (left recursion?)");
  const GrammarElement& element = grammar_->elements[pos];
  switch (element.kind) {
    case GrammarElement::Kind::End:
      if (parent == kAccept) {
        out.push_back(kAccept);
      } else {
        expand(frames_[parent].pos, frames_[parent].parent, out, depth + 1);
      }
      return;
    case GrammarElement::Kind::Bytes:
      out.push_back(push_frame(pos, parent));
      return;
    case GrammarElement::Kind::Rule: {
      // A reference in tail position resumes straight at the parent, so
      // right-recursive rules (repetitions) do not grow the stack.
      int32_t resume = parent;
      if (grammar_->elements[pos + 1].kind != GrammarElement::Kind::End) resume = push_frame(pos + 1, parent);
      for (int32_t start : grammar_->rules[element.value]) expand(start, resume, out, depth + 1);
      return;
    }
  }
}

void GrammarMatcher::advance(const std::vector<int32_t>& from, uint8_t byte, std::vector<int32_t>& out) {
  out.clear();
  for (int32_t stack : from) {
    if (stack == kAccept) continue;
    Frame top = frames_[stack];
    const GrammarElement& element = grammar_->elements[top.pos];
    if (!grammar_->byte_sets[element.value].contains(byte)) continue;
    expand(top.pos + 1, top.parent, out, 0);
  }
  if (out.size() > 1) remove_duplicates(out);
}

// Drops stacks equal to an earlier one frame by frame. Duplicates appear when
// alternatives converge (an optional item followed by the same text), and
// without this step their number could grow with every byte.
void GrammarMatcher::remove_duplicates(std::vector<int32_t>& stacks) const {
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

bool GrammarMatcher::can_end() const {
  return std::find(stacks_.begin(), stacks_.end(), kAccept) != stacks_.end();
}

bool GrammarMatcher::must_end() const { return stacks_.size() == 1 && stacks_[0] == kAccept; }

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
