#include "kernels/kv_pool.h"

#include <algorithm>
#include <cctype>

namespace brasa {

size_t kv_element_bytes(DType dtype) {
  switch (dtype) {
    case DType::F32:
      return 4;
    case DType::F16:
      return 2;
    default:
      throw Error(std::string("unsupported KV cache type ") + dtype_name(dtype) + ": expected F32 or F16");
  }
}

DType parse_kv_cache_dtype(const std::string& text) {
  std::string lower = text;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  if (lower == "f32" || lower == "float32") return DType::F32;
  if (lower == "f16" || lower == "float16") return DType::F16;
  throw Error("invalid KV cache type '" + text + "': expected f32 or f16");
}

}  // namespace brasa
