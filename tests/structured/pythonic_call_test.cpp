// Pythonic tool calls under tool_choice "auto": the grammar on its own, and the
// lazy constraint driven by random choices over the real Llama 4 and Llama 3
// vocabularies. Every finished output must parse with parse_tool_calls into
// calls whose arguments validate against the tool's schema.

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "structured/grammar_matcher.h"
#include "structured/json_schema_grammar.h"
#include "structured/request_constraints.h"
#include "structured/schema_check.h"
#include "structured/tool_call_parser.h"
#include "tokenizer/tokenizer.h"

namespace brasa {
namespace {

using nlohmann::json;

const json& weather_tools() {
  static const json tools = json::parse(R"([
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {
      "location": {"type": "string", "minLength": 1, "maxLength": 12},
      "unit": {"enum": ["celsius", "fahrenheit"]},
      "days": {"type": "integer", "minimum": 1, "maximum": 14}},
      "required": ["location"], "additionalProperties": false}}},
    {"type": "function", "function": {"name": "search", "parameters": {"type": "object", "properties": {
      "query": {"type": "string", "maxLength": 40},
      "filters": {"type": "object", "properties": {"lang": {"type": "string", "maxLength": 5}, "safe": {"type": "boolean"}},
                  "additionalProperties": false},
      "tags": {"type": "array", "items": {"type": "string", "maxLength": 8}, "maxItems": 3},
      "limit": {"type": "number", "minimum": 0, "maximum": 100},
      "cursor": {"type": ["string", "null"], "maxLength": 6}},
      "required": ["query"], "additionalProperties": false}}},
    {"type": "function", "function": {"name": "note", "parameters": {"type": "object", "properties": {
      "text": {"type": "string", "maxLength": 20}}, "required": ["text"], "additionalProperties": {"type": "integer"}}}}
  ])");
  return tools;
}

std::vector<ForcedTool> forced_tools(const json& tools) {
  std::vector<ForcedTool> out;
  for (const json& tool : tools) out.push_back({tool["function"]["name"], tool["function"]["parameters"], "tools"});
  return out;
}

// The schema of the tool named `name`, or null.
json parameters_of(const json& tools, const std::string& name) {
  for (const json& tool : tools) {
    if (tool["function"]["name"] == name) return tool["function"]["parameters"];
  }
  return nullptr;
}

// "" when `output` parses into at least one call of `tools` whose arguments
// validate, else what is wrong.
std::string check_calls(const std::string& output, const json& tools, const std::string& expected_content) {
  ParsedToolOutput parsed = parse_tool_calls(output);
  if (parsed.tool_calls.empty()) return "no call parsed";
  if (parsed.content != expected_content) return "content \"" + parsed.content + "\"";
  for (const ToolCall& call : parsed.tool_calls) {
    json schema = parameters_of(tools, call.name);
    if (schema.is_null()) return "unknown tool " + call.name;
    json arguments = json::parse(call.arguments, nullptr, false);
    if (arguments.is_discarded()) return "arguments are not JSON: " + call.arguments;
    std::string problem = testing::schema_violation(arguments, schema);
    if (!problem.empty()) return call.name + " " + problem;
  }
  return "";
}

bool matches(const Grammar& grammar, const std::string& text) {
  GrammarMatcher matcher(std::make_shared<const Grammar>(grammar));
  return matcher.accept_bytes(text) && matcher.can_end();
}

// Keywords come in the order of the schema's properties, which nlohmann::json
// sorts by name.
TEST(PythonicGrammar, AcceptsValidCalls) {
  Grammar grammar = compile_pythonic_tool_calls(forced_tools(weather_tools()), true);
  const char* valid[] = {
      R"([get_weather(location="Lisbon")])",
      R"([get_weather(days=3, location='Lisbon', unit="celsius")])",
      R"([get_weather(location='it\'s \u00e9', unit='fahrenheit')])",
      R"([search(cursor=None, filters={"lang": 'pt', "safe": True}, limit=12.5, query="x", tags=["a", 'b'])])",
      R"([search(query=""), note(text="hi", count=3, level=-2)])",
      "[note(text=\"caf\xC3\xA9\")]",
  };
  for (const char* text : valid) {
    EXPECT_TRUE(matches(grammar, text)) << text;
    EXPECT_EQ(check_calls(text, weather_tools(), ""), "") << text;
  }
}

TEST(PythonicGrammar, RejectsInvalidCalls) {
  Grammar grammar = compile_pythonic_tool_calls(forced_tools(weather_tools()), true);
  const char* invalid[] = {
      R"([get_weather(location="Lisbon, Portugal")])",   // longer than maxLength 12
      R"([get_weather(location="")])",                   // shorter than minLength 1
      R"([get_weather(unit="celsius")])",                // location is required
      R"([get_weather(location="L", unit="kelvin")])",  // not in the enum
      R"([get_weather(location="L", days=15)])",        // above the maximum
      R"([get_weather(location="L", extra=1)])",        // additionalProperties is false
      R"([note(text="a", text=1)])",                    // an extra keyword may not repeat a property
      R"([note(text="a", n="x")])",                     // extra keywords take integers
      R"([search(query="x", filters={"safe": true})])",  // JSON's true is not a Python literal
      R"([search(query="a\/b")])",                      // not an escape in Python
      R"([lookup(q=1)])",                               // not a listed tool
      R"(get_weather(location="L"))",                   // the list brackets are required
      R"([get_weather(location="L")] )",
      R"( [get_weather(location="L")])",               // leading whitespace is the lazy constraint's part
  };
  for (const char* text : invalid) EXPECT_FALSE(matches(grammar, text)) << text;

  Grammar single = compile_pythonic_tool_calls(forced_tools(weather_tools()), false);
  EXPECT_TRUE(matches(single, R"([search(query="x")])"));
  EXPECT_FALSE(matches(single, R"([search(query="x"), search(query="y")])"));
}

TEST(PythonicGrammar, RejectsUnwritableSchemas) {
  json tools = json::parse(R"([{"type": "function", "function": {"name": "f", "parameters": {"type": "object",
      "properties": {"first name": {"type": "string"}}, "required": ["first name"]}}}])");
  EXPECT_THROW(compile_pythonic_tool_calls(forced_tools(tools), true), SchemaError);
  tools[0]["function"]["parameters"] = json::parse(R"({"anyOf": [{"type": "object"}, {"type": "null"}]})");
  EXPECT_THROW(compile_pythonic_tool_calls(forced_tools(tools), true), SchemaError);

  // An optional property that is no identifier is never written.
  tools[0]["function"]["parameters"] = json::parse(R"({"type": "object", "properties": {"first name": {"type": "string"},
      "age": {"type": "integer"}}})");
  Grammar grammar = compile_pythonic_tool_calls(forced_tools(tools), true);
  EXPECT_TRUE(matches(grammar, "[f(age=3)]"));
}

// A tokenizer and its vocabulary index, loaded once per test binary.
struct LoadedVocabulary {
  std::unique_ptr<Tokenizer> tokenizer;
  std::shared_ptr<const VocabularyIndex> index;
  std::vector<uint8_t> closing;  // per token: 1 when it is special or contains a closing delimiter

  void find_closing_tokens() {
    closing.assign(index->vocab_size(), 0);
    for (int32_t id = 0; id < index->vocab_size(); ++id) {
      const std::string& bytes = index->token_bytes(id);
      closing[id] = bytes.empty() || bytes.find_first_of("\"')]},") != std::string::npos;
    }
  }
};

const LoadedVocabulary& llama4() {
  static LoadedVocabulary loaded = [] {
    LoadedVocabulary out{load_tokenizer(std::string(BRASA_SHARED_DIR) + "/testdata/llama-models/llama4"), nullptr, {}};
    out.index = VocabularyIndex::from_tokenizer(*out.tokenizer);
    out.find_closing_tokens();
    return out;
  }();
  return loaded;
}

const LoadedVocabulary& llama3() {
  static LoadedVocabulary loaded = [] {
    LoadedVocabulary out{load_tokenizer(std::string(BRASA_SHARED_DIR) + "/testdata/tokenizers/llama3"), nullptr, {}};
    out.index = VocabularyIndex::from_tokenizer(*out.tokenizer);
    out.find_closing_tokens();
    return out;
  }();
  return loaded;
}

std::unique_ptr<TokenConstraint> auto_constraint(const LoadedVocabulary& vocabulary) {
  StructuredOutputRequest request;
  request.tools = weather_tools();
  request.tool_choice = "auto";
  StructuredOutputPlan plan = plan_structured_output(request, vocabulary.index);
  EXPECT_FALSE(plan.error.has_value());
  return std::move(plan.constraint);
}

// The id of `text` when the tokenizer encodes it as one token, else -1.
int32_t single_token(const LoadedVocabulary& vocabulary, const std::string& text) {
  std::vector<int32_t> ids = vocabulary.tokenizer->encode(text, false, false);
  return ids.size() == 1 ? ids[0] : -1;
}

bool allows(TokenConstraint& constraint, const VocabularyIndex& vocabulary, int32_t token) {
  std::vector<uint8_t> allowed(vocabulary.vocab_size(), 1);
  constraint.mask(allowed);
  return allowed[token] == 1;
}

// Drives a constraint like a model with random logits. Forced tokens are
// checked against the mask and accepted. After them, each step draws among the
// allowed tokens, half of the time among those with a closing delimiter, so
// strings and lists end within the budget.
struct Driver {
  const LoadedVocabulary& vocabulary;
  TokenConstraint& constraint;
  std::mt19937& rng;
  std::string text;  // the bytes of the non-special tokens, as the server returns them
  std::vector<int32_t> tokens;

  ::testing::AssertionResult force(int32_t token) {
    if (!allows(constraint, *vocabulary.index, token)) {
      return ::testing::AssertionFailure() << "token " << token << " not allowed after \"" << text << "\"";
    }
    take(token);
    return ::testing::AssertionSuccess();
  }

  ::testing::AssertionResult force_text(const std::string& piece) {
    for (int32_t token : vocabulary.tokenizer->encode(piece, false, false)) {
      ::testing::AssertionResult result = force(token);
      if (!result) return result;
    }
    return ::testing::AssertionSuccess();
  }

  void take(int32_t token) {
    tokens.push_back(token);
    if (!vocabulary.tokenizer->is_special(token)) text += vocabulary.index->token_bytes(token);
    constraint.accept(token);
  }

  // Samples until the constraint completes or end-of-sequence is drawn, which
  // the mask allows only where the output may end (such as after a JSON call,
  // where a ';' could still add another). Returns false when neither happens
  // within `max_tokens` or the mask allows nothing.
  bool run(int max_tokens) {
    const VocabularyIndex& index = *vocabulary.index;
    std::vector<uint8_t> allowed;
    for (int step = 0; step < max_tokens; ++step) {
      if (constraint.is_complete()) return true;
      allowed.assign(index.vocab_size(), 1);
      constraint.mask(allowed);
      std::vector<int32_t> any;
      std::vector<int32_t> closing;
      for (int32_t id = 0; id < index.vocab_size(); ++id) {
        if (!allowed[id]) continue;
        any.push_back(id);
        if (vocabulary.closing[id]) closing.push_back(id);
      }
      if (any.empty()) return false;
      const std::vector<int32_t>& pool = (!closing.empty() && rng() % 2 == 0) ? closing : any;
      int32_t token = pool[rng() % pool.size()];
      if (index.is_eos(token)) return true;
      take(token);
    }
    return constraint.is_complete();
  }
};

// The ways a model can start a call under tool_choice "auto".
enum class CallStart {
  BareAtStart,         // "[name(" after optional whitespace
  WrappedAtStart,      // <|python_start|>
  WrappedAfterText,    // plain text, then <|python_start|>
  BareAfterText,       // plain text, then "[name("
  JsonAfterText,       // plain text, then {"name":"name"
};

// Runs many seeds, each starting a call in one of the ways of CallStart and
// then drawing random tokens. Every finished output must parse into calls
// that validate, with the text before the call as content. Checks that each
// way finishes in at least a third of its seeds.
void drive_random_calls(const LoadedVocabulary& vocabulary, int n_seeds) {
  int32_t python_start = vocabulary.index->special_token_id("<|python_start|>");
  int32_t python_end = vocabulary.index->special_token_id("<|python_end|>");
  const char* names[] = {"get_weather", "search", "note"};
  const char* preambles[] = {"Let me check that.", "Sure thing: ", "OK\n", "See [1] and `x[i]`, then "};
  std::vector<CallStart> starts = {CallStart::BareAtStart, CallStart::BareAfterText, CallStart::JsonAfterText};
  if (python_start >= 0) {
    starts.push_back(CallStart::WrappedAtStart);
    starts.push_back(CallStart::WrappedAfterText);
  }
  std::vector<int> finished(starts.size(), 0);

  for (int seed = 0; seed < n_seeds; ++seed) {
    std::mt19937 rng(seed);
    std::unique_ptr<TokenConstraint> constraint = auto_constraint(vocabulary);
    Driver driver{vocabulary, *constraint, rng, "", {}};

    CallStart start = starts[seed % starts.size()];
    std::string content;
    if (start == CallStart::WrappedAfterText || start == CallStart::BareAfterText || start == CallStart::JsonAfterText) {
      content = preambles[rng() % 4];
      EXPECT_TRUE(driver.force_text(content)) << "seed " << seed;
    }
    std::string name = names[rng() % 3];
    if (start == CallStart::BareAtStart) {
      // Whitespace first: none, a token of its own, or a token such as " [".
      const char* space[] = {"", "\n", " "};
      EXPECT_TRUE(driver.force_text(std::string(space[rng() % 3]) + "[" + name + "(")) << "seed " << seed;
    } else if (start == CallStart::BareAfterText) {
      EXPECT_TRUE(driver.force_text("[" + name + "(")) << "seed " << seed << " after \"" << content << "\"";
    } else if (start == CallStart::JsonAfterText) {
      EXPECT_TRUE(driver.force_text("{\"name\":\"" + name + "\"")) << "seed " << seed << " after \"" << content << "\"";
    } else {
      EXPECT_TRUE(driver.force(python_start)) << "seed " << seed;
    }

    if (!driver.run(160)) continue;
    ++finished[seed % starts.size()];
    // The whitespace before the call stays content, as parse_tool_calls keeps it.
    size_t call_start = driver.text.find(start == CallStart::JsonAfterText ? '{' : '[', content.size());
    EXPECT_EQ(driver.text.find_first_not_of(" \n", content.size()), call_start) << "seed " << seed;
    EXPECT_EQ(check_calls(driver.text, weather_tools(), driver.text.substr(0, call_start)), "")
        << "seed " << seed << " output: " << driver.text;
    if (start == CallStart::WrappedAtStart || start == CallStart::WrappedAfterText) {
      EXPECT_EQ(driver.tokens.back(), python_end) << "seed " << seed;
    }
  }

  int n_per_start = n_seeds / int(starts.size());
  for (size_t i = 0; i < starts.size(); ++i) {
    EXPECT_GE(finished[i] * 3, n_per_start) << "call start " << i << ": " << finished[i] << " of " << n_per_start;
  }
}

TEST(PythonicAutoCall, RandomCallsValidateLlama4) { drive_random_calls(llama4(), 60); }

TEST(PythonicAutoCall, RandomCallsValidateLlama3) { drive_random_calls(llama3(), 45); }

TEST(PythonicAutoCall, BracketTextStaysText) {
  const LoadedVocabulary& vocabulary = llama4();
  const VocabularyIndex& index = *vocabulary.index;
  std::mt19937 rng(1);

  // "[1]" and "[get the" cannot become "[name(", so they turn into plain text
  // and nothing is masked afterwards.
  for (const char* text : {"[1] see", "[get the"}) {
    std::unique_ptr<TokenConstraint> constraint = auto_constraint(vocabulary);
    Driver driver{vocabulary, *constraint, rng, "", {}};
    ASSERT_TRUE(driver.force_text(text));
    std::vector<uint8_t> allowed(index.vocab_size(), 1);
    constraint->mask(allowed);
    EXPECT_EQ(std::count(allowed.begin(), allowed.end(), uint8_t(1)), index.vocab_size()) << text;
    EXPECT_FALSE(constraint->is_complete());
  }

  // Plain text first: a later "[get" may still open a call, and
  // <|python_start|> still opens one.
  std::unique_ptr<TokenConstraint> constraint = auto_constraint(vocabulary);
  Driver driver{vocabulary, *constraint, rng, "", {}};
  ASSERT_TRUE(driver.force_text("Hello [get"));
  ASSERT_TRUE(driver.force(index.special_token_id("<|python_start|>")));
  std::vector<uint8_t> allowed(index.vocab_size(), 1);
  allowed.assign(index.vocab_size(), 1);
  constraint->mask(allowed);
  EXPECT_EQ(allowed[single_token(vocabulary, "[")], 1);
  EXPECT_EQ(allowed[single_token(vocabulary, "Hello")], 0);
  EXPECT_EQ(allowed[index.eos_ids()[0]], 0);
}

// parse_tool_calls reads "[ get_weather (" as a call too, but the grammar
// writes "[get_weather(", so the "(" after the spaced forms is masked, at the
// start and after plain text alike.
TEST(PythonicAutoCall, SpacedOpeningIsMasked) {
  const LoadedVocabulary& vocabulary = llama4();
  const VocabularyIndex& index = *vocabulary.index;
  std::mt19937 rng(4);
  int32_t paren = single_token(vocabulary, "(");
  ASSERT_GE(paren, 0);
  for (const char* text : {"[ get_weather", "[get_weather ", "Hello [ search", "Hello [search\n"}) {
    std::unique_ptr<TokenConstraint> constraint = auto_constraint(vocabulary);
    Driver driver{vocabulary, *constraint, rng, "", {}};
    ASSERT_TRUE(driver.force_text(text));
    EXPECT_FALSE(allows(*constraint, index, paren)) << text;
    EXPECT_TRUE(allows(*constraint, index, single_token(vocabulary, " and"))) << text;
  }
}

// After plain text, a call opens only where parse_tool_calls would read a call
// of a listed tool. Everything else stays content and is never masked.
TEST(PythonicAutoCall, MidTextNonCallsStayContent) {
  const LoadedVocabulary& vocabulary = llama3();
  const VocabularyIndex& index = *vocabulary.index;
  std::mt19937 rng(5);
  const char* texts[] = {
      "see [1]",
      "see [1] and [2](https://example.org)",
      "Use [notes(s)] here",                         // not a listed tool
      "Call [print(x=1)] later",                     // not a listed tool
      "Try `x = [len(a) for a in b]` in Python",    // code in backticks
      "Like `{\"name\": \"Bob\", \"age\": 3}` in JSON",  // a name that is no tool
      "A dict {\"name\": \"get\"} is fine",          // a prefix of a tool name, then closed
      "Lists [[1, 2], [3]] and sets {1, 2}",
      "The search(query) function and [search results]",
  };
  for (const char* text : texts) {
    std::unique_ptr<TokenConstraint> constraint = auto_constraint(vocabulary);
    Driver driver{vocabulary, *constraint, rng, "", {}};
    ASSERT_TRUE(driver.force_text(text)) << text;
    std::vector<uint8_t> allowed(index.vocab_size(), 1);
    constraint->mask(allowed);
    EXPECT_EQ(std::count(allowed.begin(), allowed.end(), uint8_t(1)), index.vocab_size()) << text;
    EXPECT_FALSE(constraint->is_complete()) << text;

    ParsedToolOutput parsed = parse_tool_calls(driver.text);
    EXPECT_TRUE(parsed.tool_calls.empty()) << text;
    EXPECT_EQ(parsed.content, driver.text) << text;
  }
}

// After plain text, "[name(" and {"name":"name" of a listed tool start the call:
// from then on only text the call grammar accepts is allowed.
TEST(PythonicAutoCall, MidTextCallIsForced) {
  const LoadedVocabulary& vocabulary = llama3();
  const VocabularyIndex& index = *vocabulary.index;
  std::mt19937 rng(6);
  for (const char* text : {"Checking. [get_weather(", "See [1]. {\"name\":\"get_weather\""}) {
    std::unique_ptr<TokenConstraint> constraint = auto_constraint(vocabulary);
    Driver driver{vocabulary, *constraint, rng, "", {}};
    ASSERT_TRUE(driver.force_text(text)) << text;
    EXPECT_FALSE(allows(*constraint, index, single_token(vocabulary, " and"))) << text;
    EXPECT_FALSE(allows(*constraint, index, index.eos_ids()[0])) << text;
  }

  // The JSON form with a space after the colon is read by parse_tool_calls
  // but not written by the grammar, so the quote that would close the name is masked.
  std::unique_ptr<TokenConstraint> constraint = auto_constraint(vocabulary);
  Driver driver{vocabulary, *constraint, rng, "", {}};
  ASSERT_TRUE(driver.force_text("See: {\"name\": \"search"));
  EXPECT_FALSE(allows(*constraint, index, single_token(vocabulary, "\""))) << driver.text;
  EXPECT_TRUE(allows(*constraint, index, single_token(vocabulary, "ing"))) << driver.text;

  // parse_tool_calls decodes escapes in a JSON name, so an escape that may
  // still spell a tool name is masked too.
  ASSERT_EQ(parse_tool_calls(R"(See: {"name":"get\u005fweather","parameters":{}})").tool_calls.size(), 1u);
  std::unique_ptr<TokenConstraint> escaped = auto_constraint(vocabulary);
  Driver escape_driver{vocabulary, *escaped, rng, "", {}};
  ASSERT_TRUE(escape_driver.force_text("See: {\"name\":\"get"));
  int32_t backslash = single_token(vocabulary, "\\");
  ASSERT_GE(backslash, 0);
  EXPECT_FALSE(allows(*escaped, index, backslash)) << escape_driver.text;
  EXPECT_TRUE(allows(*escaped, index, single_token(vocabulary, "_"))) << escape_driver.text;
}

TEST(PythonicAutoCall, OpeningTokenMustContinueTheCall) {
  const LoadedVocabulary& vocabulary = llama3();
  const VocabularyIndex& index = *vocabulary.index;
  std::mt19937 rng(2);
  std::unique_ptr<TokenConstraint> constraint = auto_constraint(vocabulary);
  Driver driver{vocabulary, *constraint, rng, "", {}};
  ASSERT_TRUE(driver.force_text("[get_weather"));

  // "()" would write a call without its required location; "(" and "(\"" are fine.
  std::vector<uint8_t> allowed(index.vocab_size(), 1);
  constraint->mask(allowed);
  auto entry = [&](const std::string& text) {
    int32_t id = single_token(vocabulary, text);
    return id < 0 ? -1 : int(allowed[id]);
  };
  EXPECT_EQ(entry("()"), 0);
  EXPECT_EQ(entry("("), 1);
  EXPECT_EQ(entry(" and"), 1);  // leaves "[name(" before the "(", so plain text

  // Once "(" is written, the call is forced.
  ASSERT_TRUE(driver.force_text("("));
  allowed.assign(index.vocab_size(), 1);
  constraint->mask(allowed);
  EXPECT_EQ(entry("location"), 1);
  EXPECT_EQ(entry(" and"), 0);
  EXPECT_EQ(allowed[index.eos_ids()[0]], 0);
}

TEST(PythonicAutoCall, JsonFormStillConstrained) {
  const LoadedVocabulary& vocabulary = llama3();
  std::mt19937 rng(3);
  for (int seed = 0; seed < 10; ++seed) {
    std::unique_ptr<TokenConstraint> constraint = auto_constraint(vocabulary);
    Driver driver{vocabulary, *constraint, rng, "", {}};
    // A token such as " {" opens the call too, and its space stays content.
    ASSERT_TRUE(driver.force_text(seed % 2 ? " {\"" : "{\""));
    if (!driver.run(160)) continue;
    EXPECT_EQ(check_calls(driver.text, weather_tools(), seed % 2 ? " " : ""), "") << driver.text;
  }
}

}  // namespace
}  // namespace brasa
