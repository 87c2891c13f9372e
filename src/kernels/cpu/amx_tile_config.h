#pragma once

#include <cstdint>

namespace brasa {

// The 64-byte operand of ldtilecfg in palette 1: the shape of each of the 8
// tile registers. A tile left unset has 0 rows and may not be used.
struct alignas(64) AmxTileConfig {
  uint8_t palette_id = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t bytes_per_row[16] = {};
  uint8_t rows[16] = {};

  // Shapes tile register `tile` as n_rows rows of row_bytes bytes (at most 16 x 64).
  void set(int tile, int n_rows, int row_bytes) {
    rows[tile] = uint8_t(n_rows);
    bytes_per_row[tile] = uint16_t(row_bytes);
  }
};
static_assert(sizeof(AmxTileConfig) == 64, "ldtilecfg reads exactly 64 bytes");

}  // namespace brasa
