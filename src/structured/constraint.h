#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace brasa {

// A per-sequence constraint on which tokens may come next (a compiled JSON
// schema, a forced tool call). The engine asks for the allowed set before
// sampling and reports each sampled token.
class TokenConstraint {
 public:
  virtual ~TokenConstraint() = default;

  // Sets allowed[id] = 0 for every token that cannot continue a valid output.
  // `allowed` has vocab_size entries, all 1 on entry.
  virtual void mask(std::vector<uint8_t>& allowed) = 0;

  // Advances the constraint over the sampled token.
  virtual void accept(int32_t token) = 0;

  // True when the output is complete and only end-of-sequence may follow.
  virtual bool is_complete() const = 0;

  // A fresh constraint in the start state, for the other choices of an n > 1 request.
  virtual std::unique_ptr<TokenConstraint> clone_initial() const = 0;
};

}  // namespace brasa
