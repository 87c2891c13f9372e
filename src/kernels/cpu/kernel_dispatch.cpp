#include "kernels/cpu/cpu_kernels.h"

namespace brasa {

const CpuKernels& best_cpu_kernels() {
  // TODO: choose the AVX2 and AVX-512 kernel sets once they exist.
  return scalar_cpu_kernels();
}

}  // namespace brasa
