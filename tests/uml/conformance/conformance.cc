// conformance.cc — one list of checks run against a Linux tap character device ("target"), printing one
// comparable line per check:
//
//     CHECK <name> <token>
//
// The token is what the target did (an errno name, a length, a flag word, a poll mask, ...), never a
// pass/fail verdict, so the output of two targets (the kernel's macvtap and tapd) can be compared line by
// line (conformance_test.sh does that). Nothing in a token may depend on the target's identity (MAC
// addresses, interface indexes, names, timing): those are compared to the target's own values and
// recorded as "match"/"mismatch".
//
//   conformance --dev /dev/tapN --ifname IF --inject IF2 --capture IF3
//
//   IF   the network interface behind the device node (its MAC, name and txqueuelen are the target's);
//   IF2  an interface on which an AF_PACKET send makes a frame arrive at the device (macvtap on veth0:
//        the peer veth1; tapd's TUN-backed tap0: tap0 itself, whose transmissions tapd receives);
//   IF3  an interface on which an AF_PACKET socket sees what a write() into the device sends out
//        (macvtap: veth1; tapd: tap0, where tapd's injected frames arrive as incoming).
//
// Every frame this program makes carries a marker (EtherType 0x88b5, or IPv4 TCP/UDP to port 40000) and
// anything else that shows up on the device or the capture socket is skipped and reported on stderr.
// The queue-bound check expects the interface's txqueuelen at 16 (the token records it).
//
// CONFORMANCE_DUMP=1 in the environment prints the first bytes of every GSO segment read (stderr).
//
// No check waits by sleeping: a read or poll is "blocked" when this program sees the thread asleep in
// it (tests/common/task_state.h), and injected frames are "dealt with" once target::settle() says so.
//
// Exit status: 0 when every check ran (whatever their results), 2 on a usage or setup error.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "task_state.h"

namespace {

using bytes = std::vector<std::uint8_t>;
using clk = std::chrono::steady_clock;

constexpr std::uint16_t marker_type = 0x88b5;
constexpr std::uint16_t marker_port = 40000;
constexpr unsigned tun_f_uso4 = 0x20;  // not in Debian 12's linux/if_tun.h

// struct virtio_net_hdr (linux/virtio_net.h, which does not compile as C++: a member named `class`).
struct virtio_net_hdr {
    std::uint8_t flags;
    std::uint8_t gso_type;
    std::uint16_t hdr_len;
    std::uint16_t gso_size;
    std::uint16_t csum_start;
    std::uint16_t csum_offset;
};
static_assert(sizeof(virtio_net_hdr) == 10);
constexpr std::uint8_t VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
constexpr std::uint8_t VIRTIO_NET_HDR_GSO_TCPV4 = 1;
constexpr std::uint8_t VIRTIO_NET_HDR_GSO_UDP = 3;
constexpr std::uint8_t VIRTIO_NET_HDR_GSO_ECN = 0x80;

// ---------------------------------------------------------------------------------------------------
// Output

std::string errname(int e) {
    const char* n = strerrorname_np(e);
    return n ? n : "errno" + std::to_string(e);
}

std::string hex(unsigned v, int width = 4) {
    char b[32];
    std::snprintf(b, sizeof b, "0x%0*x", width, v);
    return b;
}

void check(const std::string& name, const std::string& token) { std::printf("CHECK %s %s\n", name.c_str(), token.c_str()); std::fflush(stdout); }

void note(const char* fmt, auto... args) {
    std::fprintf(stderr, "conformance: ");
    std::fprintf(stderr, fmt, args...);
    std::fprintf(stderr, "\n");
}

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "conformance: %s: %s\n", what.c_str(), std::strerror(errno));
    std::exit(2);
}

std::string poll_mask_str(short m) {
    static const std::pair<short, const char*> names[] = {{POLLIN, "IN"},       {POLLPRI, "PRI"},     {POLLOUT, "OUT"},
                                                          {POLLERR, "ERR"},     {POLLHUP, "HUP"},     {POLLNVAL, "NVAL"},
                                                          {POLLRDNORM, "RDNORM"}, {POLLRDBAND, "RDBAND"},
                                                          {POLLWRNORM, "WRNORM"}, {POLLWRBAND, "WRBAND"}};
    std::string s;
    short rest = m;
    for (auto [bit, n] : names) {
        if (m & bit) {
            if (!s.empty()) s += '|';
            s += n;
            rest &= ~bit;
        }
    }
    if (rest) s += (s.empty() ? "" : "|") + hex(static_cast<unsigned short>(rest));
    return s.empty() ? "0" : s;
}

// ---------------------------------------------------------------------------------------------------
// Small system helpers

struct fd_t {
    int fd = -1;
    fd_t() = default;
    explicit fd_t(int f) : fd(f) {}
    fd_t(fd_t&& o) noexcept : fd(o.fd) { o.fd = -1; }
    fd_t& operator=(fd_t&& o) noexcept {
        reset();
        fd = o.fd;
        o.fd = -1;
        return *this;
    }
    ~fd_t() { reset(); }
    void reset() {
        if (fd >= 0) ::close(fd);
        fd = -1;
    }
    operator int() const { return fd; }
};

std::string read_line(const std::string& path) {
    std::ifstream f(path);
    std::string s;
    std::getline(f, s);
    return s;
}

std::optional<std::array<std::uint8_t, 6>> parse_mac(const std::string& s) {
    std::array<std::uint8_t, 6> m{};
    unsigned v[6];
    if (std::sscanf(s.c_str(), "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) return std::nullopt;
    for (int i = 0; i < 6; ++i) m[i] = static_cast<std::uint8_t>(v[i]);
    return m;
}

std::uint32_t fnv(const std::uint8_t* p, std::size_t n, std::uint32_t h = 2166136261u) {
    for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 16777619u;
    return h;
}

// ---------------------------------------------------------------------------------------------------
// Frames

std::uint32_t csum_add(std::uint32_t s, const std::uint8_t* p, std::size_t n) {
    for (std::size_t i = 0; i + 1 < n; i += 2) s += (p[i] << 8) | p[i + 1];
    if (n & 1) s += p[n - 1] << 8;
    return s;
}
std::uint16_t csum_fold(std::uint32_t s) {
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return static_cast<std::uint16_t>(s);
}
void put16(std::uint8_t* p, std::uint16_t v) {
    p[0] = v >> 8;
    p[1] = v & 0xff;
}
std::uint16_t get16(const std::uint8_t* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }

struct frame_builder {
    std::array<std::uint8_t, 6> dst{};
    std::array<std::uint8_t, 6> src{{0x02, 0xc0, 0xff, 0xee, 0x00, 0x01}};

    bytes eth(std::uint16_t type) const {
        bytes f(14);
        std::memcpy(f.data(), dst.data(), 6);
        std::memcpy(f.data() + 6, src.data(), 6);
        put16(f.data() + 12, type);
        return f;
    }
    static void marker(bytes& f, std::uint32_t id, std::uint32_t seq) {
        const std::uint8_t m[4] = {'C', 'O', 'N', 'F'};
        f.insert(f.end(), m, m + 4);
        for (int i = 3; i >= 0; --i) f.push_back(static_cast<std::uint8_t>(id >> (8 * i)));
        for (int i = 3; i >= 0; --i) f.push_back(static_cast<std::uint8_t>(seq >> (8 * i)));
    }
    // A marker frame (EtherType 0x88b5) of `len` bytes in all.
    bytes plain(std::uint32_t id, std::uint32_t seq, std::size_t len = 60) const {
        bytes f = eth(marker_type);
        marker(f, id, seq);
        for (std::size_t i = f.size(); i < len; ++i) f.push_back(static_cast<std::uint8_t>(i));
        f.resize(std::max<std::size_t>(len, 14));
        return f;
    }
    bytes vlan(std::uint16_t tci, std::uint32_t id, std::uint32_t seq, std::size_t len = 64) const {
        bytes f = eth(0x8100);
        f.push_back(tci >> 8);
        f.push_back(tci & 0xff);
        f.push_back(marker_type >> 8);
        f.push_back(marker_type & 0xff);
        marker(f, id, seq);
        for (std::size_t i = f.size(); i < len; ++i) f.push_back(static_cast<std::uint8_t>(i));
        return f;
    }
    enum class csum { full, pseudo };
    // IPv4 + UDP (proto 17) or TCP (proto 6) to port 40000 with `payload` bytes after the L4 header.
    bytes ip(std::uint8_t proto, std::uint16_t sport, std::size_t payload, std::uint32_t id, std::uint32_t seq,
             csum mode) const {
        bytes f = eth(0x0800);
        std::size_t l4len = (proto == 6 ? 20 : 8) + payload;
        std::uint8_t iph[20] = {0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, proto, 0, 0, 10, 99, 0, 1, 10, 99, 0, 2};
        put16(iph + 2, static_cast<std::uint16_t>(20 + l4len));
        put16(iph + 10, static_cast<std::uint16_t>(~csum_fold(csum_add(0, iph, 20))));
        f.insert(f.end(), iph, iph + 20);
        std::size_t l4 = f.size();
        f.resize(l4 + l4len);
        std::uint8_t* h = f.data() + l4;
        put16(h, sport);
        put16(h + 2, marker_port);
        std::size_t pay;
        if (proto == 6) {
            put16(h + 4, 0x0001);  // seq 0x00010000
            h[12] = 5 << 4;
            h[13] = 0x18;  // PSH|ACK
            put16(h + 14, 0xffff);
            pay = l4 + 20;
        } else {
            put16(h + 4, static_cast<std::uint16_t>(l4len));
            pay = l4 + 8;
        }
        bytes m;
        marker(m, id, seq);
        for (std::size_t i = 0; i < payload; ++i) f[pay + i] = i < m.size() ? m[i] : static_cast<std::uint8_t>(i * 7);
        std::size_t coff = l4 + (proto == 6 ? 16 : 6);
        std::uint32_t ps = csum_add(0, iph + 12, 8) + proto + static_cast<std::uint32_t>(l4len);
        if (mode == csum::pseudo) {
            put16(f.data() + coff, csum_fold(ps));  // what a stack leaves for CHECKSUM_PARTIAL
        } else {
            std::uint16_t c = static_cast<std::uint16_t>(~csum_fold(csum_add(ps, h, l4len)));
            if (proto == 17 && c == 0) c = 0xffff;
            put16(f.data() + coff, c);
        }
        return f;
    }
};

// Offset of the EtherType after skipping one VLAN tag.
std::size_t l3_off(const bytes& f, std::uint16_t* type) {
    if (f.size() < 14) return 0;
    std::uint16_t t = get16(f.data() + 12);
    std::size_t off = 14;
    if ((t == 0x8100 || t == 0x88a8) && f.size() >= 18) {
        t = get16(f.data() + 16);
        off = 18;
    }
    *type = t;
    return off;
}

bool is_ours(const bytes& f) {
    std::uint16_t t = 0;
    std::size_t off = l3_off(f, &t);
    if (!off) return false;
    if (t == marker_type) return true;
    if (t == 0x0800 && f.size() >= off + 24) {
        std::uint8_t proto = f[off + 9];
        std::size_t l4 = off + (f[off] & 0x0f) * 4u;
        return (proto == 6 || proto == 17) && f.size() >= l4 + 4 && get16(f.data() + l4 + 2) == marker_port;
    }
    return false;
}

// "valid" / "invalid" for the L4 checksum of an IPv4 TCP/UDP frame.
std::string l4_csum_state(const bytes& f) {
    std::uint16_t t = 0;
    std::size_t off = l3_off(f, &t);
    if (t != 0x0800 || f.size() < off + 20) return "notip";
    std::size_t ihl = (f[off] & 0x0f) * 4u;
    std::size_t tot = get16(f.data() + off + 2);
    if (f.size() < off + tot || tot < ihl) return "short";
    std::uint8_t proto = f[off + 9];
    std::size_t l4len = tot - ihl;
    std::uint32_t s = csum_add(0, f.data() + off + 12, 8) + proto + static_cast<std::uint32_t>(l4len);
    s = csum_add(s, f.data() + off + ihl, l4len);
    return csum_fold(s) == 0xffff ? "valid" : "invalid";
}

std::string vnet_str(const std::uint8_t* p) {
    virtio_net_hdr h;
    std::memcpy(&h, p, sizeof h);
    char b[96];
    std::snprintf(b, sizeof b, "%02x:%02x:%u:%u:%u:%u", h.flags, h.gso_type, h.hdr_len, h.gso_size, h.csum_start,
                  h.csum_offset);
    return b;
}

bytes with_hdr(const virtio_net_hdr& h, std::size_t hdr_sz, const bytes& frame) {
    bytes b(hdr_sz, 0);
    std::memcpy(b.data(), &h, sizeof h);
    b.insert(b.end(), frame.begin(), frame.end());
    return b;
}

// ---------------------------------------------------------------------------------------------------
// The target

struct captured {
    bytes frame;  // with the VLAN tag put back in place when the kernel had taken it out
    bool csum_not_ready = false;
};

class target {
public:
    std::string dev, ifname, inject_if, capture_if;
    frame_builder fb;

    void setup() {
        auto m = parse_mac(read_line("/sys/class/net/" + ifname + "/address"));
        if (!m) die("cannot read the MAC of " + ifname);
        fb.dst = *m;
        inj_ = packet_socket(inject_if, false, false);
        inj_vnet_ = packet_socket(inject_if, false, true);
        cap_ = packet_socket(capture_if, true, false);
    }

    // --- waiting on observable state, never on time -------------------------------------------------
    // Returns once every frame injected since the last open_dev() or settle() (so a frame the kernel
    // dropped on the way in an earlier check cannot hold it up) has been dealt with by the target
    // (queued for a reader, or dropped), whichever target it is:
    //  1. The target's interface IF has counted each (arrived(), from its value just before the first of
    //     them). Injected on IF itself (tapd's TUN-backed tap0), a frame is counted in IF's tx_packets by
    //     tapd's own read() of the TUN fd, or in tx_dropped when the TUN's ring was full. Injected on a
    //     veth peer, it is counted in the macvlan IF's rx_packets by the softirq that, in the same run,
    //     queues it for the kernel's macvtap, or for tapd's packet socket (the veth's own tx counter would
    //     not do: the receive side may run later, in ksoftirqd).
    //  2. No packet socket on IF but ours holds anything (/proc/net/packet, Rmem): tapd's has been read.
    //  3. barrier(): a request on the device, which tapd answers only after finishing the read() or
    //     recvmmsg() that took those frames (one thread). Not merely after "what was ready before":
    //     the readiness of two fds is not reported to tapd in the order they became ready (relying on
    //     that, uml.conformance_packet failed 2 of 3 loaded runs).
    // Frames never dealt with within 10 s mean a broken setup: exit status 2.
    void settle(int fd) const {
        if (!task_state::wait_until([&] { return arrived() >= batch_base_ + batch_ && foreign_rmem() == 0; })) {
            note("settle: %llu frames injected on %s, %s counted %llu, packet sockets hold %llu bytes after 10 s",
                 batch_, inject_if.c_str(), ifname.c_str(), arrived() - batch_base_, foreign_rmem());
            std::exit(2);
        }
        batch_ = 0;
        barrier(fd);
    }
    // One request the target answers on `fd` (TUNGETVNETHDRSZ). tapd reads a device's requests in order
    // from one channel and answers them from one thread: when this returns it has handled every earlier
    // request on the device, e.g. taken a read another thread is blocked in. For the kernel's macvtap a
    // no-op.
    static void barrier(int fd) {
        int v = 0;
        ::ioctl(fd, TUNGETVNETHDRSZ, &v);
    }

    // --- the device -------------------------------------------------------------------------------
    fd_t open_dev(bool nonblock = false) const {
        batch_ = 0;  // a new check: settle() counts from here
        int fd = ::open(dev.c_str(), O_RDWR | (nonblock ? O_NONBLOCK : 0));
        if (fd < 0) die("open " + dev);
        return fd_t(fd);
    }
    static void set_nonblock(int fd, bool on) {
        int fl = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK));
    }
    // read(); returns the byte count or -errno.
    static long rd(int fd, std::uint8_t* buf, std::size_t n) {
        ssize_t r = ::read(fd, buf, n);
        return r < 0 ? -errno : r;
    }
    static long wr(int fd, const bytes& b) {
        ssize_t r = ::write(fd, b.data(), b.size());
        return r < 0 ? -errno : r;
    }
    static bool wait_in(int fd, int ms) {
        pollfd p{fd, POLLIN, 0};
        return ::poll(&p, 1, ms) > 0 && (p.revents & POLLIN);
    }
    // Reads one of our frames (skipping noise) with header size `hdr`; nonblocking after `ms` of waiting.
    // Returns the frame without its header, or the errno token.
    struct got {
        long ret = 0;
        bytes hdr;
        bytes frame;
    };
    got read_frame(int fd, std::size_t hdr, int ms = 2000) const {
        std::vector<std::uint8_t> buf(70000);
        for (;;) {
            wait_in(fd, ms);
            set_nonblock(fd, true);
            long n = rd(fd, buf.data(), buf.size());
            set_nonblock(fd, false);
            got g;
            g.ret = n;
            if (n < 0) return g;
            std::size_t un = static_cast<std::size_t>(n);
            if (un < hdr) return g;
            g.hdr.assign(buf.begin(), buf.begin() + hdr);
            g.frame.assign(buf.begin() + hdr, buf.begin() + n);
            if (is_ours(g.frame)) return g;
            note("%s: skipped a foreign frame of %ld bytes (type %04x)", dev.c_str(), n,
                 g.frame.size() >= 14 ? get16(g.frame.data() + 12) : 0);
        }
    }

    // --- the network side -------------------------------------------------------------------------
    void inject(const bytes& f) const {
        std::uint16_t t = 0;
        l3_off(f, &t);
        sockaddr_ll a{};
        a.sll_family = AF_PACKET;
        a.sll_ifindex = static_cast<int>(if_nametoindex(inject_if.c_str()));
        a.sll_protocol = htons(get16(f.data() + 12));
        a.sll_halen = 6;
        std::memcpy(a.sll_addr, f.data(), 6);
        if (batch_ == 0) batch_base_ = arrived();
        if (::sendto(inj_, f.data(), f.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a) != static_cast<ssize_t>(f.size()))
            note("inject on %s: %s", inject_if.c_str(), std::strerror(errno));
        else
            ++batch_;
    }
    // Injects with a virtio_net_hdr (PACKET_VNET_HDR): partial checksums and GSO super-frames.
    void inject_vnet(const virtio_net_hdr& h, const bytes& f) const {
        bytes b = with_hdr(h, sizeof h, f);
        sockaddr_ll a{};
        a.sll_family = AF_PACKET;
        a.sll_ifindex = static_cast<int>(if_nametoindex(inject_if.c_str()));
        a.sll_protocol = htons(get16(f.data() + 12));
        a.sll_halen = 6;
        std::memcpy(a.sll_addr, f.data(), 6);
        if (batch_ == 0) batch_base_ = arrived();
        if (::sendto(inj_vnet_, b.data(), b.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a) != static_cast<ssize_t>(b.size()))
            note("inject (vnet) on %s: %s", inject_if.c_str(), std::strerror(errno));
        else
            ++batch_;
    }
    void drain_capture() const {
        std::uint8_t buf[2048];
        while (::recv(cap_, buf, sizeof buf, MSG_DONTWAIT) >= 0) {
        }
    }
    // Our frames seen on the capture interface within `ms`; returns early once `want` were seen.
    std::vector<captured> capture(int ms, std::size_t want = 1) const {
        std::vector<captured> out;
        auto deadline = clk::now() + std::chrono::milliseconds(ms);
        std::vector<std::uint8_t> buf(70000);
        while (out.size() < want) {
            int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clk::now()).count());
            if (left <= 0) break;
            pollfd p{cap_, POLLIN, 0};
            if (::poll(&p, 1, left) <= 0) continue;
            iovec iov{buf.data(), buf.size()};
            alignas(cmsghdr) char ctl[256];
            msghdr mh{};
            mh.msg_iov = &iov;
            mh.msg_iovlen = 1;
            mh.msg_control = ctl;
            mh.msg_controllen = sizeof ctl;
            ssize_t n = ::recvmsg(cap_, &mh, MSG_DONTWAIT | MSG_TRUNC);
            if (n < 0) continue;
            captured c;
            c.frame.assign(buf.begin(), buf.begin() + std::min<std::size_t>(static_cast<std::size_t>(n), buf.size()));
            for (cmsghdr* cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
                if (cm->cmsg_level != SOL_PACKET || cm->cmsg_type != PACKET_AUXDATA) continue;
                tpacket_auxdata aux;
                std::memcpy(&aux, CMSG_DATA(cm), sizeof aux);
                if (aux.tp_status & TP_STATUS_CSUMNOTREADY) c.csum_not_ready = true;
                if ((aux.tp_status & TP_STATUS_VLAN_VALID) && c.frame.size() >= 12) {
                    std::uint16_t tpid = (aux.tp_status & TP_STATUS_VLAN_TPID_VALID) ? aux.tp_vlan_tpid : 0x8100;
                    std::uint8_t tag[4] = {static_cast<std::uint8_t>(tpid >> 8), static_cast<std::uint8_t>(tpid),
                                           static_cast<std::uint8_t>(aux.tp_vlan_tci >> 8),
                                           static_cast<std::uint8_t>(aux.tp_vlan_tci)};
                    c.frame.insert(c.frame.begin() + 12, tag, tag + 4);
                }
            }
            if (is_ours(c.frame))
                out.push_back(std::move(c));
            else
                note("%s: capture skipped a foreign frame of %zd bytes", capture_if.c_str(), n);
        }
        return out;
    }

    // Writes `b` into the device and looks for `expect` on the capture side: "ret=N,captured=..." or the
    // errno. For IP frames the token adds the L4 checksum as seen there: "partial" (the skb still carries
    // CHECKSUM_PARTIAL: the wire gets it completed), "valid" or "invalid".
    // arrival_only: record only whether something of ours arrived (for frames the transmit path may
    // legitimately reshape, e.g. UFO turned into IP fragments by a lower device without UFO).
    std::string write_and_capture(int fd, const bytes& b, const bytes& expect, bool arrival_only = false) const {
        drain_capture();
        long n = wr(fd, b);
        if (n < 0) return errname(static_cast<int>(-n));
        auto cs = capture(1000);
        std::string t = "ret=" + std::to_string(n) + ",captured=";
        if (cs.empty()) return t + "none";
        if (arrival_only) return t + "yes";
        const bytes& f = cs[0].frame;
        std::uint16_t type = 0;
        l3_off(f, &type);
        std::string cst = type != 0x0800 ? "" : cs[0].csum_not_ready ? ",csum=partial" : ",csum=" + l4_csum_state(f);
        if (f == expect) return t + "match" + cst;
        if (f.size() == expect.size()) {
            // Equal but for the L4 checksum (completed on the way)?
            std::size_t diff = 0;
            for (std::size_t i = 0; i < f.size(); ++i) diff += f[i] != expect[i];
            if (diff <= 2) return t + "match-but-csum" + cst;
        }
        return t + "different,len=" + std::to_string(f.size());
    }

    const std::array<std::uint8_t, 6>& mac() const { return fb.dst; }

private:
    static fd_t packet_socket(const std::string& ifn, bool receive, bool vnet) {
        int s = ::socket(AF_PACKET, SOCK_RAW, receive ? htons(ETH_P_ALL) : 0);
        if (s < 0) die("socket(AF_PACKET)");
        int one = 1;
        if (receive) {
            if (setsockopt(s, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0) die("PACKET_IGNORE_OUTGOING");
            if (setsockopt(s, SOL_PACKET, PACKET_AUXDATA, &one, sizeof one) < 0) die("PACKET_AUXDATA");
        }
        if (vnet && setsockopt(s, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) < 0) die("PACKET_VNET_HDR");
        sockaddr_ll a{};
        a.sll_family = AF_PACKET;
        a.sll_protocol = receive ? htons(ETH_P_ALL) : 0;
        a.sll_ifindex = static_cast<int>(if_nametoindex(ifn.c_str()));
        if (!a.sll_ifindex) die("no interface " + ifn);
        if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) die("bind AF_PACKET to " + ifn);
        return fd_t(s);
    }

    // See settle().
    unsigned long long arrived() const {
        const std::string dir = "/sys/class/net/" + ifname + "/statistics/";
        auto n = [&](const char* f) { return std::stoull("0" + read_line(dir + f)); };
        return inject_if == ifname ? n("tx_packets") + n("tx_dropped") : n("rx_packets") + n("rx_dropped");
    }
    // Bytes waiting in packet sockets bound to IF, other than this program's own.
    unsigned long long foreign_rmem() const {
        std::set<unsigned long> ours;
        for (int fd : {inj_.fd, inj_vnet_.fd, cap_.fd}) {
            struct stat st{};
            if (::fstat(fd, &st) == 0) ours.insert(st.st_ino);
        }
        const unsigned long ifindex = if_nametoindex(ifname.c_str());
        std::ifstream in("/proc/net/packet");
        std::string line;
        std::getline(in, line);  // sk RefCnt Type Proto Iface R Rmem User Inode
        unsigned long long total = 0;
        while (std::getline(in, line)) {
            std::istringstream l(line);
            std::string sk;
            unsigned long ref, type, iface, running, user, inode;
            unsigned long long rmem;
            std::string proto;
            if (!(l >> sk >> ref >> type >> proto >> iface >> running >> rmem >> user >> inode)) continue;
            if (iface == ifindex && !ours.count(inode)) total += rmem;
        }
        return total;
    }

    fd_t inj_, inj_vnet_, cap_;
    // Frames injected since the last open_dev() or settle(), and arrived() just before the first of them.
    mutable unsigned long long batch_ = 0, batch_base_ = 0;
};

// ---------------------------------------------------------------------------------------------------
// ioctl helpers

int io(int fd, unsigned long cmd, void* arg) { return ::ioctl(fd, cmd, arg) < 0 ? errno : 0; }
int io_val(int fd, unsigned long cmd, unsigned long arg) { return ::ioctl(fd, cmd, arg) < 0 ? errno : 0; }
std::string tok(int err) { return err ? errname(err) : "ok"; }

std::string getiff(int fd, const std::string& ifname) {
    ifreq r{};
    std::memset(&r, 0x5a, sizeof r);
    if (int e = io(fd, TUNGETIFF, &r)) return "getiff=" + errname(e);
    std::string name(r.ifr_name, strnlen(r.ifr_name, IFNAMSIZ));
    return std::string("name=") + (name == ifname ? "ifname" : "other") + ",flags=" +
           hex(static_cast<unsigned short>(r.ifr_flags));
}
unsigned short iff_flags(int fd) {
    ifreq r{};
    if (io(fd, TUNGETIFF, &r)) return 0xffff;
    return static_cast<unsigned short>(r.ifr_flags);
}
int setiff(int fd, unsigned short flags, ifreq* out = nullptr) {
    ifreq r{};
    std::strcpy(r.ifr_name, "cnfname");
    r.ifr_flags = static_cast<short>(flags);
    int e = io(fd, TUNSETIFF, &r);
    if (out) *out = r;
    return e;
}
int get_int(int fd, unsigned long cmd, int* v) {
    *v = -12345;
    return io(fd, cmd, v);
}
int set_int(int fd, unsigned long cmd, int v) { return io(fd, cmd, &v); }
std::string int_get_tok(int fd, unsigned long cmd) {
    int v;
    int e = get_int(fd, cmd, &v);
    return e ? errname(e) : std::to_string(v);
}
int queue_op(int fd, unsigned short flags) {
    ifreq r{};
    r.ifr_flags = static_cast<short>(flags);
    return io(fd, TUNSETQUEUE, &r);
}

constexpr unsigned short f_tap_nopi = IFF_TAP | IFF_NO_PI;
constexpr unsigned short f_default = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;

// ---------------------------------------------------------------------------------------------------
// The checks

void ioctl_checks(target& t) {
    {
        fd_t fd = t.open_dev();
        check("default_state_tungetiff", getiff(fd, t.ifname));
        unsigned v = 0;
        int e = io(fd, TUNGETFEATURES, &v);
        check("tungetfeatures", e ? errname(e) : "features=" + hex(v));
    }
    // TUNSETIFF: each combination on a fresh open; the token also records the flags afterwards.
    struct combo {
        const char* name;
        unsigned short flags;
    };
    const combo combos[] = {
        {"tunsetiff_tap_nopi", f_tap_nopi},
        {"tunsetiff_tap_nopi_vnet", f_default},
        {"tunsetiff_multi_queue", f_default | IFF_MULTI_QUEUE},
        {"tunsetiff_tap_nopi_multi_queue", f_tap_nopi | IFF_MULTI_QUEUE},
        {"tunsetiff_tun", IFF_TUN | IFF_NO_PI},
        {"tunsetiff_tun_tap", IFF_TUN | IFF_TAP | IFF_NO_PI},
        {"tunsetiff_missing_no_pi", IFF_TAP | IFF_VNET_HDR},
        {"tunsetiff_one_queue", f_default | IFF_ONE_QUEUE},
        {"tunsetiff_attach_queue_flag", f_tap_nopi | IFF_ATTACH_QUEUE},
        {"tunsetiff_napi", f_tap_nopi | IFF_NAPI},
        {"tunsetiff_persist_bit", f_tap_nopi | IFF_PERSIST},
        {"tunsetiff_zero", 0},
    };
    for (const combo& c : combos) {
        fd_t fd = t.open_dev();
        int e = setiff(fd, c.flags);
        check(c.name, tok(e) + ",flags=" + hex(iff_flags(fd)));
    }
    {
        fd_t fd = t.open_dev();
        // A valid TUNSETIFF after an invalid one: the failed call changed nothing.
        setiff(fd, f_tap_nopi);
        int e1 = setiff(fd, IFF_TUN | IFF_NO_PI);
        check("tunsetiff_invalid_keeps_flags", tok(e1) + ",flags=" + hex(iff_flags(fd)));
        ifreq r{};
        int e = setiff(fd, f_default, &r);
        std::string name(r.ifr_name, strnlen(r.ifr_name, IFNAMSIZ));
        check("tunsetiff_name_written_back",
              tok(e) + ",name=" + (name == "cnfname" ? "kept" : name == t.ifname ? "ifname" : "other"));
        check("tungetiff_after_setiff", getiff(fd, t.ifname));
    }
    {
        fd_t fd = t.open_dev();
        check("tunsetqueue_attach_when_attached", tok(queue_op(fd, IFF_ATTACH_QUEUE)));
        check("tunsetqueue_detach", tok(queue_op(fd, IFF_DETACH_QUEUE)));
        check("tunsetqueue_detach_again", tok(queue_op(fd, IFF_DETACH_QUEUE)));
        check("tunsetqueue_attach", tok(queue_op(fd, IFF_ATTACH_QUEUE)));
        check("tunsetqueue_no_flag", tok(queue_op(fd, 0)));
        check("tunsetqueue_both_flags", tok(queue_op(fd, IFF_ATTACH_QUEUE | IFF_DETACH_QUEUE)));
        check("tunsetqueue_other_flags", tok(queue_op(fd, f_default)));
    }
    {
        fd_t fd = t.open_dev();
        check("tunsetsndbuf_0", tok(set_int(fd, TUNSETSNDBUF, 0)));
        check("tunsetsndbuf_neg1", tok(set_int(fd, TUNSETSNDBUF, -1)));
        check("tunsetsndbuf_1", tok(set_int(fd, TUNSETSNDBUF, 1)));
        check("tunsetsndbuf_1m", tok(set_int(fd, TUNSETSNDBUF, 1 << 20)));
        int v;
        int e = get_int(fd, TUNGETSNDBUF, &v);
        check("tungetsndbuf", e ? errname(e) : "served");
    }
    {
        fd_t fd = t.open_dev();
        check("tungetvnethdrsz_default", int_get_tok(fd, TUNGETVNETHDRSZ));
        // "set then get": the set must run first (operands of + are unsequenced).
        auto set_get = [&](unsigned long set, unsigned long get, int v, const char* what) {
            std::string r = tok(set_int(fd, set, v));
            return r + "," + what + "=" + int_get_tok(fd, get);
        };
        check("tunsetvnethdrsz_9", set_get(TUNSETVNETHDRSZ, TUNGETVNETHDRSZ, 9, "sz"));
        check("tunsetvnethdrsz_neg1", set_get(TUNSETVNETHDRSZ, TUNGETVNETHDRSZ, -1, "sz"));
        check("tunsetvnethdrsz_12", set_get(TUNSETVNETHDRSZ, TUNGETVNETHDRSZ, 12, "sz"));
        check("tunsetvnethdrsz_10", set_get(TUNSETVNETHDRSZ, TUNGETVNETHDRSZ, 10, "sz"));
        check("tungetvnetle_default", int_get_tok(fd, TUNGETVNETLE));
        check("tunsetvnetle_1", set_get(TUNSETVNETLE, TUNGETVNETLE, 1, "le"));
        check("tunsetvnetle_7", set_get(TUNSETVNETLE, TUNGETVNETLE, 7, "le"));
        check("tunsetvnetle_0", set_get(TUNSETVNETLE, TUNGETVNETLE, 0, "le"));
        check("tungetvnetbe", int_get_tok(fd, TUNGETVNETBE));
        check("tunsetvnetbe_1", tok(set_int(fd, TUNSETVNETBE, 1)));
        check("tunsetvnetbe_0", tok(set_int(fd, TUNSETVNETBE, 0)));
        check("tunsetoffload_known", tok(io_val(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_UFO)));
        check("tunsetoffload_csum", tok(io_val(fd, TUNSETOFFLOAD, TUN_F_CSUM)));
        check("tunsetoffload_zero", tok(io_val(fd, TUNSETOFFLOAD, 0)));
        check("tunsetoffload_unknown_0x80", tok(io_val(fd, TUNSETOFFLOAD, 0x80)));
        check("tunsetoffload_uso4", tok(io_val(fd, TUNSETOFFLOAD, TUN_F_CSUM | tun_f_uso4)));
        check("tungetiff_after_settings", getiff(fd, t.ifname));
    }
    {
        fd_t fd = t.open_dev();
        ifreq r{};
        std::memset(&r, 0x5a, sizeof r);
        int e = io(fd, SIOCGIFHWADDR, &r);
        if (e) {
            check("siocgifhwaddr", errname(e));
        } else {
            std::string name(r.ifr_name, strnlen(r.ifr_name, IFNAMSIZ));
            bool m = std::memcmp(r.ifr_hwaddr.sa_data, t.mac().data(), 6) == 0;
            check("siocgifhwaddr", "family=" + std::to_string(r.ifr_hwaddr.sa_family) + ",mac=" + (m ? "match" : "mismatch") +
                                       ",name=" + (name == t.ifname ? "ifname" : "other"));
        }
        // Unknown / unserved ioctls.
        check("ioctl_tunsetpersist", tok(io_val(fd, TUNSETPERSIST, 0)));
        check("ioctl_tunsetowner", tok(io_val(fd, TUNSETOWNER, 0)));
        check("ioctl_tunsetcarrier", [&] { int v = 1; return tok(io(fd, TUNSETCARRIER, &v)); }());
        check("ioctl_tunsettxfilter", [&] { tun_filter f{}; return tok(io(fd, TUNSETTXFILTER, &f)); }());
        check("ioctl_0x89ff", tok(io_val(fd, 0x89ff, 0)));
        check("ioctl_fionread", [&] { int v = -1; return tok(io(fd, FIONREAD, &v)); }());
        check("ioctl_fionbio", [&] { int v = 1; int e2 = io(fd, FIONBIO, &v); v = 0; io(fd, FIONBIO, &v); return tok(e2); }());
        check("ioctl_fioasync", [&] { int v = 1; int e2 = io(fd, FIOASYNC, &v); v = 0; io(fd, FIOASYNC, &v); return tok(e2); }());
        check("ioctl_siocgifmtu", [&] { ifreq q{}; return tok(io(fd, SIOCGIFMTU, &q)); }());
        check("ioctl_tapgifname_like_0x400454c8", [&] { ifreq q{}; return tok(io(fd, 0x400454c8, &q)); }());
    }
}

// Changes the interface's MAC through the device and puts the original back. Run last: frames are
// addressed to the interface's MAC.
void mac_checks(target& t) {
    fd_t fd = t.open_dev();
    auto setmac = [&](const std::array<std::uint8_t, 6>& m, unsigned short family = ARPHRD_ETHER) {
        ifreq r{};
        r.ifr_hwaddr.sa_family = family;
        std::memcpy(r.ifr_hwaddr.sa_data, m.data(), 6);
        return io(fd, SIOCSIFHWADDR, &r);
    };
    auto state = [&](const std::array<std::uint8_t, 6>& m) {
        ifreq r{};
        int e = io(fd, SIOCGIFHWADDR, &r);
        bool g = !e && std::memcmp(r.ifr_hwaddr.sa_data, m.data(), 6) == 0;
        auto s = parse_mac(read_line("/sys/class/net/" + t.ifname + "/address"));
        bool y = s && *s == m;
        return std::string(",get=") + (g ? "match" : "mismatch") + ",sysfs=" + (y ? "match" : "mismatch");
    };
    const std::array<std::uint8_t, 6> orig = t.mac();
    const std::array<std::uint8_t, 6> fresh{{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}};
    // (operands of + are unsequenced: set first, then look)
    auto set_look = [&](const std::array<std::uint8_t, 6>& m, const std::array<std::uint8_t, 6>& expect,
                        unsigned short family = ARPHRD_ETHER) {
        std::string r = tok(setmac(m, family));
        return r + state(expect);
    };
    check("siocsifhwaddr_new", set_look(fresh, fresh));
    check("siocsifhwaddr_multicast", set_look({{0x03, 0, 0, 0, 0, 1}}, fresh));
    check("siocsifhwaddr_zero", set_look({{0, 0, 0, 0, 0, 0}}, fresh));
    check("siocsifhwaddr_wrong_family", set_look({{0x02, 0x11, 0x22, 0x33, 0x44, 0x66}}, fresh, ARPHRD_IEEE802));
    check("siocsifhwaddr_restore", set_look(orig, orig));
}

// A UDP frame with a partial checksum (as from a stack with checksum offload) arrives at the device;
// what does the reader get?
std::string rx_partial(target& t, int fd, std::uint32_t id, std::size_t hdr_sz = 10) {
    bytes f = t.fb.ip(17, 1234, 40, id, 0, frame_builder::csum::pseudo);
    virtio_net_hdr h{};
    h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    h.csum_start = 34;
    h.csum_offset = 6;
    t.inject_vnet(h, f);
    auto g = t.read_frame(fd, hdr_sz);
    if (g.ret < 0) return errname(static_cast<int>(-g.ret));
    bool partial = hdr_sz && (g.hdr[0] & VIRTIO_NET_HDR_F_NEEDS_CSUM);
    std::string st = partial ? (g.frame == f ? "partial-as-sent" : "partial-changed") : l4_csum_state(g.frame);
    return "len=" + std::to_string(g.ret) + (hdr_sz ? ",hdr=" + vnet_str(g.hdr.data()) : "") + ",csum=" + st;
}

// A TCP super-frame (GSO, 3000 bytes in segments of 1000) arrives at the device: one frame or segments,
// their headers and checksums, and a digest of everything after the Ethernet header (MACs differ).
std::string rx_gso(target& t, int fd, std::uint32_t id, std::size_t hdr_sz = 10) {
    bytes f = t.fb.ip(6, 1235, 3000, id, 0, frame_builder::csum::pseudo);
    virtio_net_hdr h{};
    h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
    h.gso_size = 1000;
    h.hdr_len = 54;
    h.csum_start = 34;
    h.csum_offset = 16;
    t.inject_vnet(h, f);
    std::string lens, hdrs, csums;
    std::uint32_t dig = 2166136261u;
    int n = 0;
    for (;;) {
        auto g = t.read_frame(fd, hdr_sz, n ? 300 : 2000);
        if (g.ret <= 0) break;
        ++n;
        bool partial = hdr_sz && (g.hdr[0] & VIRTIO_NET_HDR_F_NEEDS_CSUM);
        lens += (lens.empty() ? "" : "/") + std::to_string(g.frame.size());
        if (hdr_sz) hdrs += (hdrs.empty() ? "" : "/") + vnet_str(g.hdr.data());
        csums += (csums.empty() ? "" : "/") + (partial ? std::string("partial") : l4_csum_state(g.frame));
        if (g.frame.size() > 14) dig = fnv(g.frame.data() + 14, g.frame.size() - 14, dig);
        if (std::getenv("CONFORMANCE_DUMP")) {
            std::string hx;
            char b[4];
            for (std::size_t i = 0; i < std::min<std::size_t>(g.frame.size(), 70); ++i) {
                std::snprintf(b, sizeof b, "%02x", g.frame[i]);
                hx += b;
            }
            note("gso id %u segment %d: %s", id, n, hx.c_str());
        }
        if (hdr_sz) dig = fnv(g.hdr.data(), g.hdr.size(), dig);
    }
    char d[16];
    std::snprintf(d, sizeof d, "%08x", dig);
    return "frames=" + std::to_string(n) + ",lens=" + lens + (hdr_sz ? ",hdrs=" + hdrs : "") + ",csum=" + csums +
           ",digest=" + d;
}

void read_checks(target& t) {
    const frame_builder& fb = t.fb;
    std::uint8_t buf[4096];
    {
        fd_t fd = t.open_dev(true);
        check("read_nonblock_empty", tok(static_cast<int>(-t.rd(fd, buf, sizeof buf))));
        pollfd p{fd, POLLIN | POLLOUT, 0};
        int n = ::poll(&p, 1, 0);
        check("poll_idle", "n=" + std::to_string(n) + ",mask=" + poll_mask_str(p.revents));
        bytes f = fb.plain(1, 0);
        t.inject(f);
        t.wait_in(fd, 2000);
        p = {fd, POLLIN | POLLOUT, 0};
        n = ::poll(&p, 1, 0);
        check("poll_after_frame", "n=" + std::to_string(n) + ",mask=" + poll_mask_str(p.revents));
        auto g = t.read_frame(fd, 10);
        check("read_default", g.ret < 0 ? errname(static_cast<int>(-g.ret))
                                        : "len=" + std::to_string(g.ret) + ",hdr=" + vnet_str(g.hdr.data()) +
                                              ",frame=" + (g.frame == f ? "match" : "mismatch"));
        p = {fd, POLLIN | POLLOUT, 0};
        ::poll(&p, 1, 0);
        check("poll_after_read", "mask=" + poll_mask_str(p.revents));
    }
    {
        fd_t fd = t.open_dev();
        bytes f = fb.plain(2, 0);
        t.inject(f);
        bool ready = t.wait_in(fd, 2000);
        long z = t.rd(fd, buf, 0);
        pollfd p{fd, POLLIN, 0};
        ::poll(&p, 1, 0);
        auto g = t.read_frame(fd, 10, 0);
        check("read_zero_length", std::string(ready ? "" : "notready,") + "ret=" + std::to_string(z) +
                                      ",after=" + poll_mask_str(p.revents) + ",next=" +
                                      (g.ret > 0 && g.frame == f ? "frame" : "none"));
    }
    {
        fd_t fd = t.open_dev();
        bytes f = fb.plain(3, 0, 200);
        t.inject(f);
        t.wait_in(fd, 2000);
        std::memset(buf, 0xaa, sizeof buf);
        long n = t.rd(fd, buf, 60);
        bool prefix = n == 60 && std::memcmp(buf + 10, f.data(), 50) == 0;
        t.set_nonblock(fd, true);
        long n2 = t.rd(fd, buf, sizeof buf);
        check("read_truncated", (n < 0 ? errname(static_cast<int>(-n)) : "ret=" + std::to_string(n)) +
                                    (prefix ? ",prefix=match" : ",prefix=mismatch") + ",rest=" +
                                    (n2 < 0 ? errname(static_cast<int>(-n2)) : "len" + std::to_string(n2)));
    }
    {
        fd_t fd = t.open_dev();
        t.inject(fb.plain(4, 0));
        t.wait_in(fd, 2000);
        long n = t.rd(fd, buf, 5);  // shorter than the 10-byte vnet header
        t.set_nonblock(fd, true);
        long n2 = t.rd(fd, buf, sizeof buf);
        check("read_shorter_than_hdr", (n < 0 ? errname(static_cast<int>(-n)) : "ret=" + std::to_string(n)) + ",then=" +
                                           (n2 < 0 ? errname(static_cast<int>(-n2)) : "len" + std::to_string(n2)));
    }
    {
        fd_t fd = t.open_dev();
        set_int(fd, TUNSETVNETHDRSZ, 12);
        bytes f = fb.plain(5, 0);
        t.inject(f);
        t.wait_in(fd, 2000);
        std::memset(buf, 0xaa, sizeof buf);
        long n = t.rd(fd, buf, sizeof buf);
        check("read_vnet12", n < 0 ? errname(static_cast<int>(-n))
                                   : "len=" + std::to_string(n) + ",hdr=" + vnet_str(buf) + ",frame=" +
                                         (n == 72 && std::memcmp(buf + 12, f.data(), 60) == 0 ? "match" : "mismatch"));
        char pad[16];
        std::snprintf(pad, sizeof pad, "%02x%02x", buf[10], buf[11]);
        check("read_vnet12_padding", std::string("pad=") + pad);
        // 100-byte header: larger than any sensible headroom.
        set_int(fd, TUNSETVNETHDRSZ, 100);
        t.inject(f);
        t.wait_in(fd, 2000);
        long m = t.rd(fd, buf, sizeof buf);
        check("read_vnet100", m < 0 ? errname(static_cast<int>(-m))
                                    : "len=" + std::to_string(m) + ",hdr=" + vnet_str(buf) + ",frame=" +
                                          (m == 160 && std::memcmp(buf + 100, f.data(), 60) == 0 ? "match" : "mismatch"));
    }
    {
        fd_t fd = t.open_dev();
        setiff(fd, f_tap_nopi);
        bytes f = fb.plain(6, 0);
        t.inject(f);
        auto g = t.read_frame(fd, 0);
        check("read_no_vnet_hdr", g.ret < 0 ? errname(static_cast<int>(-g.ret))
                                            : "len=" + std::to_string(g.ret) + ",frame=" + (g.frame == f ? "match" : "mismatch"));
    }
    {
        fd_t fd = t.open_dev();
        bytes f = fb.vlan(0x2005, 7, 0);
        t.inject(f);
        auto g = t.read_frame(fd, 10);
        check("read_vlan_tagged", g.ret < 0 ? errname(static_cast<int>(-g.ret))
                                            : "len=" + std::to_string(g.ret) + ",hdr=" + vnet_str(g.hdr.data()) +
                                                  ",frame=" + (g.frame == f ? "match" : "mismatch"));
    }
    // Woken by a frame: the call (a read or poll that must block) runs on a helper thread; the frame is
    // injected once that thread is seen asleep in it and the target has the request (barrier). Then up
    // to 20 s for the call to return. "waited": seen blocked, then woken, so it was blocked when the frame
    // came (and, for poll, the target had answered the first poll without POLLIN); "early": it returned
    // without blocking; "not-woken": still asleep 20 s after the frame (the thread is left behind,
    // detached, with its state). No timeout on the poll: one that runs out polls the file once more and
    // would find the frame, woken or not.
    struct blocking_call {
        std::atomic<pid_t> tid{0};
        std::atomic<bool> returned{false};
        long ret = 0;
        short revents = 0;
        std::uint8_t buf[2048] = {};
    };
    auto woken_by_frame = [&t](int fd, task_state::syscall_id sc, const bytes& f, const std::shared_ptr<blocking_call>& c,
                               void (*call)(blocking_call&, int)) -> std::string {
        std::thread th([c, fd, call] {
            c->tid = static_cast<pid_t>(::gettid());
            call(*c, fd);
            c->returned = true;
        });
        // Neither returned nor seen blocked in 10 s: this program cannot see what it must (exit 2).
        if (!task_state::wait_until([&] { return c->returned.load() || task_state::blocked_in(c->tid.load(), sc, fd); })) {
            note("the thread in %s() was not seen blocked within 10 s", sc.name);
            std::exit(2);
        }
        const bool blocked = !c->returned.load();
        if (blocked) target::barrier(fd);
        t.inject(f);
        if (!task_state::wait_until([&] { return c->returned.load(); }, std::chrono::seconds(20))) {
            th.detach();
            return "not-woken";
        }
        th.join();
        return blocked ? "waited" : "early";
    };
    {
        fd_t fd = t.open_dev();
        bytes f = fb.plain(8, 0);
        auto c = std::make_shared<blocking_call>();
        std::string how = woken_by_frame(fd, task_state::sys_read, f, c, [](blocking_call& b, int d) {
            b.ret = target::rd(d, b.buf, sizeof b.buf);
        });
        long n = c->ret;
        check("read_blocking_woken", how == "not-woken" ? how
                                     : n < 0 ? errname(static_cast<int>(-n))
                                             : std::string("len=") + std::to_string(n) + "," + how + ",frame=" +
                                                   (std::memcmp(c->buf + 10, f.data(), 60) == 0 ? "match" : "mismatch"));
    }
    {
        fd_t fd = t.open_dev();
        bytes f = fb.plain(9, 0);
        auto c = std::make_shared<blocking_call>();
        std::string how = woken_by_frame(fd, task_state::sys_poll, f, c, [](blocking_call& b, int d) {
            pollfd p{d, POLLIN, 0};
            b.ret = ::poll(&p, 1, -1);
            b.revents = p.revents;
        });
        check("poll_woken", how == "not-woken" ? how
                                               : "n=" + std::to_string(c->ret) + ",mask=" + poll_mask_str(c->revents) + "," + how);
    }
    // Offload-sensitive reads: each sets its offloads first (in the kernel they are the device's, not the
    // open file's: see offload_checks).
    {
        fd_t fd = t.open_dev();
        io_val(fd, TUNSETOFFLOAD, 0);
        check("read_partial_csum_no_offload", rx_partial(t, fd, 10));
        io_val(fd, TUNSETOFFLOAD, TUN_F_CSUM);
        check("read_partial_csum_offload_csum", rx_partial(t, fd, 11));
        io_val(fd, TUNSETOFFLOAD, 0);
        check("read_gso_tcpv4_no_offload", rx_gso(t, fd, 20));
        io_val(fd, TUNSETOFFLOAD, TUN_F_CSUM);
        check("read_gso_tcpv4_offload_csum", rx_gso(t, fd, 21));
        io_val(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4);
        check("read_gso_tcpv4_offload_tso4", rx_gso(t, fd, 22));
        io_val(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO6);
        check("read_gso_tcpv4_offload_tso6_only", rx_gso(t, fd, 23));
        io_val(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_UFO);
        check("read_gso_tcpv4_offload_all", rx_gso(t, fd, 24));
        // Offloads apply only to a reader with vnet headers.
        setiff(fd, f_tap_nopi);
        check("read_partial_csum_no_vnet_hdr", rx_partial(t, fd, 25, 0));
        check("read_gso_tcpv4_no_vnet_hdr", rx_gso(t, fd, 26, 0));
        io_val(fd, TUNSETOFFLOAD, 0);
    }
}

// TUNSETOFFLOAD's scope and default. Runs first, on devices nobody has set offloads on yet.
void offload_checks(target& t) {
    {
        fd_t fd = t.open_dev();
        check("offload_default_partial_csum", rx_partial(t, fd, 30));
        check("offload_default_gso_tcpv4", rx_gso(t, fd, 31));
    }
    {
        // Reader A asks for no offloads, then B (detached, so A gets every frame) asks for csum+TSO4.
        fd_t a = t.open_dev();
        io_val(a, TUNSETOFFLOAD, 0);
        fd_t b = t.open_dev();
        io_val(b, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4);
        queue_op(b, IFF_DETACH_QUEUE);
        check("offload_set_by_other_open_partial_csum", rx_partial(t, a, 32));
        check("offload_set_by_other_open_gso_tcpv4", rx_gso(t, a, 33));
    }
    {
        // What an earlier open set, seen by a later one.
        {
            fd_t a = t.open_dev();
            io_val(a, TUNSETOFFLOAD, TUN_F_CSUM);
        }
        fd_t c = t.open_dev();
        check("offload_after_close_csum", rx_partial(t, c, 34));
    }
    {
        {
            fd_t a = t.open_dev();
            io_val(a, TUNSETOFFLOAD, 0);
        }
        fd_t c = t.open_dev();
        check("offload_after_close_zero", rx_partial(t, c, 35));
    }
}

void write_checks(target& t) {
    frame_builder out = t.fb;
    out.dst = {{0x02, 0xc0, 0xff, 0xee, 0x00, 0x99}};  // somebody else on the wire
    out.src = {{0x02, 0xc0, 0xff, 0xee, 0x00, 0x02}};
    virtio_net_hdr z{};
    {
        fd_t fd = t.open_dev();
        bytes f = out.plain(100, 0);
        check("write_default", t.write_and_capture(fd, with_hdr(z, 10, f), f));
        set_int(fd, TUNSETVNETHDRSZ, 12);
        bytes b = with_hdr(z, 12, f);
        b[10] = b[11] = 0xee;  // num_buffers: ignored
        check("write_vnet12", t.write_and_capture(fd, b, f));
        set_int(fd, TUNSETVNETHDRSZ, 10);
        check("write_shorter_than_hdr", t.write_and_capture(fd, bytes(5, 0), f));
        check("write_hdr_only", t.write_and_capture(fd, bytes(10, 0), f));
        bytes s13(f.begin(), f.begin() + 13);
        check("write_frame_13_bytes", t.write_and_capture(fd, with_hdr(z, 10, s13), s13));
        bytes s14(f.begin(), f.begin() + 14);
        check("write_frame_14_bytes", t.write_and_capture(fd, with_hdr(z, 10, s14), s14));
        bytes v = out.vlan(0x2005, 101, 0);
        check("write_vlan_tagged", t.write_and_capture(fd, with_hdr(z, 10, v), v));
        bytes big = out.plain(102, 0, 1514);
        check("write_mtu_sized", t.write_and_capture(fd, with_hdr(z, 10, big), big));
        bytes over = out.plain(103, 0, 1600);
        check("write_over_mtu", t.write_and_capture(fd, with_hdr(z, 10, over), over));

        bytes u = out.ip(17, 2000, 40, 104, 0, frame_builder::csum::pseudo);
        virtio_net_hdr h{};
        h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        h.csum_start = 34;
        h.csum_offset = 6;
        check("write_partial_csum", t.write_and_capture(fd, with_hdr(h, 10, u), u));
        virtio_net_hdr hb = h;
        hb.csum_start = 100;
        check("write_csum_start_beyond_frame", t.write_and_capture(fd, with_hdr(hb, 10, u), u));
        hb = h;
        hb.csum_offset = 60;
        check("write_csum_offset_beyond_frame", t.write_and_capture(fd, with_hdr(hb, 10, u), u));
        hb = h;
        hb.csum_start = 80;  // csum field at 86..87 of an 82-byte frame
        check("write_csum_field_past_end", t.write_and_capture(fd, with_hdr(hb, 10, u), u));
        hb = z;
        hb.hdr_len = 200;
        check("write_hdr_len_beyond_frame", t.write_and_capture(fd, with_hdr(hb, 10, u), u));
        hb = z;
        hb.gso_type = 7;
        hb.gso_size = 100;
        check("write_gso_unknown_type", t.write_and_capture(fd, with_hdr(hb, 10, u), u));
        hb = z;
        hb.gso_type = VIRTIO_NET_HDR_GSO_ECN;
        check("write_gso_none_ecn", t.write_and_capture(fd, with_hdr(hb, 10, u), u));

        bytes tcp = out.ip(6, 2001, 3000, 105, 0, frame_builder::csum::pseudo);
        virtio_net_hdr g{};
        g.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        g.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
        g.gso_size = 1000;
        g.hdr_len = 54;
        g.csum_start = 34;
        g.csum_offset = 16;
        check("write_gso_tcpv4", t.write_and_capture(fd, with_hdr(g, 10, tcp), tcp));
        virtio_net_hdr g0 = g;
        g0.gso_size = 0;
        check("write_gso_tcpv4_size0", t.write_and_capture(fd, with_hdr(g0, 10, tcp), tcp));
        virtio_net_hdr gn = g;
        gn.flags = 0;
        check("write_gso_tcpv4_no_needs_csum", t.write_and_capture(fd, with_hdr(gn, 10, tcp), tcp));
        virtio_net_hdr ge = g;
        ge.gso_type = VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN;
        check("write_gso_tcpv4_ecn", t.write_and_capture(fd, with_hdr(ge, 10, tcp), tcp));
        bytes ub = out.ip(17, 2002, 3000, 106, 0, frame_builder::csum::pseudo);
        virtio_net_hdr gu{};
        gu.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        gu.gso_type = VIRTIO_NET_HDR_GSO_UDP;
        gu.gso_size = 1000;
        gu.hdr_len = 42;
        gu.csum_start = 34;
        gu.csum_offset = 6;
        check("write_gso_udp_ufo", t.write_and_capture(fd, with_hdr(gu, 10, ub), ub, true));
        virtio_net_hdr gs = g;
        gs.gso_size = 5000;  // larger than the payload: not really GSO
        check("write_gso_tcpv4_size_gt_payload", t.write_and_capture(fd, with_hdr(gs, 10, tcp), tcp));

        set_int(fd, TUNSETVNETLE, 1);
        check("write_vnetle_partial_csum", t.write_and_capture(fd, with_hdr(h, 10, u), u));
        set_int(fd, TUNSETVNETLE, 0);
    }
    {
        fd_t fd = t.open_dev();
        setiff(fd, f_tap_nopi);
        bytes f = out.plain(110, 0);
        check("write_no_vnet_hdr", t.write_and_capture(fd, f, f));
        check("write_no_vnet_hdr_13_bytes", t.write_and_capture(fd, bytes(f.begin(), f.begin() + 13), f));
    }
    {
        fd_t fd = t.open_dev();
        queue_op(fd, IFF_DETACH_QUEUE);
        bytes f = out.plain(111, 0);
        check("write_while_detached", t.write_and_capture(fd, with_hdr(z, 10, f), f));
    }
    {
        fd_t fd = t.open_dev();
        set_int(fd, TUNSETSNDBUF, 1);
        pollfd p{fd, POLLIN | POLLOUT, 0};
        int n = ::poll(&p, 1, 0);
        check("poll_after_sndbuf_1", "n=" + std::to_string(n) + ",mask=" + poll_mask_str(p.revents));
        t.set_nonblock(fd, true);
        bytes f = out.plain(112, 0);
        check("write_after_sndbuf_1", t.write_and_capture(fd, with_hdr(z, 10, f), f));
    }
}

void queue_checks(target& t) {
    const frame_builder& fb = t.fb;
    {
        fd_t fd = t.open_dev();
        queue_op(fd, IFF_DETACH_QUEUE);
        t.inject(fb.plain(200, 0));
        t.settle(fd);
        t.set_nonblock(fd, true);
        std::uint8_t buf[2048];
        long n = t.rd(fd, buf, sizeof buf);
        pollfd p{fd, POLLIN | POLLOUT, 0};
        ::poll(&p, 1, 0);
        t.set_nonblock(fd, false);
        int e = queue_op(fd, IFF_ATTACH_QUEUE);
        bytes f = fb.plain(200, 1);
        t.inject(f);
        auto g = t.read_frame(fd, 10);
        check("detached_queue_gets_nothing", std::string("detached=") + (n < 0 ? errname(static_cast<int>(-n)) : "len" + std::to_string(n)) +
                                                 ",poll=" + poll_mask_str(p.revents) + ",attach=" + tok(e) + ",then=" +
                                                 (g.ret > 0 && g.frame == f ? "frame" : g.ret < 0 ? errname(static_cast<int>(-g.ret)) : "other"));
    }
    // Two queues. Reads one flow's frames from whichever queue they land on.
    auto collect = [&](fd_t* q, int nq, std::size_t want, std::vector<int>& per_q, std::set<int>* which) {
        std::size_t got = 0;
        auto deadline = clk::now() + std::chrono::milliseconds(1500);
        std::uint8_t buf[4096];
        while (got < want && clk::now() < deadline) {
            std::vector<pollfd> ps(nq);
            for (int i = 0; i < nq; ++i) ps[i] = {q[i], POLLIN, 0};
            if (::poll(ps.data(), nq, 200) <= 0) continue;
            for (int i = 0; i < nq; ++i) {
                if (!(ps[i].revents & POLLIN)) continue;
                t.set_nonblock(q[i], true);
                long n = t.rd(q[i], buf, sizeof buf);
                t.set_nonblock(q[i], false);
                if (n <= 10) continue;
                bytes f(buf + 10, buf + n);
                if (!is_ours(f)) {
                    note("skipped a foreign frame on queue %d", i);
                    continue;
                }
                ++got;
                ++per_q[i];
                if (which) which->insert(i);
            }
        }
        return got;
    };
    {
        fd_t q[2] = {t.open_dev(), t.open_dev()};
        int e = queue_op(q[0], IFF_DETACH_QUEUE);
        std::vector<int> per(2);
        for (int fl = 0; fl < 6; ++fl) t.inject(fb.ip(17, static_cast<std::uint16_t>(3000 + fl), 20, 300, fl, frame_builder::csum::full));
        collect(q, 2, 6, per, nullptr);
        // Stragglers: once all six are dealt with, whatever else a queue holds is there now.
        t.settle(q[1]);
        std::uint8_t sbuf[4096];
        for (int i = 0; i < 2; ++i) {
            t.set_nonblock(q[i], true);
            for (long n; (n = t.rd(q[i], sbuf, sizeof sbuf)) > 10;)
                if (is_ours(bytes(sbuf + 10, sbuf + n))) ++per[i];
            t.set_nonblock(q[i], false);
        }
        check("two_queues_one_detached", "detach=" + tok(e) + ",detached=" + std::to_string(per[0]) + ",attached=" + std::to_string(per[1]));
    }
    {
        fd_t q[2] = {t.open_dev(), t.open_dev()};
        const int flows = 12, per_flow = 3;
        int consistent = 0, lost = 0;
        std::set<int> used;
        for (int fl = 0; fl < flows; ++fl) {
            for (int k = 0; k < per_flow; ++k)
                t.inject(fb.ip(17, static_cast<std::uint16_t>(4000 + fl * 7), 20, 400 + fl, k, frame_builder::csum::full));
            std::vector<int> per(2);
            std::set<int> which;
            std::size_t got = collect(q, 2, per_flow, per, &which);
            if (got < per_flow) lost += per_flow - static_cast<int>(got);
            if (which.size() == 1) {
                ++consistent;
                used.insert(*which.begin());
            }
        }
        check("flow_steering_udp", "flows=" + std::to_string(flows) + ",consistent=" + std::to_string(consistent) +
                                       ",spread=" + (used.size() == 2 ? "yes" : "no") + ",lost=" + std::to_string(lost));
        // Frames without a flow (no IP): all on one queue, whichever.
        std::vector<int> per(2);
        for (int k = 0; k < 6; ++k) t.inject(fb.plain(500, k));
        std::set<int> which;
        collect(q, 2, 6, per, &which);
        check("flow_steering_non_ip", "frames=" + std::to_string(per[0] + per[1]) + ",queues=" + std::to_string(which.size()));
    }
    {
        std::string txq = read_line("/sys/class/net/" + t.ifname + "/tx_queue_len");
        fd_t fd = t.open_dev();
        for (int k = 0; k < 40; ++k) t.inject(fb.plain(600, k));
        t.settle(fd);
        t.set_nonblock(fd, true);
        std::uint8_t buf[2048];
        int n = 0;
        long r;
        std::uint32_t expect = 0;
        bool in_order = true;
        while ((r = t.rd(fd, buf, sizeof buf)) > 0) {
            ++n;
            std::uint32_t seq = (buf[10 + 22] << 24) | (buf[10 + 23] << 16) | (buf[10 + 24] << 8) | buf[10 + 25];
            if (seq != expect) in_order = false;
            ++expect;
        }
        check("queue_bound", "txqueuelen=" + txq + ",frames=" + std::to_string(n) + "," +
                                 (r < 0 ? std::string(errname(static_cast<int>(-r))) : "eof") + (in_order ? ",first_in_order" : ",reordered"));
    }
}

}  // namespace

int main(int argc, char** argv) {
    target t;
    std::string only;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto val = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "conformance: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--dev") t.dev = val();
        else if (a == "--ifname") t.ifname = val();
        else if (a == "--inject") t.inject_if = val();
        else if (a == "--capture") t.capture_if = val();
        else if (a == "--only") only = val();
        else {
            std::fprintf(stderr, "usage: conformance --dev /dev/tapN --ifname IF --inject IF2 --capture IF3 [--only GROUP,...]\n");
            return 2;
        }
    }
    if (t.dev.empty() || t.ifname.empty() || t.inject_if.empty() || t.capture_if.empty()) {
        std::fprintf(stderr, "usage: conformance --dev /dev/tapN --ifname IF --inject IF2 --capture IF3 [--only GROUP,...]\n");
        return 2;
    }
    t.setup();
    auto want = [&](const char* g) { return only.empty() || ("," + only + ",").find(std::string(",") + g + ",") != std::string::npos; };
    if (want("offload")) offload_checks(t);
    if (want("ioctl")) ioctl_checks(t);
    if (want("read")) read_checks(t);
    if (want("write")) write_checks(t);
    if (want("queue")) queue_checks(t);
    if (want("mac")) mac_checks(t);
    return 0;
}
