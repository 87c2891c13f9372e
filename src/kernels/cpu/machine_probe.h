#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace brasa {

class ThreadPool;

// Measured limits of this machine, for reporting how close a run comes to them.
// Each peak counts 2 FLOPs per multiply-add and is 0 where the path is absent.
struct MachineLimits {
  double read_bytes_per_second = 0.0;  // all pool threads streaming one large buffer
  double peak_flops = 0.0;             // F32 FMA at the best vector width
  double peak_flops_bf16_dot = 0.0;    // AVX512-BF16 vdpbf16ps, for comparison
  double peak_flops_amx_bf16 = 0.0;    // AMX tdpbf16ps, tile unit only
  double peak_ops_amx_int8 = 0.0;      // AMX tdpbssd, tile unit only (int8 multiply-adds)
  const char* isa = "scalar";          // the kernel set that the backend uses
};

// The peak that bounds a matmul of this weight type and token count in the
// kernel set limits.isa, and the name of that path ("f32-fma", "amx-bf16" or
// "amx-int8"). Q8_0 and Q4_0 below the AMX threshold, and Q4_0 and F16 above
// it, multiply int8 with VNNI or F32 with FMA. The VNNI peak is not measured,
// so they report the F32 FMA peak.
// NOTE: the AMX peaks count the tile unit alone. A matmul also loads and
// stores tiles. With split activations the BF16 path runs two tdpbf16ps per
// product, and the Q8_0 path multiplies one 32-value block per tdpbssd where
// the peak loop multiplies 64, so about half of each peak bounds what a
// matmul can reach.
struct MatmulPeak {
  double flops = 0.0;
  const char* path = "f32-fma";
};
MatmulPeak matmul_peak(const MachineLimits& limits, DType weight_type, int64_t n_tokens);

// The roofline of one step: the time its multiply-adds take at a peak, and
// the time its bytes take at the read bandwidth. No implementation can finish
// the step faster than the larger of the two. So a step that must read more
// bytes than its multiply-adds can hide is memory-bound at any kernel speed,
// and reaches at most peak_ceiling() of the compute peak.
struct Roofline {
  double compute_seconds = 0.0;
  double memory_seconds = 0.0;

  double limit_seconds() const { return compute_seconds > memory_seconds ? compute_seconds : memory_seconds; }
  bool compute_bound() const { return compute_seconds >= memory_seconds; }
  // The largest fraction of the peak that a step can reach: 1 when
  // compute-bound, compute_seconds / memory_seconds otherwise.
  double peak_ceiling() const { return limit_seconds() > 0 ? compute_seconds / limit_seconds() : 0.0; }
};

// Returns the roofline of a step that performs `flops` (2 per multiply-add)
// and reads `bytes`. A zero peak or bandwidth leaves its side at 0 seconds.
Roofline roofline(double flops, double peak_flops, double bytes, double read_bytes_per_second);

// A size of memory that little of can stay cached between two passes: twice the
// last-level cache (480 MB on the development VM) and at least 512 MiB, in
// whole multiples of 256 bytes.
size_t bytes_beyond_last_level_cache();

// Runs the microbenchmarks with every thread of `pool`, in about two seconds.
// Read bandwidth streams bytes_beyond_last_level_cache() in huge pages with the
// widest loads the CPU has, as the decode kernels stream weights. The peaks use
// independent multiply-add chains that never touch memory. Each keeps its best
// of several runs.
MachineLimits measure_machine_limits(ThreadPool& pool);

}  // namespace brasa
