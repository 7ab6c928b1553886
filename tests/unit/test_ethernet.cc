// test_ethernet.cc — the one L2 parser (ethernet.h) that flow_hash and gso share: Ethernet, then up to two
// VLAN tags, then the EtherType and the L3 offset; never a byte past `len`.
#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include "tapcore/ethernet.h"

using namespace tapd;

namespace {

using bytes = std::vector<std::uint8_t>;

// Destination and source MACs, then `types` as 16-bit big-endian words: the first is the EtherType (or a
// TPID), each following pair is TCI + next type. Then `tail` bytes of payload.
bytes frame(std::initializer_list<unsigned> types, std::size_t tail = 20) {
    bytes f(12, 0xaa);
    for (unsigned t : types) {
        f.push_back(static_cast<std::uint8_t>(t >> 8));
        f.push_back(static_cast<std::uint8_t>(t));
    }
    f.resize(f.size() + tail, 0x45);
    return f;
}

}  // namespace

TEST_CASE("parse_l2: untagged IPv4, IPv6, ARP", "[ethernet]") {
    for (unsigned type : {unsigned{eth_p_ip}, unsigned{eth_p_ipv6}, unsigned{eth_p_arp}, 0x88b5u}) {
        CAPTURE(type);
        bytes f = frame({type});
        auto h = parse_l2(f.data(), f.size());
        REQUIRE(h);
        CHECK(h->ethertype == type);
        CHECK(h->l3 == eth_hlen);
        CHECK(h->vlans == 0);
    }
}

TEST_CASE("parse_l2: one 802.1Q tag, and QinQ (802.1ad outer, 802.1Q inner)", "[ethernet]") {
    bytes one = frame({eth_p_8021q, 100, eth_p_ip});
    auto h = parse_l2(one.data(), one.size());
    REQUIRE(h);
    CHECK(h->ethertype == eth_p_ip);
    CHECK(h->l3 == eth_hlen + vlan_hlen);
    CHECK(h->vlans == 1);

    bytes qinq = frame({eth_p_8021ad, 10, eth_p_8021q, 20, eth_p_ipv6});
    h = parse_l2(qinq.data(), qinq.size());
    REQUIRE(h);
    CHECK(h->ethertype == eth_p_ipv6);
    CHECK(h->l3 == eth_hlen + 2 * vlan_hlen);
    CHECK(h->vlans == 2);

    // 802.1ad alone, and two 802.1Q tags, count as tags too.
    bytes ad = frame({eth_p_8021ad, 5, eth_p_ip});
    CHECK(parse_l2(ad.data(), ad.size())->vlans == 1);
    bytes qq = frame({eth_p_8021q, 5, eth_p_8021q, 6, eth_p_ip});
    CHECK(parse_l2(qq.data(), qq.size())->ethertype == eth_p_ip);
}

TEST_CASE("parse_l2: a third tag is not skipped: its TPID is the EtherType", "[ethernet]") {
    bytes f = frame({eth_p_8021ad, 1, eth_p_8021q, 2, eth_p_8021q, 3, eth_p_ip});
    auto h = parse_l2(f.data(), f.size());
    REQUIRE(h);
    CHECK(h->vlans == max_vlan_tags);
    CHECK(h->ethertype == eth_p_8021q);  // not IP: flow_hash and gso leave such a frame alone
    CHECK(h->l3 == eth_hlen + 2 * vlan_hlen);
}

TEST_CASE("parse_l2: frames that end inside the link header → nullopt", "[ethernet]") {
    bytes plain = frame({eth_p_ip}, 0);
    REQUIRE(plain.size() == eth_hlen);
    CHECK(parse_l2(plain.data(), plain.size()));  // exactly a header: fine, L3 empty
    for (std::size_t len = 0; len < eth_hlen; ++len) {
        CAPTURE(len);
        CHECK_FALSE(parse_l2(plain.data(), len));
    }
    bytes tagged = frame({eth_p_8021q, 7, eth_p_ip}, 0);
    REQUIRE(tagged.size() == eth_hlen + vlan_hlen);
    CHECK(parse_l2(tagged.data(), tagged.size()));
    for (std::size_t len = eth_hlen; len < eth_hlen + vlan_hlen; ++len) {
        CAPTURE(len);
        CHECK_FALSE(parse_l2(tagged.data(), len));  // the tag is cut: no EtherType to report
    }
    bytes qinq = frame({eth_p_8021ad, 1, eth_p_8021q, 2, eth_p_ip}, 0);
    CHECK(parse_l2(qinq.data(), qinq.size()));
    CHECK_FALSE(parse_l2(qinq.data(), qinq.size() - 1));
}

TEST_CASE("parse_l2 is usable at compile time (and so allocates nothing)", "[ethernet]") {
    constexpr std::uint8_t f[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x81, 0x00, 0x00, 0x64, 0x86, 0xdd};
    constexpr auto h = parse_l2(f, sizeof f);
    static_assert(h && h->ethertype == eth_p_ipv6 && h->l3 == 18 && h->vlans == 1);
    CHECK(h->l3 == sizeof f);
}
