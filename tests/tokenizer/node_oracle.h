#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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

// Runs tests/node/tokenize_oracle.mjs on `request` (its "inputs" are filled
// in from `inputs`) and returns the ids per input. Sets `error` and returns
// an empty list when Node or the npm packages are missing.
inline std::vector<std::vector<int32_t>> run_node_oracle(nlohmann::json request, const std::vector<std::string>& inputs,
                                                         const std::string& name, std::string& error) {
  namespace fs = std::filesystem;
  request["inputs"] = nlohmann::json::array();
  for (const std::string& input : inputs) request["inputs"].push_back(base64_encode(input));

  const fs::path work = fs::path(BRASA_TEST_WORK_DIR) / "tokenizer_oracle";
  fs::create_directories(work);
  const fs::path request_path = work / (name + ".request.json");
  const fs::path response_path = work / (name + ".response.json");
  std::ofstream(request_path) << request.dump();

  const fs::path node_dir = fs::path(BRASA_SOURCE_DIR) / "tests" / "node";
  if (!fs::exists(node_dir / "node_modules" / "@lenml" / "tokenizers") ||
      !fs::exists(node_dir / "node_modules" / "js-tiktoken")) {
    error = "npm packages missing: run npm install in " + node_dir.string();
    return {};
  }
  const std::string command = "cd '" + node_dir.string() + "' && node tokenize_oracle.mjs < '" + request_path.string() +
                              "' > '" + response_path.string() + "'";
  const int status = std::system(command.c_str());
  if (status != 0) {
    error = "node oracle failed (exit status " + std::to_string(status) + "): " + command;
    return {};
  }

  std::ifstream in(response_path);
  std::stringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str()).get<std::vector<std::vector<int32_t>>>();
}

}  // namespace brasa::test
