// matmul_peak must name the multiply path that kernel_dispatch.cpp takes for
// each weight type and token count, so `brasa bench` divides by the right peak,
// and roofline must cap that peak where a step's bytes take longer to read.
#include <gtest/gtest.h>

#include <string>

#include "kernels/cpu/machine_probe.h"

namespace brasa {
namespace {

MachineLimits limits_for(const char* isa) {
  MachineLimits limits;
  limits.isa = isa;
  limits.peak_flops = 1.0;
  limits.peak_flops_amx_bf16 = 2.0;
  limits.peak_ops_amx_int8 = 4.0;
  return limits;
}

TEST(MatmulPeak, AmxSetNamesTilePaths) {
  const MachineLimits amx = limits_for("amx");
  EXPECT_EQ(std::string(matmul_peak(amx, DType::BF16, 16).path), "amx-bf16");
  EXPECT_EQ(std::string(matmul_peak(amx, DType::F8_E4M3, 512).path), "amx-bf16");
  EXPECT_EQ(std::string(matmul_peak(amx, DType::Q8_0, 8).path), "amx-int8");
  EXPECT_EQ(matmul_peak(amx, DType::Q8_0, 16).flops, 4.0);
}

TEST(MatmulPeak, VectorPathsBelowThreshold) {
  const MachineLimits amx = limits_for("amx");
  EXPECT_EQ(std::string(matmul_peak(amx, DType::BF16, 15).path), "f32-fma");
  EXPECT_EQ(std::string(matmul_peak(amx, DType::Q8_0, 7).path), "f32-fma");
  // F16 and Q4_0 keep the AVX-512 path at every token count.
  EXPECT_EQ(std::string(matmul_peak(amx, DType::F16, 512).path), "f32-fma");
  EXPECT_EQ(std::string(matmul_peak(amx, DType::Q4_0, 512).path), "f32-fma");
}

TEST(MatmulPeak, OtherSetsUseFmaPeak) {
  const MachineLimits avx512 = limits_for("avx512");
  EXPECT_EQ(std::string(matmul_peak(avx512, DType::BF16, 512).path), "f32-fma");
  EXPECT_EQ(std::string(matmul_peak(avx512, DType::Q8_0, 512).path), "f32-fma");
  MachineLimits no_int8 = limits_for("amx");
  no_int8.peak_ops_amx_int8 = 0.0;
  EXPECT_EQ(std::string(matmul_peak(no_int8, DType::Q8_0, 512).path), "f32-fma");
}

// 1 GFLOP at 4 TFLOP/s takes 0.25 ms; 1 GB at 25 GB/s takes 40 ms. No kernel
// can then pass 0.25 / 40 = 0.625% of the peak.
TEST(Roofline, MemoryBoundStepCapsThePeakFraction) {
  const Roofline r = roofline(1e9, 4e12, 1e9, 25e9);
  EXPECT_DOUBLE_EQ(r.compute_seconds, 0.25e-3);
  EXPECT_DOUBLE_EQ(r.memory_seconds, 40e-3);
  EXPECT_FALSE(r.compute_bound());
  EXPECT_DOUBLE_EQ(r.limit_seconds(), 40e-3);
  EXPECT_DOUBLE_EQ(r.peak_ceiling(), 0.00625);
}

TEST(Roofline, ComputeBoundStepCanReachThePeak) {
  const Roofline r = roofline(8e12, 4e12, 1e9, 25e9);
  EXPECT_TRUE(r.compute_bound());
  EXPECT_DOUBLE_EQ(r.limit_seconds(), 2.0);
  EXPECT_DOUBLE_EQ(r.peak_ceiling(), 1.0);
}

TEST(Roofline, UnmeasuredSideCountsAsFree) {
  const Roofline no_peak = roofline(1e9, 0.0, 1e9, 25e9);
  EXPECT_EQ(no_peak.compute_seconds, 0.0);
  EXPECT_DOUBLE_EQ(no_peak.limit_seconds(), 40e-3);
  EXPECT_EQ(no_peak.peak_ceiling(), 0.0);

  const Roofline no_bandwidth = roofline(1e9, 4e12, 1e9, 0.0);
  EXPECT_TRUE(no_bandwidth.compute_bound());
  EXPECT_DOUBLE_EQ(no_bandwidth.peak_ceiling(), 1.0);
  EXPECT_EQ(roofline(0.0, 0.0, 0.0, 0.0).peak_ceiling(), 0.0);
}

}  // namespace
}  // namespace brasa
