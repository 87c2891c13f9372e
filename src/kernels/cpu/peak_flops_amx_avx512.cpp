#pragma GCC target("amx-tile,amx-bf16,amx-int8")

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/cpu/amx_tile_config.h"
#include "kernels/cpu/simd_kernels.h"

namespace brasa {

namespace {

// Loads `operand` (1 KiB) into tiles 4 and 5, runs `iterations` rounds of
// `four_dots` (one product into each of tiles 0 to 3), and returns two
// accumulator elements, so the work cannot be optimized away.
template <class Element, class FourDots>
float run_tile_loop(int64_t iterations, const void* operand, FourDots four_dots) {
  AmxTileConfig config;
  for (int i = 0; i < 8; ++i) config.set(i, 16, 64);
  _tile_loadconfig(&config);

  _tile_loadd(4, operand, 64);
  _tile_loadd(5, operand, 64);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int64_t n = 0; n < iterations; ++n) four_dots();

  alignas(64) Element result[16 * 16];
  _tile_stored(0, result, 64);
  float sum = float(result[0]);
  _tile_stored(3, result, 64);
  sum += float(result[255]);
  _tile_release();
  return sum;
}

}  // namespace

// Four independent accumulator tiles hide the tdpbf16ps latency. The operand
// tiles are loaded once, so the loop measures the tile unit alone, without
// the tile loads that a real matmul also needs.
float amx_bf16_loop(int64_t iterations) {
  alignas(64) uint16_t operand[16 * 32];
  for (uint16_t& value : operand) value = 0x3c00;  // BF16 2^-7
  return run_tile_loop<float>(iterations, operand, [] {
    _tile_dpbf16ps(0, 4, 5);
    _tile_dpbf16ps(1, 4, 5);
    _tile_dpbf16ps(2, 4, 5);
    _tile_dpbf16ps(3, 4, 5);
  });
}

// The same loop with tdpbssd: 16 x 16 x 64 int8 multiply-adds per tile.
float amx_int8_loop(int64_t iterations) {
  alignas(64) int8_t operand[16 * 64];
  std::memset(operand, 1, sizeof(operand));
  return run_tile_loop<int32_t>(iterations, operand, [] {
    _tile_dpbssd(0, 4, 5);
    _tile_dpbssd(1, 4, 5);
    _tile_dpbssd(2, 4, 5);
    _tile_dpbssd(3, 4, 5);
  });
}

}  // namespace brasa
