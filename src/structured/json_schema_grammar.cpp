#include "structured/json_schema_grammar.h"

#include <array>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <set>

#include "structured/json_text_rules.h"

namespace brasa {
namespace {

using nlohmann::json;

// Bounds on what a schema may ask for, so a request cannot make the grammar
// (one rule per repetition) or the compiler's recursion unreasonably large.
constexpr int64_t kMaxRepeatBound = 10000;
constexpr int kMaxSchemaDepth = 64;

// Keywords that carry no constraint.
const std::set<std::string> kAnnotations = {
    "title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated",
    "readOnly", "writeOnly", "contentEncoding", "contentMediaType", "$anchor", "strict",
    "$defs", "definitions"};

const std::set<std::string> kUnsupported = {
    "pattern", "patternProperties", "multipleOf", "minProperties", "maxProperties", "prefixItems",
    "contains", "minContains", "maxContains", "propertyNames", "not", "if", "then", "else",
    "dependentRequired", "dependentSchemas", "dependencies", "unevaluatedProperties",
    "unevaluatedItems", "$dynamicRef", "$recursiveRef", "additionalItems"};

const std::set<std::string> kTypes = {"object", "array", "string", "number", "integer", "boolean", "null"};

std::string join(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }

std::string describe(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

class SchemaCompiler {
 public:
  explicit SchemaCompiler(LiteralSyntax syntax = LiteralSyntax::Json) : text_(builder_, syntax) {}

  GrammarBuilder& builder() { return builder_; }
  JsonTextRules& text() { return text_; }

  // Compiles the document `root` (found at `path`), which its $ref pointers
  // resolve against. `root_key` keeps documents apart in the $ref cache.
  int32_t compile_document(const json& root, const std::string& root_key, const std::string& path) {
    root_ = &root;
    root_key_ = root_key;
    root_path_ = path;
    return compile(root, path, 0);
  }

  // Compiles the arguments of a pythonic call, `key=value, ...` up to and
  // including the closing ")", from the object schema `root`.
  int32_t compile_keyword_arguments(const json& root, const std::string& root_key, const std::string& path) {
    root_ = &root;
    root_key_ = root_key;
    root_path_ = path;
    if (root.is_boolean() && root.get<bool>()) return compile_members(json::object(), path, 0, keyword_syntax());
    if (!root.is_object()) throw SchemaError(path, "a pythonic call needs an object schema, got " + describe(root));
    for (const char* keyword : {"$ref", "anyOf", "oneOf", "allOf", "enum", "const", "nullable"}) {
      if (root.contains(keyword)) {
        throw SchemaError(join(path, keyword), std::string("keyword `") + keyword +
                                                   "` at the top of the arguments is not supported in pythonic calls");
      }
    }
    for (const auto& [key, value] : root.items()) {
      if (kUnsupported.count(key)) throw SchemaError(join(path, key), "keyword `" + key + "` is not supported");
    }
    std::vector<std::string> types = types_of(root, path);
    if (!(types.empty() || (types.size() == 1 && types[0] == "object"))) {
      throw SchemaError(join(path, "type"), "the arguments of a pythonic call must be an object");
    }
    return compile_members(root, path, 0, keyword_syntax());
  }

 private:
  int32_t compile(const json& schema, const std::string& path, int depth) {
    if (depth > kMaxSchemaDepth) throw SchemaError(path, "schema nesting exceeds the maximum depth " + std::to_string(kMaxSchemaDepth));
    if (schema.is_boolean()) {
      if (!schema.get<bool>()) throw SchemaError(path, "schema `false` accepts no value");
      return text_.any_value();
    }
    if (!schema.is_object()) throw SchemaError(path, "schema must be an object or a boolean, got " + describe(schema));

    for (const auto& [key, value] : schema.items()) {
      if (kUnsupported.count(key)) throw SchemaError(join(path, key), "keyword `" + key + "` is not supported");
    }
    if (schema.contains("uniqueItems") && schema["uniqueItems"] != false) {
      throw SchemaError(join(path, "uniqueItems"), "keyword `uniqueItems: true` is not supported");
    }

    int32_t rule = -1;
    if (schema.contains("$ref")) {
      rule = compile_ref(schema, path, depth);
    } else if (schema.contains("allOf")) {
      rule = compile_all_of(schema, path, depth);
    } else if (schema.contains("anyOf")) {
      rule = compile_union(schema, "anyOf", path, depth);
    } else if (schema.contains("oneOf")) {
      rule = compile_union(schema, "oneOf", path, depth);
    } else {
      rule = compile_typed(schema, path, depth);
    }
    if (schema.value("nullable", false) == true) return builder_.add_rule({GrammarBuilder::ref(rule), text_.null_literal()});
    return rule;
  }

  // Fails when `schema` has keywords beside `keyword` that would constrain the value.
  void require_alone(const json& schema, const std::string& keyword, const std::string& path) {
    for (const auto& [key, value] : schema.items()) {
      if (key == keyword || kAnnotations.count(key) || key == "nullable") continue;
      if (key == "type" || key == "properties" || key == "required" || key == "items" || key == "enum" ||
          key == "const" || key == "additionalProperties" || key.rfind("min", 0) == 0 || key.rfind("max", 0) == 0 ||
          key.rfind("exclusive", 0) == 0 || key == "format" || key == "$ref" || key == "anyOf" || key == "oneOf" ||
          key == "allOf") {
        throw SchemaError(join(path, key), "keyword `" + key + "` combined with `" + keyword + "` is not supported");
      }
    }
  }

  int32_t compile_ref(const json& schema, const std::string& path, int depth) {
    require_alone(schema, "$ref", path);
    const json& ref = schema["$ref"];
    std::string ref_path = join(path, "$ref");
    if (!ref.is_string()) throw SchemaError(ref_path, "$ref must be a string");
    std::string target = ref.get<std::string>();
    if (target.empty() || target[0] != '#') {
      throw SchemaError(ref_path, "$ref \"" + target + "\" is not supported: only references inside the schema (\"#...\")");
    }

    std::string key = root_key_ + target;
    auto found = ref_rules_.find(key);
    if (found != ref_rules_.end()) return found->second;

    const json* resolved = nullptr;
    try {
      json::json_pointer pointer(target.substr(1));
      if (root_->contains(pointer)) resolved = &root_->at(pointer);
    } catch (const json::exception&) {
      throw SchemaError(ref_path, "$ref \"" + target + "\" is not a valid JSON pointer");
    }
    if (resolved == nullptr) throw SchemaError(ref_path, "$ref \"" + target + "\" not found in the schema");

    // Declare first, so a schema that refers to itself finds its rule.
    int32_t rule = builder_.declare();
    ref_rules_[key] = rule;
    std::string target_path = root_path_;
    for (char c : target.substr(1)) target_path += c == '/' ? '.' : c;
    if (!target_path.empty() && target_path[0] == '.') target_path.erase(0, 1);
    int32_t body = compile(*resolved, target_path, depth + 1);
    builder_.define(rule, {GrammarBuilder::ref(body)});
    return rule;
  }

  int32_t compile_all_of(const json& schema, const std::string& path, int depth) {
    require_alone(schema, "allOf", path);
    const json& members = schema["allOf"];
    if (!members.is_array() || members.size() != 1) {
      throw SchemaError(join(path, "allOf"), "allOf is supported with exactly one member");
    }
    return compile(members[0], join(path, "allOf[0]"), depth + 1);
  }

  int32_t compile_union(const json& schema, const std::string& keyword, const std::string& path, int depth) {
    require_alone(schema, keyword, path);
    const json& members = schema[keyword];
    std::string here = join(path, keyword);
    if (!members.is_array() || members.empty()) throw SchemaError(here, keyword + " must be a non-empty array of schemas");

    std::vector<Symbols> alternatives;
    for (size_t i = 0; i < members.size(); ++i) {
      alternatives.push_back(GrammarBuilder::ref(compile(members[i], here + "[" + std::to_string(i) + "]", depth + 1)));
    }
    return builder_.add_rule(alternatives);
  }

  static bool matches_type(const json& value, const std::string& type) {
    if (type == "string") return value.is_string();
    if (type == "integer") return value.is_number_integer() || (value.is_number_float() && std::floor(value.get<double>()) == value.get<double>());
    if (type == "number") return value.is_number();
    if (type == "boolean") return value.is_boolean();
    if (type == "null") return value.is_null();
    if (type == "object") return value.is_object();
    if (type == "array") return value.is_array();
    return false;
  }

  std::vector<std::string> types_of(const json& schema, const std::string& path) {
    std::vector<std::string> types;
    if (schema.contains("type")) {
      const json& type = schema["type"];
      std::string here = join(path, "type");
      if (type.is_string()) {
        types.push_back(type.get<std::string>());
      } else if (type.is_array() && !type.empty()) {
        for (const json& t : type) {
          if (!t.is_string()) throw SchemaError(here, "type list entries must be strings, got " + describe(t));
          types.push_back(t.get<std::string>());
        }
      } else {
        throw SchemaError(here, "type must be a string or a non-empty array, got " + describe(type));
      }
      for (const std::string& t : types) {
        if (!kTypes.count(t)) throw SchemaError(here, "unknown type \"" + t + "\"");
      }
      return types;
    }

    // Without "type", infer it from the keywords present.
    if (schema.contains("properties") || schema.contains("required") || schema.contains("additionalProperties")) types.push_back("object");
    if (schema.contains("items") || schema.contains("minItems") || schema.contains("maxItems")) types.push_back("array");
    if (schema.contains("minLength") || schema.contains("maxLength") || schema.contains("format")) types.push_back("string");
    if (schema.contains("minimum") || schema.contains("maximum") || schema.contains("exclusiveMinimum") ||
        schema.contains("exclusiveMaximum")) {
      types.push_back("number");
    }
    return types;
  }

  int32_t compile_typed(const json& schema, const std::string& path, int depth) {
    std::vector<std::string> types = types_of(schema, path);

    if (schema.contains("const")) return compile_enum(json::array({schema["const"]}), types, join(path, "const"));
    if (schema.contains("enum")) return compile_enum(schema["enum"], types, join(path, "enum"));
    if (types.empty()) return text_.any_value();

    std::vector<Symbols> alternatives;
    for (const std::string& type : types) {
      int32_t rule = -1;
      if (type == "object") rule = compile_object(schema, path, depth);
      else if (type == "array") rule = compile_array(schema, path, depth);
      else if (type == "string") rule = compile_string(schema, path);
      else if (type == "integer") rule = compile_number(schema, path, true);
      else if (type == "number") rule = compile_number(schema, path, false);
      else if (type == "boolean") rule = builder_.add_rule({text_.true_literal(), text_.false_literal()});
      else rule = builder_.add_rule({text_.null_literal()});
      alternatives.push_back(GrammarBuilder::ref(rule));
    }
    return builder_.add_rule(alternatives);
  }

  int32_t compile_enum(const json& values, const std::vector<std::string>& types, const std::string& path) {
    if (!values.is_array() || values.empty()) throw SchemaError(path, "enum must be a non-empty array");
    std::vector<Symbols> alternatives;
    for (const json& value : values) {
      bool typed_ok = types.empty();
      for (const std::string& type : types) typed_ok = typed_ok || matches_type(value, type);
      if (!typed_ok) continue;
      for (Symbols& literal : text_.value_literals(value)) alternatives.push_back(std::move(literal));
    }
    if (alternatives.empty()) throw SchemaError(path, "no enum value matches the schema's type");
    return builder_.add_rule(alternatives);
  }

  int64_t count_keyword(const json& schema, const std::string& key, const std::string& path, int64_t fallback) {
    if (!schema.contains(key)) return fallback;
    const json& value = schema[key];
    if (!value.is_number_unsigned() && !(value.is_number_integer() && value.get<int64_t>() >= 0)) {
      throw SchemaError(join(path, key), key + " must be a non-negative integer, got " + describe(value));
    }
    int64_t count = value.get<int64_t>();
    if (count > kMaxRepeatBound) {
      throw SchemaError(join(path, key), key + " " + std::to_string(count) + " exceeds the supported maximum " +
                                             std::to_string(kMaxRepeatBound));
    }
    return count;
  }

  int32_t compile_string(const json& schema, const std::string& path) {
    int64_t min_length = count_keyword(schema, "minLength", path, 0);
    int64_t max_length = count_keyword(schema, "maxLength", path, -1);
    if (max_length >= 0 && min_length > max_length) throw SchemaError(join(path, "minLength"), "minLength is greater than maxLength");

    if (schema.contains("format")) {
      if (!schema["format"].is_string()) throw SchemaError(join(path, "format"), "format must be a string");
      std::string format = schema["format"].get<std::string>();
      int32_t rule = text_.string_format(format);
      if (rule < 0) throw SchemaError(join(path, "format"), "format \"" + format + "\" is not supported");
      if (schema.contains("minLength") || schema.contains("maxLength")) {
        throw SchemaError(join(path, "format"), "format combined with minLength or maxLength is not supported");
      }
      return rule;
    }
    if (min_length == 0 && max_length < 0) return text_.any_string();
    return text_.string_of_length(min_length, max_length);
  }

  // Reads an integral bound: `inclusive` rounded inward, or one past
  // `exclusive`; returns false when neither keyword is present.
  bool read_bound(const json& schema, const std::string& inclusive, const std::string& exclusive, bool lower,
                  const std::string& path, int64_t& bound) {
    bool found = false;
    for (const std::string& key : {inclusive, exclusive}) {
      if (!schema.contains(key)) continue;
      const json& value = schema[key];
      if (key == exclusive && value.is_boolean()) {
        throw SchemaError(join(path, key), "boolean " + key + " (draft 4) is not supported; give the bound as a number");
      }
      if (!value.is_number()) throw SchemaError(join(path, key), key + " must be a number, got " + describe(value));
      double limit = value.get<double>();
      if (std::fabs(limit) >= 1e16) throw SchemaError(join(path, key), key + " must be below 1e16 in magnitude");
      double rounded = lower ? std::ceil(limit) : std::floor(limit);
      if (key == exclusive && rounded == limit) rounded += lower ? 1 : -1;
      int64_t candidate = static_cast<int64_t>(rounded);
      bound = !found ? candidate : (lower ? std::max(bound, candidate) : std::min(bound, candidate));
      found = true;
    }
    return found;
  }

  int32_t compile_number(const json& schema, const std::string& path, bool integer) {
    int64_t low = 0;
    int64_t high = 0;
    bool has_low = read_bound(schema, "minimum", "exclusiveMinimum", true, path, low);
    bool has_high = read_bound(schema, "maximum", "exclusiveMaximum", false, path, high);
    if (!has_low && !has_high) return integer ? text_.any_integer() : text_.any_number();

    if (has_low && has_high && low > high) {
      throw SchemaError(join(path, "minimum"), std::string("no ") + (integer ? "integer" : "number with integral bounds") +
                                                   " lies between the minimum and the maximum");
    }
    return text_.bounded_number(has_low ? std::optional<int64_t>(low) : std::nullopt,
                                has_high ? std::optional<int64_t>(high) : std::nullopt, integer);
  }

  int32_t compile_array(const json& schema, const std::string& path, int depth) {
    int64_t min_items = count_keyword(schema, "minItems", path, 0);
    int64_t max_items = count_keyword(schema, "maxItems", path, -1);
    if (max_items >= 0 && min_items > max_items) throw SchemaError(join(path, "minItems"), "minItems is greater than maxItems");

    int32_t item = -1;
    if (!schema.contains("items")) {
      item = text_.any_value();
    } else if (schema["items"].is_boolean() && !schema["items"].get<bool>()) {
      if (min_items > 0) throw SchemaError(join(path, "items"), "items is false but minItems is above 0");
      max_items = 0;
    } else if (schema["items"].is_array()) {
      throw SchemaError(join(path, "items"), "items as an array (tuple validation) is not supported");
    } else {
      item = compile(schema["items"], join(path, "items"), depth + 1);
    }

    if (max_items == 0) return builder_.add_rule({builder_.literal("[]")});
    int32_t list = builder_.separated(GrammarBuilder::ref(item), text_.item_separator(), min_items, max_items);
    return builder_.add_rule({builder_.literal("[") + GrammarBuilder::ref(list) + builder_.literal("]")});
  }

  // The layout of an object's members: in a JSON object or dict literal, or as
  // the keyword arguments of a pythonic call.
  struct MemberSyntax {
    std::string open;       // before the first member
    std::string close;      // after the last member
    bool keywords = false;  // members are `name=value` keyword arguments
  };

  MemberSyntax object_syntax() const { return {"{", "}", false}; }
  MemberSyntax keyword_syntax() const { return {"", ")", true}; }

  static bool is_identifier(const std::string& name) {
    if (name.empty() || !(std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_')) return false;
    for (char c : name) {
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
    }
    return true;
  }

  // The text before a declared member's value: `"name":` in JSON, `"name": ` or
  // `'name': ` in Python, `name=` for keyword arguments.
  Symbols member_key(const std::string& name, const MemberSyntax& syntax) {
    if (syntax.keywords) return builder_.literal(name + "=");
    std::vector<Symbols> spellings;
    for (Symbols& spelling : text_.value_literals(json(name))) spellings.push_back(spelling + text_.key_separator());
    if (spellings.size() == 1) return spellings[0];
    return GrammarBuilder::ref(builder_.add_rule(spellings));
  }

  int32_t compile_object(const json& schema, const std::string& path, int depth) {
    return compile_members(schema, path, depth, object_syntax());
  }

  int32_t compile_members(const json& schema, const std::string& path, int depth, const MemberSyntax& syntax) {
    json properties = schema.value("properties", json::object());
    if (!properties.is_object()) throw SchemaError(join(path, "properties"), "properties must be an object");

    std::set<std::string> required;
    if (schema.contains("required")) {
      const json& list = schema["required"];
      if (!list.is_array()) throw SchemaError(join(path, "required"), "required must be an array of strings");
      for (const json& name : list) {
        if (!name.is_string()) throw SchemaError(join(path, "required"), "required entries must be strings, got " + describe(name));
        required.insert(name.get<std::string>());
      }
    }

    // Extra properties: allowed with a schema, with true, or when neither
    // properties nor additionalProperties is given (a free-form object).
    int32_t extra_value = -1;
    if (schema.contains("additionalProperties")) {
      const json& additional = schema["additionalProperties"];
      if (additional.is_boolean()) {
        if (additional.get<bool>()) extra_value = text_.any_value();
      } else {
        extra_value = compile(additional, join(path, "additionalProperties"), depth + 1);
      }
    } else if (properties.empty()) {
      extra_value = text_.any_value();
    }

    // A keyword argument needs a Python identifier as its name, so other
    // optional properties are never written and other required ones fail.
    auto writable = [&](const std::string& name) {
      if (!syntax.keywords || is_identifier(name)) return true;
      if (required.count(name)) {
        throw SchemaError(join(path, "required"), "required property \"" + name +
                                                      "\" is not a Python identifier, so no keyword argument can set it");
      }
      return false;
    };

    std::vector<std::pair<std::string, int32_t>> members;
    for (const auto& [name, member_schema] : properties.items()) {
      if (!writable(name)) continue;
      members.emplace_back(name, compile(member_schema, join(path, "properties." + name), depth + 1));
    }

    // A required name missing from properties is an additional property: it
    // takes the additionalProperties schema, or any value when that is absent.
    for (const std::string& name : required) {
      if (properties.contains(name) || !writable(name)) continue;
      if (extra_value >= 0) {
        members.emplace_back(name, extra_value);
      } else if (!schema.contains("additionalProperties")) {
        members.emplace_back(name, text_.any_value());
      } else {
        throw SchemaError(join(path, "required"), "required property \"" + name +
                                                      "\" is not in properties and additionalProperties is false");
      }
    }

    std::set<std::string> names;
    for (const auto& member : members) names.insert(member.first);
    for (const auto& [name, member_schema] : properties.items()) names.insert(name);
    std::array<int32_t, 2> close = object_close(names, extra_value, syntax);

    // rest[i][first]: the members from i on; `first` (1) when no member was
    // written yet, so no separator goes before the next one.
    std::vector<std::array<int32_t, 2>> rest(members.size() + 1);
    rest[members.size()] = close;
    for (size_t i = members.size(); i-- > 0;) {
      const auto& [name, value] = members[i];
      bool is_required = required.count(name) > 0;
      Symbols key = member_key(name, syntax);
      for (int first = 0; first < 2; ++first) {
        Symbols member = (first ? Symbols{} : text_.item_separator()) + key + GrammarBuilder::ref(value) +
                         GrammarBuilder::ref(rest[i + 1][0]);
        std::vector<Symbols> alternatives = {member};
        if (!is_required) alternatives.push_back(GrammarBuilder::ref(rest[i + 1][first]));
        rest[i][first] = builder_.add_rule(alternatives);
      }
    }
    return builder_.add_rule({builder_.literal(syntax.open) + GrammarBuilder::ref(rest[0][1])});
  }

  // The end of an object after its declared members: extra members when
  // allowed, then the closing text. Index 1 is the variant for an object with
  // no member written yet (no separator before the first extra member).
  std::array<int32_t, 2> object_close(const std::set<std::string>& names, int32_t extra_value, const MemberSyntax& syntax) {
    Symbols close_text = builder_.literal(syntax.close);
    if (extra_value < 0) {
      int32_t close = builder_.add_rule({close_text});
      return {close, close};
    }
    Symbols member;
    if (syntax.keywords) {
      member = GrammarBuilder::ref(text_.keyword_excluding(names)) + GrammarBuilder::ref(extra_value);
    } else {
      int32_t key = names.empty() ? text_.any_string() : text_.string_excluding(names);
      member = GrammarBuilder::ref(key) + text_.key_separator() + GrammarBuilder::ref(extra_value);
    }
    Symbols separator = text_.item_separator();
    int32_t more = builder_.repeat(separator + member, 0, -1);
    int32_t after_member = builder_.add_rule({separator + member + GrammarBuilder::ref(more) + close_text, close_text});
    int32_t first = builder_.add_rule({member + GrammarBuilder::ref(more) + close_text, close_text});
    return {after_member, first};
  }

  GrammarBuilder builder_;
  JsonTextRules text_;
  const json* root_ = nullptr;
  std::string root_key_;
  std::string root_path_;
  std::map<std::string, int32_t> ref_rules_;
};

}  // namespace

Grammar compile_json_schema(const nlohmann::json& schema) {
  SchemaCompiler compiler;
  int32_t root = compiler.compile_document(schema, "", "");
  return compiler.builder().finish(root);
}

Grammar compile_any_json_object() {
  SchemaCompiler compiler;
  return compiler.builder().finish(compiler.text().any_object());
}

Grammar compile_forced_tool_calls(const std::vector<ForcedTool>& tools, bool parallel) {
  SchemaCompiler compiler;
  GrammarBuilder& builder = compiler.builder();

  std::vector<Symbols> calls;
  for (size_t i = 0; i < tools.size(); ++i) {
    const ForcedTool& tool = tools[i];
    int32_t arguments = compiler.compile_document(tool.parameters, "tool" + std::to_string(i), tool.path);
    std::string head = "{\"name\":" + describe(json(tool.name)) + ",\"parameters\":";
    calls.push_back(builder.literal(head) + GrammarBuilder::ref(arguments) + builder.literal("}"));
  }
  int32_t call = builder.add_rule(calls);
  if (!parallel) return builder.finish(call);

  int32_t list = builder.separated(GrammarBuilder::ref(call), builder.literal(";"), 1, -1);
  return builder.finish(list);
}

Grammar compile_pythonic_tool_calls(const std::vector<ForcedTool>& tools, bool parallel) {
  SchemaCompiler compiler(LiteralSyntax::Python);
  GrammarBuilder& builder = compiler.builder();

  std::vector<Symbols> calls;
  for (size_t i = 0; i < tools.size(); ++i) {
    const ForcedTool& tool = tools[i];
    // parse_tool_calls reads a call name only when it starts with a letter or '_'.
    char head = tool.name.empty() ? '0' : tool.name[0];
    if (!(std::isalpha(static_cast<unsigned char>(head)) || head == '_')) continue;
    int32_t arguments = compiler.compile_keyword_arguments(tool.parameters, "tool" + std::to_string(i), tool.path);
    calls.push_back(builder.literal(tool.name + "(") + GrammarBuilder::ref(arguments));
  }
  if (calls.empty()) throw SchemaError("tools", "no tool name can be written as a pythonic call: names must start with a letter or '_'");

  int32_t call = builder.add_rule(calls);
  int32_t list = parallel ? builder.separated(GrammarBuilder::ref(call), builder.literal(", "), 1, -1) : call;
  int32_t root = builder.add_rule({builder.literal("[") + GrammarBuilder::ref(list) + builder.literal("]")});
  return builder.finish(root);
}

}  // namespace brasa
