// packet_links.cc — what tapd's packet backend does through a real CUSE node when its link changes or
// goes away (run inside UML by packet_links_test.sh; the host has no CUSE).
//
//   packet_links --dev /dev/tapN --ifname mv0 --peer veth1 --other /dev/tun0 --other-if tun0
//
//   /dev/tapN  tapd's node for the packet device (macvlan mv0 on veth0); veth1 is veth0's peer
//   /dev/tun0  a second device of the same tapd (TUN backend, tun0 10.0.0.1/24 up), which must keep
//              working after mv0 is deleted
//
// Prints "PASS name" / "FAIL name: detail"; exit status 1 if anything failed, 2 on a setup error.
// Nothing blocks forever: a blocking read that outlives its 10 s limit gets SIGUSR2 (a handler without
// SA_RESTART), so it comes back with EINTR through FUSE_INTERRUPT and is reported. Nothing waits by
// sleeping: the reader is "blocked" when seen asleep in read() (tests/common/task_state.h).
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "task_state.h"

namespace {

using bytes = std::vector<std::uint8_t>;
using mac_t = std::array<std::uint8_t, 6>;
using clk = std::chrono::steady_clock;
constexpr std::size_t vnet_len = 10;
constexpr mac_t peer_mac = {0x02, 0, 0, 0, 0, 0x02};

int failures = 0;
void pass(const std::string& n) { std::printf("PASS %s\n", n.c_str()), std::fflush(stdout); }
void fail(const std::string& n, const std::string& why) {
    std::printf("FAIL %s: %s\n", n.c_str(), why.c_str());
    std::fflush(stdout);
    ++failures;
}
void expect(const std::string& n, bool ok, const std::string& why) { ok ? pass(n) : fail(n, why); }
[[noreturn]] void die(const std::string& what) {
    std::printf("FAIL setup: %s: %s\n", what.c_str(), std::strerror(errno));
    std::exit(2);
}
std::string errname(int e) {
    if (e == 0) return "ok";
    const char* n = strerrorname_np(e);
    return n ? n : "errno" + std::to_string(e);
}
long ms_since(clk::time_point t0) {
    return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(clk::now() - t0).count());
}
std::string mac_str(const mac_t& m) {
    char s[18];
    std::snprintf(s, sizeof s, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
    return s;
}
void sh(const std::string& cmd) {
    if (std::system(cmd.c_str()) != 0) {
        errno = 0;
        die("command failed: " + cmd);
    }
}

void on_alarm(int) {}
void install_handlers() {
    struct sigaction sa{};
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART
    sigaction(SIGUSR2, &sa, nullptr);
}

// SIOCGIFHWADDR on any fd (the device, or a socket for the kernel's view); -errno on error.
int get_hwaddr(int fd, const std::string& ifname, mac_t* m, std::string* name_back = nullptr) {
    ifreq r{};
    std::strncpy(r.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
    if (::ioctl(fd, SIOCGIFHWADDR, &r) < 0) return -errno;
    std::memcpy(m->data(), r.ifr_hwaddr.sa_data, 6);
    if (name_back) *name_back = std::string(r.ifr_name, strnlen(r.ifr_name, IFNAMSIZ));
    return r.ifr_hwaddr.sa_family;
}
mac_t kernel_mac(const std::string& ifname) {
    int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    mac_t m{};
    if (s < 0 || get_hwaddr(s, ifname, &m) < 0) die("SIOCGIFHWADDR " + ifname + " on a socket");
    ::close(s);
    return m;
}

bytes marker(const mac_t& dst, const mac_t& src, std::uint8_t seq) {
    bytes f(60, 0);
    std::memcpy(f.data(), dst.data(), 6);
    std::memcpy(f.data() + 6, src.data(), 6);
    f[12] = 0x88;
    f[13] = 0xb5;
    std::memcpy(f.data() + 14, "tapd-uml", 8);
    f[22] = seq;
    return f;
}
bytes with_vnet(const bytes& f) {
    bytes b(vnet_len + f.size(), 0);
    std::memcpy(b.data() + vnet_len, f.data(), f.size());
    return b;
}

// Reads frames (poll + O_NONBLOCK read) for up to `ms` until `match` accepts one; returns it or empty.
template <typename F>
bytes read_until(int fd, int ms, F match, int* err = nullptr) {
    auto t0 = clk::now();
    bytes buf(70000);
    while (ms_since(t0) < ms) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        int fl = ::fcntl(fd, F_GETFL);
        ::fcntl(fd, F_SETFL, fl | O_NONBLOCK);
        ssize_t n = ::read(fd, buf.data(), buf.size());
        int e = errno;
        ::fcntl(fd, F_SETFL, fl);
        if (n < 0) {
            if (e == EAGAIN) continue;
            if (err) *err = e;
            return {};
        }
        bytes got(buf.begin(), buf.begin() + n);
        if (match(got)) return got;
    }
    return {};
}

int packet_socket(const std::string& ifname) {
    int s = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (s < 0) die("socket(AF_PACKET)");
    sockaddr_ll a{};
    a.sll_family = AF_PACKET;
    a.sll_ifindex = static_cast<int>(::if_nametoindex(ifname.c_str()));
    if (!a.sll_ifindex || ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) die("bind AF_PACKET to " + ifname);
    return s;
}
void send_frame(int s, const bytes& f) {
    if (::send(s, f.data(), f.size(), 0) != static_cast<ssize_t>(f.size())) die("send on the peer");
}

// ARP request for 10.0.0.1 written into `fd`; true when the kernel's reply (from `mac`) is read back.
bool arp_exchange(int fd, const mac_t& mac, std::string* why) {
    bytes f(42, 0);
    std::memset(f.data(), 0xff, 6);
    std::memcpy(f.data() + 6, peer_mac.data(), 6);
    f[12] = 0x08, f[13] = 0x06;
    const std::uint8_t arp[] = {0, 1, 8, 0, 6, 4, 0, 1};
    std::memcpy(f.data() + 14, arp, 8);
    std::memcpy(f.data() + 22, peer_mac.data(), 6);
    const std::uint8_t sip[] = {10, 0, 0, 2}, tip[] = {10, 0, 0, 1};
    std::memcpy(f.data() + 28, sip, 4);
    std::memcpy(f.data() + 38, tip, 4);
    bytes b = with_vnet(f);
    ssize_t n = ::write(fd, b.data(), b.size());
    if (n != static_cast<ssize_t>(b.size())) {
        *why = "write: " + errname(errno);
        return false;
    }
    int err = 0;
    bytes r = read_until(fd, 10000, [&](const bytes& g) {
        return g.size() >= vnet_len + 42 && g[vnet_len + 12] == 0x08 && g[vnet_len + 13] == 0x06 &&
               g[vnet_len + 21] == 2 && std::memcmp(g.data() + vnet_len + 22, mac.data(), 6) == 0;
    }, &err);
    if (r.empty()) *why = err ? "read: " + errname(err) : "no ARP reply within 10 s";
    return !r.empty();
}

}  // namespace

int main(int argc, char** argv) {
    std::string dev, ifname, peer, other, other_if;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string a = argv[i], v = argv[i + 1];
        if (a == "--dev") dev = v;
        else if (a == "--ifname") ifname = v;
        else if (a == "--peer") peer = v;
        else if (a == "--other") other = v;
        else if (a == "--other-if") other_if = v;
    }
    if (dev.empty() || ifname.empty() || peer.empty() || other.empty() || other_if.empty()) {
        std::fprintf(stderr, "usage: packet_links --dev /dev/tapN --ifname IF --peer IF --other /dev/X --other-if IF\n");
        return 2;
    }
    install_handlers();
    const int ifindex = static_cast<int>(::if_nametoindex(ifname.c_str()));
    expect("node_is_tap_ifindex", dev == "/dev/tap" + std::to_string(ifindex), dev + " for ifindex " + std::to_string(ifindex));
    struct stat st{};
    expect("node_is_char_device", ::stat(dev.c_str(), &st) == 0 && S_ISCHR(st.st_mode), "stat " + dev);

    int a = ::open(dev.c_str(), O_RDWR | O_CLOEXEC), b = ::open(dev.c_str(), O_RDWR | O_CLOEXEC);
    int o = ::open(other.c_str(), O_RDWR | O_CLOEXEC);
    if (a < 0 || b < 0 || o < 0) die("open the device nodes");
    int peer_s = packet_socket(peer);

    // --- SIOCGIFHWADDR follows the link's address ---------------------------------------------------
    mac_t m{}, km = kernel_mac(ifname);
    std::string nb;
    int fam = get_hwaddr(a, "", &m, &nb);
    expect("siocgifhwaddr_initial", fam == 1 && m == km && nb == ifname,
           "family " + std::to_string(fam) + " mac " + mac_str(m) + " name '" + nb + "', kernel says " + mac_str(km));
    const mac_t new_mac = {0x02, 0x5a, 0x11, 0x22, 0x33, 0x44};
    sh("ip link set " + ifname + " address " + mac_str(new_mac));
    auto t0 = clk::now();
    task_state::wait_until([&] {
        get_hwaddr(a, "", &m);
        return m == new_mac;
    });
    expect("siocgifhwaddr_follows_ip_link_set_address", m == new_mac,
           "device says " + mac_str(m) + " after `ip link set address " + mac_str(new_mac) + "`");
    get_hwaddr(b, "", &m);
    expect("siocgifhwaddr_follows_on_other_open", m == new_mac, "second open says " + mac_str(m));
    // And frames to the new address arrive (on one of the two queues: read both).
    send_frame(peer_s, marker(new_mac, peer_mac, 1));
    auto is_it = [](const bytes& g) { return g.size() == vnet_len + 60 && g[vnet_len + 22] == 1; };
    bool got = task_state::wait_until([&] {
        for (int fd : {a, b})
            if (!read_until(fd, 1, is_it).empty()) return true;
        return false;
    });
    expect("frame_to_new_mac_received", got, "a frame sent from " + peer + " to " + mac_str(new_mac) + " was not read");

    // --- the other device works before -----------------------------------------------------------------
    mac_t om = kernel_mac(other_if);
    std::string why;
    expect("other_device_arp_before", arp_exchange(o, om, &why), why);

    // --- delete the link under a blocked reader --------------------------------------------------------
    std::atomic<bool> rdone{false};
    std::atomic<int> rerr{0};
    std::atomic<long> rret{0};
    std::atomic<pid_t> reader_tid{0};
    pthread_t reader_th;
    std::thread reader([&] {
        reader_th = pthread_self();
        reader_tid = static_cast<pid_t>(::gettid());
        std::uint8_t buf[2048];
        ssize_t n = ::read(a, buf, sizeof buf);
        rret = n;
        rerr = n < 0 ? errno : 0;
        rdone = true;
    });
    // The reader must be parked when the link goes: seen asleep in read() (nothing is queued on a), and
    // tapd has the read (a request on the same device, answered after it: tapd reads them in order).
    bool parked = task_state::wait_until([&] {
        return task_state::blocked_in(reader_tid.load(), task_state::sys_read);
    }) && get_hwaddr(b, "", &m) > 0 && task_state::blocked_in(reader_tid.load(), task_state::sys_read) && !rdone.load();
    sh("ip link del " + ifname);
    t0 = clk::now();
    task_state::wait_until([&] { return rdone.load(); });
    long woke_ms = ms_since(t0);
    if (!rdone.load()) {
        pthread_kill(reader_th, SIGUSR2);  // EINTR through FUSE_INTERRUPT, so the test can end
        task_state::wait_until([&] { return rdone.load(); });
    }
    if (rdone.load()) reader.join(); else reader.detach();
    expect("blocked_reader_woken_enodev", parked && rret.load() == -1 && rerr.load() == ENODEV,
           std::string(parked ? "" : "reader was not blocked before the deletion; ") + "read returned " +
               std::to_string(rret.load()) + " " + errname(rerr.load()) + " after " + std::to_string(woke_ms) + " ms");

    // Every operation on the open files: ENODEV.
    bytes w = with_vnet(marker(peer_mac, new_mac, 2));
    errno = 0;
    ssize_t n = ::write(b, w.data(), w.size());
    expect("write_after_delete_enodev", n < 0 && errno == ENODEV, "write returned " + std::to_string(n) + " " + errname(n < 0 ? errno : 0));
    int e = -get_hwaddr(b, "", &m);
    expect("ioctl_after_delete_enodev", e == ENODEV, "SIOCGIFHWADDR: " + (e > 0 ? errname(e) : std::string("succeeded")));
    {
        std::uint8_t buf[2048];
        errno = 0;
        // A read that would block would be a bug: bound it with an interrupting timer on this thread.
        timer_t tm;
        sigevent sev{};
        sev.sigev_notify = SIGEV_THREAD_ID;
        sev.sigev_signo = SIGUSR2;
        sev._sigev_un._tid = gettid();
        bool timer = timer_create(CLOCK_MONOTONIC, &sev, &tm) == 0;
        itimerspec its{};
        its.it_value.tv_sec = 10;
        if (timer) timer_settime(tm, 0, &its, nullptr);
        n = ::read(b, buf, sizeof buf);
        int re = n < 0 ? errno : 0;
        if (timer) timer_delete(tm);
        expect("read_after_delete_enodev", n < 0 && re == ENODEV, "read returned " + std::to_string(n) + " " + errname(re));
        n = ::read(a, buf, sizeof buf);
        re = n < 0 ? errno : 0;
        expect("read_again_on_woken_file_enodev", n < 0 && re == ENODEV, "read returned " + std::to_string(n) + " " + errname(re));
    }
    {
        pollfd p{b, POLLIN | POLLOUT, 0};
        int pn = ::poll(&p, 1, 0);
        expect("poll_after_delete_err_or_hup", pn == 1 && (p.revents & (POLLERR | POLLHUP)),
               "poll returned " + std::to_string(pn) + " revents " + std::to_string(p.revents));
    }
    // The node goes away.
    t0 = clk::now();
    task_state::wait_until([&] { return ::stat(dev.c_str(), &st) != 0; });
    int se = ::stat(dev.c_str(), &st) == 0 ? 0 : errno;
    expect("node_removed", se == ENOENT, dev + ": stat " + errname(se) + " " + std::to_string(ms_since(t0)) + " ms after the deletion");
    int c = ::open(dev.c_str(), O_RDWR | O_CLOEXEC);
    int ce = c < 0 ? errno : 0;
    expect("open_after_delete_enoent", c < 0 && ce == ENOENT, "open: " + errname(ce));
    if (c >= 0) ::close(c);

    // --- the other device keeps working ----------------------------------------------------------------
    expect("other_device_arp_after", arp_exchange(o, om, &why), why);
    ::close(o);
    int o2 = ::open(other.c_str(), O_RDWR | O_CLOEXEC);
    expect("other_device_reopen", o2 >= 0, "open " + other + ": " + errname(o2 < 0 ? errno : 0));
    if (o2 >= 0) {
        expect("other_device_arp_fresh_open", arp_exchange(o2, om, &why), why);
        ::close(o2);
    }
    ::close(a);
    ::close(b);
    ::close(peer_s);
    std::printf("packet_links: %d failure(s)\n", failures);
    return failures ? 1 : 0;
}
