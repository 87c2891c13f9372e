#include "structured/request_constraints.h"

#include <algorithm>
#include <list>
#include <mutex>
#include <regex>
#include <set>
#include <unordered_map>

#include "structured/grammar_constraint.h"
#include "structured/json_schema_grammar.h"
#include "structured/lazy_tool_call_constraint.h"

namespace brasa {
namespace {

using nlohmann::json;

// Compiled grammars by vocabulary and schema text, least recently used first out.
class CompiledGrammarCache {
 public:
  template <typename Compile>
  std::shared_ptr<CompiledGrammar> get_or_compile(const std::shared_ptr<const VocabularyIndex>& vocabulary,
                                                  const std::string& key_text, Compile compile) {
    std::string key = std::to_string(reinterpret_cast<uintptr_t>(vocabulary.get())) + "\n" + key_text;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto found = index_.find(key);
      if (found != index_.end()) {
        entries_.splice(entries_.begin(), entries_, found->second);
        return found->second->second;
      }
    }

    // Compile outside the lock; two threads may compile the same schema once each.
    auto compiled = std::make_shared<CompiledGrammar>(std::make_shared<const Grammar>(compile()), vocabulary);

    std::lock_guard<std::mutex> lock(mutex_);
    if (index_.count(key) == 0) {
      entries_.emplace_front(key, compiled);
      index_[key] = entries_.begin();
      if (entries_.size() > kCapacity) {
        index_.erase(entries_.back().first);
        entries_.pop_back();
      }
    }
    return compiled;
  }

 private:
  static constexpr size_t kCapacity = 64;

  std::mutex mutex_;
  std::list<std::pair<std::string, std::shared_ptr<CompiledGrammar>>> entries_;
  std::unordered_map<std::string, decltype(entries_)::iterator> index_;
};

CompiledGrammarCache& grammar_cache() {
  static CompiledGrammarCache cache;
  return cache;
}

struct RequestError {
  StructuredOutputError error;
};

[[noreturn]] void reject(const std::string& param, const std::string& message) { throw RequestError{{param, message}}; }

std::string describe(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

// Checks the tools list; returns the function names in order.
std::vector<std::string> validate_tools(const json& tools) {
  std::vector<std::string> names;
  if (tools.is_null()) return names;
  if (!tools.is_array()) reject("tools", "tools must be an array of tool objects");

  // OpenAI's rule for function names.
  static const std::regex kNamePattern("^[A-Za-z0-9_-]{1,64}$");
  std::set<std::string> seen;
  for (size_t i = 0; i < tools.size(); ++i) {
    std::string where = "tools[" + std::to_string(i) + "]";
    const json& tool = tools[i];
    if (!tool.is_object()) reject(where, "each tool must be an object");
    if (tool.value("type", json("function")) != "function") {
      reject(where + ".type", "tool type must be \"function\", got " + describe(tool["type"]));
    }
    if (!tool.contains("function") || !tool["function"].is_object()) reject(where + ".function", "missing function object");
    const json& function = tool["function"];
    if (!function.contains("name") || !function["name"].is_string()) reject(where + ".function.name", "missing function name");
    std::string name = function["name"].get<std::string>();
    if (!std::regex_match(name, kNamePattern)) {
      reject(where + ".function.name", "invalid function name \"" + name + "\": use 1 to 64 letters, digits, '_' or '-'");
    }
    if (!seen.insert(name).second) reject(where + ".function.name", "duplicate function name \"" + name + "\"");
    if (function.contains("parameters") && !function["parameters"].is_object()) {
      reject(where + ".function.parameters", "parameters must be a JSON schema object, got " + describe(function["parameters"]));
    }
    names.push_back(name);
  }
  return names;
}

// The effective tool choice: "none", "auto", "required", or the named function.
std::string read_tool_choice(const json& tool_choice, const std::vector<std::string>& names, bool& named) {
  named = false;
  if (tool_choice.is_null()) return names.empty() ? "none" : "auto";
  if (tool_choice.is_string()) {
    std::string choice = tool_choice.get<std::string>();
    if (choice != "none" && choice != "auto" && choice != "required") {
      reject("tool_choice", "tool_choice must be \"none\", \"auto\", \"required\" or a function object, got \"" + choice + "\"");
    }
    if (choice == "required" && names.empty()) reject("tool_choice", "tool_choice \"required\" needs a non-empty tools list");
    return choice;
  }
  if (!tool_choice.is_object() || tool_choice.value("type", json()) != "function" || !tool_choice.contains("function") ||
      !tool_choice["function"].is_object() || !tool_choice["function"].contains("name") ||
      !tool_choice["function"]["name"].is_string()) {
    reject("tool_choice", "tool_choice object must be {\"type\": \"function\", \"function\": {\"name\": ...}}");
  }
  std::string name = tool_choice["function"]["name"].get<std::string>();
  if (std::find(names.begin(), names.end(), name) == names.end()) {
    reject("tool_choice", "tool_choice names function \"" + name + "\", which is not in tools");
  }
  named = true;
  return name;
}

std::shared_ptr<CompiledGrammar> compile_response_format(const json& format,
                                                         const std::shared_ptr<const VocabularyIndex>& vocabulary) {
  if (format.is_null()) return nullptr;
  if (!format.is_object() || !format.contains("type") || !format["type"].is_string()) {
    reject("response_format.type", "response_format must be an object with a string type");
  }
  std::string type = format["type"].get<std::string>();
  if (type == "text") return nullptr;
  if (type == "json_object") {
    return grammar_cache().get_or_compile(vocabulary, "json_object", [] { return compile_any_json_object(); });
  }
  if (type != "json_schema") {
    reject("response_format.type", "response_format type must be \"text\", \"json_object\" or \"json_schema\", got \"" + type + "\"");
  }

  if (!format.contains("json_schema") || !format["json_schema"].is_object()) {
    reject("response_format.json_schema", "missing json_schema object");
  }
  const json& spec = format["json_schema"];
  if (!spec.contains("schema")) reject("response_format.json_schema.schema", "missing schema");
  const json& schema = spec["schema"];
  if (!schema.is_object() && !schema.is_boolean()) {
    reject("response_format.json_schema.schema", "schema must be a JSON object, got " + describe(schema));
  }
  try {
    return grammar_cache().get_or_compile(vocabulary, "schema\n" + schema.dump(), [&] { return compile_json_schema(schema); });
  } catch (const SchemaError& error) {
    std::string param = "response_format.json_schema.schema";
    if (!error.path().empty()) param += "." + error.path();
    reject(param, error.what());
  }
}

}  // namespace

StructuredOutputPlan plan_structured_output(const StructuredOutputRequest& request,
                                            std::shared_ptr<const VocabularyIndex> vocabulary) {
  StructuredOutputPlan plan;
  try {
    std::vector<std::string> names = validate_tools(request.tools);
    bool named = false;
    std::string choice = read_tool_choice(request.tool_choice, names, named);

    bool parallel = true;
    if (!request.parallel_tool_calls.is_null()) {
      if (!request.parallel_tool_calls.is_boolean()) reject("parallel_tool_calls", "parallel_tool_calls must be a boolean");
      parallel = request.parallel_tool_calls.get<bool>();
    }

    // Validate response_format even when a forced call overrides it, so a bad
    // field is reported either way.
    std::shared_ptr<CompiledGrammar> format_grammar = compile_response_format(request.response_format, vocabulary);

    if (choice != "none") {
      plan.expect_tool_calls = true;
      for (size_t i = 0; i < names.size(); ++i) {
        if (!named || names[i] == choice) plan.tools.push_back(request.tools[i]);
      }
    }

    if (choice == "required" || named) {
      std::vector<ForcedTool> forced;
      for (size_t i = 0; i < names.size(); ++i) {
        if (named && names[i] != choice) continue;
        const json& function = request.tools[i]["function"];
        json parameters = function.value("parameters", json({{"type", "object"}}));
        forced.push_back({names[i], parameters, "tools[" + std::to_string(i) + "].function.parameters"});
      }
      // A named choice forces exactly one call, whatever the value of parallel_tool_calls.
      bool allow_several = parallel && !named;
      json key = json::array();
      for (const ForcedTool& tool : forced) key.push_back({tool.name, tool.parameters});
      try {
        std::shared_ptr<CompiledGrammar> compiled = grammar_cache().get_or_compile(
            vocabulary, "tools\n" + std::to_string(allow_several) + key.dump(),
            [&] { return compile_forced_tool_calls(forced, allow_several); });
        plan.constraint = std::make_unique<GrammarConstraint>(compiled);
      } catch (const SchemaError& error) {
        reject(error.path(), error.what());
      }
      return plan;
    }

    // With tool_choice "auto" the model decides; a call it starts is generated
    // under the grammar of every listed tool, in the JSON or the pythonic form
    // it opened. A response_format takes precedence. A form whose grammar
    // cannot enforce the tools' schemas stays unconstrained, and its calls
    // stay content (see tool_call_policy).
    if (choice == "auto" && format_grammar == nullptr && !names.empty()) {
      std::vector<ForcedTool> all;
      json key = json::array();
      for (size_t i = 0; i < names.size(); ++i) {
        json parameters = request.tools[i]["function"].value("parameters", json({{"type", "object"}}));
        all.push_back({names[i], parameters, "tools[" + std::to_string(i) + "].function.parameters"});
        key.push_back({names[i], parameters});
      }
      LazyToolCallGrammars grammars;
      grammars.tool_names = names;
      try {
        grammars.json = grammar_cache().get_or_compile(vocabulary, "tools\n" + std::to_string(parallel) + key.dump(),
                                                       [&] { return compile_forced_tool_calls(all, parallel); });
      } catch (const SchemaError&) {
        // JSON-form calls then stay content (see tool_call_policy below).
      }
      try {
        grammars.pythonic = grammar_cache().get_or_compile(
            vocabulary, "pythonic tools\n" + std::to_string(parallel) + key.dump(),
            [&] { return compile_pythonic_tool_calls(all, parallel); });
      } catch (const SchemaError&) {
        // Pythonic calls then stay content, as above.
      }
      // A call in a form without a grammar, or of an unlisted tool, is
      // generated unconstrained, so its arguments may fail the schema. The
      // server returns such a call as content instead of tool_calls.
      plan.tool_call_policy.json_form = grammars.json != nullptr;
      plan.tool_call_policy.pythonic_form = grammars.pythonic != nullptr;
      plan.tool_call_policy.tool_names = names;
      if (grammars.json != nullptr || grammars.pythonic != nullptr) {
        plan.constraint = std::make_unique<LazyToolCallConstraint>(std::move(grammars), vocabulary);
      }
      return plan;
    }

    if (format_grammar != nullptr) {
      // The output follows response_format's schema, not a tool grammar, so
      // under "auto" nothing in it is read as a tool call: a call parsed from
      // it would carry arguments no grammar checked.
      if (choice == "auto") {
        plan.tool_call_policy.json_form = false;
        plan.tool_call_policy.pythonic_form = false;
      }
      plan.constraint = std::make_unique<GrammarConstraint>(format_grammar);

      // A schema whose every branch recurses ($ref cycles with no base case)
      // admits no finite document, so not even its first token can be chosen.
      std::vector<uint8_t> allowed(size_t(vocabulary->vocab_size()), 1);
      plan.constraint->clone_initial()->mask(allowed);
      if (std::find(allowed.begin(), allowed.end(), uint8_t(1)) == allowed.end()) {
        reject("response_format.json_schema.schema",
               "the schema admits no finite JSON document (check $ref cycles for a branch that ends)");
      }
    }
    return plan;
  } catch (const RequestError& failure) {
    StructuredOutputPlan rejected;
    rejected.error = failure.error;
    return rejected;
  }
}

}  // namespace brasa
