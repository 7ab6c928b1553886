// flow_hash.h — which queue a received frame belongs to.
//
// Like the kernel's skb_get_hash: a hash over the flow's addresses, protocol and ports, so every frame of
// one flow lands on the same queue while flows spread across queues. 0 means "no flow found" (not IP, or
// truncated): the caller falls back to the first queue, as macvtap's tap_get_queue does.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tapd {

std::uint32_t flow_hash(const std::uint8_t* frame, std::size_t len);

}  // namespace tapd
