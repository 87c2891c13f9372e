#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/simd_kernels.h"

namespace brasa {

namespace {

// The AVX-512 files are compiled with BF16 and VNNI enabled, so the compiler may
// emit those instructions anywhere in them.
bool cpu_has_avx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bf16");
}

bool cpu_has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}

CpuKernels make_avx2_kernels() {
  CpuKernels k = scalar_cpu_kernels();
  k.isa = "avx2";
  k.matmul = matmul_avx2;
  k.attention = attention_avx2;
  k.rms_norm_row = rms_norm_row_avx2;
  k.swiglu = swiglu_avx2;
  k.add = add_avx2;
  return k;
}

CpuKernels make_avx512_kernels() {
  CpuKernels k = scalar_cpu_kernels();
  k.isa = "avx512";
  k.quantizes_activations = true;
  k.matmul = matmul_avx512;
  k.attention = attention_avx512;
  k.rms_norm_row = rms_norm_row_avx512;
  k.swiglu = swiglu_avx512;
  k.add = add_avx512;
  return k;
}

}  // namespace

std::vector<const CpuKernels*> supported_cpu_kernels() {
  static const CpuKernels avx2 = make_avx2_kernels();
  static const CpuKernels avx512 = make_avx512_kernels();
  std::vector<const CpuKernels*> kernels = {&scalar_cpu_kernels()};
  if (cpu_has_avx2()) kernels.push_back(&avx2);
  if (cpu_has_avx512()) kernels.push_back(&avx512);
  return kernels;
}

const CpuKernels& best_cpu_kernels() {
  static const CpuKernels* best = supported_cpu_kernels().back();
  return *best;
}

}  // namespace brasa
