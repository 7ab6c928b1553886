// test_device.cc — a device and its link, through link_control (fakes.h): the data path re-reads the
// link without allocating and only when a frame was refused; the control path goes through get_link and
// set_mac, whose failures come back as -errno.
#include <catch2/catch.hpp>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <new>
#include <vector>

#include "fakes.h"
#include "tapcore/device.h"
#include "tapcore/event_loop.h"
#include "tapcore/personality.h"

// Counts every allocation of this test binary, so a test can say "this call allocated nothing". Not
// under a sanitizer: ASan and TSan bring their own operator new, which libstdc++ keeps calling, and
// ours would then free their blocks (the plain unit tier runs the counting test).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TAPD_COUNT_ALLOCS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TAPD_COUNT_ALLOCS 0
#endif
#endif
#ifndef TAPD_COUNT_ALLOCS
#define TAPD_COUNT_ALLOCS 1
#endif

#if TAPD_COUNT_ALLOCS
namespace {
std::atomic<long> g_allocs{0};
}  // namespace

void* operator new(std::size_t n) {
    g_allocs.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#endif

using namespace tapd;
using namespace tapd::test;

namespace {

struct fixture {
    backend_log log;
    event_loop loop{8};
    fake_links links{made_up_link()};
    device dev;
    std::unique_ptr<queue> q;

    explicit fixture(personality_kind k = personality_kind::linux_)
        : dev(loop, links, std::make_unique<fake_backend>(log), made_up_link(), make_personality(k)) {
        auto r = dev.open_queue(nullptr);
        REQUIRE(r);
        q = std::move(*r);
    }
    ~fixture() {
        if (q) dev.close_queue(*q);
    }
    fixture(const fixture&) = delete;
    fixture& operator=(const fixture&) = delete;
};

// A write as a Linux-personality program makes it: a zero 10-byte vnet header, then `len` frame bytes.
std::vector<std::uint8_t> write_of(std::size_t len) {
    std::vector<std::uint8_t> w(vnet_hdr_len + len, 0x5a);
    std::fill_n(w.begin(), vnet_hdr_len, 0);
    w[vnet_hdr_len + 12] = 0x88;
    w[vnet_hdr_len + 13] = 0xb5;
    return w;
}

long transmit(fixture& f, std::vector<std::uint8_t>& w) {
    return f.dev.transmit(*f.q, w.data(), w.size());
}

}  // namespace

TEST_CASE("device: a frame refused for a stale MTU is sent after one re-read of the link", "[device][mtu]") {
    fixture f;
    f.links.kernel.mtu = 9000;  // `ip link set mtu 9000`, not yet reported by the link monitor
    auto big = write_of(3000);
    CHECK(transmit(f, big) == static_cast<long>(big.size()));
    CHECK(f.links.reads == 1);
    CHECK(f.links.gets == 0);  // the data path never takes the allocating control-path read
    CHECK(f.dev.link().mtu == 9000);
    CHECK(f.log.sent.size() == 1);

    // The accepted path never re-reads.
    auto small = write_of(100);
    CHECK(transmit(f, small) == static_cast<long>(small.size()));
    CHECK(transmit(f, big) == static_cast<long>(big.size()));
    CHECK(f.links.reads == 1);

    // Too large for the new MTU too: one re-read, then EMSGSIZE.
    auto huge = write_of(9000 + eth_hlen + vlan_hlen + 1);
    CHECK(transmit(f, huge) == -EMSGSIZE);
    CHECK(f.links.reads == 2);
    CHECK(f.dev.stats().tx_dropped == 1);
}

TEST_CASE("device: MTU lowered under the device: the re-read refuses what no longer fits", "[device][mtu]") {
    fixture f;
    f.links.kernel.mtu = 1400;
    f.dev.update_link(f.links.kernel);  // the monitor's notification
    auto w = write_of(1500 + eth_hlen);
    CHECK(transmit(f, w) == -EMSGSIZE);
    CHECK(f.links.reads == 1);  // asked once: maybe it went back up
}

TEST_CASE("device: a failed re-read leaves the first answer and the device's view", "[device][mtu]") {
    fixture f;
    f.links.kernel.mtu = 9000;
    f.links.fail = ENODEV;  // the link is going away
    auto big = write_of(3000);
    CHECK(transmit(f, big) == -EMSGSIZE);
    CHECK(f.links.reads == 1);
    CHECK(f.dev.link().mtu == 1500);
    CHECK(f.dev.reread_link_state() == -ENODEV);
    CHECK(f.dev.link().mtu == 1500);
}

#if TAPD_COUNT_ALLOCS
TEST_CASE("device: transmit allocates nothing, also on the re-read path", "[device][alloc]") {
    fixture f;
    auto small = write_of(100);
    auto big = write_of(3000);
    auto huge = write_of(20000);
    f.log.record = false;
    (void)transmit(f, small);  // anything lazily set up on the first call happens before counting

    long before = g_allocs.load();
    long n1 = transmit(f, small);
    f.links.kernel.mtu = 9000;
    long n2 = transmit(f, big);   // refused, re-read, sent
    long n3 = transmit(f, huge);  // refused, re-read, refused
    f.links.fail = EIO;
    long n4 = transmit(f, huge);  // refused, re-read fails, refused
    long allocs = g_allocs.load() - before;

    CHECK(n1 == static_cast<long>(small.size()));
    CHECK(n2 == static_cast<long>(big.size()));
    CHECK(n3 == -EMSGSIZE);
    CHECK(n4 == -EMSGSIZE);
    CHECK(f.links.reads == 3);
    CHECK(allocs == 0);
}
#endif

TEST_CASE("device: refresh_link is the control path: get_link, applied like a notification", "[device]") {
    fixture f;
    f.links.kernel.mtu = 4000;
    f.links.kernel.name = "renamed0";
    auto r = f.dev.refresh_link();
    REQUIRE(r);
    CHECK(r->name == "renamed0");
    CHECK(f.dev.link().name == "renamed0");
    CHECK(f.dev.link().mtu == 4000);
    CHECK(f.links.gets == 1);
    CHECK(f.links.reads == 0);

    f.links.fail = ENODEV;
    auto gone = f.dev.refresh_link();
    REQUIRE_FALSE(gone);
    CHECK(gone.err().code == ENODEV);
    CHECK(f.dev.link().name == "renamed0");  // unchanged
}

TEST_CASE("device: set_mac goes through link_control; a refusal is -errno and changes nothing", "[device]") {
    fixture f;
    const mac_address mac{0x02, 0, 0, 0, 0, 0x42};
    CHECK(f.dev.set_mac(mac) == 0);
    CHECK(f.links.macs_set == std::vector<mac_address>{mac});
    CHECK(f.dev.link().mac == mac);

    f.links.fail = EPERM;
    const mac_address other{0x02, 0, 0, 0, 0, 0x43};
    CHECK(f.dev.set_mac(other) == -EPERM);
    CHECK(f.dev.link().mac == mac);
}

TEST_CASE("device: the data-path re-read applies MTU, MAC and admin state", "[device]") {
    fixture f;
    f.links.kernel.mtu = 1280;
    f.links.kernel.mac = {0x02, 1, 2, 3, 4, 5};
    f.links.kernel.admin_up = false;
    CHECK(f.dev.reread_link_state() == 0);
    CHECK(f.dev.link().mtu == 1280);
    CHECK(f.dev.link().mac == f.links.kernel.mac);
    CHECK_FALSE(f.dev.link().admin_up);
    CHECK((f.dev.link().flags & iff_up) == 0);
    CHECK(f.dev.link().name == "tap7");  // not part of the re-read
}
