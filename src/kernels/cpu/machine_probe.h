#pragma once

namespace brasa {

class ThreadPool;

// Measured limits of this machine, for reporting how close a run comes to them.
struct MachineLimits {
  double read_bytes_per_second = 0.0;  // all pool threads streaming one large buffer
  double peak_flops = 0.0;             // multiply-adds at the best vector width, 2 FLOPs each
  const char* isa = "scalar";          // the kernel set that peak_flops used
};

// Runs the two microbenchmarks with every thread of `pool`, in about a second.
// Read bandwidth streams a 512 MiB buffer, far larger than any last-level cache;
// peak uses independent FMA chains that never touch memory. Each keeps its best
// of several runs.
MachineLimits measure_machine_limits(ThreadPool& pool);

}  // namespace brasa
