#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace brasa {

// Element types of stored tensors. Q8_0 and Q4_0 are llama.cpp's block formats:
// 32 weights share one F16 scale (Q8_0: 34 bytes a block, Q4_0: 18 bytes).
enum class DType : uint8_t { F32, F16, BF16, F8_E4M3, Q8_0, Q4_0, I8, I16, I32, I64, U8, BOOL, F64 };

inline constexpr int64_t kQuantBlock = 32;

const char* dtype_name(DType t);

// Bytes taken by n consecutive elements; for block types n must be a multiple of 32.
size_t dtype_row_bytes(DType t, int64_t n);

bool dtype_is_block_quantized(DType t);

inline float bf16_to_f32(uint16_t h) {
  uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Round to nearest even, as PyTorch and the Hugging Face converters do.
inline uint16_t f32_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return uint16_t((bits >> 16) | 0x40);  // quiet NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return uint16_t(bits >> 16);
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

// FP8 E4M3 "fn" variant (no infinities, 0x7f and 0xff are NaN, max 448), the type
// of PyTorch's float8_e4m3fn used by FP8 Llama checkpoints.
float fp8_e4m3_to_f32(uint8_t v);
uint8_t f32_to_fp8_e4m3(float f);  // saturates to +-448, rounds to nearest even

// Table of all 256 FP8 values, for kernels that decode with a lookup.
const float* fp8_e4m3_table();

}  // namespace brasa
