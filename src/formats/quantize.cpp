#include "formats/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"

namespace brasa {

namespace {

template <typename T>
void append(std::vector<uint8_t>& out, T value) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(&value);
  out.insert(out.end(), bytes, bytes + sizeof(T));
}

uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

void quantize_q8_0_blocks(const float* values, int64_t n, std::vector<uint8_t>& out) {
  for (int64_t block = 0; block < n; block += kQuantBlock) {
    float max_abs = 0.0f;
    for (int64_t i = 0; i < kQuantBlock; ++i) max_abs = std::max(max_abs, std::fabs(values[block + i]));

    // The inverse comes from the F32 scale, not the F16 one that is stored.
    const float scale = max_abs / 127.0f;
    const float inverse = scale != 0.0f ? 1.0f / scale : 0.0f;
    append<uint16_t>(out, f32_to_f16(scale));
    for (int64_t i = 0; i < kQuantBlock; ++i) {
      append<int8_t>(out, static_cast<int8_t>(std::round(values[block + i] * inverse)));
    }
  }
}

void check_whole_blocks(DType dtype, int64_t n) {
  if (n % kQuantBlock != 0) {
    throw Error(std::string(dtype_name(dtype)) + " rows need a multiple of 32 values, got " + std::to_string(n));
  }
}

}  // namespace

void quantize_q4_0(const float* values, int64_t n, std::vector<uint8_t>& out) {
  check_whole_blocks(DType::Q4_0, n);
  constexpr int64_t kHalf = kQuantBlock / 2;
  for (int64_t block = 0; block < n; block += kQuantBlock) {
    const float* x = values + block;

    // The signed value of largest magnitude maps to quant 0, so it is exact.
    float max_abs = 0.0f;
    float max_signed = 0.0f;
    for (int64_t i = 0; i < kQuantBlock; ++i) {
      if (max_abs < std::fabs(x[i])) {
        max_abs = std::fabs(x[i]);
        max_signed = x[i];
      }
    }
    const float scale = max_signed / -8.0f;
    const float inverse = scale != 0.0f ? 1.0f / scale : 0.0f;
    append<uint16_t>(out, f32_to_f16(scale));

    // Truncation after adding 8.5 rounds half up; the cast to int8 first
    // matches GGML for the in-range values 0..16.
    for (int64_t j = 0; j < kHalf; ++j) {
      const auto low = static_cast<uint8_t>(std::min<int>(15, static_cast<int8_t>(x[j] * inverse + 8.5f)));
      const auto high = static_cast<uint8_t>(std::min<int>(15, static_cast<int8_t>(x[j + kHalf] * inverse + 8.5f)));
      out.push_back(static_cast<uint8_t>(low | (high << 4)));
    }
  }
}

void quantize_row(DType dtype, const float* values, int64_t n, std::vector<uint8_t>& out) {
  switch (dtype) {
    case DType::F32:
      out.insert(out.end(), reinterpret_cast<const uint8_t*>(values), reinterpret_cast<const uint8_t*>(values + n));
      return;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) append<uint16_t>(out, f32_to_f16(values[i]));
      return;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) append<uint16_t>(out, f32_to_bf16(values[i]));
      return;
    case DType::Q8_0:
      check_whole_blocks(DType::Q8_0, n);
      quantize_q8_0_blocks(values, n, out);
      return;
    case DType::Q4_0:
      quantize_q4_0(values, n, out);
      return;
    default:
      break;
  }
  throw Error(std::string("cannot quantize to dtype ") + dtype_name(dtype) +
              " (supported: F32, F16, BF16, Q8_0, Q4_0; FP8 rows need a scale)");
}

float quantize_fp8_row(const float* values, int64_t n, std::vector<uint8_t>& out) {
  float max_abs = 0.0f;
  for (int64_t i = 0; i < n; ++i) max_abs = std::max(max_abs, std::fabs(values[i]));
  const float scale = max_abs > 0.0f ? max_abs / 448.0f : 1.0f;
  for (int64_t i = 0; i < n; ++i) out.push_back(f32_to_fp8_e4m3(values[i] / scale));
  return scale;
}

void dequantize_row(DType dtype, const uint8_t* data, int64_t n, float* out, float fp8_scale) {
  switch (dtype) {
    case DType::F32:
      std::memcpy(out, data, size_t(n) * 4);
      return;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) out[i] = f16_to_f32(load_u16(data + 2 * i));
      return;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(load_u16(data + 2 * i));
      return;
    case DType::F8_E4M3: {
      const float* table = fp8_e4m3_table();
      for (int64_t i = 0; i < n; ++i) out[i] = table[data[i]] * fp8_scale;
      return;
    }
    case DType::Q8_0:
      check_whole_blocks(DType::Q8_0, n);
      for (int64_t block = 0; block < n / kQuantBlock; ++block) {
        const uint8_t* b = data + block * 34;
        const float scale = f16_to_f32(load_u16(b));
        for (int64_t i = 0; i < kQuantBlock; ++i) {
          out[block * kQuantBlock + i] = scale * float(static_cast<int8_t>(b[2 + i]));
        }
      }
      return;
    case DType::Q4_0:
      check_whole_blocks(DType::Q4_0, n);
      for (int64_t block = 0; block < n / kQuantBlock; ++block) {
        const uint8_t* b = data + block * 18;
        const float scale = f16_to_f32(load_u16(b));
        float* y = out + block * kQuantBlock;
        for (int64_t j = 0; j < kQuantBlock / 2; ++j) {
          y[j] = scale * float(int(b[2 + j] & 0x0f) - 8);
          y[j + kQuantBlock / 2] = scale * float(int(b[2 + j] >> 4) - 8);
        }
      }
      return;
    default:
      break;
  }
  throw Error(std::string("cannot decode tensors of dtype ") + dtype_name(dtype) +
              " (supported: F32, F16, BF16, F8_E4M3, Q8_0, Q4_0)");
}

}  // namespace brasa
