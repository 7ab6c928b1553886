// fuzz_flow_hash.cc — receive steering over arbitrary frame bytes. The frame is an exact-size heap copy,
// so ASan reports any read past `len`.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "tapcore/flow_hash.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto f = std::make_unique<std::uint8_t[]>(size);
    if (size) std::memcpy(f.get(), data, size);
    std::uint32_t h = tapd::flow_hash(f.get(), size);
    // Deterministic, and never looks at bytes after `len`: a larger buffer with junk behind gives the same.
    if (tapd::flow_hash(f.get(), size) != h) std::abort();
    auto g = std::make_unique<std::uint8_t[]>(size + 64);
    if (size) std::memcpy(g.get(), data, size);
    std::memset(g.get() + size, 0xa5, 64);
    if (tapd::flow_hash(g.get(), size) != h) std::abort();
    // Anything shorter than Ethernet + IPv4 header has no flow.
    if (size < 14 + 20 && h != 0) std::abort();
    return 0;
}
