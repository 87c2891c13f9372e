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

std::unique_ptr<Backend> make_backend(ThreadPool& pool, const std::string& kernels) {
  return kernels.empty() ? make_cpu_backend(pool) : make_cpu_backend(pool, kernels);
}

}  // namespace brasa::cli
