#pragma once

#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace brasa::server {

// An OpenAI-style API error: the HTTP status and the fields of the
// {"error": {"message", "type", "param", "code"}} body. `param` names the
// request field at fault and is empty (sent as null) when none is.
struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;
  std::string code;
};

// Thrown by the request parser and the handlers; the router turns it into a response.
class ApiException : public std::runtime_error {
 public:
  explicit ApiException(ApiError error) : std::runtime_error(error.message), error_(std::move(error)) {}
  const ApiError& error() const { return error_; }

 private:
  ApiError error_;
};

// A 400 invalid_request_error naming the field.
inline ApiException invalid_field(const std::string& param, const std::string& message) {
  return ApiException(ApiError{400, message, "invalid_request_error", param, "invalid_value"});
}

inline nlohmann::json error_body(const ApiError& error) {
  nlohmann::json body;
  body["error"]["message"] = error.message;
  body["error"]["type"] = error.type;
  body["error"]["param"] = error.param.empty() ? nlohmann::json() : nlohmann::json(error.param);
  body["error"]["code"] = error.code.empty() ? nlohmann::json() : nlohmann::json(error.code);
  return body;
}

// Serializes JSON for the wire. Token text may hold partial UTF-8 sequences, so
// invalid bytes become U+FFFD instead of making dump() throw.
inline std::string to_wire(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace brasa::server
