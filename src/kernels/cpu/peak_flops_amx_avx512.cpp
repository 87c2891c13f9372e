#pragma GCC target("amx-tile,amx-bf16,amx-int8")

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/cpu/simd_kernels.h"

namespace brasa {

namespace {

struct alignas(64) TileConfig {
  uint8_t palette_id;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

void load_full_tile_config() {
  TileConfig config;
  std::memset(&config, 0, sizeof(config));
  config.palette_id = 1;
  for (int i = 0; i < 8; ++i) {
    config.colsb[i] = 64;
    config.rows[i] = 16;
  }
  _tile_loadconfig(&config);
}

}  // namespace

// Four independent accumulator tiles hide the tdpbf16ps latency. The operand
// tiles are loaded once, so the loop measures the tile unit alone, without
// the tile loads that a real matmul also needs.
float amx_bf16_loop(int64_t iterations) {
  load_full_tile_config();

  alignas(64) uint16_t operand[16 * 32];
  for (uint16_t& value : operand) value = 0x3c00;  // BF16 2^-7
  _tile_loadd(4, operand, 64);
  _tile_loadd(5, operand, 64);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int64_t n = 0; n < iterations; ++n) {
    _tile_dpbf16ps(0, 4, 5);
    _tile_dpbf16ps(1, 4, 5);
    _tile_dpbf16ps(2, 4, 5);
    _tile_dpbf16ps(3, 4, 5);
  }

  alignas(64) float result[16 * 16];
  _tile_stored(0, result, 64);
  float sum = result[0];
  _tile_stored(3, result, 64);
  sum += result[255];
  _tile_release();
  return sum;
}

// The same loop with tdpbssd: 16 x 16 x 64 int8 multiply-adds per tile.
float amx_int8_loop(int64_t iterations) {
  load_full_tile_config();

  alignas(64) int8_t operand[16 * 64];
  std::memset(operand, 1, sizeof(operand));
  _tile_loadd(4, operand, 64);
  _tile_loadd(5, operand, 64);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int64_t n = 0; n < iterations; ++n) {
    _tile_dpbssd(0, 4, 5);
    _tile_dpbssd(1, 4, 5);
    _tile_dpbssd(2, 4, 5);
    _tile_dpbssd(3, 4, 5);
  }

  alignas(64) int32_t result[16 * 16];
  _tile_stored(0, result, 64);
  int64_t sum = result[0];
  _tile_stored(3, result, 64);
  sum += result[255];
  _tile_release();
  return float(sum);
}

}  // namespace brasa
