#include "core/dtype.h"

#include <cmath>

#include "core/error.h"

namespace brasa {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::F8_E4M3: return "F8_E4M3";
    case DType::Q8_0: return "Q8_0";
    case DType::Q4_0: return "Q4_0";
    case DType::I8: return "I8";
    case DType::I16: return "I16";
    case DType::I32: return "I32";
    case DType::I64: return "I64";
    case DType::U8: return "U8";
    case DType::BOOL: return "BOOL";
    case DType::F64: return "F64";
  }
  return "unknown";
}

bool dtype_is_block_quantized(DType t) { return t == DType::Q8_0 || t == DType::Q4_0; }

size_t dtype_row_bytes(DType t, int64_t n) {
  switch (t) {
    case DType::F32: case DType::I32: return size_t(n) * 4;
    case DType::F16: case DType::BF16: case DType::I16: return size_t(n) * 2;
    case DType::F8_E4M3: case DType::I8: case DType::U8: case DType::BOOL: return size_t(n);
    case DType::I64: case DType::F64: return size_t(n) * 8;
    case DType::Q8_0:
      BRASA_CHECK(n % kQuantBlock == 0, "Q8_0 row length must be a multiple of 32");
      return size_t(n / kQuantBlock) * 34;
    case DType::Q4_0:
      BRASA_CHECK(n % kQuantBlock == 0, "Q4_0 row length must be a multiple of 32");
      return size_t(n / kQuantBlock) * 18;
  }
  return 0;
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exponent = (h >> 10) & 0x1f;
  uint32_t mantissa = h & 0x3ff;
  uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {
      // Subnormal: normalize into an F32 exponent.
      exponent = 127 - 15 + 1;
      while ((mantissa & 0x400) == 0) {
        mantissa <<= 1;
        exponent--;
      }
      mantissa &= 0x3ff;
      bits = sign | (exponent << 23) | (mantissa << 13);
    }
  } else if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t f32_to_f16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  uint32_t sign = (bits >> 16) & 0x8000;
  int32_t exponent = int32_t((bits >> 23) & 0xff) - 127 + 15;
  uint32_t mantissa = bits & 0x7fffff;
  if (((bits >> 23) & 0xff) == 0xff) return uint16_t(sign | 0x7c00 | (mantissa ? 0x200 : 0));
  if (exponent >= 0x1f) return uint16_t(sign | 0x7c00);
  if (exponent <= 0) {
    if (exponent < -10) return uint16_t(sign);
    mantissa |= 0x800000;
    uint32_t shift = uint32_t(14 - exponent);
    uint32_t half = mantissa >> shift;
    uint32_t rest = mantissa & ((1u << shift) - 1);
    uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (half & 1))) half++;
    return uint16_t(sign | half);
  }
  uint32_t half = sign | (uint32_t(exponent) << 10) | (mantissa >> 13);
  uint32_t rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (half & 1))) half++;
  return uint16_t(half);
}

float fp8_e4m3_to_f32(uint8_t v) {
  uint32_t sign = v >> 7;
  uint32_t exponent = (v >> 3) & 0xf;
  uint32_t mantissa = v & 0x7;
  float magnitude;
  if (exponent == 0xf && mantissa == 0x7) return std::nanf("");
  if (exponent == 0) {
    magnitude = std::ldexp(float(mantissa), -9);  // subnormal: m/8 * 2^-6
  } else {
    magnitude = std::ldexp(1.0f + float(mantissa) / 8.0f, int(exponent) - 7);
  }
  return sign ? -magnitude : magnitude;
}

uint8_t f32_to_fp8_e4m3(float f) {
  if (std::isnan(f)) return 0x7f;
  uint8_t sign = std::signbit(f) ? 0x80 : 0;
  float a = std::fabs(f);
  if (a >= 448.0f) return sign | 0x7e;
  // Search the 127 non-negative codes for the nearest value, ties to even code.
  // A linear scan is fine: conversion runs only when writing test checkpoints.
  uint8_t best = 0;
  float best_error = a;
  for (uint8_t code = 1; code <= 0x7e; ++code) {
    float error = std::fabs(fp8_e4m3_to_f32(code) - a);
    if (error < best_error || (error == best_error && (code & 1) == 0)) {
      best = code;
      best_error = error;
    }
  }
  return sign | best;
}

const float* fp8_e4m3_table() {
  static const auto table = [] {
    static float values[256];
    for (int i = 0; i < 256; ++i) values[i] = fp8_e4m3_to_f32(uint8_t(i));
    return values;
  }();
  return table;
}

}  // namespace brasa
