#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "kernels/backend.h"
#include "models/model.h"

namespace brasa {
class ThreadPool;
}

namespace brasa::cli {

// Registers --kernels and --kv-cache-dtype, which serve, generate and
// perplexity share. An empty `kernels` means the fastest set this CPU runs.
void add_backend_options(CLI::App& command, std::string& kernels, std::string& kv_cache_dtype);

// Creates the CPU backend with the kernel set named `kernels`, or the fastest
// one when it is empty. Throws brasa::Error when this CPU cannot run the set.
std::unique_ptr<Backend> make_backend(ThreadPool& pool, const std::string& kernels);

// Registers --mmap, which sets where the weights live (LoadOptions::weights).
void add_load_options(CLI::App& command, LoadOptions& options);

}  // namespace brasa::cli
