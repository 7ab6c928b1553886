// fuzz_l2.cc — the one L2 parser (ethernet.h) over arbitrary frame bytes. The frame is an exact-size heap
// copy, so ASan reports any read past `len`; the result is checked against what the bytes say.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "tapcore/ethernet.h"

namespace {

std::uint16_t be16(const std::uint8_t* p) {
    return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace tapd;
    auto f = std::make_unique<std::uint8_t[]>(size);
    if (size) std::memcpy(f.get(), data, size);
    auto h = parse_l2(f.get(), size);
    if (!h) {
        // Only a frame that ends inside its link header fails.
        if (size >= eth_hlen + max_vlan_tags * vlan_hlen) std::abort();
        return 0;
    }
    // The offsets and counts agree with each other and stay inside the frame.
    if (h->vlans > max_vlan_tags || h->l3 != eth_hlen + h->vlans * vlan_hlen || h->l3 > size) std::abort();
    // The EtherType is the 16 bits before L3, and each skipped tag was a tag.
    if (h->ethertype != be16(f.get() + h->l3 - 2)) std::abort();
    for (unsigned i = 0; i < h->vlans; ++i)
        if (!is_vlan_tpid(be16(f.get() + eth_type_offset + i * vlan_hlen))) std::abort();
    // Fewer tags than allowed: the one after them is no tag.
    if (h->vlans < max_vlan_tags && is_vlan_tpid(h->ethertype)) std::abort();
    // Never looks at bytes after `len`: junk behind the frame gives the same answer.
    auto g = std::make_unique<std::uint8_t[]>(size + 16);
    if (size) std::memcpy(g.get(), data, size);
    std::memset(g.get() + size, 0x81, 16);
    auto h2 = parse_l2(g.get(), size);
    if (!h2 || h2->ethertype != h->ethertype || h2->l3 != h->l3 || h2->vlans != h->vlans) std::abort();
    return 0;
}
