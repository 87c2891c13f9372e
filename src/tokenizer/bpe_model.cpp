#include "tokenizer/bpe_model.h"

#include <algorithm>

#include "tokenizer/utf8.h"

namespace brasa {

namespace {

uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

}  // namespace

void BpeModel::set_vocab(std::vector<std::string> texts) {
  texts_ = std::move(texts);
  byte_fallback_.fill(-1);
  ids_.clear();
  ids_.reserve(texts_.size());
  for (size_t id = 0; id < texts_.size(); ++id) {
    if (!texts_[id].empty()) ids_.emplace(texts_[id], static_cast<int32_t>(id));
  }
}

int32_t BpeModel::find(std::string_view text) const {
  const auto it = ids_.find(text);
  return it == ids_.end() ? -1 : it->second;
}

bool BpeModel::add_merge(int32_t left, int32_t right, int32_t rank) {
  thread_local std::string concatenation;
  concatenation.assign(texts_[left]).append(texts_[right]);
  const int32_t merged = find(concatenation);
  if (merged < 0) return false;
  // The first listing of a pair wins, as in Hugging Face tokenizers.
  merges_.emplace(pair_key(left, right), std::make_pair(rank, merged));
  return true;
}

bool BpeModel::find_merge(std::string_view piece, const Symbol& left, const Symbol& right, int32_t& rank,
                          int32_t& merged_id) const {
  if (rule_ == MergeRule::kPairRanks) {
    if (left.id < 0 || right.id < 0) return false;
    const auto it = merges_.find(pair_key(left.id, right.id));
    if (it == merges_.end()) return false;
    rank = it->second.first;
    merged_id = it->second.second;
    return true;
  }

  // Symbols are contiguous in the piece, so the concatenation is a substring.
  merged_id = find(piece.substr(left.begin, left.length + right.length));
  if (merged_id < 0 || static_cast<size_t>(merged_id) >= token_ranks_.size()) return false;
  rank = token_ranks_[merged_id];
  return rank >= 0;
}

void BpeModel::encode(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.empty()) return;

  if (ignore_merges_) {
    const int32_t whole = find(piece);
    if (whole >= 0) {
      out.push_back(whole);
      return;
    }
  }

  if (piece.size() > kMaxCachedPieceBytes) {
    encode_uncached(piece, out);
    return;
  }

  std::string key(piece);
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    const auto it = cache_.find(key);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }

  std::vector<int32_t> ids;
  encode_uncached(piece, ids);
  out.insert(out.end(), ids.begin(), ids.end());

  std::lock_guard<std::mutex> lock(cache_mutex_);
  if (cache_.size() >= kMaxCacheEntries) cache_.clear();
  cache_.emplace(std::move(key), std::move(ids));
}

void BpeModel::encode_uncached(std::string_view piece, std::vector<int32_t>& out) const {
  thread_local std::vector<Symbol> symbols;
  symbols.clear();

  // 1. Initial symbols: single bytes, or whole UTF-8 characters for SentencePiece.
  for (size_t pos = 0; pos < piece.size();) {
    size_t length = 1;
    if (initial_ == InitialSymbols::kCharacters) {
      length = std::min(piece.size() - pos, utf8_sequence_length(static_cast<uint8_t>(piece[pos])));
    }
    Symbol symbol;
    symbol.begin = static_cast<uint32_t>(pos);
    symbol.length = static_cast<uint32_t>(length);
    symbol.id = find(piece.substr(pos, length));
    symbol.prev = static_cast<int32_t>(symbols.size()) - 1;
    symbol.next = pos + length < piece.size() ? static_cast<int32_t>(symbols.size()) + 1 : -1;
    symbols.push_back(symbol);
    pos += length;
  }

  // 2. A queue of adjacent pairs, strongest (lowest rank) first, leftmost among
  // equals. Entries go stale when a neighbour merges, and are then recognised
  // by the lengths they recorded and skipped.
  const auto weaker = [](const Candidate& a, const Candidate& b) {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  };
  thread_local std::vector<Candidate> heap;
  heap.clear();

  const auto push_pair = [&](int32_t left) {
    if (left < 0 || symbols[left].next < 0) return;
    const Symbol& a = symbols[left];
    const Symbol& b = symbols[a.next];
    int32_t rank = 0;
    int32_t merged = -1;
    if (find_merge(piece, a, b, rank, merged)) {
      heap.push_back({rank, left, a.length, b.length, merged});
      std::push_heap(heap.begin(), heap.end(), weaker);
    }
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) push_pair(i);

  // 3. Merge until no adjacent pair is mergeable.
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), weaker);
    const Candidate top = heap.back();
    heap.pop_back();
    Symbol& left = symbols[top.left];
    if (left.length != top.left_length || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    if (right.length != top.right_length || right.length == 0) continue;

    left.length += right.length;
    left.id = top.merged_id;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.left;
    right.length = 0;

    push_pair(left.prev);
    push_pair(top.left);
  }

  // 4. Emit the final symbols in order.
  for (int32_t i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[i].next) emit_symbol(piece, symbols[i], out);
}

void BpeModel::emit_symbol(std::string_view piece, const Symbol& symbol, std::vector<int32_t>& out) const {
  if (symbol.id >= 0) {
    out.push_back(symbol.id);
    return;
  }
  // Only initial symbols can be unknown, because every merge produces a token.
  for (uint32_t i = 0; i < symbol.length; ++i) {
    const int32_t byte_id = byte_fallback_[static_cast<uint8_t>(piece[symbol.begin + i])];
    if (byte_id >= 0) {
      out.push_back(byte_id);
    } else if (unknown_id_ >= 0) {
      // One unknown token for the whole symbol, as SentencePiece does.
      out.push_back(unknown_id_);
      return;
    }
  }
}

}  // namespace brasa
