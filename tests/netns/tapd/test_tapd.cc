// test_tapd.cc — tapd end to end on a real kernel: FUSE-mount mode, a real TAP interface, real traffic.
//
// Usage: test_netns_tapd PATH-TO-TAPD [Catch2 arguments...]
//
// main() moves the process into a new network namespace and a private mount namespace (with its own
// tmpfs on /tmp) before Catch runs, so the TAP interface tapd creates is invisible to the host, and a
// FUSE mount, directory or log left behind by a killed run dies with the namespace instead of lingering.
// Each TEST_CASE starts its own tapd (`tapd --fuse-mount DIR --device tap0`), configures tap0 as 10.0.0.1/24 (IPv6 off so no router
// solicitations or MLD reports land in the queues), plays the far end 10.0.0.2 / 02:00:00:00:00:02 by
// writing frames into DIR/tap0, and at the end stops tapd with SIGTERM and checks the exit status,
// that the mount is gone and that the interface was deleted.
//
// Blocking operations on the FUSE file are always guarded: a watchdog SIGKILLs tapd when one hangs,
// which aborts the FUSE connection and fails the blocked call instead of hanging the test. Nothing here
// sleeps in place of a condition: a reader "blocked" is one seen asleep in read() in /proc
// (wait_blocked), a frame "taken by tapd" is one counted by the kernel (if_stats) or by tapd (stats).
// Catch2 assertions run on the main thread only; helper threads just record what they saw.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "netns_test.h"

namespace {

using namespace netns_test;

constexpr const char* ifname = "tap0";
constexpr ip4_t tap_ip = {10, 0, 0, 1};
constexpr ip4_t peer_ip = {10, 0, 0, 2};

// ---------------------------------------------------------------------------------------------------
// Frame building and parsing (beyond netns_test.h)
// ---------------------------------------------------------------------------------------------------

std::string ip_str(const ip4_t& a) {
    return std::to_string(a[0]) + "." + std::to_string(a[1]) + "." + std::to_string(a[2]) + "." +
           std::to_string(a[3]);
}

// RFC 1071 internet checksum over b[off, off+len).
std::uint16_t inet_csum(const bytes& b, std::size_t off, std::size_t len) {
    std::uint32_t sum = 0;
    for (std::size_t i = 0; i + 1 < len; i += 2)
        sum += static_cast<std::uint32_t>((b.at(off + i) << 8) | b.at(off + i + 1));
    if (len % 2) sum += static_cast<std::uint32_t>(b.at(off + len - 1) << 8);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<std::uint16_t>(~sum & 0xffff);
}

bytes icmp_payload(std::size_t n) {
    bytes p;
    for (std::size_t i = 0; i < n; ++i) p.push_back(static_cast<std::uint8_t>(0xa0 + i));
    return p;
}

// Ethernet + IPv4 + ICMP echo (type 8 request / 0 reply), checksums filled in.
bytes icmp_echo(const mac_t& dst_mac, const mac_t& src_mac, const ip4_t& src, const ip4_t& dst, std::uint8_t type,
                std::uint16_t id, std::uint16_t seq, const bytes& payload) {
    bytes f;
    eth_header(f, dst_mac, src_mac, ETH_P_IP);
    const std::size_t ip = f.size();
    f.push_back(0x45);
    f.push_back(0);
    put16(f, static_cast<std::uint16_t>(20 + 8 + payload.size()));
    put16(f, 0x1234);  // id
    put16(f, 0x4000);  // DF
    f.push_back(64);   // ttl
    f.push_back(1);    // ICMP
    put16(f, 0);       // checksum, below
    put(f, src);
    put(f, dst);
    std::uint16_t c = inet_csum(f, ip, 20);
    f[ip + 10] = static_cast<std::uint8_t>(c >> 8);
    f[ip + 11] = static_cast<std::uint8_t>(c);
    const std::size_t icmp = f.size();
    f.push_back(type);
    f.push_back(0);
    put16(f, 0);
    put16(f, id);
    put16(f, seq);
    f.insert(f.end(), payload.begin(), payload.end());
    c = inet_csum(f, icmp, f.size() - icmp);
    f[icmp + 2] = static_cast<std::uint8_t>(c >> 8);
    f[icmp + 3] = static_cast<std::uint8_t>(c);
    return f;
}

// A test frame (ethertype 0x88b5) carrying a sequence number, padded to the Ethernet minimum.
bytes marker_frame(const mac_t& src, std::uint32_t seq) {
    bytes f;
    eth_header(f, peer_mac, src, ethertype_test);
    const char tag[] = "tapd-netns";
    f.insert(f.end(), tag, tag + sizeof tag - 1);
    f.push_back(static_cast<std::uint8_t>(seq >> 24));
    f.push_back(static_cast<std::uint8_t>(seq >> 16));
    f.push_back(static_cast<std::uint8_t>(seq >> 8));
    f.push_back(static_cast<std::uint8_t>(seq));
    f.resize(60, 0);
    return f;
}

// What an ARP reply from the interface must look like; empty string when it does, else why not.
std::string arp_reply_problem(const bytes& r, std::size_t hdr, const mac_t& tap_mac) {
    if (r.size() < hdr + 42) return "too short: " + std::to_string(r.size()) + " bytes";
    if (!vnet_hdr_plain(r, hdr))
        return "vnet header not plain: " + hex(bytes(r.begin(), r.begin() + static_cast<long>(hdr)));
    const std::size_t e = hdr, a = hdr + 14;
    if (get_arr<6>(r, e) != peer_mac) return "eth dst " + mac_str(get_arr<6>(r, e));
    if (get_arr<6>(r, e + 6) != tap_mac) return "eth src " + mac_str(get_arr<6>(r, e + 6));
    if (get16(r, e + 12) != ETH_P_ARP) return "ethertype " + std::to_string(get16(r, e + 12));
    if (get16(r, a) != 1 || get16(r, a + 2) != 0x0800 || r[a + 4] != 6 || r[a + 5] != 4) return "arp hw/proto";
    if (get16(r, a + 6) != 2) return "arp op " + std::to_string(get16(r, a + 6));
    if (get_arr<6>(r, a + 8) != tap_mac) return "sender mac " + mac_str(get_arr<6>(r, a + 8));
    if (get_arr<4>(r, a + 14) != tap_ip) return "sender ip " + ip_str(get_arr<4>(r, a + 14));
    if (get_arr<6>(r, a + 18) != peer_mac) return "target mac " + mac_str(get_arr<6>(r, a + 18));
    if (get_arr<4>(r, a + 24) != peer_ip) return "target ip " + ip_str(get_arr<4>(r, a + 24));
    return "";
}

// `ip -br link show dev NAME` → third column, the MAC as text.
std::string if_mac_ip(const char* name) {
    std::istringstream in(run(std::string("ip -br link show dev ") + name + " 2>/dev/null"));
    std::string n, state, mac;
    in >> n >> state >> mac;
    return mac;
}

// ---------------------------------------------------------------------------------------------------
// The fixture: one tapd serving tap0 through a FUSE mount under /tmp
// ---------------------------------------------------------------------------------------------------

struct stats {
    std::map<std::string, unsigned long long> v;
    std::string line;
    unsigned long long operator[](const std::string& k) const {
        auto it = v.find(k);
        return it == v.end() ? ~0ULL : it->second;
    }
};

// netns_test's tapd_process serving the one device tap0 (`--device tap0` unless told otherwise),
// configured as 10.0.0.1/24 without IPv6; stopping it also checks that tap0 is gone.
class tapd_instance : public tapd_process {
public:
    tapd_instance() : tapd_process("tapd-netns") {}

    // Starts tapd with `--device <device_arg>`, waits for "ready", configures tap0.
    void start(const std::string& device_arg = ifname) {
        tapd_process::start({device_arg});
        {
            INFO("tapd stderr:\n" << log());
            struct stat st{};
            REQUIRE(::stat(path().c_str(), &st) == 0);
            REQUIRE(interface_exists(ifname));
        }

        // No IPv6 on tap0 (no RS/MLD/DAD frames in the queues), then address and up.
        REQUIRE(sh(std::string("sysctl -q -w net.ipv6.conf.") + ifname + ".disable_ipv6=1 >/dev/null") == 0);
        REQUIRE(sh(std::string("ip addr add ") + ip_str(tap_ip) + "/24 dev " + ifname) == 0);
        REQUIRE(sh(std::string("ip link set ") + ifname + " up") == 0);
        auto m = if_mac(ifname);
        REQUIRE(m.has_value());
        mac_ = *m;
    }

    // Static neighbour for the peer, so the kernel sends IP to it without ARP.
    void add_peer_neighbour() {
        REQUIRE(sh("ip neigh replace " + ip_str(peer_ip) + " lladdr " + mac_str(peer_mac) + " dev " + ifname +
                   " nud permanent") == 0);
    }

    // SIGTERM → exit 0 within `limit`, mount gone, interface deleted. Returns the time to exit.
    long stop_and_verify(std::chrono::milliseconds limit = 10000ms) {
        long took = tapd_process::stop_and_verify(limit);
        INFO("tapd stderr:\n" << log());
        // The TUN fd closed with tapd; unregistering may trail the exit a little.
        CHECK(wait_until([] { return !interface_exists(ifname); }));
        return took;
    }

    // SIGUSR1 → the next "stats tap0:" line on stderr, parsed.
    stats request_stats() {
        const std::string key = std::string("tapd: stats ") + ifname + ":";
        auto count = [&] {
            std::size_t n = 0, pos = 0;
            std::string l = log();
            while ((pos = l.find(key, pos)) != std::string::npos) ++n, ++pos;
            return n;
        };
        std::size_t before = count();
        REQUIRE(pid() > 0);
        REQUIRE(::kill(pid(), SIGUSR1) == 0);
        wait_until([&] { return count() > before; });
        std::string l = log();
        auto pos = l.rfind(key);
        INFO("tapd stderr:\n" << l);
        REQUIRE(count() > before);
        stats s;
        s.line = l.substr(pos, l.find('\n', pos) - pos);
        std::istringstream in(s.line.substr(key.size()));
        std::string kv;
        while (in >> kv) {
            auto eq = kv.find('=');
            if (eq != std::string::npos) s.v[kv.substr(0, eq)] = std::stoull(kv.substr(eq + 1));
        }
        return s;
    }

    int open_file(int flags = O_RDWR) const { return tapd_process::open_file(ifname, flags); }
    std::string path() const { return tapd_process::path(ifname); }
    const mac_t& mac() const { return mac_; }

private:
    mac_t mac_{};
};

// ---------------------------------------------------------------------------------------------------
// I/O on the tap file
// ---------------------------------------------------------------------------------------------------


// Non-blocking drain helper: reads whatever is queued on an O_NONBLOCK fd.
// Guarded too: a tapd that ignored O_NONBLOCK would otherwise hang the test here.
io_result read_nb(int fd, bytes& out, std::size_t cap = 65600) {
    out.resize(cap);
    watchdog wd(g_tapd_pid.load(), 10000ms);
    errno = 0;
    ssize_t n = ::read(fd, out.data(), out.size());
    int e = errno;
    wd.disarm();
    if (wd.fired()) FAIL_CHECK("non-blocking read() blocked for 10 s: tapd killed");
    if (n < 0) {
        out.clear();
        return {-1, e};
    }
    out.resize(static_cast<std::size_t>(n));
    return {static_cast<long>(n), 0};
}

void set_nonblock(int fd, bool on) {
    int fl = ::fcntl(fd, F_GETFL);
    REQUIRE(fl >= 0);
    REQUIRE(::fcntl(fd, F_SETFL, on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK)) == 0);
}

// Waits until tapd has taken every frame the kernel transmitted out of tap0 off the TUN fd, the first
// `taken` frames counted from `base` (tap0's tx_packets, which the kernel counts when the reader takes a
// frame); false after 10 s.
bool wait_tun_taken(const if_counters& base, unsigned long long taken) {
    return wait_until([&] {
        auto c = if_stats(ifname);
        return c && c->tx_packets >= base.tx_packets + taken;
    });
}

// Makes the kernel transmit `count` marker frames (seq first_seq...) out of tap0 through an AF_PACKET
// socket in this netns, each once tapd has taken the one before off the TUN fd (so the kernel's own
// ring, txqueuelen long, never overflows ahead of tapd). Returns how many were sent and taken.
int send_marker_frames(tapd_instance& t, int count, std::uint32_t first_seq) {
    auto base = if_stats(ifname);
    if (!base) return -1;
    fd_guard ps(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
    if (ps.get() < 0) return -1;
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_ifindex = static_cast<int>(if_nametoindex(ifname));
    sll.sll_protocol = htons(ethertype_test);
    if (::bind(ps.get(), reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0) return -1;
    int sent = 0;
    for (int i = 0; i < count; ++i) {
        bytes f = marker_frame(t.mac(), first_seq + static_cast<std::uint32_t>(i));
        if (::send(ps.get(), f.data(), f.size(), 0) == static_cast<ssize_t>(f.size()) &&
            wait_tun_taken(*base, static_cast<unsigned long long>(i) + 1))
            ++sent;
    }
    return sent;
}

// Writes an ARP request for 10.0.0.1 and reads the reply (first frame), checking every field.
void arp_exchange(tapd_instance& t, int fd, std::size_t hdr = vnet_len) {
    bytes req = with_vnet(arp_request(peer_mac, peer_ip, tap_ip), hdr);
    auto w = write_buf(fd, req);
    INFO("write errno " << w.err << " (" << std::strerror(w.err) << ")");
    REQUIRE(w.n == static_cast<long>(req.size()));
    auto r = read_frame(fd);
    INFO("read errno " << r.err << ", timed out " << r.timed_out << ", got " << hex(r.data));
    REQUIRE_FALSE(r.timed_out);
    REQUIRE(r.err == 0);
    CHECK(arp_reply_problem(r.data, hdr, t.mac()) == "");
}

// ---------------------------------------------------------------------------------------------------
// Signals for the interrupt test
// ---------------------------------------------------------------------------------------------------

std::atomic<int> g_sigusr2_count{0};
void on_sigusr2(int) { g_sigusr2_count.fetch_add(1); }

void install_sigusr2_no_restart() {
    struct sigaction sa {};
    sa.sa_handler = on_sigusr2;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: an interrupted read must come back with EINTR
    REQUIRE(::sigaction(SIGUSR2, &sa, nullptr) == 0);
}

}  // namespace

// ===================================================================================================
// Tests
// ===================================================================================================

TEST_CASE("ARP request written into the file is answered by the kernel through the file", "[arp]") {
    tapd_instance t;
    t.start();
    // The interface's MAC, two independent ways in this netns.
    CHECK(if_mac_ip(ifname) == mac_str(t.mac()));
    CHECK(mac_str(t.mac()) != "00:00:00:00:00:00");

    fd_guard fd(t.open_file());
    REQUIRE(fd.get() >= 0);

    bytes req = with_vnet(arp_request(peer_mac, peer_ip, tap_ip));
    REQUIRE(req.size() == 52);
    auto w = write_buf(fd.get(), req);
    INFO("write errno " << std::strerror(w.err));
    REQUIRE(w.n == 52);

    auto r = read_frame(fd.get());
    INFO("read: errno " << r.err << " timed out " << r.timed_out << " data " << hex(r.data));
    REQUIRE_FALSE(r.timed_out);
    REQUIRE(r.err == 0);
    // One read = one frame: header + the 42-byte ARP reply (tun does not pad).
    CHECK(r.data.size() == vnet_len + 42);
    CHECK(vnet_hdr_plain(r.data));
    CHECK(arp_reply_problem(r.data, vnet_len, t.mac()) == "");
    // Spelled out, so a failure names the field.
    REQUIRE(r.data.size() >= vnet_len + 42);
    CHECK(mac_str(get_arr<6>(r.data, vnet_len + 14 + 8)) == mac_str(t.mac()));   // sender MAC
    CHECK(ip_str(get_arr<4>(r.data, vnet_len + 14 + 14)) == "10.0.0.1");         // sender IP
    CHECK(mac_str(get_arr<6>(r.data, vnet_len + 14 + 18)) == mac_str(peer_mac));  // target MAC
    CHECK(ip_str(get_arr<4>(r.data, vnet_len + 14 + 24)) == "10.0.0.2");         // target IP

    auto s = t.request_stats();
    INFO(s.line);
    CHECK(s["tx_frames"] == 1);
    CHECK(s["tx_dropped"] == 0);
    CHECK(s["rx_frames"] == 1);
    CHECK(s["queues"] == 1);

    fd.reset();
    t.stop_and_verify();
}

TEST_CASE("ICMP echo both ways through the file", "[icmp]") {
    tapd_instance t;
    t.start();
    t.add_peer_neighbour();
    fd_guard fd(t.open_file());
    REQUIRE(fd.get() >= 0);

    SECTION("peer pings the kernel: request written, reply read") {
        const bytes payload = icmp_payload(32);
        bytes req = with_vnet(icmp_echo(t.mac(), peer_mac, peer_ip, tap_ip, 8, 0x4a5b, 7, payload));
        auto w = write_buf(fd.get(), req);
        INFO("write errno " << std::strerror(w.err));
        REQUIRE(w.n == static_cast<long>(req.size()));

        auto r = read_frame(fd.get());
        INFO("read: errno " << r.err << " data " << hex(r.data, 128));
        REQUIRE_FALSE(r.timed_out);
        REQUIRE(r.err == 0);
        const bytes& f = r.data;
        REQUIRE(f.size() == vnet_len + 14 + 20 + 8 + payload.size());
        CHECK(vnet_hdr_plain(f));
        const std::size_t e = vnet_len, ip = e + 14, ic = ip + 20;
        CHECK(mac_str(get_arr<6>(f, e)) == mac_str(peer_mac));
        CHECK(mac_str(get_arr<6>(f, e + 6)) == mac_str(t.mac()));
        CHECK(get16(f, e + 12) == ETH_P_IP);
        CHECK(f[ip] == 0x45);
        CHECK(get16(f, ip + 2) == 20 + 8 + payload.size());
        CHECK(f[ip + 9] == 1);
        CHECK(ip_str(get_arr<4>(f, ip + 12)) == ip_str(tap_ip));
        CHECK(ip_str(get_arr<4>(f, ip + 16)) == ip_str(peer_ip));
        CHECK(inet_csum(f, ip, 20) == 0);  // header checksum verifies
        CHECK(f[ic] == 0);                 // echo reply
        CHECK(f[ic + 1] == 0);
        CHECK(get16(f, ic + 4) == 0x4a5b);  // identifier
        CHECK(get16(f, ic + 6) == 7);       // sequence
        CHECK(inet_csum(f, ic, f.size() - ic) == 0);
        CHECK(bytes(f.begin() + static_cast<long>(ic + 8), f.end()) == payload);
    }

    SECTION("kernel pings the peer: request read, reply written, kernel socket receives it") {
        int raw = ::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
        REQUIRE(raw >= 0);
        fd_guard rawg(raw);
        const std::uint16_t id = 0x6c6d, seq = 3;
        bytes echo;  // ICMP only; the kernel adds IP
        echo.push_back(8);
        echo.push_back(0);
        put16(echo, 0);
        put16(echo, id);
        put16(echo, seq);
        bytes payload = icmp_payload(24);
        echo.insert(echo.end(), payload.begin(), payload.end());
        std::uint16_t c = inet_csum(echo, 0, echo.size());
        echo[2] = static_cast<std::uint8_t>(c >> 8);
        echo[3] = static_cast<std::uint8_t>(c);
        sockaddr_in to{};
        to.sin_family = AF_INET;
        std::memcpy(&to.sin_addr, peer_ip.data(), 4);
        REQUIRE(::sendto(raw, echo.data(), echo.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) ==
                static_cast<ssize_t>(echo.size()));

        auto r = read_frame(fd.get());
        INFO("read: errno " << r.err << " data " << hex(r.data, 128));
        REQUIRE_FALSE(r.timed_out);
        REQUIRE(r.err == 0);
        const bytes& f = r.data;
        const std::size_t e = vnet_len, ip = e + 14, ic = ip + 20;
        REQUIRE(f.size() == ic + echo.size());
        CHECK(vnet_hdr_plain(f));
        CHECK(mac_str(get_arr<6>(f, e)) == mac_str(peer_mac));
        CHECK(mac_str(get_arr<6>(f, e + 6)) == mac_str(t.mac()));
        CHECK(get16(f, e + 12) == ETH_P_IP);
        CHECK(ip_str(get_arr<4>(f, ip + 12)) == ip_str(tap_ip));
        CHECK(ip_str(get_arr<4>(f, ip + 16)) == ip_str(peer_ip));
        CHECK(inet_csum(f, ip, 20) == 0);
        CHECK(f[ic] == 8);
        CHECK(get16(f, ic + 4) == id);
        CHECK(get16(f, ic + 6) == seq);
        CHECK(inet_csum(f, ic, f.size() - ic) == 0);

        // Answer as the peer.
        bytes reply = with_vnet(icmp_echo(t.mac(), peer_mac, peer_ip, tap_ip, 0, id, seq, payload));
        auto w = write_buf(fd.get(), reply);
        REQUIRE(w.n == static_cast<long>(reply.size()));

        // The raw socket sees incoming ICMP (IP header included); find our echo reply.
        bool got = false;
        auto t0 = clock_type::now();
        while (!got && ms_since(t0) < 10000) {
            pollfd p{raw, POLLIN, 0};
            if (::poll(&p, 1, 200) <= 0) continue;
            std::array<std::uint8_t, 2048> buf{};
            ssize_t n = ::recv(raw, buf.data(), buf.size(), 0);
            if (n < 28) continue;
            bytes b(buf.begin(), buf.begin() + n);
            std::size_t ihl = (b[0] & 0x0f) * 4u;
            if (b.size() < ihl + 8) continue;
            if (b[ihl] == 0 && get16(b, ihl + 4) == id && get16(b, ihl + 6) == seq &&
                get_arr<4>(b, 12) == peer_ip)
                got = true;
        }
        CHECK(got);
    }

    fd.reset();
    t.stop_and_verify();
}

TEST_CASE("O_NONBLOCK set after open: empty read is EAGAIN; clearing it makes reads block again", "[nonblock]") {
    tapd_instance t;
    t.start();
    fd_guard fd(t.open_file());
    REQUIRE(fd.get() >= 0);
    set_nonblock(fd.get(), true);

    bytes buf;
    auto r = read_nb(fd.get(), buf);
    CHECK(r.n == -1);
    CHECK(r.err == EAGAIN);

    // A queued frame is returned by a non-blocking read, then the queue is empty again.
    bytes req = with_vnet(arp_request(peer_mac, peer_ip, tap_ip));
    REQUIRE(write_buf(fd.get(), req).n == static_cast<long>(req.size()));
    pollfd p{fd.get(), POLLIN, 0};
    CHECK(::poll(&p, 1, 10000) == 1);
    io_result got = read_nb(fd.get(), buf);
    INFO("errno " << got.err);
    REQUIRE(got.n == static_cast<long>(vnet_len + 42));
    CHECK(arp_reply_problem(buf, vnet_len, t.mac()) == "");
    r = read_nb(fd.get(), buf);
    CHECK(r.n == -1);
    CHECK(r.err == EAGAIN);

    // Blocking again: a read waits (does not return EAGAIN) until a frame arrives.
    set_nonblock(fd.get(), false);
    std::atomic<bool> done{false};
    read_result br;
    thread_id reader_id;
    std::thread reader([&] {
        reader_id.publish();
        br = read_frame(fd.get(), 20000ms);
        done = true;
    });
    thread_guard reader_guard(reader, t);
    // Seen asleep in read() on the file: it did not return EAGAIN, and the frame below comes after.
    bool blocked = wait_blocked(reader_id, task_state::sys_read, fd.get()) && !done.load();
    // Wake it from the network side (not by writing this file from another thread: see [concurrent]).
    int sent = send_marker_frames(t, 1, 500);
    reader.join();
    CHECK(sent == 1);
    CHECK(blocked);
    INFO("blocked read: errno " << br.err << " timed out " << br.timed_out);
    REQUIRE_FALSE(br.timed_out);
    CHECK(br.err == 0);
    CHECK(vnet_hdr_plain(br.data));
    REQUIRE(br.data.size() >= vnet_len);
    CHECK(hex(bytes(br.data.begin() + vnet_len, br.data.end()), 128) == hex(marker_frame(t.mac(), 500), 128));

    fd.reset();
    t.stop_and_verify();
}

// Regression: FUSE-mount-mode deadlock. A program with a reader thread blocked in read() and a writer
// thread writing the same open file (the usual layout of a simple VPN or bridge) deadlocked until a
// frame arrived: DIR/tap0 is a regular file, so the VFS gives its struct file FMODE_ATOMIC_POS and
// read()/write() from threads sharing the fd serialize on f_pos_lock (fdget_pos). Fixed by answering
// FUSE_OPEN with FOPEN_STREAM (stream_open() drops FMODE_ATOMIC_POS; kernel commit 10dce8af3422), which
// libfuse 3.14 cannot express: see cuse/fuse_mount.h. A CUSE character device never had the problem.
TEST_CASE("a write on the same fd proceeds while another thread is blocked reading it", "[concurrent]") {
    tapd_instance t;
    t.start();
    fd_guard fd(t.open_file());
    REQUIRE(fd.get() >= 0);

    std::atomic<bool> done{false};
    read_result br;
    thread_id reader_id;
    std::thread reader([&] {
        reader_id.publish();
        br = read_frame(fd.get(), 20000ms);
        done = true;
    });
    thread_guard reader_guard(reader, t);
    // The reader is inside read() (holding f_pos_lock, were the file not a stream) and tapd has it:
    // the round trip on the same device is answered after the read request was taken and parked.
    REQUIRE(wait_blocked(reader_id, task_state::sys_read, fd.get()));
    fd_guard other(t.open_file());
    REQUIRE(other.get() >= 0);
    REQUIRE(round_trip(other.get()) == 0);
    CHECK(task_state::blocked_in(reader_id.get(), task_state::sys_read, fd.get()));
    CHECK_FALSE(done.load());

    // The ARP request written here is what the reader is waiting for: if the write cannot get past the
    // blocked read, nothing ever arrives. Guarded: a write that hangs 10 s is killed (and fails).
    const bytes req = with_vnet(arp_request(peer_mac, peer_ip, tap_ip));
    auto t0 = clock_type::now();
    auto w = write_buf(fd.get(), req, 10000ms);
    long write_ms = ms_since(t0);
    reader.join();
    INFO("write returned " << w.n << " (errno " << w.err << " " << std::strerror(w.err) << ") after " << write_ms
                           << " ms; reader errno " << br.err << ", " << br.data.size() << " bytes");
    CHECK(w.n == static_cast<long>(req.size()));
    CHECK(br.err == 0);
    CHECK(arp_reply_problem(br.data, vnet_len, t.mac()) == "");

    fd.reset();
    if (t.alive()) t.stop_and_verify();
}

TEST_CASE("poll and epoll: POLLOUT always, POLLIN when a frame is queued, wakeups delivered", "[poll]") {
    tapd_instance t;
    t.start();
    fd_guard fd(t.open_file());
    REQUIRE(fd.get() >= 0);
    const bytes req = with_vnet(arp_request(peer_mac, peer_ip, tap_ip));

    SECTION("poll") {
        pollfd p{fd.get(), POLLIN | POLLOUT, 0};
        REQUIRE(::poll(&p, 1, 0) == 1);
        CHECK((p.revents & POLLOUT) != 0);
        CHECK((p.revents & POLLIN) == 0);
        CHECK((p.revents & (POLLERR | POLLHUP)) == 0);

        // A poller already asleep must be woken by the frame's arrival (notify path, not the first mask).
        // The poller is seen asleep in poll() before the request is written. Its FUSE_POLL went to tapd
        // before the write on the same device, so tapd answered it before any reply frame existed:
        // POLLIN can only come from the notification. No timeout on the poll: one that runs out polls
        // the file once more and would find the frame, notification or not.
        int prc = -2;
        short rev = 0;
        std::atomic<bool> polled{false};
        thread_id poller_id;
        std::thread poller([&] {
            poller_id.publish();
            pollfd q{fd.get(), POLLIN, 0};
            prc = ::poll(&q, 1, -1);
            rev = q.revents;
            polled = true;
        });
        thread_guard poller_guard(poller, t);
        CHECK(wait_blocked(poller_id, task_state::sys_poll));
        REQUIRE(write_buf(fd.get(), req).n == static_cast<long>(req.size()));
        const bool woken = wait_until([&] { return polled.load(); }, 20000ms);
        CHECK(woken);                // by the notification: without it the poller would sleep for good
        if (!woken) t.kill_hard();   // then the aborted FUSE connection ends the poll, so it can be joined
        poller.join();
        INFO("poll rc " << prc << " revents " << rev);
        CHECK(prc == 1);
        CHECK((rev & POLLIN) != 0);
        REQUIRE(woken);

        // Level: still readable until read.
        p = {fd.get(), POLLIN | POLLOUT, 0};
        REQUIRE(::poll(&p, 1, 0) == 1);
        CHECK((p.revents & POLLIN) != 0);
        CHECK((p.revents & POLLOUT) != 0);
        auto r = read_frame(fd.get());
        REQUIRE(r.err == 0);
        CHECK(arp_reply_problem(r.data, vnet_len, t.mac()) == "");
        p = {fd.get(), POLLIN | POLLOUT, 0};
        REQUIRE(::poll(&p, 1, 0) == 1);
        CHECK((p.revents & POLLIN) == 0);
        CHECK((p.revents & POLLOUT) != 0);
    }

    SECTION("epoll, level-triggered") {
        fd_guard ep(::epoll_create1(EPOLL_CLOEXEC));
        REQUIRE(ep.get() >= 0);
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT;
        ev.data.u32 = 7;
        REQUIRE(::epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd.get(), &ev) == 0);
        epoll_event out[4];
        int n = ::epoll_wait(ep.get(), out, 4, 0);
        REQUIRE(n == 1);
        CHECK(out[0].data.u32 == 7);
        CHECK((out[0].events & EPOLLOUT) != 0);
        CHECK((out[0].events & EPOLLIN) == 0);

        // A second epoll set waiting for EPOLLIN only, asleep when the frame arrives.
        fd_guard ep_in(::epoll_create1(EPOLL_CLOEXEC));
        REQUIRE(ep_in.get() >= 0);
        epoll_event evi{};
        evi.events = EPOLLIN;
        REQUIRE(::epoll_ctl(ep_in.get(), EPOLL_CTL_ADD, fd.get(), &evi) == 0);
        REQUIRE(::epoll_wait(ep_in.get(), out, 4, 0) == 0);
        int erc = -2;
        unsigned evs = 0;
        long waited = -1;
        thread_id waiter_id;
        std::thread waiter([&] {
            waiter_id.publish();
            epoll_event o[4];
            auto t0 = clock_type::now();
            erc = ::epoll_wait(ep_in.get(), o, 4, 20000);
            waited = ms_since(t0);
            if (erc > 0) evs = o[0].events;
        });
        thread_guard waiter_guard(waiter, t);
        CHECK(wait_blocked(waiter_id, task_state::sys_epoll_wait, ep_in.get()));
        REQUIRE(write_buf(fd.get(), req).n == static_cast<long>(req.size()));
        waiter.join();
        INFO("epoll_wait rc " << erc << " events " << evs << " after " << waited << " ms");
        CHECK(erc == 1);  // woken, not timed out (20 s)
        CHECK((evs & EPOLLIN) != 0);

        // Level-triggered: reported again while the frame sits there.
        n = ::epoll_wait(ep.get(), out, 4, 0);
        REQUIRE(n == 1);
        CHECK((out[0].events & EPOLLIN) != 0);
        CHECK((out[0].events & EPOLLOUT) != 0);
        n = ::epoll_wait(ep_in.get(), out, 4, 0);
        CHECK(n == 1);

        auto r = read_frame(fd.get());
        REQUIRE(r.err == 0);
        CHECK(arp_reply_problem(r.data, vnet_len, t.mac()) == "");
        n = ::epoll_wait(ep.get(), out, 4, 0);
        REQUIRE(n == 1);
        CHECK((out[0].events & EPOLLIN) == 0);
        CHECK(::epoll_wait(ep_in.get(), out, 4, 0) == 0);
    }

    fd.reset();
    t.stop_and_verify();
}

TEST_CASE("a signal interrupts a blocked read with EINTR and tapd carries on", "[interrupt]") {
    tapd_instance t;
    t.start();
    install_sigusr2_no_restart();
    fd_guard fd(t.open_file());
    REQUIRE(fd.get() >= 0);

    std::atomic<bool> done{false};
    long rc = 0;
    int err = 0;
    thread_id reader_id;
    std::thread reader([&] {
        reader_id.publish();
        std::array<std::uint8_t, 2048> buf{};
        errno = 0;
        rc = ::read(fd.get(), buf.data(), buf.size());
        err = errno;
        done = true;
    });
    thread_guard reader_guard(reader, t);
    pthread_t th = reader.native_handle();
    // One signal, once the thread is seen asleep in read() and tapd has the request (round trip): tapd
    // must answer the FUSE_INTERRUPT of a parked read. A watchdog kills tapd if the read never comes
    // back (then it fails with ENOTCONN and the checks below say so).
    watchdog wd(t.pid(), 20000ms);
    CHECK(wait_blocked(reader_id, task_state::sys_read, fd.get()));
    fd_guard other(t.open_file());
    REQUIRE(other.get() >= 0);
    CHECK(round_trip(other.get()) == 0);
    CHECK_FALSE(done.load());  // it is blocked: nothing to read
    const int before = g_sigusr2_count.load();
    ::pthread_kill(th, SIGUSR2);
    reader.join();
    wd.disarm();
    INFO("read rc " << rc << " errno " << err << " (" << std::strerror(err) << ")");
    CHECK_FALSE(wd.fired());
    CHECK(g_sigusr2_count.load() > before);
    CHECK(rc == -1);
    CHECK(err == EINTR);

    // tapd is still serving this very file.
    REQUIRE(t.alive());
    arp_exchange(t, fd.get());
    // And a second interrupted read, then another exchange: nothing left parked that eats the frame.
    std::atomic<bool> done2{false};
    long rc2 = 0;
    int err2 = 0;
    thread_id reader2_id;
    std::thread reader2([&] {
        reader2_id.publish();
        std::array<std::uint8_t, 2048> buf{};
        rc2 = ::read(fd.get(), buf.data(), buf.size());
        err2 = errno;
        done2 = true;
    });
    thread_guard reader2_guard(reader2, t);
    watchdog wd2(t.pid(), 20000ms);
    CHECK(wait_blocked(reader2_id, task_state::sys_read, fd.get()));
    CHECK(round_trip(other.get()) == 0);
    ::pthread_kill(reader2.native_handle(), SIGUSR2);
    reader2.join();
    wd2.disarm();
    CHECK(rc2 == -1);
    CHECK(err2 == EINTR);
    REQUIRE(t.alive());
    arp_exchange(t, fd.get());

    fd.reset();
    t.stop_and_verify();
}

TEST_CASE("ring overflow: txqueuelen=16 keeps the first 16 frames and counts the rest", "[overflow]") {
    tapd_instance t;
    t.start(std::string(ifname) + ",txqueuelen=16");
    CHECK(run(std::string("ip -j link show dev ") + ifname).find("\"txqlen\":16") != std::string::npos);
    fd_guard fd(t.open_file());
    REQUIRE(fd.get() >= 0);

    // The kernel transmits 100 frames out of tap0 (AF_PACKET in this netns); nobody reads the file.
    fd_guard ps(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
    REQUIRE(ps.get() >= 0);
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_ifindex = static_cast<int>(if_nametoindex(ifname));
    sll.sll_protocol = htons(ethertype_test);
    REQUIRE(sll.sll_ifindex > 0);
    REQUIRE(::bind(ps.get(), reinterpret_cast<sockaddr*>(&sll), sizeof sll) == 0);
    constexpr int total = 100, cap = 16;
    auto base = if_stats(ifname);
    REQUIRE(base.has_value());
    for (int i = 0; i < total; ++i) {
        bytes f = marker_frame(t.mac(), static_cast<std::uint32_t>(i));
        REQUIRE(::send(ps.get(), f.data(), f.size(), 0) == static_cast<ssize_t>(f.size()));
        // Each once tapd has taken the previous one off the TUN fd, so the kernel's own TUN ring (also
        // txqueuelen long) never overflows ahead of tapd: every drop counted below is tapd's.
        INFO("frame " << i);
        REQUIRE(wait_tun_taken(*base, static_cast<unsigned long long>(i) + 1));
    }
    CHECK(if_stats(ifname)->tx_dropped == base->tx_dropped);
    // tapd has read them all; its counters say what it did with them once it has counted the last.
    stats s;
    wait_until([&] {
        s = t.request_stats();
        return s["rx_frames"] >= static_cast<unsigned long long>(total);
    });

    set_nonblock(fd.get(), true);
    int got = 0;
    bytes buf;
    io_result r{};
    std::vector<std::string> problems;
    for (int i = 0; i < total + 1; ++i) {
        r = read_nb(fd.get(), buf);
        if (r.n < 0) break;
        bytes expect = with_vnet(marker_frame(t.mac(), static_cast<std::uint32_t>(got)));
        // Header flags may be 0 or DATA_VALID; compare the frame.
        if (buf.size() != expect.size() || !vnet_hdr_plain(buf) ||
            !std::equal(buf.begin() + vnet_len, buf.end(), expect.begin() + vnet_len))
            problems.push_back("frame " + std::to_string(got) + ": " + hex(buf));
        ++got;
    }
    INFO("stats before reading: " << s.line);
    CHECK(got == cap);
    CHECK(r.n == -1);
    CHECK(r.err == EAGAIN);
    CHECK(problems.empty());
    for (const auto& p : problems) UNSCOPED_INFO(p);

    s = t.request_stats();
    INFO(s.line);
    CHECK(s["rx_dropped_full"] == static_cast<unsigned long long>(total - cap));
    CHECK(s["rx_frames"] == static_cast<unsigned long long>(total));
    CHECK(s["rx_dropped_no_queue"] == 0);
    CHECK(s["queues"] == 1);

    // Room again: the next frame is queued and readable.
    bytes f = marker_frame(t.mac(), 1000);
    REQUIRE(::send(ps.get(), f.data(), f.size(), 0) == static_cast<ssize_t>(f.size()));
    pollfd p{fd.get(), POLLIN, 0};
    CHECK(::poll(&p, 1, 10000) == 1);
    r = read_nb(fd.get(), buf);
    CHECK(r.n == static_cast<long>(vnet_len + f.size()));

    fd.reset();
    t.stop_and_verify();
}

TEST_CASE("bad writes are refused with macvtap's errnos and leave the file usable", "[badwrite]") {
    tapd_instance t;
    t.start();
    fd_guard fd(t.open_file());
    REQUIRE(fd.get() >= 0);
    const mac_t other = {0x02, 0, 0, 0, 0, 0x03};  // nobody: accepted frames are dropped by the stack

    auto frame_of = [&](std::size_t len) {
        bytes f;
        eth_header(f, other, peer_mac, ethertype_test);
        f.resize(len, 0x5a);
        return f;
    };

    // Frame of 13 bytes (one short of an Ethernet header).
    {
        bytes b = with_vnet(frame_of(14));
        b.pop_back();
        REQUIRE(b.size() == vnet_len + 13);
        auto w = write_buf(fd.get(), b);
        CHECK(w.n == -1);
        CHECK(w.err == EINVAL);
    }
    // Shorter than the vnet header itself.
    {
        bytes b(5, 0);
        auto w = write_buf(fd.get(), b);
        CHECK(w.n == -1);
        CHECK(w.err == EINVAL);
    }
    // 3000-byte frame, no GSO in the header: larger than MTU 1500 + 18.
    {
        auto w = write_buf(fd.get(), with_vnet(frame_of(3000)));
        CHECK(w.n == -1);
        CHECK(w.err == EMSGSIZE);
    }
    // The boundary: MTU + 14 + 4 (a VLAN tag's worth) is accepted, one more byte is not.
    {
        auto w = write_buf(fd.get(), with_vnet(frame_of(1518)));
        INFO("1518-byte frame: errno " << std::strerror(w.err));
        CHECK(w.n == static_cast<long>(vnet_len + 1518));
        w = write_buf(fd.get(), with_vnet(frame_of(1519)));
        CHECK(w.n == -1);
        CHECK(w.err == EMSGSIZE);
    }
    // Exactly a header and a minimal 14-byte frame is fine.
    {
        auto w = write_buf(fd.get(), with_vnet(frame_of(14)));
        CHECK(w.n == static_cast<long>(vnet_len + 14));
    }

    // Still serving: a good write gets its answer.
    arp_exchange(t, fd.get());

    auto s = t.request_stats();
    INFO(s.line);
    CHECK(s["tx_dropped"] == 4);  // 13-byte frame, 5-byte write, 3000, 1519
    CHECK(s["tx_frames"] == 3);   // 1518, 14, ARP

    fd.reset();
    t.stop_and_verify();
}

TEST_CASE("two opens are two queues; closing one leaves the other working", "[twoopen]") {
    tapd_instance t;
    t.start();
    t.add_peer_neighbour();
    fd_guard a(t.open_file());
    fd_guard b(t.open_file());
    REQUIRE(a.get() >= 0);
    REQUIRE(b.get() >= 0);
    set_nonblock(a.get(), true);
    set_nonblock(b.get(), true);
    {
        auto s = t.request_stats();
        INFO(s.line);
        CHECK(s["queues"] == 2);
    }

    // UDP to the peer on many destination ports: flows are steered over both queues, each frame exactly once.
    fd_guard udp(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    REQUIRE(udp.get() >= 0);
    auto send_udp = [&](int count, std::uint16_t base) {
        for (int i = 0; i < count; ++i) {
            sockaddr_in to{};
            to.sin_family = AF_INET;
            to.sin_port = htons(static_cast<std::uint16_t>(base + i));
            std::memcpy(&to.sin_addr, peer_ip.data(), 4);
            const char msg[] = "steer me";
            REQUIRE(::sendto(udp.get(), msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) ==
                    static_cast<ssize_t>(sizeof msg));
        }
    };
    // Collects UDP frames (to the peer) from the given fds until `want` arrived or 10 s passed.
    auto collect = [&](std::vector<int> fds, int want, std::vector<std::vector<std::uint16_t>>& ports) {
        ports.assign(fds.size(), {});
        int total = 0;
        int other = 0;
        auto t0 = clock_type::now();
        while (total < want && ms_since(t0) < 10000) {
            std::vector<pollfd> pf;
            for (int f : fds) pf.push_back({f, POLLIN, 0});
            if (::poll(pf.data(), pf.size(), 200) <= 0) continue;
            for (std::size_t i = 0; i < fds.size(); ++i) {
                bytes buf;
                while (read_nb(fds[i], buf).n > 0) {
                    const std::size_t ip = vnet_len + 14;
                    if (buf.size() >= ip + 28 && get16(buf, vnet_len + 12) == ETH_P_IP && buf[ip + 9] == 17) {
                        ports[i].push_back(get16(buf, ip + 22));
                        ++total;
                    } else {
                        ++other;
                    }
                }
            }
        }
        return other;
    };

    constexpr int flows = 32;
    send_udp(flows, 40000);
    std::vector<std::vector<std::uint16_t>> ports;
    int other = collect({a.get(), b.get()}, flows, ports);
    INFO("queue a got " << ports[0].size() << ", queue b got " << ports[1].size() << ", other frames " << other);
    CHECK(ports[0].size() + ports[1].size() == flows);
    CHECK(ports[0].size() > 0);  // 32 flows all hashing to one of two queues: p = 2^-31
    CHECK(ports[1].size() > 0);
    CHECK(other == 0);
    // Each flow was delivered exactly once.
    std::vector<std::uint16_t> all(ports[0]);
    all.insert(all.end(), ports[1].begin(), ports[1].end());
    std::sort(all.begin(), all.end());
    CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());

    // Both can write.
    bytes req = with_vnet(arp_request(peer_mac, peer_ip, tap_ip));
    CHECK(write_buf(a.get(), req).n == static_cast<long>(req.size()));
    CHECK(write_buf(b.get(), req).n == static_cast<long>(req.size()));
    // Two ARP replies, each delivered to exactly one queue (non-IP frames go to one queue).
    int replies = 0;
    auto t0 = clock_type::now();
    while (replies < 2 && ms_since(t0) < 10000) {
        pollfd pf[2] = {{a.get(), POLLIN, 0}, {b.get(), POLLIN, 0}};
        if (::poll(pf, 2, 200) <= 0) continue;
        for (int f : {a.get(), b.get()}) {
            bytes buf;
            while (read_nb(f, buf).n > 0)
                if (arp_reply_problem(buf, vnet_len, t.mac()).empty()) ++replies;
        }
    }
    CHECK(replies == 2);

    // Close a: b receives every flow now, and ARP through b works.
    a.reset();
    {
        auto s = t.request_stats();
        INFO(s.line);
        CHECK(s["queues"] == 1);
    }
    send_udp(flows, 41000);
    other = collect({b.get()}, flows, ports);
    CHECK(ports[0].size() == flows);
    CHECK(other == 0);
    set_nonblock(b.get(), false);
    arp_exchange(t, b.get());

    auto s = t.request_stats();
    INFO(s.line);
    CHECK(s["rx_dropped_no_queue"] == 0);
    CHECK(s["rx_dropped_full"] == 0);

    b.reset();
    t.stop_and_verify();
}

TEST_CASE("restricted ioctls: TUNGETFEATURES, TUNSETVNETHDRSZ/TUNGETVNETHDRSZ", "[ioctl]") {
    tapd_instance t;
    t.start();
    fd_guard fd(t.open_file());
    REQUIRE(fd.get() >= 0);

    unsigned features = 0;
    REQUIRE(TUNGETFEATURES == 0x800454cfUL);
    errno = 0;
    int rc = ::ioctl(fd.get(), TUNGETFEATURES, &features);
    INFO("errno " << std::strerror(errno));
    REQUIRE(rc == 0);
    CHECK(features == 0x5102u);  // IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE
    CHECK(features == static_cast<unsigned>(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE));

    int sz = -1;
    REQUIRE(::ioctl(fd.get(), TUNGETVNETHDRSZ, &sz) == 0);
    CHECK(sz == 10);

    int twelve = 12;
    REQUIRE(::ioctl(fd.get(), TUNSETVNETHDRSZ, &twelve) == 0);
    sz = -1;
    REQUIRE(::ioctl(fd.get(), TUNGETVNETHDRSZ, &sz) == 0);
    CHECK(sz == 12);

    int four = 4;
    errno = 0;
    CHECK(::ioctl(fd.get(), TUNSETVNETHDRSZ, &four) == -1);
    CHECK(errno == EINVAL);
    sz = -1;
    REQUIRE(::ioctl(fd.get(), TUNGETVNETHDRSZ, &sz) == 0);
    CHECK(sz == 12);  // unchanged by the refused call

    // The header size is per open.
    {
        fd_guard other(t.open_file());
        REQUIRE(other.get() >= 0);
        int osz = -1;
        REQUIRE(::ioctl(other.get(), TUNGETVNETHDRSZ, &osz) == 0);
        CHECK(osz == 10);
    }

    // Writes need 12 bytes of header now; reads carry 12 (10 + 2 zero bytes).
    {
        bytes b(11, 0);
        auto w = write_buf(fd.get(), b);
        CHECK(w.n == -1);
        CHECK(w.err == EINVAL);
    }
    arp_exchange(t, fd.get(), 12);  // would get no reply if tapd took 10 bytes of header (frame shifted)
    {
        bytes req = with_vnet(arp_request(peer_mac, peer_ip, tap_ip), 12);
        REQUIRE(write_buf(fd.get(), req).n == static_cast<long>(req.size()));
        auto r = read_frame(fd.get());
        REQUIRE(r.err == 0);
        CHECK(r.data.size() == 12 + 42);
        REQUIRE(r.data.size() >= 12);
        CHECK(r.data[10] == 0);
        CHECK(r.data[11] == 0);
    }

    // TUNSETIFF needs a whole struct ifreq, which a restricted FUSE ioctl cannot carry.
    {
        ifreq ifr{};
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
        errno = 0;
        CHECK(::ioctl(fd.get(), TUNSETIFF, &ifr) == -1);
        CHECK(errno == EINVAL);
    }

    fd.reset();
    t.stop_and_verify();
}

TEST_CASE("SIGTERM with an open file and a blocked reader: prompt exit 0, reader fails, all cleaned up", "[shutdown]") {
    tapd_instance t;
    t.start();
    fd_guard fd(t.open_file());
    REQUIRE(fd.get() >= 0);
    fd_guard idle(t.open_file());  // a second open file nobody reads
    REQUIRE(idle.get() >= 0);

    std::atomic<bool> done{false};
    long rc = 0;
    int err = 0;
    long returned_at = -1;
    auto t0 = clock_type::now();
    thread_id reader_id;
    std::thread reader([&] {
        reader_id.publish();
        std::array<std::uint8_t, 2048> buf{};
        rc = ::read(fd.get(), buf.data(), buf.size());
        err = errno;
        returned_at = ms_since(t0);
        done = true;
    });
    thread_guard reader_guard(reader, t);
    // Blocked in read() and parked in tapd (the idle file's round trip comes after it) at SIGTERM.
    CHECK(wait_blocked(reader_id, task_state::sys_read, fd.get()));
    CHECK(round_trip(idle.get()) == 0);
    CHECK_FALSE(done.load());

    const std::string dir = t.dir();
    auto t_term = clock_type::now();
    long took = t.stop_and_verify(10000ms);  // SIGKILLed by the destructor if not gone in 10 s
    CHECK(took < 10000);

    // The reader must not hang: wait up to 10 s more, then force the connection down.
    bool reader_returned = wait_until([&] { return done.load(); });
    if (!reader_returned) {
        // Unstick it (abort the FUSE connection) so the test can finish and report.
        t.kill_hard();
        ::umount2(dir.c_str(), MNT_DETACH);
        run("for f in /sys/fs/fuse/connections/*/abort; do echo 1 > $f; done 2>/dev/null");
    }
    reader.join();
    long after_term = returned_at - std::chrono::duration_cast<std::chrono::milliseconds>(t_term - t0).count();
    INFO("blocked read returned " << rc << " errno " << err << " (" << std::strerror(err) << ") " << after_term
                                  << " ms after SIGTERM");
    CHECK(reader_returned);
    CHECK(rc == -1);
    CHECK(err != 0);

    // The old file is dead for writes too, and the path no longer opens.
    bytes req = with_vnet(arp_request(peer_mac, peer_ip, tap_ip));
    auto w = write_buf(idle.get(), req);
    CHECK(w.n == -1);
    fd_guard again(t.open_file());
    CHECK(again.get() < 0);
}

// ---------------------------------------------------------------------------------------------------

int main(int argc, char** argv) {
    std::vector<char*> catch_args;
    if (int rc = netns_test::setup_tapd_test(argc, argv,
                                             {.needs_root = "(network namespace, FUSE mount, TAP interface)",
                                              .devices = {"/dev/fuse", "/dev/net/tun"},
                                              .tmpfs_name = "tapd-netns-tmp"},
                                             catch_args))
        return rc;
    return Catch::Session().run(static_cast<int>(catch_args.size()), catch_args.data());
}
