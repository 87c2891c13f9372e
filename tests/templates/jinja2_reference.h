#pragma once

// Runs tools/templates/render_jinja2.py (Python's jinja2, set up like Hugging Face
// transformers) and returns its JSON output. The output is cached under the test
// work directory, keyed by the arguments and the content of every input file, so
// that ctest, which starts one process per test, runs Python once per input set.

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <unistd.h>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace brasa::test {

// strftime_now() renders this time on both sides: 2025-12-04 00:00:00 UTC.
constexpr std::time_t kReferenceNow = 1764806400;

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Returns the parsed output of `render_jinja2.py --now kReferenceNow ARGS`, or a
// null json when Python fails. `inputs` are the files the output depends on.
inline nlohmann::json run_jinja2_reference(const std::vector<std::string>& arguments,
                                           const std::vector<std::filesystem::path>& inputs) {
  namespace fs = std::filesystem;
  // Both sides format strftime_now() in the local time zone, so pin it to UTC.
  setenv("TZ", "UTC", 1);
  tzset();

  fs::path script = fs::path(BRASA_SOURCE_DIR) / "tools/templates/render_jinja2.py";
  std::string command = "/usr/bin/python3 '" + script.string() + "' --now " + std::to_string(kReferenceNow);
  for (const std::string& argument : arguments) command += " '" + argument + "'";

  std::string key = command + read_text(script);
  for (const fs::path& input : inputs) key += read_text(input);
  fs::path cache_dir = fs::path(BRASA_TEST_WORK_DIR) / "templates";
  fs::create_directories(cache_dir);
  fs::path cache = cache_dir / ("jinja2_reference_" + std::to_string(std::hash<std::string>{}(key)) + ".json");
  if (fs::exists(cache)) {
    nlohmann::json cached = nlohmann::json::parse(read_text(cache), nullptr, false);
    if (!cached.is_discarded()) return cached;
  }

  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return nlohmann::json();
  std::string output;
  char buffer[65536];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, n);
  if (pclose(pipe) != 0) return nlohmann::json();
  nlohmann::json result = nlohmann::json::parse(output, nullptr, false);
  if (result.is_discarded()) return nlohmann::json();

  // Write then rename, so a parallel ctest process never reads half a file.
  fs::path temporary = cache;
  temporary += "." + std::to_string(static_cast<long>(getpid())) + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary);
    out << output;
  }
  std::error_code ec;
  fs::rename(temporary, cache, ec);
  return result;
}

}  // namespace brasa::test
