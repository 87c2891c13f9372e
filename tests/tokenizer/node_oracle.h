#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "test_work_dir.h"

namespace brasa::test {

inline std::string base64_encode(const std::string& bytes) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) out.push_back(kAlphabet[(v >> shift) & 63]);
  }
  if (i + 1 == bytes.size()) {
    const uint32_t v = uint8_t(bytes[i]) << 16;
    out += {kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == bytes.size()) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8);
    out += {kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63], '='};
  }
  return out;
}

// Result of one oracle run: the ids per input, or why there are none.
struct OracleResult {
  std::vector<std::vector<int32_t>> ids;
  std::string skip_reason;  // Node or the npm packages are missing
  std::string error;        // the oracle ran and failed
};

// Runs tests/node/tokenize_oracle.mjs on `request`, with its "inputs" filled
// in from `inputs`.
inline OracleResult run_node_oracle(nlohmann::json request, const std::vector<std::string>& inputs,
                                    const std::string& name) {
  OracleResult result;
  namespace fs = std::filesystem;
  request["inputs"] = nlohmann::json::array();
  for (const std::string& input : inputs) request["inputs"].push_back(base64_encode(input));

  const fs::path work = fs::path(::brasa::test::work_dir()) / "tokenizer_oracle";
  fs::create_directories(work);
  const fs::path request_path = work / (name + ".request.json");
  const fs::path response_path = work / (name + ".response.json");
  std::ofstream(request_path) << request.dump();

  const fs::path node_dir = fs::path(BRASA_SOURCE_DIR) / "tests" / "node";
  if (!fs::exists(node_dir / "node_modules" / "@lenml" / "tokenizers") ||
      !fs::exists(node_dir / "node_modules" / "js-tiktoken")) {
    result.skip_reason = "npm packages missing: run npm install in " + node_dir.string();
    return result;
  }
  if (std::system("node --version > /dev/null 2>&1") != 0) {
    result.skip_reason = "node not found";
    return result;
  }
  const std::string command = "cd '" + node_dir.string() + "' && node tokenize_oracle.mjs < '" + request_path.string() +
                              "' > '" + response_path.string() + "'";
  const int status = std::system(command.c_str());
  if (status != 0) {
    result.error = "node oracle failed (exit status " + std::to_string(status) + "): " + command;
    return result;
  }

  std::ifstream in(response_path);
  std::stringstream text;
  text << in.rdbuf();
  result.ids = nlohmann::json::parse(text.str()).get<std::vector<std::vector<int32_t>>>();
  return result;
}

}  // namespace brasa::test
