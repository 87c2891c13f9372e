// Runs command lines for the CLI tests and collects what they print.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <string>
#include <utility>

namespace brasa {

// Runs a shell command line and returns its standard output and exit status
// (-1 when it could not start or did not exit normally).
inline std::pair<std::string, int> capture_output(const std::string& command_line) {
  FILE* pipe = popen(command_line.c_str(), "r");
  if (pipe == nullptr) return {"", -1};
  std::string output;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, n);
  const int status = pclose(pipe);
  return {output, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

// Runs `brasa ARGUMENTS` and returns stdout and stderr together, with the exit status.
inline std::pair<std::string, int> run_brasa(const std::string& arguments) {
  return capture_output(std::string(BRASA_BINARY) + " " + arguments + " 2>&1");
}

// Runs `brasa ARGUMENTS` and returns its standard output only, with the exit status.
inline std::pair<std::string, int> run_brasa_stdout(const std::string& arguments) {
  return capture_output(std::string(BRASA_BINARY) + " " + arguments + " 2>/dev/null");
}

}  // namespace brasa
