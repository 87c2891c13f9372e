#include "server/protocol.h"

#include <cmath>
#include <limits>

#include "server/api_error.h"

namespace brasa::server {

namespace {

using nlohmann::json;

// Deeper documents are rejected before parsing: copying or walking a parsed
// value recurses once per level, so 100,000 nested brackets in a 200 KB body
// would overflow the handler's stack.
constexpr int kMaxJsonDepth = 128;

bool exceeds_json_depth(std::string_view body, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

json parse_body(std::string_view body) {
  if (exceeds_json_depth(body, kMaxJsonDepth)) {
    throw ApiException(ApiError{400, "The request body nests JSON values more than " + std::to_string(kMaxJsonDepth) +
                                         " levels deep.", "invalid_request_error", "", "invalid_json"});
  }
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    throw ApiException(ApiError{400, "Invalid JSON in the request body.", "invalid_request_error", "", "invalid_json"});
  }
  if (!parsed.is_object()) throw invalid_field("", "The request body must be a JSON object.");
  return parsed;
}

// A field that is absent or null counts as unset, as in the OpenAI API.
const json* find_field(const json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<double> number_field(const json& object, const char* name, double min, double max) {
  const json* value = find_field(object, name);
  if (!value) return std::nullopt;
  if (!value->is_number()) throw invalid_field(name, std::string("'") + name + "' must be a number.");
  double number = value->get<double>();
  if (!std::isfinite(number) || number < min || number > max) {
    throw invalid_field(name, std::string("'") + name + "' must be between " + json(min).dump() + " and " +
                                  json(max).dump() + ", got " + value->dump() + ".");
  }
  return number;
}

std::optional<int64_t> integer_field(const json& object, const char* name, int64_t min, int64_t max) {
  const json* value = find_field(object, name);
  if (!value) return std::nullopt;
  if (!value->is_number_integer()) throw invalid_field(name, std::string("'") + name + "' must be an integer.");
  if (value->is_number_unsigned() && value->get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max())) {
    throw invalid_field(name, std::string("'") + name + "' is out of range: " + value->dump() + ".");
  }
  int64_t number = value->get<int64_t>();
  if (number < min || number > max) {
    throw invalid_field(name, std::string("'") + name + "' must be between " + std::to_string(min) + " and " +
                                  std::to_string(max) + ", got " + std::to_string(number) + ".");
  }
  return number;
}

std::optional<bool> bool_field(const json& object, const char* name) {
  const json* value = find_field(object, name);
  if (!value) return std::nullopt;
  if (!value->is_boolean()) throw invalid_field(name, std::string("'") + name + "' must be a boolean.");
  return value->get<bool>();
}

std::optional<std::string> string_field(const json& object, const char* name) {
  const json* value = find_field(object, name);
  if (!value) return std::nullopt;
  if (!value->is_string()) throw invalid_field(name, std::string("'") + name + "' must be a string.");
  return value->get<std::string>();
}

void parse_stop(const json& body, CommonRequest& request) {
  const json* stop = find_field(body, "stop");
  if (!stop) return;
  if (stop->is_string()) {
    request.stop.push_back(stop->get<std::string>());
  } else if (stop->is_array()) {
    if (stop->size() > size_t(kMaxStopStrings)) {
      throw invalid_field("stop", "'stop' accepts at most " + std::to_string(kMaxStopStrings) + " strings.");
    }
    for (const json& item : *stop) {
      if (!item.is_string()) throw invalid_field("stop", "'stop' must be a string or a list of strings.");
      request.stop.push_back(item.get<std::string>());
    }
  } else {
    throw invalid_field("stop", "'stop' must be a string or a list of strings.");
  }
  for (const std::string& text : request.stop) {
    if (text.empty()) throw invalid_field("stop", "'stop' strings must not be empty.");
  }
}

void parse_logit_bias(const json& body, SamplingParams& sampling) {
  const json* bias = find_field(body, "logit_bias");
  if (!bias) return;
  if (!bias->is_object()) throw invalid_field("logit_bias", "'logit_bias' must be an object mapping token ids to biases.");
  for (auto it = bias->begin(); it != bias->end(); ++it) {
    const std::string& key = it.key();
    int64_t token = -1;
    bool key_ok = !key.empty() && key.size() <= 10;
    for (char c : key) key_ok = key_ok && c >= '0' && c <= '9';
    if (key_ok) token = std::stoll(key);
    if (!key_ok || token > std::numeric_limits<int32_t>::max()) {
      throw invalid_field("logit_bias", "'logit_bias' keys must be token ids, got '" + key + "'.");
    }
    if (!it.value().is_number() || !std::isfinite(it.value().get<double>()) || std::abs(it.value().get<double>()) > 100.0) {
      throw invalid_field("logit_bias", "'logit_bias' values must be numbers between -100 and 100.");
    }
    sampling.logit_bias.emplace_back(int32_t(token), it.value().get<float>());
  }
}

// Fields both endpoints accept, with the ranges of the OpenAI API reference
// and vLLM's extensions (top_k, min_p, repetition_penalty, ignore_eos,
// prompt_logprobs).
void parse_common(const json& body, CommonRequest& request) {
  auto model = string_field(body, "model");
  if (!model) throw invalid_field("model", "'model' is required.");
  request.model = *model;

  SamplingParams& sampling = request.sampling;
  if (auto value = number_field(body, "temperature", 0.0, 2.0)) sampling.temperature = float(*value);
  if (auto value = number_field(body, "top_p", 0.0, 1.0)) {
    if (*value <= 0.0) throw invalid_field("top_p", "'top_p' must be greater than 0 and at most 1.");
    sampling.top_p = float(*value);
  }
  if (auto value = integer_field(body, "top_k", -1, std::numeric_limits<int32_t>::max())) {
    sampling.top_k = *value < 0 ? 0 : int32_t(*value);  // -1 is vLLM's spelling of "off"
  }
  if (auto value = number_field(body, "min_p", 0.0, 1.0)) sampling.min_p = float(*value);
  if (auto value = number_field(body, "repetition_penalty", 0.0, 1e9)) {
    if (*value <= 0.0) throw invalid_field("repetition_penalty", "'repetition_penalty' must be greater than 0.");
    sampling.repetition_penalty = float(*value);
  }
  if (auto value = number_field(body, "presence_penalty", -2.0, 2.0)) sampling.presence_penalty = float(*value);
  if (auto value = number_field(body, "frequency_penalty", -2.0, 2.0)) sampling.frequency_penalty = float(*value);
  if (auto value = integer_field(body, "seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max())) {
    sampling.seed = uint64_t(*value);
  }
  parse_logit_bias(body, sampling);
  if (auto value = integer_field(body, "prompt_logprobs", 0, kMaxTopLogprobs)) sampling.prompt_logprobs = int32_t(*value);

  if (auto value = integer_field(body, "n", 1, kMaxChoices)) request.n = int32_t(*value);
  parse_stop(body, request);
  if (auto value = bool_field(body, "stream")) request.stream = *value;
  // Streamed responses carry no prompt_logprobs, so vLLM's rule applies: a
  // positive value with stream is an error rather than a silently missing field.
  if (request.stream && sampling.prompt_logprobs > 0) {
    throw invalid_field("prompt_logprobs", "'prompt_logprobs' is not available when 'stream' is true; set 'stream' to false.");
  }
  if (const json* options = find_field(body, "stream_options")) {
    if (!options->is_object()) throw invalid_field("stream_options", "'stream_options' must be an object.");
    if (!request.stream) throw invalid_field("stream_options", "'stream_options' is only allowed when 'stream' is true.");
    if (auto value = bool_field(*options, "include_usage")) request.include_usage = *value;
  }
  if (auto value = bool_field(body, "ignore_eos")) request.ignore_eos = *value;
  if (auto value = string_field(body, "user")) request.user = *value;
}

// Joins the text parts of a content list; other part types are rejected
// because brasa serves text-only models.
std::string join_text_parts(const json& parts, size_t message_index) {
  std::string param = "messages[" + std::to_string(message_index) + "].content";
  std::string text;
  for (const json& part : parts) {
    if (!part.is_object()) throw invalid_field(param, "Content parts must be objects.");
    auto type = part.find("type");
    if (type == part.end() || !type->is_string()) throw invalid_field(param, "A content part needs a string 'type'.");
    if (*type != "text") {
      throw invalid_field(param, "Content part type '" + type->get<std::string>() + "' is not supported; only 'text' is.");
    }
    auto part_text = part.find("text");
    if (part_text == part.end() || !part_text->is_string()) throw invalid_field(param, "A text part needs a string 'text'.");
    if (!text.empty()) text += "\n";
    text += part_text->get<std::string>();
  }
  return text;
}

json parse_messages(const json& body) {
  const json* messages = find_field(body, "messages");
  if (!messages) throw invalid_field("messages", "'messages' is required.");
  if (!messages->is_array()) throw invalid_field("messages", "'messages' must be a list of messages.");
  if (messages->empty()) throw invalid_field("messages", "'messages' must contain at least one message.");

  json result = json::array();
  for (size_t i = 0; i < messages->size(); ++i) {
    const json& message = (*messages)[i];
    std::string param = "messages[" + std::to_string(i) + "]";
    if (!message.is_object()) throw invalid_field(param, "Each message must be an object.");
    auto role = message.find("role");
    if (role == message.end() || !role->is_string()) throw invalid_field(param + ".role", "Each message needs a string 'role'.");
    static const char* const kRoles[] = {"system", "developer", "user", "assistant", "tool", "ipython"};
    bool known = false;
    for (const char* name : kRoles) known = known || *role == name;
    if (!known) throw invalid_field(param + ".role", "Unknown role '" + role->get<std::string>() + "'.");

    json copy = message;
    auto content = message.find("content");
    bool has_tool_calls = message.contains("tool_calls") && !message["tool_calls"].is_null();
    if (content == message.end() || content->is_null()) {
      // Only an assistant message that calls tools may leave content out.
      if (!(*role == "assistant" && has_tool_calls)) throw invalid_field(param + ".content", "The message needs 'content'.");
      copy["content"] = "";
    } else if (content->is_array()) {
      copy["content"] = join_text_parts(*content, i);
    } else if (!content->is_string()) {
      throw invalid_field(param + ".content", "'content' must be a string or a list of content parts.");
    }
    if (has_tool_calls && !message["tool_calls"].is_array()) throw invalid_field(param + ".tool_calls", "'tool_calls' must be a list.");
    result.push_back(std::move(copy));
  }
  return result;
}

void parse_tools(const json& body, ChatRequest& request) {
  if (const json* tools = find_field(body, "tools")) {
    if (!tools->is_array()) throw invalid_field("tools", "'tools' must be a list of tool definitions.");
    for (size_t i = 0; i < tools->size(); ++i) {
      const json& tool = (*tools)[i];
      std::string param = "tools[" + std::to_string(i) + "]";
      if (!tool.is_object() || tool.value("type", json()) != "function") {
        throw invalid_field(param, "Each tool must be an object with type 'function'.");
      }
      auto function = tool.find("function");
      if (function == tool.end() || !function->is_object() || !function->contains("name") || !(*function)["name"].is_string()) {
        throw invalid_field(param + ".function", "Each tool needs a 'function' object with a string 'name'.");
      }
    }
    if (!tools->empty()) request.tools = *tools;
  }
  if (const json* choice = find_field(body, "tool_choice")) {
    if (choice->is_string()) {
      if (*choice != "none" && *choice != "auto" && *choice != "required") {
        throw invalid_field("tool_choice", "'tool_choice' must be 'none', 'auto', 'required' or a named function.");
      }
    } else if (!choice->is_object() || choice->value("type", json()) != "function" || !choice->contains("function") ||
               !(*choice)["function"].is_object() || !(*choice)["function"].contains("name") ||
               !(*choice)["function"]["name"].is_string()) {
      throw invalid_field("tool_choice", "'tool_choice' must be 'none', 'auto', 'required' or a named function.");
    }
    if (request.tools.is_null() && *choice != "none") {
      throw invalid_field("tool_choice", "'tool_choice' needs 'tools'.");
    }
    request.tool_choice = *choice;
  }
  if (const json* format = find_field(body, "response_format")) {
    if (!format->is_object() || !format->contains("type") || !(*format)["type"].is_string()) {
      throw invalid_field("response_format", "'response_format' must be an object with a string 'type'.");
    }
    const std::string type = (*format)["type"];
    if (type == "json_schema") {
      auto schema = format->find("json_schema");
      if (schema == format->end() || !schema->is_object()) {
        throw invalid_field("response_format", "'response_format' of type 'json_schema' needs a 'json_schema' object.");
      }
    } else if (type != "text" && type != "json_object") {
      throw invalid_field("response_format", "'response_format.type' must be 'text', 'json_object' or 'json_schema'.");
    }
    request.response_format = *format;
  }
}

CompletionPrompt parse_one_prompt(const json& item) {
  CompletionPrompt prompt;
  if (item.is_string()) {
    prompt.text = item.get<std::string>();
    if (prompt.text.empty()) throw invalid_field("prompt", "'prompt' must not be empty.");
    return prompt;
  }
  if (!item.is_array()) throw invalid_field("prompt", "'prompt' must be a string, a list of strings or a list of token ids.");
  if (item.empty()) throw invalid_field("prompt", "'prompt' must not be empty.");
  prompt.is_token_ids = true;
  for (const json& token : item) {
    if (!token.is_number_integer() || token.get<int64_t>() < 0 || token.get<int64_t>() > std::numeric_limits<int32_t>::max()) {
      throw invalid_field("prompt", "'prompt' token ids must be non-negative integers.");
    }
    prompt.token_ids.push_back(int32_t(token.get<int64_t>()));
  }
  return prompt;
}

}  // namespace

ChatRequest parse_chat_request(std::string_view body_text) {
  json body = parse_body(body_text);
  ChatRequest request;
  request.messages = parse_messages(body);
  parse_common(body, request);

  // max_completion_tokens replaces max_tokens in the current API; either may be sent.
  auto max_tokens = integer_field(body, "max_tokens", 1, std::numeric_limits<int32_t>::max());
  auto max_completion_tokens = integer_field(body, "max_completion_tokens", 1, std::numeric_limits<int32_t>::max());
  if (max_completion_tokens) request.max_tokens = int32_t(*max_completion_tokens);
  else if (max_tokens) request.max_tokens = int32_t(*max_tokens);

  bool logprobs = bool_field(body, "logprobs").value_or(false);
  auto top_logprobs = integer_field(body, "top_logprobs", 0, kMaxTopLogprobs);
  if (top_logprobs && !logprobs) throw invalid_field("top_logprobs", "'top_logprobs' needs 'logprobs' set to true.");
  if (logprobs) request.sampling.logprobs = int32_t(top_logprobs.value_or(0));

  parse_tools(body, request);
  return request;
}

CompletionRequest parse_completion_request(std::string_view body_text) {
  json body = parse_body(body_text);
  CompletionRequest request;
  parse_common(body, request);

  const json* prompt = find_field(body, "prompt");
  if (!prompt) throw invalid_field("prompt", "'prompt' is required.");
  if (prompt->is_string()) {
    request.prompts.push_back(parse_one_prompt(*prompt));
  } else if (prompt->is_array()) {
    if (prompt->empty()) throw invalid_field("prompt", "'prompt' must not be empty.");
    if ((*prompt)[0].is_number()) {
      request.prompts.push_back(parse_one_prompt(*prompt));  // one prompt of token ids
    } else {
      for (const json& item : *prompt) {
        if (!item.is_string() && !item.is_array()) {
          throw invalid_field("prompt", "'prompt' must be a string, a list of strings or a list of token ids.");
        }
        request.prompts.push_back(parse_one_prompt(item));
      }
    }
  } else {
    throw invalid_field("prompt", "'prompt' must be a string, a list of strings or a list of token ids.");
  }

  // max_tokens 0 is allowed here: with echo and logprobs it scores the prompt.
  if (auto value = integer_field(body, "max_tokens", 0, std::numeric_limits<int32_t>::max())) request.max_tokens = int32_t(*value);
  if (auto value = bool_field(body, "echo")) request.echo = *value;
  if (auto value = integer_field(body, "logprobs", 0, kMaxTopLogprobs)) request.sampling.logprobs = int32_t(*value);
  if (request.max_tokens && *request.max_tokens == 0 && !request.echo) {
    throw invalid_field("max_tokens", "'max_tokens' may be 0 only with 'echo' set to true.");
  }
  // Insertion needs a model trained for fill-in-the-middle, which the Llama models served here are not.
  if (find_field(body, "suffix")) throw invalid_field("suffix", "'suffix' is not supported by this server; remove it.");

  // best_of as OpenAI and vLLM define it: best_of sequences are generated and
  // the n with the highest cumulative logprob are returned, so nothing can be
  // streamed before all of them finish.
  if (auto value = integer_field(body, "best_of", 1, kMaxChoices)) {
    if (*value < request.n) {
      throw invalid_field("best_of", "'best_of' must be at least 'n' (" + std::to_string(request.n) + "), got " +
                                         std::to_string(*value) + ".");
    }
    if (request.stream && *value > request.n) {
      throw invalid_field("best_of", "'best_of' greater than 'n' cannot be streamed; set 'stream' to false.");
    }
    request.best_of = int32_t(*value);
  }
  // Echoed prompt tokens carry logprobs in the legacy shape, so the engine scores the prompt.
  if (request.echo && request.sampling.logprobs >= 0 && request.sampling.prompt_logprobs < request.sampling.logprobs) {
    request.sampling.prompt_logprobs = request.sampling.logprobs;
  }
  return request;
}

}  // namespace brasa::server
