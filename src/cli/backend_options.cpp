#include "cli/backend_options.h"

namespace brasa::cli {

void add_backend_options(CLI::App& command, std::string& kernels, std::string& kv_cache_dtype) {
  command.add_option("--kernels", kernels,
                     "CPU kernel set: scalar, avx2, avx512, avx512-vbmi or amx (default: the fastest this CPU runs); "
                     "scalar with --kv-cache-dtype f16 reproduces llama.cpp's CPU logits most closely");
  command
      .add_option("--kv-cache-dtype", kv_cache_dtype,
                  "KV cache element type: f32, or f16 (half the memory, llama.cpp's attention arithmetic)")
      ->capture_default_str();
}

void add_load_options(CLI::App& command, LoadOptions& options) {
  command.add_flag_callback(
      "--mmap", [&options] { options.weights = FileResidency::kMapped; },
      "Use the weight files in place through a memory mapping: starts at once and shares the page cache, "
      "but decodes slower than the default, which reads the weights into memory backed by huge pages");
}

std::unique_ptr<Backend> make_backend(ThreadPool& pool, const std::string& kernels) {
  return kernels.empty() ? make_cpu_backend(pool) : make_cpu_backend(pool, kernels);
}

}  // namespace brasa::cli
