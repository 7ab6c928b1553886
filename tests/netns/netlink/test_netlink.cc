// test_netlink.cc — tapd::nl::route_socket against a real kernel, inside a throwaway network namespace.
//
// main() moves the process into a new network namespace before Catch runs, so every link created or
// changed here is invisible to the host and vanishes with the process. Each readback is checked twice:
// through route_socket itself, and through `ip -j link show` (iproute2), which talks to the same kernel
// through code that shares nothing with libnl — so a bug that writes and reads back the same wrong
// value still fails. (/sys/class/net is not usable: sysfs shows the netns it was mounted in, not ours.)
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>

#include "netns_test.h"
#include "tapnl/link.h"

using tapd::link_info;
using tapd::link_state;
using tapd::mac_address;
// tapd::macvlan_mode is spelt out: <linux/if_link.h> (pulled in by libnl) has a global `enum macvlan_mode`.
using tapd::nl::route_socket;

namespace {

using netns_test::run;

// `ip -j [-d] link show dev NAME`: one JSON object per link, no whitespace.
std::string ip_link_json(const std::string& name, bool details = false) {
    return run(std::string("ip -j ") + (details ? "-d " : "") + "link show dev " + name + " 2>/dev/null");
}

// Just enough JSON for ip's flat output: the value of the first "key": as text (strings unquoted).
std::optional<std::string> json_value(const std::string& json, const std::string& key) {
    const std::string needle = "\"" + key + "\":";
    auto pos = json.find(needle);
    if (pos == std::string::npos) return std::nullopt;
    pos += needle.size();
    if (json[pos] == '"') {
        auto end = json.find('"', pos + 1);
        return json.substr(pos + 1, end - pos - 1);
    }
    auto end = json.find_first_of(",}]", pos);
    return json.substr(pos, end - pos);
}

// As json_value, but printable in Catch's expansion when the key is missing.
std::string json_str(const std::string& json, const std::string& key) {
    return json_value(json, key).value_or("<no " + key + ">");
}

unsigned json_unsigned(const std::string& json, const std::string& key) {
    auto v = json_value(json, key);
    INFO("key " << key << " in " << json);
    REQUIRE(v.has_value());
    return static_cast<unsigned>(std::stoul(*v));
}

bool ip_has_flag(const std::string& json, const std::string& flag) {
    auto pos = json.find("\"flags\":[");
    REQUIRE(pos != std::string::npos);
    auto end = json.find(']', pos);
    return json.substr(pos, end - pos).find("\"" + flag + "\"") != std::string::npos;
}

std::string format_mac(const mac_address& m) {
    char buf[18];
    (void)std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
    return buf;
}

route_socket open_socket() {
    auto s = route_socket::open();
    INFO((s ? "" : s.err().message));
    REQUIRE(s);
    return std::move(s).value();
}

link_info must_get(route_socket& rs, const std::string& name) {
    auto l = rs.get_link(name);
    INFO((l ? "" : l.err().message));
    REQUIRE(l);
    return *l;
}

#define REQUIRE_OK(expr)                                     \
    do {                                                     \
        auto r_ = (expr);                                    \
        INFO(#expr << ": " << (r_ ? "" : r_.err().message)); \
        REQUIRE(r_);                                         \
    } while (0)

// A veth pair veth0 <-> veth1, created and destroyed with libnl directly so the fixture does not
// depend on the code under test.
struct veth_pair {
    veth_pair() {
        sk_ = nl_socket_alloc();
        REQUIRE(sk_ != nullptr);
        REQUIRE(nl_connect(sk_, NETLINK_ROUTE) == 0);
        int err = rtnl_link_veth_add(sk_, "veth0", "veth1", getpid());
        INFO("rtnl_link_veth_add: " << nl_geterror(err));
        REQUIRE(err == 0);
    }
    ~veth_pair() {
        // Deleting one end deletes both.
        if (rtnl_link* l = rtnl_link_alloc()) {
            rtnl_link_set_name(l, "veth0");
            rtnl_link_delete(sk_, l);
            rtnl_link_put(l);
        }
        nl_socket_free(sk_);
    }
    veth_pair(const veth_pair&) = delete;
    veth_pair& operator=(const veth_pair&) = delete;

    nl_sock* sk_ = nullptr;
};

}  // namespace

TEST_CASE("get_link by name and by index matches ip(8)") {
    veth_pair v;
    route_socket rs = open_socket();

    link_info a = must_get(rs, "veth0");
    CHECK(a.name == "veth0");
    CHECK(a.ifindex > 0);
    CHECK(a.kind == "veth");
    CHECK_FALSE(a.admin_up);
    CHECK_FALSE(a.carrier);

    const std::string j = ip_link_json("veth0");
    CHECK(json_unsigned(j, "ifindex") == static_cast<unsigned>(a.ifindex));
    CHECK(json_unsigned(j, "mtu") == a.mtu);
    CHECK(json_unsigned(j, "txqlen") == a.txqlen);
    CHECK(json_str(j, "address") == format_mac(a.mac));

    auto b = rs.get_link(a.ifindex);
    REQUIRE(b);
    CHECK(b->name == "veth0");
    CHECK(b->mtu == a.mtu);
    CHECK(b->mac == a.mac);
    CHECK(b->flags == a.flags);

    auto lo = rs.get_link("lo");
    REQUIRE(lo);
    CHECK(lo->kind.empty());  // loopback has no IFLA_INFO_KIND
}

TEST_CASE("set_up toggles IFF_UP; carrier follows the veth peer") {
    veth_pair v;
    route_socket rs = open_socket();
    const int i0 = must_get(rs, "veth0").ifindex;
    const int i1 = must_get(rs, "veth1").ifindex;

    REQUIRE_OK(rs.set_up(i0, true));
    link_info a = must_get(rs, "veth0");
    CHECK(a.admin_up);
    CHECK_FALSE(a.carrier);  // peer still down
    std::string j = ip_link_json("veth0");
    CHECK(ip_has_flag(j, "UP"));
    CHECK_FALSE(ip_has_flag(j, "LOWER_UP"));

    REQUIRE_OK(rs.set_up(i1, true));
    a = must_get(rs, "veth0");
    CHECK(a.admin_up);
    CHECK(a.carrier);
    CHECK(ip_has_flag(ip_link_json("veth0"), "LOWER_UP"));
    // operstate is updated by the kernel's linkwatch work, asynchronously: wait for it (10 s at most).
    std::string oper;
    netns_test::wait_until([&] {
        oper = json_value(ip_link_json("veth0"), "operstate").value_or("");
        return oper == "UP";
    });
    CHECK(oper == "UP");

    REQUIRE_OK(rs.set_up(i0, false));
    a = must_get(rs, "veth0");
    CHECK_FALSE(a.admin_up);
    CHECK_FALSE(a.carrier);
    CHECK_FALSE(ip_has_flag(ip_link_json("veth0"), "UP"));
    CHECK(must_get(rs, "veth1").admin_up);  // only the asked-for link changed
}

TEST_CASE("set_mtu changes the MTU and rejects nonsense with EINVAL") {
    veth_pair v;
    route_socket rs = open_socket();
    const int i0 = must_get(rs, "veth0").ifindex;

    REQUIRE_OK(rs.set_mtu(i0, 1400));
    CHECK(must_get(rs, "veth0").mtu == 1400);
    CHECK(json_unsigned(ip_link_json("veth0"), "mtu") == 1400);

    auto r = rs.set_mtu(i0, 10);
    REQUIRE_FALSE(r);
    CHECK(r.err().code == EINVAL);
    CHECK_THAT(r.err().message, Catch::Contains("veth0") && Catch::Contains("MTU"));
    CHECK(must_get(rs, "veth0").mtu == 1400);  // unchanged
}

TEST_CASE("set_mac changes the address and rejects a multicast one") {
    veth_pair v;
    route_socket rs = open_socket();
    const int i0 = must_get(rs, "veth0").ifindex;

    const mac_address mac{0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
    REQUIRE_OK(rs.set_mac(i0, mac));
    CHECK(must_get(rs, "veth0").mac == mac);
    CHECK(json_str(ip_link_json("veth0"), "address") == "02:11:22:33:44:55");

    auto r = rs.set_mac(i0, mac_address{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01});
    REQUIRE_FALSE(r);
    CHECK(r.err().code == EADDRNOTAVAIL);
    CHECK_THAT(r.err().message, Catch::Contains("set MAC of veth0 (ifindex "));
    CHECK(must_get(rs, "veth0").mac == mac);
}

TEST_CASE("read_state (the data path's re-read) sees MTU, IFF_UP and MAC as ip(8) sets them") {
    veth_pair v;
    route_socket rs = open_socket();
    const int i0 = must_get(rs, "veth0").ifindex;

    REQUIRE(run("ip link set veth0 mtu 1280 address 02:00:00:00:12:80 up 2>&1").empty());
    link_state st;
    REQUIRE(rs.read_state(i0, st) == 0);
    CHECK(st.mtu == 1280);
    CHECK(st.admin_up);
    CHECK(st.mac == mac_address{0x02, 0, 0, 0, 0x12, 0x80});

    REQUIRE(run("ip link set veth0 mtu 9000 down 2>&1").empty());
    REQUIRE(rs.read_state(i0, st) == 0);
    CHECK(st.mtu == 9000);
    CHECK_FALSE(st.admin_up);

    // By ifindex: a renamed link is still found.
    REQUIRE(run("ip link set veth0 name vethR 2>&1").empty());
    REQUIRE(rs.read_state(i0, st) == 0);
    CHECK(st.mtu == 9000);
    REQUIRE(run("ip link set vethR name veth0 2>&1").empty());

    CHECK(rs.read_state(99999, st) == -ENODEV);
    route_socket moved = std::move(rs);
    CHECK(rs.read_state(i0, st) == -EBADF);  // NOLINT(bugprone-use-after-move): a moved-from socket says so
    CHECK(moved.read_state(i0, st) == 0);
}

TEST_CASE("set_txqlen changes the transmit queue length") {
    veth_pair v;
    route_socket rs = open_socket();
    const int i0 = must_get(rs, "veth0").ifindex;

    REQUIRE_OK(rs.set_txqlen(i0, 123));
    CHECK(must_get(rs, "veth0").txqlen == 123);
    CHECK(json_unsigned(ip_link_json("veth0"), "txqlen") == 123);

    REQUIRE_OK(rs.set_txqlen(i0, 4321));
    CHECK(must_get(rs, "veth0").txqlen == 4321);
    CHECK(json_unsigned(ip_link_json("veth0"), "txqlen") == 4321);
}

TEST_CASE("create_macvlan in every mode, then delete_link") {
    veth_pair v;
    route_socket rs = open_socket();
    const int i0 = must_get(rs, "veth0").ifindex;

    auto [mode, mode_text] = GENERATE(table<tapd::macvlan_mode, std::string>({
        {tapd::macvlan_mode::bridge, "bridge"},
        {tapd::macvlan_mode::vepa, "vepa"},
        {tapd::macvlan_mode::private_, "private"},
        {tapd::macvlan_mode::passthru, "passthru"},
    }));
    INFO("mode " << mode_text);

    auto mv = rs.create_macvlan("mv0", i0, mode);
    INFO((mv ? "" : mv.err().message));
    REQUIRE(mv);
    CHECK(mv->name == "mv0");
    CHECK(mv->kind == "macvlan");
    CHECK(must_get(rs, "mv0").ifindex == mv->ifindex);

    const std::string j = ip_link_json("mv0", true);
    CHECK(json_str(j, "info_kind") == "macvlan");
    CHECK(json_str(j, "mode") == mode_text);
    CHECK(json_str(j, "link") == "veth0");

    auto dup = rs.create_macvlan("mv0", i0, mode);
    REQUIRE_FALSE(dup);
    CHECK(dup.err().code == EEXIST);
    CHECK_THAT(dup.err().message, Catch::Contains("mv0") && Catch::Contains("veth0"));

    REQUIRE_OK(rs.delete_link(mv->ifindex));
    auto gone = rs.get_link(mv->ifindex);
    REQUIRE_FALSE(gone);
    CHECK(gone.err().code == ENODEV);
    CHECK(ip_link_json("mv0").empty());
}

TEST_CASE("errors name the link and carry errno") {
    route_socket rs = open_socket();

    auto missing = rs.get_link("nosuch0");
    REQUIRE_FALSE(missing);
    CHECK(missing.err().code == ENODEV);
    CHECK_THAT(missing.err().message, Catch::Contains("nosuch0"));

    auto missing_idx = rs.get_link(99999);
    REQUIRE_FALSE(missing_idx);
    CHECK(missing_idx.err().code == ENODEV);
    CHECK_THAT(missing_idx.err().message, Catch::Contains("99999"));

    auto too_long = rs.get_link("a-name-longer-than-ifnamsiz");
    REQUIRE_FALSE(too_long);
    CHECK(too_long.err().code == EINVAL);

    auto mv = rs.create_macvlan("mv0", 99999, tapd::macvlan_mode::bridge);
    REQUIRE_FALSE(mv);
    CHECK(mv.err().code == ENODEV);
    CHECK_THAT(mv.err().message, Catch::Contains("mv0"));

    auto del = rs.delete_link(99999);
    REQUIRE_FALSE(del);
    CHECK(del.err().code == ENODEV);

    auto mtu = rs.set_mtu(99999, 1500);
    REQUIRE_FALSE(mtu);
    CHECK(mtu.err().code == ENODEV);
    CHECK_THAT(mtu.err().message, Catch::Contains("set MTU of ifindex 99999"));
}

TEST_CASE("a moved-from route_socket fails cleanly with EBADF") {
    route_socket a = open_socket();
    route_socket b = std::move(a);
    CHECK(b.get_link("lo"));
    // NOLINTNEXTLINE(bugprone-use-after-move,clang-analyzer-cplusplus.Move): using it is the point
    auto r = a.get_link("lo");
    REQUIRE_FALSE(r);
    CHECK(r.err().code == EBADF);
    a = std::move(b);  // and a moved-to socket works again
    CHECK(a.get_link("lo"));
}

TEST_CASE("get_stats counts frames sent through the veth pair") {
    veth_pair v;
    route_socket rs = open_socket();
    const link_info l0 = must_get(rs, "veth0");
    const int i1 = must_get(rs, "veth1").ifindex;
    REQUIRE_OK(rs.set_up(l0.ifindex, true));
    REQUIRE_OK(rs.set_up(i1, true));

    auto before0 = rs.get_stats(l0.ifindex);
    auto before1 = rs.get_stats(i1);
    REQUIRE(before0);
    REQUIRE(before1);

    // Broadcast frames of a local-experimental ethertype; nothing in the namespace answers them, but
    // veth counts them on transmit (veth0) and receive (veth1).
    int fd = socket(AF_PACKET, SOCK_RAW, 0);
    REQUIRE(fd >= 0);
    std::array<unsigned char, 60> frame{};
    std::memset(frame.data(), 0xff, 6);
    std::memcpy(frame.data() + 6, l0.mac.data(), 6);
    frame[12] = 0x88;
    frame[13] = 0xb5;
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = l0.ifindex;
    to.sll_halen = ETH_ALEN;
    std::memset(to.sll_addr, 0xff, ETH_ALEN);
    constexpr int n_frames = 5;
    for (int i = 0; i < n_frames; ++i) {
        ssize_t sent = sendto(fd, frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
        INFO("sendto: " << std::strerror(errno));
        REQUIRE(sent == static_cast<ssize_t>(frame.size()));
    }
    close(fd);

    auto after0 = rs.get_stats(l0.ifindex);
    auto after1 = rs.get_stats(i1);
    REQUIRE(after0);
    REQUIRE(after1);
    // At least: IPv6 autoconfiguration may add its own packets once the links are up.
    CHECK(after0->tx_packets - before0->tx_packets >= n_frames);
    CHECK(after0->tx_bytes - before0->tx_bytes >= n_frames * frame.size());
    CHECK(after1->rx_packets - before1->rx_packets >= n_frames);
    CHECK(after1->rx_bytes - before1->rx_bytes >= n_frames * frame.size());

    // And the kernel's own view agrees (ip -s -j: "stats64":{"rx":{"bytes":..,"packets":..},"tx":{..}}).
    const std::string s = run("ip -s -j link show dev veth0 2>/dev/null");
    auto tx = s.find("\"tx\":");
    REQUIRE(tx != std::string::npos);
    CHECK(json_unsigned(s.substr(tx), "packets") >= after0->tx_packets);
}

int main(int argc, char** argv) {
    // Everything below must happen before Catch starts: the namespace switch is per thread, and the
    // tests rely on never seeing the host's links.
    if (int rc = netns_test::skip_unless_root("to create a network namespace and links")) return rc;
    if (int rc = netns_test::enter_netns()) return rc;
    if (int rc = netns_test::skip_unless_iproute2(" for independent readback")) return rc;
    return Catch::Session().run(argc, argv);
}
