#include <gtest/gtest.h>

#include <cstdint>
#include <utility>

#include "core/huge_page_buffer.h"

namespace brasa {
namespace {

constexpr size_t kHugePage = size_t(2) << 20;

TEST(HugePageBuffer, AlignedAndRoundedToHugePages) {
  HugePageBuffer buffer(kHugePage + 1);
  ASSERT_NE(buffer.data(), nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(buffer.data()) % kHugePage, 0u);
  EXPECT_EQ(buffer.size(), 2 * kHugePage);

  // Fresh anonymous memory is zero and writable to its last byte.
  EXPECT_EQ(buffer.data()[buffer.size() - 1], 0);
  buffer.data()[0] = 1;
  buffer.data()[buffer.size() - 1] = 2;
  EXPECT_EQ(buffer.data()[buffer.size() - 1], 2);
}

TEST(HugePageBuffer, MoveTransfersOwnership) {
  HugePageBuffer first(100);
  uint8_t* data = first.data();
  data[5] = 9;
  HugePageBuffer second(std::move(first));
  EXPECT_EQ(first.data(), nullptr);
  EXPECT_EQ(first.size(), 0u);
  EXPECT_EQ(second.data(), data);
  EXPECT_EQ(second.data()[5], 9);

  HugePageBuffer third;
  third = std::move(second);
  EXPECT_EQ(third.data(), data);
  EXPECT_EQ(second.data(), nullptr);
}

TEST(HugePageBuffer, ZeroBytesHoldsNothing) {
  HugePageBuffer buffer(0);
  EXPECT_EQ(buffer.data(), nullptr);
  EXPECT_EQ(buffer.size(), 0u);
  buffer.protect_read_only();  // a no-op, not a crash
}

}  // namespace
}  // namespace brasa
