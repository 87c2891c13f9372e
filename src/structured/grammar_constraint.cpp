#include "structured/grammar_constraint.h"

#include <algorithm>

#include "structured/grammar_matcher.h"

namespace brasa {

CompiledGrammar::CompiledGrammar(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const VocabularyIndex> vocabulary)
    : grammar_(std::move(grammar)), vocabulary_(std::move(vocabulary)) {}

std::shared_ptr<const std::vector<uint64_t>> CompiledGrammar::find_mask(const std::string& state_key) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = masks_.find(state_key);
  return found == masks_.end() ? nullptr : found->second;
}

void CompiledGrammar::store_mask(const std::string& state_key, std::shared_ptr<const std::vector<uint64_t>> mask) {
  std::lock_guard<std::mutex> lock(mutex_);
  // Dropping the whole cache when full is crude but bounded; hot states come back within a step.
  if (masks_.size() >= kMaxCachedMasks) masks_.clear();
  masks_[state_key] = std::move(mask);
}

std::shared_ptr<const std::vector<StringCloser>> CompiledGrammar::find_closers(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = closers_.find(key);
  return found == closers_.end() ? nullptr : found->second;
}

void CompiledGrammar::store_closers(const std::string& key, std::shared_ptr<const std::vector<StringCloser>> closers) {
  std::lock_guard<std::mutex> lock(mutex_);
  // One entry per string in a distinct grammar context, so a bound only guards
  // against recursive schemas that nest strings without limit.
  if (closers_.size() >= kMaxCachedMasks) closers_.clear();
  closers_[key] = std::move(closers);
}

GrammarConstraint::GrammarConstraint(std::shared_ptr<CompiledGrammar> compiled)
    : compiled_(std::move(compiled)), matcher_(std::make_unique<GrammarMatcher>(compiled_->grammar())) {}

GrammarConstraint::~GrammarConstraint() = default;

void GrammarConstraint::mask(std::vector<uint8_t>& allowed) {
  const VocabularyIndex& vocabulary = compiled_->vocabulary();
  bool only_end = ended_ || matcher_->is_dead() || matcher_->must_end();
  bool end_allowed = only_end || matcher_->can_end();

  // End-of-sequence tokens are special, so the text mask below clears them;
  // keep what the caller had for them (the contract only ever clears entries).
  std::vector<uint8_t> eos_entries;
  for (int32_t id : vocabulary.eos_ids()) {
    eos_entries.push_back(id >= 0 && static_cast<size_t>(id) < allowed.size() ? allowed[id] : 0);
  }

  if (only_end) {
    std::fill(allowed.begin(), allowed.end(), 0);
  } else {
    // String bodies take the fast path uncached: the mask is cheap to derive
    // there, and bounded strings would flood the cache with one-off states.
    std::shared_ptr<const std::vector<uint64_t>> bits;
    auto string_bits = std::make_shared<std::vector<uint64_t>>((vocabulary.vocab_size() + 63) / 64, 0);
    if (fill_string_body_mask(*matcher_, *compiled_, *string_bits)) {
      bits = string_bits;
    } else {
      std::string key = matcher_->state_key();
      bits = compiled_->find_mask(key);
      if (bits == nullptr) {
        matcher_->fill_token_bitmask(vocabulary, *string_bits);
        bits = string_bits;
        compiled_->store_mask(key, string_bits);
      }
    }
    size_t n = std::min<size_t>(allowed.size(), static_cast<size_t>(vocabulary.vocab_size()));
    for (size_t word = 0; word * 64 < n; ++word) {
      uint64_t value = (*bits)[word];
      if (value == ~uint64_t{0}) continue;
      size_t end = std::min(n, word * 64 + 64);
      for (size_t id = word * 64; id < end; ++id) {
        if (!((value >> (id & 63)) & 1)) allowed[id] = 0;
      }
    }
    // Ids past the tokenizer's vocabulary (padding rows of the output layer) are never text.
    for (size_t id = n; id < allowed.size(); ++id) allowed[id] = 0;
  }

  const std::vector<int32_t>& eos_ids = vocabulary.eos_ids();
  for (size_t i = 0; i < eos_ids.size(); ++i) {
    int32_t id = eos_ids[i];
    if (id >= 0 && static_cast<size_t>(id) < allowed.size()) allowed[id] = end_allowed ? eos_entries[i] : 0;
  }
}

void GrammarConstraint::accept(int32_t token) {
  if (ended_) return;
  const VocabularyIndex& vocabulary = compiled_->vocabulary();
  if (vocabulary.is_eos(token)) {
    ended_ = true;
    return;
  }
  bool in_range = token >= 0 && token < vocabulary.vocab_size();
  if (!in_range || vocabulary.token_bytes(token).empty() || !matcher_->accept_bytes(vocabulary.token_bytes(token))) {
    ended_ = true;
  }
}

void GrammarConstraint::accept_text(std::string_view text) {
  if (!ended_ && !matcher_->accept_bytes(text)) ended_ = true;
}

bool GrammarConstraint::is_complete() const { return ended_ || matcher_->is_dead() || matcher_->must_end(); }

std::unique_ptr<TokenConstraint> GrammarConstraint::clone_initial() const {
  return std::make_unique<GrammarConstraint>(compiled_);
}

}  // namespace brasa
