// test_packet.cc — tapd's AF_PACKET backend and its netlink link management on a real kernel.
//
// Usage: test_netns_packet PATH-TO-TAPD [Catch2 arguments...]
//
// Same shape as tests/netns/tapd, with the same fixture and helpers (tests/netns/common/netns_test.h):
// main() moves the process into a fresh network namespace and a private mount namespace (own tmpfs on
// /tmp) before Catch runs; CTest runs one process per tag, so every test has its own throwaway netns.
// Each TEST_CASE builds veth0/veth1 there (IPv6 off everywhere, so the kernel sends nothing of its own),
// starts its own `tapd --fuse-mount DIR --device ...`, and plays the far end on veth1 with AF_PACKET sockets: frames sent there to the macvlan's MAC must come out of the
// device file (10-byte virtio_net_hdr first), frames written into the file must be captured there.
//
// Blocking calls on the FUSE file are guarded by a watchdog that SIGKILLs tapd (the FUSE connection then
// aborts and the call fails), so a hang is a failure, never a stuck test. Nothing sleeps in place of a
// condition: a blocked reader is seen in /proc (wait_blocked), and "this frame does not arrive" is shown
// by a witness frame sent after it on the same path arriving first (send_and_expect_nothing).
// Catch2 assertions run on the main thread only; helper threads just record what they saw.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
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
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "netns_test.h"

namespace {

using namespace netns_test;

// ---------------------------------------------------------------------------------------------------
// Shell and interface helpers (beyond netns_test.h)
// ---------------------------------------------------------------------------------------------------

// `ip -d -o link show dev NAME`: one line with the kind, mode and promiscuity; empty when there is none.
std::string ip_link_detail(const std::string& name) { return run("ip -d -o link show dev " + name + " 2>/dev/null"); }

std::set<std::string> list_dir(const std::string& dir) {
    std::set<std::string> out;
    DIR* d = ::opendir(dir.c_str());
    if (!d) return out;
    while (dirent* e = ::readdir(d))
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) out.insert(e->d_name);
    ::closedir(d);
    return out;
}

// veth0 <-> veth1, both up, IPv6 off (no RS/MLD/DAD frames anywhere), no addresses: a quiet wire.
void make_veth() {
    REQUIRE(sh("ip link add veth0 type veth peer name veth1") == 0);
    for (const char* n : {"veth0", "veth1"})
        REQUIRE(sh(std::string("sysctl -q -w net.ipv6.conf.") + n + ".disable_ipv6=1 >/dev/null") == 0);
    REQUIRE(sh("ip link set veth0 up && ip link set veth1 up") == 0);
}

// ---------------------------------------------------------------------------------------------------
// Frames (beyond netns_test.h)
// ---------------------------------------------------------------------------------------------------

// A marker frame (EtherType 0x88b5, "tapd-pkt" + 32-bit sequence) of `len` bytes in all.
bytes marker_frame(const mac_t& dst, const mac_t& src, std::uint32_t seq, std::size_t len = 60) {
    bytes f;
    eth_header(f, dst, src, ethertype_test);
    const char tag[] = "tapd-pkt";
    f.insert(f.end(), tag, tag + sizeof tag - 1);
    f.push_back(static_cast<std::uint8_t>(seq >> 24));
    f.push_back(static_cast<std::uint8_t>(seq >> 16));
    f.push_back(static_cast<std::uint8_t>(seq >> 8));
    f.push_back(static_cast<std::uint8_t>(seq));
    for (std::size_t i = f.size(); i < len; ++i) f.push_back(static_cast<std::uint8_t>(i));
    f.resize(std::max<std::size_t>(len, 26));
    return f;
}
bool is_marker(const bytes& f) {
    return f.size() >= 26 && get16(f, 12) == ethertype_test && std::memcmp(f.data() + 14, "tapd-pkt", 8) == 0;
}
std::uint32_t marker_seq(const bytes& f) {
    return (std::uint32_t{f.at(22)} << 24) | (std::uint32_t{f.at(23)} << 16) | (std::uint32_t{f.at(24)} << 8) | f.at(25);
}

// ---------------------------------------------------------------------------------------------------
// The fixture: one tapd with any number of --device arguments, FUSE-mounted under /tmp
// ---------------------------------------------------------------------------------------------------

class tapd_instance : public tapd_process {
public:
    tapd_instance() : tapd_process("tapd-packet") {}
};

std::string node_for(const std::string& ifname) { return "tap" + std::to_string(ifindex_of(ifname)); }

// ---------------------------------------------------------------------------------------------------
// I/O on the device file
// ---------------------------------------------------------------------------------------------------

// Reads until a marker frame with sequence `seq` arrives (others are skipped and listed in `skipped`,
// the sequence numbers of skipped marker frames in `skipped_seqs`). Uses poll() with a deadline, then
// an O_NONBLOCK read, so nothing waits forever.
read_result read_marker(int fd, std::uint32_t seq, std::chrono::milliseconds limit, std::string* skipped = nullptr,
                        std::vector<std::uint32_t>* skipped_seqs = nullptr) {
    auto t0 = clock_type::now();
    read_result r;
    for (;;) {
        long left = limit.count() - ms_since(t0);
        if (left <= 0) {
            r.timed_out = true;
            return r;
        }
        pollfd p{fd, POLLIN, 0};
        int pr;
        {
            watchdog wd(g_tapd_pid.load(), std::chrono::milliseconds(left + 3000));
            pr = ::poll(&p, 1, static_cast<int>(left));
        }
        if (pr <= 0) continue;
        bytes buf(65600);
        int fl = ::fcntl(fd, F_GETFL);
        ::fcntl(fd, F_SETFL, fl | O_NONBLOCK);
        ssize_t n = ::read(fd, buf.data(), buf.size());
        int e = errno;
        ::fcntl(fd, F_SETFL, fl);
        if (n < 0) {
            if (e == EAGAIN) continue;
            r.err = e;
            return r;
        }
        buf.resize(static_cast<std::size_t>(n));
        bytes frame(buf.begin() + static_cast<long>(std::min<std::size_t>(vnet_len, buf.size())), buf.end());
        if (is_marker(frame) && marker_seq(frame) == seq) {
            r.data = std::move(buf);
            return r;
        }
        if (skipped) *skipped += "[" + std::to_string(n) + " bytes: " + hex(buf, 40) + "] ";
        if (skipped_seqs && is_marker(frame)) skipped_seqs->push_back(marker_seq(frame));
    }
}

// ---------------------------------------------------------------------------------------------------
// The far end: AF_PACKET on veth1
// ---------------------------------------------------------------------------------------------------

class wire {
public:
    explicit wire(const std::string& ifname) : ifname_(ifname) {
        ifindex_ = ifindex_of(ifname);
        REQUIRE(ifindex_ != 0);
        tx_.reset(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
        REQUIRE(tx_.get() >= 0);
        sockaddr_ll a{};
        a.sll_family = AF_PACKET;
        a.sll_ifindex = ifindex_;
        REQUIRE(::bind(tx_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        rx_.reset(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL)));
        REQUIRE(rx_.get() >= 0);
        int one = 1;
        REQUIRE(::setsockopt(rx_.get(), SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) == 0);
        a.sll_protocol = htons(ETH_P_ALL);
        REQUIRE(::bind(rx_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    }
    bool send(const bytes& f) const {
        sockaddr_ll a{};
        a.sll_family = AF_PACKET;
        a.sll_ifindex = ifindex_;
        a.sll_halen = 6;
        std::memcpy(a.sll_addr, f.data(), 6);
        return ::sendto(tx_.get(), f.data(), f.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a) ==
               static_cast<ssize_t>(f.size());
    }
    void drain() const {
        std::uint8_t buf[2048];
        while (::recv(rx_.get(), buf, sizeof buf, MSG_DONTWAIT) >= 0) {
        }
    }
    // The marker frame with sequence `seq` as it arrived here, if it did within `ms`.
    std::optional<bytes> capture(std::uint32_t seq, int ms = 10000) const {
        auto t0 = clock_type::now();
        bytes buf(70000);
        while (ms_since(t0) < ms) {
            pollfd p{rx_.get(), POLLIN, 0};
            if (::poll(&p, 1, 100) <= 0) continue;
            ssize_t n = ::recv(rx_.get(), buf.data(), buf.size(), MSG_DONTWAIT);
            if (n <= 0) continue;
            bytes f(buf.begin(), buf.begin() + n);
            if (is_marker(f) && marker_seq(f) == seq) return f;
        }
        return std::nullopt;
    }

private:
    std::string ifname_;
    int ifindex_ = 0;
    fd_guard tx_, rx_;
};

// Writes a marker frame of `len` bytes into the device and captures it on `w`; CHECKs it came whole.
void write_and_capture(int fd, const wire& w, const mac_t& src, std::uint32_t seq, std::size_t len = 60) {
    bytes f = marker_frame(peer_mac, src, seq, len);
    w.drain();
    auto r = write_buf(fd, with_vnet(f));
    INFO("write of a " << len << "-byte frame: " << r.n << " errno " << r.err << " (" << std::strerror(r.err) << ")");
    REQUIRE(r.n == static_cast<long>(f.size() + vnet_len));
    auto got = w.capture(seq);
    INFO("frame " << seq << " (" << len << " bytes) written into the device");
    REQUIRE(got.has_value());
    CHECK(*got == f);
}

// Sends a marker frame to `dst` from the wire and reads it from the device; CHECKs header and bytes.
void send_and_read(int fd, const wire& w, const mac_t& dst, std::uint32_t seq, std::size_t len = 60) {
    bytes f = marker_frame(dst, peer_mac, seq, len);
    REQUIRE(w.send(f));
    std::string skipped;
    auto r = read_marker(fd, seq, 10000ms, &skipped);
    INFO("frame " << seq << " sent to " << mac_str(dst) << "; read errno " << r.err << ", timed out "
                  << r.timed_out << "; skipped: " << skipped);
    REQUIRE_FALSE(r.timed_out);
    REQUIRE(r.err == 0);
    REQUIRE(r.data.size() == vnet_len + f.size());
    CHECK(vnet_hdr_plain(r.data));
    CHECK(bytes(r.data.begin() + vnet_len, r.data.end()) == f);
}

// Reads until the witness marker frame `witness_seq` arrives and CHECKs that no marker frame `seq` came
// before it. The witness is sent after the frame under test, on the same path (one wire, one receive
// queue, one tapd reader), so the frame under test, had it been let through, would have been read first:
// "nothing arrived" is shown by the order of arrival, not by a wait running out.
void expect_nothing_before_witness(int fd, std::uint32_t seq, std::uint32_t witness_seq) {
    std::string skipped;
    std::vector<std::uint32_t> seqs;
    auto r = read_marker(fd, witness_seq, 10000ms, &skipped, &seqs);
    INFO("frame " << seq << " must not reach the device; witness " << witness_seq << " read: timed out "
                  << r.timed_out << " errno " << r.err << "; skipped before it: " << skipped);
    REQUIRE_FALSE(r.timed_out);
    REQUIRE(r.err == 0);
    CHECK(std::find(seqs.begin(), seqs.end(), seq) == seqs.end());
}

// Sends a marker frame to `dst` and CHECKs that it does not reach the device: a witness frame to
// `witness_dst` (an address the device does receive), sent next, arrives with nothing of `seq` before it.
void send_and_expect_nothing(int fd, const wire& w, const mac_t& dst, std::uint32_t seq, const mac_t& witness_dst) {
    const std::uint32_t witness = seq + 1000000;
    REQUIRE(w.send(marker_frame(dst, peer_mac, seq)));
    REQUIRE(w.send(marker_frame(witness_dst, peer_mac, witness)));
    expect_nothing_before_witness(fd, seq, witness);
}

// Waits until `pred` holds, up to `limit`; returns whether it did.
template <typename F>
bool eventually(F pred, std::chrono::milliseconds limit = 10000ms) {
    return wait_until(pred, limit);
}

}  // namespace

// ===================================================================================================
// Tests
// ===================================================================================================

TEST_CASE("lower=: tapd creates the macvlan (mode as asked), serves tap<ifindex>, deletes it on SIGTERM",
          "[lifecycle]") {
    make_veth();
    REQUIRE_FALSE(interface_exists("mvA"));
    tapd_instance t;
    t.start({"mvA,backend=packet,lower=veth0", "mvB,backend=packet,lower=veth0,mode=vepa"});

    // `ip link` shows both, as macvlans on veth0 with the asked mode, up.
    std::string a = ip_link_detail("mvA"), b = ip_link_detail("mvB");
    INFO("ip -d link: " << a << b << "\ntapd stderr:\n" << t.log());
    CHECK(contains(a, "mvA@veth0"));
    CHECK(contains(a, "macvlan mode bridge"));
    CHECK(contains(a, ",UP"));
    CHECK(contains(b, "mvB@veth0"));
    CHECK(contains(b, "macvlan mode vepa"));
    // The node is tap<ifindex>, macvtap's name; nothing else is in the directory.
    std::string na = node_for("mvA"), nb = node_for("mvB");
    CHECK(list_dir(t.dir()) == std::set<std::string>{na, nb});
    fd_guard fd(t.open_file(na));
    REQUIRE(fd.get() >= 0);
    fd.reset();

    t.stop_and_verify();
    // Deleted with tapd (netlink, synchronously before exit): no waiting needed, but allow the kernel's
    // unregistration a moment.
    CHECK(eventually([] { return !interface_exists("mvA") && !interface_exists("mvB"); }));
    CHECK(ip_link_detail("mvA").empty());
    CHECK(interface_exists("veth0"));
}

TEST_CASE("attach=: serves an existing link (promiscuous) and leaves it in place on exit", "[attach]") {
    make_veth();
    std::string before = ip_link_detail("veth0");
    tapd_instance t;
    t.start({"att0,backend=packet,attach=veth0"});
    INFO("tapd stderr:\n" << t.log());
    CHECK_FALSE(interface_exists("att0"));  // nothing created
    std::string node = node_for("veth0");
    CHECK(list_dir(t.dir()) == std::set<std::string>{node});
    CHECK(contains(ip_link_detail("veth0"), "promiscuity 1"));

    fd_guard fd(t.open_file(node));
    REQUIRE(fd.get() >= 0);
    wire w("veth1");
    auto vmac = if_mac("veth0");
    REQUIRE(vmac.has_value());
    // Promiscuous: a unicast frame for somebody else reaches the device too.
    send_and_read(fd.get(), w, *vmac, 1);
    send_and_read(fd.get(), w, mac_t{0x02, 0x99, 0x99, 0x99, 0x99, 0x99}, 2);
    write_and_capture(fd.get(), w, *vmac, 3);
    fd.reset();

    t.stop_and_verify();
    CHECK(interface_exists("veth0"));
    CHECK(interface_exists("veth1"));
    std::string after = ip_link_detail("veth0");
    INFO("before: " << before << "after: " << after);
    CHECK(contains(after, "veth0@veth1"));
    CHECK(contains(after, "promiscuity 0"));  // the socket's membership went with it
    CHECK(contains(after, ",UP"));
}

TEST_CASE("traffic both ways: writes leave on the wire, frames to the macvlan's MAC are read with the header",
          "[traffic]") {
    make_veth();
    tapd_instance t;
    t.start({"mv0,backend=packet,lower=veth0"});
    std::string node = node_for("mv0");
    auto mv_mac = if_mac("mv0");
    REQUIRE(mv_mac.has_value());
    fd_guard fd(t.open_file(node));
    REQUIRE(fd.get() >= 0);
    wire w("veth1");

    // Device → wire: small, odd-sized and full-MTU frames arrive byte for byte.
    write_and_capture(fd.get(), w, *mv_mac, 10, 60);
    write_and_capture(fd.get(), w, *mv_mac, 11, 333);
    write_and_capture(fd.get(), w, *mv_mac, 12, 1514);
    // Wire → device: unicast to the macvlan's MAC and broadcast arrive; unicast elsewhere does not.
    send_and_read(fd.get(), w, *mv_mac, 20, 60);
    send_and_read(fd.get(), w, *mv_mac, 21, 1514);
    send_and_read(fd.get(), w, bcast_mac, 22);
    send_and_expect_nothing(fd.get(), w, mac_t{0x02, 0x99, 0x99, 0x99, 0x99, 0x99}, 23, *mv_mac);
    // What the device wrote is not looped back to its readers (PACKET_IGNORE_OUTGOING). A looped-back
    // copy would be in tapd's socket when write() returns (dev_queue_xmit hands it to the taps then),
    // ahead of the witness sent from the wire afterwards.
    {
        bytes f = marker_frame(bcast_mac, *mv_mac, 30);
        REQUIRE(write_buf(fd.get(), with_vnet(f)).n == static_cast<long>(f.size() + vnet_len));
        REQUIRE(w.send(marker_frame(*mv_mac, peer_mac, 31)));
        expect_nothing_before_witness(fd.get(), 30, 31);
    }
    // A burst, in order, nothing lost (well under txqueuelen).
    for (std::uint32_t s = 100; s < 150; ++s) REQUIRE(w.send(marker_frame(*mv_mac, peer_mac, s)));
    std::uint32_t expect = 100;
    while (expect < 150) {
        auto r = read_marker(fd.get(), expect, 10000ms);
        INFO("burst frame " << expect);
        REQUIRE_FALSE(r.timed_out);
        REQUIRE(r.err == 0);
        ++expect;
    }
    fd.reset();
    t.stop_and_verify();
    CHECK(eventually([] { return !interface_exists("mv0"); }));
}

TEST_CASE("an 802.1Q-tagged frame from the wire is read with its tag, as macvtap hands it out", "[vlan]") {
    make_veth();
    tapd_instance t;
    t.start({"mv0,backend=packet,lower=veth0"});
    auto mv_mac = if_mac("mv0");
    REQUIRE(mv_mac.has_value());
    fd_guard fd(t.open_file(node_for("mv0")));
    REQUIRE(fd.get() >= 0);
    wire w("veth1");
    // The receive path moves the tag into skb->vlan_tci before any AF_PACKET socket sees the frame;
    // macvtap's tap_do_read puts it back into the data. A SOCK_RAW socket only reports it in
    // PACKET_AUXDATA (tp_vlan_tci, TP_STATUS_VLAN_VALID): tapd has to re-insert it.
    {
        bytes f;
        put(f, *mv_mac);
        put(f, peer_mac);
        put16(f, 0x8100);
        put16(f, 0x0064);  // VID 100
        bytes inner = marker_frame(*mv_mac, peer_mac, 24, 60);
        f.insert(f.end(), inner.begin() + 12, inner.end());  // EtherType 0x88b5 + marker + padding
        REQUIRE(f.size() == 64);
        REQUIRE(w.send(f));
        auto t0 = clock_type::now();
        bytes got;
        while (got.empty() && ms_since(t0) < 10000) {
            pollfd p{fd.get(), POLLIN, 0};
            if (::poll(&p, 1, 100) <= 0) continue;
            auto r = read_frame(fd.get());
            if (r.err || r.timed_out) break;
            static const char tag[] = "tapd-pkt";
            auto it = std::search(r.data.begin(), r.data.end(), tag, tag + 8);
            if (it != r.data.end() && r.data.end() - it >= 12 && it[11] == 24) got = std::move(r.data);
        }
        INFO("VLAN-tagged frame sent: " << hex(f) << "\nread from the device: " << hex(got, 80));
        REQUIRE_FALSE(got.empty());
        CHECK(got.size() == vnet_len + f.size());
        CHECK(bytes(got.begin() + static_cast<long>(std::min(vnet_len, got.size())), got.end()) == f);
    }
    // Writing one works (the conformance suite's write_vlan_tagged agrees with macvtap).
    {
        bytes f;
        put(f, peer_mac);
        put(f, *mv_mac);
        put16(f, 0x8100);
        put16(f, 0x0064);
        bytes inner = marker_frame(peer_mac, *mv_mac, 25, 60);
        f.insert(f.end(), inner.begin() + 12, inner.end());
        auto r = write_buf(fd.get(), with_vnet(f));
        CHECK(r.n == static_cast<long>(f.size() + vnet_len));
    }
    fd.reset();
    t.stop_and_verify();
}

TEST_CASE("link deleted under traffic: blocked reader and writer get ENODEV, the file goes, the other device works",
          "[delete]") {
    make_veth();
    tapd_instance t;
    t.start({"mv0,backend=packet,lower=veth0", "tun0"});
    const std::string node = node_for("mv0");
    REQUIRE(list_dir(t.dir()) == std::set<std::string>{node, "tun0"});
    // The other device: a TUN-backed tap with an address, so its kernel side answers ARP.
    REQUIRE(sh("sysctl -q -w net.ipv6.conf.tun0.disable_ipv6=1 >/dev/null") == 0);
    REQUIRE(sh("ip addr add 10.0.0.1/24 dev tun0 && ip link set tun0 up") == 0);
    auto tun_mac = if_mac("tun0");
    REQUIRE(tun_mac.has_value());

    fd_guard rfd(t.open_file(node)), wfd(t.open_file(node)), other(t.open_file("tun0"));
    REQUIRE(rfd.get() >= 0);
    REQUIRE(wfd.get() >= 0);
    REQUIRE(other.get() >= 0);
    auto mv_mac = if_mac("mv0");
    REQUIRE(mv_mac.has_value());
    wire w("veth1");
    // The device works before (the writer's queue also receives: read that frame off it).
    write_and_capture(wfd.get(), w, *mv_mac, 1);

    // A reader blocked in read() on its own (empty) queue... (two opens: frames would be spread over both,
    // so nothing is sent towards the device from here on)
    std::atomic<bool> rdone{false};
    long rrc = 0;
    int rerr = 0;
    auto t0 = clock_type::now();
    long rat = -1;
    thread_id reader_id;
    std::thread reader([&] {
        reader_id.publish();
        std::array<std::uint8_t, 2048> buf{};
        ssize_t n = ::read(rfd.get(), buf.data(), buf.size());
        rerr = errno;
        rrc = n;
        rat = ms_since(t0);
        rdone = true;
    });
    thread_guard rg(reader, t);
    // ...and a writer writing as fast as it can until it gets an error.
    std::atomic<bool> wstop{false}, wdone{false};
    std::atomic<long> writes_ok{0};
    std::vector<int> werrs;  // every distinct errno in order, as seen by the writer
    std::thread writer([&] {
        bytes f = with_vnet(marker_frame(peer_mac, *mv_mac, 2));
        while (!wstop) {
            ssize_t n = ::write(wfd.get(), f.data(), f.size());
            if (n == static_cast<ssize_t>(f.size())) {
                ++writes_ok;
                continue;
            }
            int e = n < 0 ? errno : -1;
            if (werrs.empty() || werrs.back() != e) werrs.push_back(e);
            if (e == ENODEV) break;
            std::this_thread::sleep_for(1ms);
        }
        wdone = true;
    });
    thread_guard wg(writer, t);
    // The reader seen asleep in read(), parked in tapd (the other device's round trip comes after it on
    // the one FUSE channel), and the writer's frames going through, when the link goes.
    CHECK(wait_blocked(reader_id, task_state::sys_read, rfd.get()));
    CHECK(round_trip(other.get()) == 0);
    CHECK(eventually([&] { return writes_ok.load() > 0; }));
    CHECK(task_state::blocked_in(reader_id.get(), task_state::sys_read, rfd.get()));
    CHECK_FALSE(rdone.load());

    auto t_del = clock_type::now();
    long del_at = ms_since(t0);
    REQUIRE(sh("ip link del mv0") == 0);
    bool woke = eventually([&] { return rdone.load() && wdone.load(); });
    long took = ms_since(t_del);
    wstop = true;
    if (!woke) t.kill_hard();  // unstick them so the test can report
    reader.join();
    writer.join();
    std::string errs;
    for (int e : werrs) errs += std::string(e > 0 ? strerrorname_np(e) : "short") + " ";
    INFO("reader: rc " << rrc << " errno " << rerr << " (" << std::strerror(rerr) << ") " << (rat - del_at)
                       << " ms after the deletion; writer errors in order: " << errs << "; " << writes_ok.load()
                       << " writes ok; both done " << took << " ms after\ntapd stderr:\n" << t.log());
    REQUIRE(woke);
    CHECK(rrc == -1);
    CHECK(rerr == ENODEV);
    REQUIRE_FALSE(werrs.empty());
    CHECK(werrs.back() == ENODEV);
    // Before ENODEV the writer may see ENETDOWN: the kernel takes the link down (NETDEV_DOWN) before it
    // unregisters it, and sendmsg() on a down link says so before tapd has heard of the deletion. That
    // window is the kernel's; anything else before ENODEV would be tapd's.
    for (std::size_t i = 0; i + 1 < werrs.size(); ++i) CHECK(werrs[i] == ENETDOWN);

    // Every later operation on those files: ENODEV.
    auto w2 = write_buf(wfd.get(), with_vnet(marker_frame(peer_mac, *mv_mac, 3)));
    CHECK(w2.n == -1);
    CHECK(w2.err == ENODEV);
    auto r2 = read_frame(rfd.get());
    CHECK_FALSE(r2.timed_out);
    CHECK(r2.err == ENODEV);
    {
        pollfd p{rfd.get(), POLLIN, 0};
        watchdog wd(t.pid(), 10000ms);
        int n = ::poll(&p, 1, 0);
        INFO("poll after deletion: " << n << " revents " << p.revents);
        CHECK(n == 1);
        CHECK((p.revents & (POLLERR | POLLHUP)) != 0);
    }
    // The file leaves the directory; a new open fails with ENOENT.
    bool gone = eventually([&] { return list_dir(t.dir()).count(node) == 0; });
    INFO("directory now: " << [&] { std::string s; for (auto& n : list_dir(t.dir())) s += n + " "; return s; }());
    CHECK(gone);
    CHECK(list_dir(t.dir()) == std::set<std::string>{"tun0"});
    CHECK(eventually([&] {
        fd_guard again(t.open_file(node));
        return again.get() < 0 && errno == ENOENT;
    }));
    struct stat st{};
    CHECK(eventually([&] { return ::stat(t.path(node).c_str(), &st) != 0 && errno == ENOENT; }));

    // The other device still works: an ARP exchange through the already-open file and a fresh one.
    REQUIRE(t.alive());
    for (int round = 0; round < 2; ++round) {
        // Round 1 on a fresh open, with the old one closed (a non-IP frame like the ARP reply would be
        // steered to the first queue, i.e. the old file, while it is open).
        if (round) other.reset();
        fd_guard fresh(round ? t.open_file("tun0") : -1);
        int fd = round ? fresh.get() : other.get();
        REQUIRE(fd >= 0);
        bytes req = with_vnet(arp_request(peer_mac, {10, 0, 0, 2}, {10, 0, 0, 1}));
        auto wr = write_buf(fd, req);
        REQUIRE(wr.n == static_cast<long>(req.size()));
        read_result r;
        for (int i = 0; i < 5; ++i) {  // skip anything that is not the reply
            r = read_frame(fd);
            if (r.err || r.timed_out) break;
            if (r.data.size() >= vnet_len + 42 && get16(r.data, vnet_len + 12) == ETH_P_ARP &&
                get16(r.data, vnet_len + 14 + 6) == 2)
                break;
        }
        INFO("ARP on tun0, round " << round << ": errno " << r.err << " timed out " << r.timed_out << " data "
                                     << hex(r.data));
        REQUIRE_FALSE(r.timed_out);
        REQUIRE(r.err == 0);
        REQUIRE(r.data.size() >= vnet_len + 42);
        CHECK(get_arr<6>(r.data, vnet_len + 14 + 8) == *tun_mac);                // sender MAC
        CHECK(get_arr<4>(r.data, vnet_len + 14 + 14) == ip4_t{10, 0, 0, 1});      // sender IP
    }
    CHECK(contains(t.log(), "removing /dev/" + node));  // via the backend error or the link monitor
    rfd.reset();
    wfd.reset();
    other.reset();
    t.stop_and_verify();
    CHECK(eventually([] { return !interface_exists("tun0"); }));
}

TEST_CASE("MTU change on the link: frame size limit follows `ip link set mtu`", "[mtu]") {
    make_veth();
    tapd_instance t;
    t.start({"mv0,backend=packet,lower=veth0"});
    std::string node = node_for("mv0");
    auto mv_mac = if_mac("mv0");
    REQUIRE(mv_mac.has_value());
    fd_guard fd(t.open_file(node));
    REQUIRE(fd.get() >= 0);
    wire w("veth1");

    write_and_capture(fd.get(), w, *mv_mac, 1, 1514);  // 1500-byte payload: fits MTU 1500
    REQUIRE(sh("ip link set mv0 mtu 1400") == 0);
    // Right away (the change may still be on its way to tapd: its error path re-reads the MTU).
    {
        bytes f = with_vnet(marker_frame(peer_mac, *mv_mac, 2, 1514));
        auto r = write_buf(fd.get(), f);
        INFO("1514-byte frame after mtu 1400: " << r.n << " errno " << r.err << " (" << std::strerror(r.err) << ")");
        CHECK(r.n == -1);
        CHECK(r.err == EMSGSIZE);
    }
    write_and_capture(fd.get(), w, *mv_mac, 3, 1414);  // 1400-byte payload
    {
        bytes f = with_vnet(marker_frame(peer_mac, *mv_mac, 4, 1415));
        auto r = write_buf(fd.get(), f);
        CHECK(r.n == -1);
        CHECK(r.err == EMSGSIZE);
    }
    // And back up: the larger limit follows too (after the monitor saw it: no retry on the accept path).
    REQUIRE(sh("ip link set mv0 mtu 1500") == 0);
    bool ok = eventually([&] {
        bytes f = with_vnet(marker_frame(peer_mac, *mv_mac, 5, 1514));
        return write_buf(fd.get(), f).n == static_cast<long>(f.size());
    });
    CHECK(ok);
    write_and_capture(fd.get(), w, *mv_mac, 6, 1514);
    fd.reset();
    t.stop_and_verify();
}

TEST_CASE("MAC change on the link: frames to the new address are received, the old one is filtered", "[mac]") {
    make_veth();
    tapd_instance t;
    t.start({"mv0,backend=packet,lower=veth0"});
    std::string node = node_for("mv0");
    auto old_mac = if_mac("mv0");
    REQUIRE(old_mac.has_value());
    fd_guard fd(t.open_file(node));
    REQUIRE(fd.get() >= 0);
    wire w("veth1");
    send_and_read(fd.get(), w, *old_mac, 1);

    const mac_t new_mac = {0x02, 0x5a, 0x11, 0x22, 0x33, 0x44};
    REQUIRE(*old_mac != new_mac);
    REQUIRE(sh("ip link set mv0 address " + mac_str(new_mac)) == 0);
    REQUIRE(if_mac("mv0") == new_mac);
    send_and_read(fd.get(), w, new_mac, 2);
    send_and_expect_nothing(fd.get(), w, *old_mac, 3, new_mac);
    write_and_capture(fd.get(), w, new_mac, 4);
    CHECK(t.alive());
    fd.reset();
    t.stop_and_verify();
}

TEST_CASE("renamed link keeps its device working, and is still deleted on exit", "[rename]") {
    make_veth();
    tapd_instance t;
    t.start({"mvX,backend=packet,lower=veth0"});
    std::string node = node_for("mvX");
    int ifindex = ifindex_of("mvX");
    auto mac = if_mac("mvX");
    REQUIRE(mac.has_value());
    fd_guard fd(t.open_file(node));
    REQUIRE(fd.get() >= 0);
    wire w("veth1");
    send_and_read(fd.get(), w, *mac, 1);

    // A netdev can only be renamed while down.
    REQUIRE(sh("ip link set mvX down && ip link set mvX name mvY && ip link set mvY up") == 0);
    REQUIRE(ifindex_of("mvY") == ifindex);
    CHECK(eventually([&] { return contains(t.log(), "renamed to mvY"); }));
    INFO("tapd stderr:\n" << t.log());
    CHECK(list_dir(t.dir()) == std::set<std::string>{node});  // same node: tap<ifindex>
    send_and_read(fd.get(), w, *mac, 2);
    write_and_capture(fd.get(), w, *mac, 3);
    // A new open works too.
    fd_guard fd2(t.open_file(node));
    REQUIRE(fd2.get() >= 0);
    write_and_capture(fd2.get(), w, *mac, 4);
    fd.reset();
    fd2.reset();
    t.stop_and_verify();
    CHECK(eventually([] { return !interface_exists("mvY"); }));
}

// ---------------------------------------------------------------------------------------------------
int main(int argc, char** argv) {
    std::vector<char*> catch_args;
    int rc = netns_test::setup_tapd_test(
        argc, argv,
        {.needs_root = "(network namespace, FUSE mount, macvlan)",
         .devices = {"/dev/fuse"},
         .tmpfs_name = "tapd-packet-tmp",
         .prepare =
             [] {
                 // IPv6 off for every link created from here on: nothing but the test's frames on the wire.
                 (void)std::system(
                     "sysctl -q -w net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.all.disable_ipv6=1 >/dev/null 2>&1");
                 if (std::system("ip link add tpk-probe0 type veth peer name tpk-probe1 2>/dev/null && "
                                 "ip link del tpk-probe0") != 0) {
                     std::printf("SKIP: cannot create a veth pair in the new namespace\n");
                     return exit_skip;
                 }
                 ::sync();
                 return 0;
             }},
        catch_args);
    if (rc != 0) return rc;
    return Catch::Session().run(static_cast<int>(catch_args.size()), catch_args.data());
}
