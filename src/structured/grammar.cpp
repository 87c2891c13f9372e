#include "structured/grammar.h"

#include <algorithm>

#include "core/error.h"

namespace brasa {

namespace {

// Fills Grammar::first and Grammar::nullable by iterating to a fixed point.
// Rules mostly refer to rules built before them, so visiting rules in id
// order settles most of them in the first pass.
void compute_first_sets(Grammar& grammar) {
  size_t n_elements = grammar.elements.size();
  grammar.first.assign(n_elements, ByteSet{});
  grammar.nullable.assign(n_elements, 0);
  std::vector<ByteSet> rule_first(grammar.rules.size());
  std::vector<uint8_t> rule_nullable(grammar.rules.size(), 0);

  bool changed = true;
  while (changed) {
    changed = false;
    for (size_t r = 0; r < grammar.rules.size(); ++r) {
      ByteSet first_of_rule;
      bool rule_can_be_empty = false;
      for (int32_t start : grammar.rules[r]) {
        int32_t end = start;
        while (grammar.elements[end].kind != GrammarElement::Kind::End) ++end;

        // Walk the alternative backwards: each position's set depends on the next one.
        grammar.nullable[end] = 1;
        for (int32_t p = end - 1; p >= start; --p) {
          const GrammarElement& element = grammar.elements[p];
          ByteSet first;
          bool nullable = false;
          if (element.kind == GrammarElement::Kind::Bytes) {
            first = grammar.byte_sets[element.value];
          } else {
            first = rule_first[element.value];
            if (rule_nullable[element.value]) {
              first |= grammar.first[p + 1];
              nullable = grammar.nullable[p + 1];
            }
          }
          grammar.first[p] = first;
          grammar.nullable[p] = nullable;
        }
        first_of_rule |= grammar.first[start];
        rule_can_be_empty = rule_can_be_empty || grammar.nullable[start];
      }
      if (!(first_of_rule == rule_first[r]) || rule_can_be_empty != static_cast<bool>(rule_nullable[r])) {
        rule_first[r] = first_of_rule;
        rule_nullable[r] = rule_can_be_empty;
        changed = true;
      }
    }
  }
}

}  // namespace

Symbols operator+(Symbols left, const Symbols& right) {
  left.insert(left.end(), right.begin(), right.end());
  return left;
}

int32_t GrammarBuilder::declare() {
  rules_.emplace_back();
  defined_.push_back(false);
  return static_cast<int32_t>(rules_.size()) - 1;
}

void GrammarBuilder::define(int32_t rule, const std::vector<Symbols>& alternatives) {
  BRASA_CHECK(rule >= 0 && rule < static_cast<int32_t>(rules_.size()) && !defined_[rule], "rule defined twice");
  rules_[rule] = alternatives;
  defined_[rule] = true;
}

int32_t GrammarBuilder::add_rule(const std::vector<Symbols>& alternatives) {
  int32_t rule = declare();
  define(rule, alternatives);
  return rule;
}

int32_t GrammarBuilder::byte_set_id(const ByteSet& set) {
  for (size_t i = 0; i < byte_sets_.size(); ++i) {
    if (byte_sets_[i] == set) return static_cast<int32_t>(i);
  }
  byte_sets_.push_back(set);
  return static_cast<int32_t>(byte_sets_.size()) - 1;
}

Symbols GrammarBuilder::literal(std::string_view text) {
  Symbols out;
  for (char c : text) out.push_back({GrammarElement::Kind::Bytes, byte_set_id(ByteSet{}.add(static_cast<uint8_t>(c)))});
  return out;
}

Symbols GrammarBuilder::bytes(const ByteSet& set) { return {{GrammarElement::Kind::Bytes, byte_set_id(set)}}; }

Symbols GrammarBuilder::ref(int32_t rule) { return {{GrammarElement::Kind::Rule, rule}}; }

int32_t GrammarBuilder::repeat(const Symbols& item, int64_t min_count, int64_t max_count) {
  // The optional tail: unbounded is `tail := item tail | ε`; bounded is a chain
  // `tail_k := item tail_{k-1} | ε` of max - min links.
  int32_t tail = add_rule({{}});
  if (max_count < 0) {
    tail = declare();
    define(tail, {item + ref(tail), {}});
  } else {
    for (int64_t k = 0; k < max_count - min_count; ++k) tail = add_rule({item + ref(tail), {}});
  }

  Symbols body;
  for (int64_t k = 0; k < min_count; ++k) body = body + item;
  return add_rule({body + ref(tail)});
}

int32_t GrammarBuilder::separated(const Symbols& item, const Symbols& separator, int64_t min_count,
                                  int64_t max_count) {
  if (max_count == 0) return add_rule({{}});

  int64_t rest_max = max_count < 0 ? -1 : max_count - 1;
  int64_t rest_min = min_count > 0 ? min_count - 1 : 0;
  int32_t rest = repeat(separator + item, rest_min, rest_max);
  std::vector<Symbols> alternatives = {item + ref(rest)};
  if (min_count == 0) alternatives.push_back({});
  return add_rule(alternatives);
}

void GrammarBuilder::mark_string_body(int32_t rule, int32_t alternative, int32_t element, const StringSyntax& syntax,
                                      StringBodyMark mark) {
  auto found = std::find(string_syntaxes_.begin(), string_syntaxes_.end(), syntax);
  if (found == string_syntaxes_.end()) found = string_syntaxes_.insert(string_syntaxes_.end(), syntax);
  mark.syntax = static_cast<int32_t>(found - string_syntaxes_.begin());
  marks_.push_back({rule, alternative, element, mark});
}

Grammar GrammarBuilder::finish(int32_t root) {
  Grammar grammar;
  grammar.byte_sets = byte_sets_;
  grammar.root = root;
  for (size_t r = 0; r < rules_.size(); ++r) {
    BRASA_CHECK(defined_[r], "grammar rule declared but never defined");
    std::vector<int32_t> starts;
    for (const Symbols& alternative : rules_[r]) {
      starts.push_back(static_cast<int32_t>(grammar.elements.size()));
      grammar.elements.insert(grammar.elements.end(), alternative.begin(), alternative.end());
      grammar.elements.push_back({GrammarElement::Kind::End, 0});
    }
    grammar.rules.push_back(std::move(starts));
  }
  compute_first_sets(grammar);

  if (!marks_.empty()) {
    grammar.string_syntaxes = string_syntaxes_;
    grammar.string_body.assign(grammar.elements.size(), StringBodyMark{});
    for (const PendingMark& pending : marks_) {
      int32_t position = grammar.rules[pending.rule][pending.alternative] + pending.element;
      grammar.string_body[position] = pending.mark;
    }
  }
  return grammar;
}

}  // namespace brasa
