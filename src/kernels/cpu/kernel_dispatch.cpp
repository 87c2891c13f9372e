#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/fp8_amx_decode.h"
#include "kernels/cpu/simd_kernels.h"

namespace brasa {

namespace {

// Token count from which the AMX set multiplies with tiles, and below which
// the avx512-vbmi set sends FP8 to matmul_fp8_fma_avx512. Below it a 16-token
// B tile would be mostly padding, and decode-sized products are bound by
// weight bandwidth.
constexpr int64_t kAmxMinTokens = 16;

// Token count from which Q8_0 products take AMX-INT8 tiles. Both Q8_0 paths
// give the same bits, so this is a speed choice alone. On a 4096 x 4096
// weight (kernels_bench, one idle Sapphire Rapids thread) the tiles, padded
// to 16 tokens, took 1.68 ms at 4 and at 8 tokens, and VNNI 0.96 and 1.83 ms.
constexpr int64_t kAmxInt8MinTokens = 8;

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

// CPUID leaf 7, subleaf 0: ECX bit 1 is AVX512-VBMI, EDX bit 22 AMX-BF16 and bit 24 AMX-TILE.
bool cpu_has_avx512_vbmi() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;
  return (ecx & (1u << 1)) != 0;
}

bool cpu_has_amx_bf16() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;
  return (edx & (1u << 22)) != 0 && (edx & (1u << 24)) != 0;
}

// Linux (5.16 and later) enables AMX tile data per process, on request: ask
// once, and treat any failure (older kernel, seccomp, a hypervisor that hides
// the state) as no AMX. Constants from the kernel's uapi asm/prctl.h.
bool amx_permission_granted() {
  constexpr int kArchReqXcompPerm = 0x1023;
  constexpr int kXfeatureXtiledata = 18;
  static const bool granted = syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  return granted;
}

// The avx512 set with exact_activations honoured: such weights skip the int8
// activations of the VNNI path.
void matmul_avx512_exact_aware(const Weight& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  if (w.exact_activations) return matmul_avx512_float_decode(w, x, n_tokens, y, pool);
  matmul_avx512(w, x, n_tokens, y, pool);
}

MatmulRounding avx512_rounding(const Weight& w, int64_t) {
  MatmulRounding rounding;
  rounding.activations_to_int8_blocks =
      !w.exact_activations && (w.dtype == DType::Q8_0 || w.dtype == DType::Q4_0);
  return rounding;
}

// FP8 decode converts E4M3 to F32 through BF16 in registers and multiplies
// exact activations with F32 FMA (matmul_fp8_fma_avx512). Measured with
// kernels_bench on one Sapphire Rapids core for a 4096 x 4096 weight, that ran
// 1.3 times faster than vdpbf16ps with split activations, whose vdpbf16ps
// issue one per 2 to 3 cycles. Rounding activations to one BF16 part instead
// moved maverick-tiny FP8 beyond the golden-logit tolerance. BF16 decode
// streams no faster through vdpbf16ps than through the F32 path, because both
// are bound by bandwidth.
bool uses_fp8_fma(const Weight& w, int64_t n_tokens) {
  return w.dtype == DType::F8_E4M3 && n_tokens < kAmxMinTokens;
}

void matmul_avx512_vbmi(const Weight& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  if (uses_fp8_fma(w, n_tokens)) return matmul_fp8_fma_avx512(w, x, n_tokens, y, pool);
  matmul_avx512_exact_aware(w, x, n_tokens, y, pool);
}

// The AMX BF16 path multiplies BF16 weights, which BF16 and E4M3 convert to
// exactly. F16, Q8_0 and Q4_0 would lose bits in that conversion: a Q8_0
// weight, int8 times an F16 scale, keeps 8 significant bits. Only products of
// 16 or more tokens take this path, so greedy outputs would then change with
// the batch a request lands in. Those types keep the AVX-512 path, except
// Q8_0, whose AMX-INT8 path gives the same bits as its AVX-512 path.
// TODO: AMX-INT8 for Q4_0 as well.
bool amx_converts_exactly(DType dtype) { return dtype == DType::BF16 || dtype == DType::F8_E4M3; }

bool uses_amx(const Weight& w, int64_t n_tokens) {
  return !w.exact_activations && n_tokens >= kAmxMinTokens && amx_converts_exactly(w.dtype) &&
         amx_matmul_supports(w.dtype);
}

bool uses_amx_int8(const Weight& w, int64_t n_tokens) {
  static const bool supported = cpu_has_amx_int8();
  return supported && !w.exact_activations && n_tokens >= kAmxInt8MinTokens && w.dtype == DType::Q8_0;
}

// FP8 products of 2 to 15 tokens, and BF16 products of 5 to 15, go to the AMX
// decode kernel. There the vector units only convert or rearrange the
// weights and the tile unit multiplies, where the FMA kernels' work grows
// with every token. On a 4096 x 4096 weight (kernels_bench, one idle thread) BF16 took
// 1.54 and 1.74 ms at 4 tokens (FMA, tiles), 1.77 and 1.67 ms at 5, and 3.34
// and 2.02 ms at 8. FP8 gains from 2 tokens, because its FMA kernel also
// converts every weight.
constexpr int64_t kAmxDecodeMinTokensFp8 = 2;
constexpr int64_t kAmxDecodeMinTokensBf16 = 5;

bool uses_amx_decode(const Weight& w, int64_t n_tokens) {
  if (n_tokens >= kAmxMinTokens) return false;
  if (w.dtype == DType::F8_E4M3) return n_tokens >= kAmxDecodeMinTokensFp8;
  if (w.dtype == DType::BF16) return n_tokens >= kAmxDecodeMinTokensBf16;
  return false;
}

void matmul_amx_or_avx512(const Weight& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  if (uses_amx(w, n_tokens)) return matmul_amx(w, x, n_tokens, y, pool);
  if (uses_amx_decode(w, n_tokens)) {
    if (w.dtype == DType::BF16) return matmul_bf16_amx_decode(w, x, n_tokens, y, pool);
    return matmul_fp8_amx_decode(w, x, n_tokens, y, pool);
  }
  if (uses_amx_int8(w, n_tokens)) return matmul_q8_0_amx(w, x, n_tokens, y, pool);
  matmul_avx512_vbmi(w, x, n_tokens, y, pool);
}

MatmulRounding amx_rounding(const Weight& w, int64_t n_tokens) {
  if (!uses_amx(w, n_tokens)) return avx512_rounding(w, n_tokens);
  MatmulRounding rounding;
  rounding.activations_to_bf16_pair = true;
  rounding.weights_to_bf16 = w.dtype != DType::BF16 && w.dtype != DType::F8_E4M3;
  return rounding;
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
  k.matmul_rounding = avx512_rounding;
  k.matmul = matmul_avx512_exact_aware;
  k.attention = attention_avx512;
  k.rms_norm_row = rms_norm_row_avx512;
  k.swiglu = swiglu_avx512;
  k.add = add_avx512;
  return k;
}

CpuKernels make_avx512_vbmi_kernels() {
  CpuKernels k = make_avx512_kernels();
  k.isa = "avx512-vbmi";
  k.matmul_rounding = avx512_rounding;
  k.matmul = matmul_avx512_vbmi;
  return k;
}

CpuKernels make_amx_kernels() {
  CpuKernels k = make_avx512_vbmi_kernels();
  k.isa = "amx";
  k.matmul_rounding = amx_rounding;
  k.matmul = matmul_amx_or_avx512;
  return k;
}

}  // namespace

// CPUID leaf 7, subleaf 0: EDX bit 25 is AMX-INT8.
bool cpu_has_amx_int8() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;
  return (edx & (1u << 25)) != 0;
}

std::vector<const CpuKernels*> supported_cpu_kernels() {
  static const CpuKernels avx2 = make_avx2_kernels();
  static const CpuKernels avx512 = make_avx512_kernels();
  static const CpuKernels avx512_vbmi = make_avx512_vbmi_kernels();
  static const CpuKernels amx = make_amx_kernels();
  std::vector<const CpuKernels*> kernels = {&scalar_cpu_kernels()};
  if (cpu_has_avx2()) kernels.push_back(&avx2);
  if (cpu_has_avx512()) {
    kernels.push_back(&avx512);
    if (cpu_has_avx512_vbmi()) {
      kernels.push_back(&avx512_vbmi);
      if (cpu_has_amx_bf16() && amx_permission_granted()) kernels.push_back(&amx);
    }
  }
  return kernels;
}

const CpuKernels& best_cpu_kernels() {
  static const CpuKernels* best = supported_cpu_kernels().back();
  return *best;
}

const CpuKernels* find_cpu_kernels(const std::string& isa) {
  for (const CpuKernels* kernels : supported_cpu_kernels()) {
    if (isa == kernels->isa) return kernels;
  }
  return nullptr;
}

}  // namespace brasa
