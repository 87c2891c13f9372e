#include "structured/vocabulary.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace brasa {

VocabularyIndex::VocabularyIndex(const std::vector<std::string>& token_bytes, const std::vector<bool>& is_special,
                                 std::vector<int32_t> eos_ids)
    : vocab_size_(static_cast<int32_t>(token_bytes.size())), eos_ids_(std::move(eos_ids)) {
  BRASA_CHECK(is_special.empty() || is_special.size() == token_bytes.size(),
              "is_special must have one entry per token");

  token_bytes_.resize(token_bytes.size());
  std::vector<int32_t> order;
  for (int32_t id = 0; id < vocab_size_; ++id) {
    bool special = !is_special.empty() && is_special[id];
    if (special && !token_bytes[id].empty()) special_ids_.emplace(token_bytes[id], id);
    if (special || token_bytes[id].empty()) continue;
    token_bytes_[id] = token_bytes[id];
    order.push_back(id);
  }
  std::sort(order.begin(), order.end(),
            [&](int32_t a, int32_t b) { return token_bytes_[a] < token_bytes_[b] || (token_bytes_[a] == token_bytes_[b] && a < b); });

  // Insert in sorted order: each token shares its longest prefix with the
  // previous one, and new children always sort after their siblings.
  nodes_.push_back(Node{});
  std::vector<int32_t> last_child(1, -1);
  std::vector<int32_t> path = {0};  // path[d]: node of the previous token's first d bytes
  std::string previous;
  for (int32_t id : order) {
    const std::string& bytes = token_bytes_[id];
    size_t common = 0;
    while (common < bytes.size() && common < previous.size() && bytes[common] == previous[common]) ++common;
    path.resize(common + 1);

    for (size_t d = common; d < bytes.size(); ++d) {
      int32_t parent = path.back();
      int32_t node = static_cast<int32_t>(nodes_.size());
      nodes_.push_back(Node{static_cast<uint8_t>(bytes[d]), -1, -1, 0, 0});
      last_child.push_back(-1);
      if (last_child[parent] < 0) {
        nodes_[parent].first_child = node;
      } else {
        nodes_[last_child[parent]].next_sibling = node;
      }
      last_child[parent] = node;
      path.push_back(node);
    }

    Node& end = nodes_[path.back()];
    if (end.end_token == end.first_token) end.first_token = end.end_token = static_cast<int32_t>(token_ids_.size());
    token_ids_.push_back(id);
    end.end_token = static_cast<int32_t>(token_ids_.size());
    previous = bytes;
  }
}

bool VocabularyIndex::is_eos(int32_t id) const {
  return std::find(eos_ids_.begin(), eos_ids_.end(), id) != eos_ids_.end();
}

int32_t VocabularyIndex::special_token_id(const std::string& name) const {
  auto found = special_ids_.find(name);
  return found == special_ids_.end() ? -1 : found->second;
}

const std::vector<int32_t>& VocabularyIndex::tokens_containing(uint8_t byte) const {
  std::lock_guard<std::mutex> lock(derived_mutex_);
  auto found = containing_.find(byte);
  if (found != containing_.end()) return found->second;

  // std::map never moves its values, so the reference stays valid after the lock.
  std::vector<int32_t>& ids = containing_[byte];
  for (int32_t id = 0; id < vocab_size_; ++id) {
    if (token_bytes_[id].find(static_cast<char>(byte)) != std::string::npos) ids.push_back(id);
  }
  return ids;
}

std::shared_ptr<const void> VocabularyIndex::derived(const std::string& key,
                                                     const std::function<std::shared_ptr<const void>()>& compute) const {
  std::lock_guard<std::mutex> lock(derived_mutex_);
  std::shared_ptr<const void>& slot = derived_[key];
  if (slot == nullptr) slot = compute();
  return slot;
}

std::shared_ptr<const VocabularyIndex> VocabularyIndex::from_tokenizer(const Tokenizer& tokenizer) {
  int32_t n = tokenizer.vocab_size();
  std::vector<std::string> bytes(n);
  std::vector<bool> special(n);
  for (int32_t id = 0; id < n; ++id) {
    special[id] = tokenizer.is_special(id);
    bytes[id] = tokenizer.token_bytes(id);  // a special token's name, for special_token_id
  }
  return std::make_shared<const VocabularyIndex>(bytes, special, tokenizer.eos_ids());
}

}  // namespace brasa
