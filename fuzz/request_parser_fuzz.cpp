// libFuzzer target for the request parser and validator: any body must either
// parse or raise ApiException with a 400, never crash or throw anything else.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "server/api_error.h"
#include "server/protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  try {
    brasa::server::ChatRequest chat = brasa::server::parse_chat_request(body);
    // The serialized messages must be valid JSON again.
    (void)brasa::server::to_wire(chat.messages);
  } catch (const brasa::server::ApiException& e) {
    if (e.error().status != 400) std::abort();
  }
  try {
    brasa::server::CompletionRequest completion = brasa::server::parse_completion_request(body);
    if (completion.prompts.empty()) std::abort();
  } catch (const brasa::server::ApiException& e) {
    if (e.error().status != 400) std::abort();
  }
  return 0;
}
