// tap_bench.cc — frames/s through three paths in one run: tapd's device file, a kernel TAP fd, and the
// FUSE transport floor (floor_fuse). A benchmark, not a test: it prints numbers and never judges them.
//
// Normally started by bench/run.sh, which provides a throwaway network namespace, tapd in FUSE-mount
// mode and floor_fuse. Run directly only inside such a namespace: it configures interfaces (up,
// address, txqueuelen) and creates the kernel TAP interface itself.
//
// Paths (every frame written carries a 10-byte virtio_net_hdr of zeros; every read returns one):
//   kernel  /dev/net/tun, TUNSETIFF IFF_TAP|IFF_NO_PI|IFF_VNET_HDR on --kernel-if (created here),
//           TUNSETVNETHDRSZ 10, TUNSETOFFLOAD 0 (the frames are not TCP: offloads would change nothing).
//   tapd    the file tapd serves (--tapd FILE) for interface --tapd-if.
//   floor   floor_fuse's echo file (--floor FILE): a write stores the frame, a read returns it.
// All three fds are opened O_RDWR, blocking; reads use the same 2048-byte buffer.
//
// Workloads, identical for all paths, each run for --seconds per (size, path):
//   write   write() frames as fast as possible: Ethernet to a unicast MAC that is not ours, EtherType
//           0x88b5 (local experimental), so the kernel accepts each frame and drops it without work
//           after counting it. The interface's rx_packets delta (/proc/net/dev) must equal the number
//           of writes; the output says whether it did.
//   read    a generator thread sends frames out of the interface through an AF_PACKET socket bound to
//           it (sendmmsg, up to 32 per call) while this thread reads them with blocking read()s. Closed
//           loop: the generator keeps at most --window frames (default 256, well under the queues'
//           1000) sent but not yet read, sleeping on a futex when it is that far ahead, so nothing should
//           be dropped and frames/s is the rate the reader sustains without loss. The floor has no
//           network: its read path is plain reads of the stored frame (the transport's ceiling).
//   flood   as read, but open loop: the generator sends as fast as it can. Frames/s read from an
//           overloaded path; frames sent but never read are reported as lost, split into the kernel
//           TAP queue's drops (tx_dropped in /proc/net/dev) and the rest (for tapd: its own per-open
//           queue overflowing, rx_dropped_full in its counters).
//   rtt     write an ARP request for the interface's own address (padded to the frame size), then read
//           until the kernel's ARP reply arrives; one round trip per iteration, reported as round trips/s
//           and µs per round trip. Floor: write a frame, read it back.
// Frame sizes are Ethernet frame lengths without FCS and without the vnet header (64 means a 64-byte
// frame, 74 bytes per write()).
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "bench_util.h"

namespace {

using namespace bench;
constexpr std::uint8_t alien_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x77, 0x99};  // nobody's

// ---- interface plumbing (ioctls on an AF_INET socket; this process's network namespace) ----

struct ifstats {
    std::uint64_t rx_packets = 0, rx_dropped = 0, tx_packets = 0, tx_dropped = 0;
};

ifstats read_ifstats(const std::string& ifname) {
    // /proc/net/dev follows the reader's network namespace (sysfs would show the mounter's).
    std::ifstream in("/proc/net/dev");
    std::string line;
    while (std::getline(in, line)) {
        auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string name = line.substr(0, colon);
        name.erase(0, name.find_first_not_of(' '));
        if (name != ifname) continue;
        std::istringstream f(line.substr(colon + 1));
        std::uint64_t v[16] = {};
        for (auto& x : v) f >> x;
        ifstats s;
        s.rx_packets = v[1];
        s.rx_dropped = v[3];
        s.tx_packets = v[9];
        s.tx_dropped = v[11];
        return s;
    }
    throw std::runtime_error("interface " + ifname + " not in /proc/net/dev");
}

ifreq make_ifreq(const std::string& ifname) {
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
    return ifr;
}

struct iface {
    std::string name;
    int ifindex = 0;
    std::uint8_t mac[6] = {};
    in_addr addr{};  // the interface's own address: target of the ARP requests
    in_addr peer{};  // the sender address the ARP requests claim
};

iface configure_iface(const std::string& name, const char* addr, const char* peer, int txqlen) {
    int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) die("socket");
    iface f;
    f.name = name;
    ifreq ifr = make_ifreq(name);
    if (::ioctl(s, SIOCGIFINDEX, &ifr) < 0) die("SIOCGIFINDEX " + name);
    f.ifindex = ifr.ifr_ifindex;
    ifr = make_ifreq(name);
    if (::ioctl(s, SIOCGIFHWADDR, &ifr) < 0) die("SIOCGIFHWADDR " + name);
    std::memcpy(f.mac, ifr.ifr_hwaddr.sa_data, 6);
    if (txqlen > 0) {
        ifr = make_ifreq(name);
        ifr.ifr_qlen = txqlen;
        if (::ioctl(s, SIOCSIFTXQLEN, &ifr) < 0) die("SIOCSIFTXQLEN " + name);
    }
    ::inet_pton(AF_INET, addr, &f.addr);
    ::inet_pton(AF_INET, peer, &f.peer);
    ifr = make_ifreq(name);
    auto* sin = reinterpret_cast<sockaddr_in*>(&ifr.ifr_addr);
    sin->sin_family = AF_INET;
    sin->sin_addr = f.addr;
    if (::ioctl(s, SIOCSIFADDR, &ifr) < 0 && errno != EEXIST) die("SIOCSIFADDR " + name);
    ifr = make_ifreq(name);
    sin = reinterpret_cast<sockaddr_in*>(&ifr.ifr_netmask);
    sin->sin_family = AF_INET;
    ::inet_pton(AF_INET, "255.255.255.0", &sin->sin_addr);
    if (::ioctl(s, SIOCSIFNETMASK, &ifr) < 0) die("SIOCSIFNETMASK " + name);
    ifr = make_ifreq(name);
    if (::ioctl(s, SIOCGIFFLAGS, &ifr) < 0) die("SIOCGIFFLAGS " + name);
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    if (::ioctl(s, SIOCSIFFLAGS, &ifr) < 0) die("SIOCSIFFLAGS " + name);
    ::close(s);
    return f;
}

int iface_txqlen(const std::string& name) {
    int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq ifr = make_ifreq(name);
    if (::ioctl(s, SIOCGIFTXQLEN, &ifr) < 0) die("SIOCGIFTXQLEN " + name);
    ::close(s);
    return ifr.ifr_qlen;
}

int open_kernel_tap(const std::string& name) {
    int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) die("open /dev/net/tun");
    ifreq ifr = make_ifreq(name);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    if (::ioctl(fd, TUNSETIFF, &ifr) < 0) die("TUNSETIFF " + name);
    int hdr = static_cast<int>(vnet_len);
    if (::ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) die("TUNSETVNETHDRSZ");
    if (::ioctl(fd, TUNSETOFFLOAD, 0UL) < 0) die("TUNSETOFFLOAD");
    return fd;
}

// ---- frames ----

// vnet header (zeros) + Ethernet frame of `size` bytes to a MAC nobody has, EtherType 0x88b5.
std::vector<std::uint8_t> data_write(std::size_t size) {
    std::vector<std::uint8_t> b(vnet_len, 0);
    auto e = bench_frame(alien_mac, peer_mac, size);
    b.insert(b.end(), e.begin(), e.end());
    return b;
}

// vnet header + broadcast ARP request "who has f.addr? tell f.peer", zero-padded to `size`.
std::vector<std::uint8_t> arp_request(const iface& f, std::size_t size) {
    std::vector<std::uint8_t> b(vnet_len + std::max<std::size_t>(size, 42), 0);
    std::uint8_t* e = b.data() + vnet_len;
    for (int i = 0; i < 6; ++i) e[i] = 0xff;  // broadcast
    std::memcpy(e + 6, peer_mac, 6);
    put16(e + 12, ETH_P_ARP);
    std::uint8_t* a = e + 14;
    put16(a, 1);            // htype Ethernet
    put16(a + 2, 0x0800);   // ptype IPv4
    a[4] = 6;
    a[5] = 4;
    put16(a + 6, 1);        // request
    std::memcpy(a + 8, peer_mac, 6);
    std::memcpy(a + 14, &f.peer, 4);
    std::memcpy(a + 24, &f.addr, 4);
    return b;
}

bool is_arp_reply(const std::uint8_t* buf, ssize_t n) {
    if (n < static_cast<ssize_t>(vnet_len + 14 + 8)) return false;
    const std::uint8_t* e = buf + vnet_len;
    return get16(e + 12) == ETH_P_ARP && get16(e + 14 + 6) == 2;
}

// ---- the paths and workloads ----

struct path {
    std::string name;
    int fd = -1;
    bool floor = false;
    iface ifc;  // unused for the floor
};

struct result {
    double fps = -1;  // -1: not measured
    std::string note;
    double us_avg = 0, us_p50 = 0, us_p99 = 0;
};

result run_write(const path& p, std::size_t size, double seconds) {
    auto frame = data_write(size);
    ifstats s0 = p.floor ? ifstats{} : read_ifstats(p.ifc.name);
    std::uint64_t n = 0;
    auto t0 = clk::now();
    double el = 0;
    for (;;) {
        for (int i = 0; i < 64; ++i) {
            ssize_t r = ::write(p.fd, frame.data(), frame.size());
            if (r != static_cast<ssize_t>(frame.size())) die(p.name + ": write");
        }
        n += 64;
        if ((el = secs_since(t0)) >= seconds) break;
    }
    result res;
    res.fps = static_cast<double>(n) / el;
    char note[256];
    if (p.floor) {
        std::snprintf(note, sizeof note, "%llu writes", static_cast<unsigned long long>(n));
    } else {
        ifstats s1 = read_ifstats(p.ifc.name);
        std::uint64_t got = s1.rx_packets - s0.rx_packets;
        std::snprintf(note, sizeof note, "%llu writes, %s rx_packets +%llu (%s), rx_dropped +%llu",
                      static_cast<unsigned long long>(n), p.ifc.name.c_str(), static_cast<unsigned long long>(got),
                      got == n ? "all arrived" : "MISMATCH",
                      static_cast<unsigned long long>(s1.rx_dropped - s0.rx_dropped));
    }
    res.note = note;
    return res;
}

// read (window > 0): closed loop (bench_util.h's generator keeps at most `window` frames in flight);
// with a window well below the queue lengths (txqueuelen 1000) nothing should be dropped, so the result
// is the rate the reader sustains without loss.
// flood (window == 0): open loop, the generator sends as fast as it can; what gets through an
// overloaded path, and where the rest is dropped.
result run_read(const path& p, std::size_t size, double seconds, unsigned window, watchdog& wd) {
    result res;
    char note[400];
    if (p.floor) {
        std::uint8_t buf[read_buf_size];
        auto frame = data_write(size);
        if (::write(p.fd, frame.data(), frame.size()) != static_cast<ssize_t>(frame.size())) die("floor write");
        std::uint64_t n = 0;
        auto t0 = clk::now();
        double el = 0;
        for (;;) {
            for (int i = 0; i < 64; ++i)
                if (::read(p.fd, buf, sizeof buf) != static_cast<ssize_t>(frame.size())) die("floor read");
            n += 64;
            if ((el = secs_since(t0)) >= seconds) break;
        }
        res.fps = static_cast<double>(n) / el;
        std::snprintf(note, sizeof note, "%llu reads of the stored frame (no generator)",
                      static_cast<unsigned long long>(n));
        res.note = note;
        return res;
    }

    drain(p.fd);
    ifstats s0 = read_ifstats(p.ifc.name);
    // From the interface to the peer: the kernel transmits it on the interface, the reader gets it.
    frame_generator gen(p.ifc.ifindex, bench_frame(peer_mac, p.ifc.mac, size), window);
    auto rd = [](int fd, std::uint8_t* b, std::size_t n) { return ::read(fd, b, n); };
    rx_measurement m = measure_rx(p.name, p.fd, rd, vnet_len, gen, wd, seconds);
    ifstats s1 = read_ifstats(p.ifc.name);
    std::uint64_t if_drop = s1.tx_dropped - s0.tx_dropped;
    res.fps = m.fps;
    char wbuf[64] = "";
    if (window)
        std::snprintf(wbuf, sizeof wbuf, "window %u, generator slept %llu times; ", window,
                      static_cast<unsigned long long>(m.gen.waits));
    std::snprintf(note, sizeof note,
                  "%sgenerator %.0f fps; sent %llu, read %llu, lost %llu = %s tx_dropped %llu + elsewhere %lld%s%s",
                  wbuf, m.gen_fps, static_cast<unsigned long long>(m.sent), static_cast<unsigned long long>(m.got),
                  static_cast<unsigned long long>(m.lost()), p.ifc.name.c_str(),
                  static_cast<unsigned long long>(if_drop),
                  static_cast<long long>(m.lost()) - static_cast<long long>(if_drop),
                  m.gen.enobufs ? " (sendmmsg ENOBUFS seen)" : "", m.eintr ? " (reader stalled: watchdog fired)" : "");
    res.note = note;
    return res;
}

result run_rtt(const path& p, std::size_t size, double seconds, watchdog& wd) {
    std::uint8_t buf[read_buf_size];
    auto req = p.floor ? data_write(size) : arp_request(p.ifc, size);
    if (!p.floor) drain(p.fd);
    std::vector<double> lat;
    lat.reserve(1 << 20);
    std::uint64_t timeouts = 0;
    auto t0 = clk::now();
    double el = 0;
    wd.arm(true);
    while ((el = secs_since(t0)) < seconds) {
        auto a = clk::now();
        if (::write(p.fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) die(p.name + ": write");
        bool ok = false;
        for (;;) {
            ssize_t r = ::read(p.fd, buf, sizeof buf);
            wd.tick();
            if (r < 0) {
                if (errno != EINTR) die(p.name + ": read");
                ++timeouts;
                break;
            }
            if (p.floor || is_arp_reply(buf, r)) {
                ok = true;
                break;
            }
        }
        if (ok && lat.size() < lat.capacity())
            lat.push_back(std::chrono::duration<double, std::micro>(clk::now() - a).count());
    }
    wd.arm(false);
    result res;
    if (lat.empty()) {
        res.note = "no round trip completed";
        return res;
    }
    res.fps = static_cast<double>(lat.size()) / el;
    std::vector<double> s = lat;
    std::sort(s.begin(), s.end());
    res.us_avg = el * 1e6 / static_cast<double>(lat.size());
    res.us_p50 = s[s.size() / 2];
    res.us_p99 = s[std::min(s.size() - 1, s.size() * 99 / 100)];
    char note[256];
    std::snprintf(note, sizeof note, "%zu round trips: avg %.1f us, p50 %.1f us, p99 %.1f us%s", lat.size(),
                  res.us_avg, res.us_p50, res.us_p99, timeouts ? " (TIMEOUTS: replies missing)" : "");
    res.note = note;
    return res;
}

void usage() {
    std::fprintf(stderr,
                 "usage: tap_bench [--tapd FILE] [--tapd-if NAME] [--kernel-if NAME] [--floor FILE]\n"
                 "                 [--seconds S] [--sizes 64,1500] [--workloads write,read,flood,rtt] [--rounds N]\n"
                 "                 [--window N] [--paths kernel,tapd,floor]\n"
                 "Run inside a throwaway network namespace (bench/run.sh does all of it).\n");
}

}  // namespace

int main(int argc, char** argv) {
    std::string tapd_file, tapd_if = "tap0", kernel_if = "ktap0", floor_file;
    double seconds = 2;
    int rounds = 1;
    std::vector<std::size_t> sizes = {64, 1500};
    std::vector<std::string> workloads = {"write", "read", "flood", "rtt"};
    std::vector<std::string> want_paths = {"kernel", "tapd", "floor"};
    unsigned window = 256;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto val = [&]() -> std::string {
            if (i + 1 >= argc) {
                usage();
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--tapd") tapd_file = val();
        else if (a == "--tapd-if") tapd_if = val();
        else if (a == "--kernel-if") kernel_if = val();
        else if (a == "--floor") floor_file = val();
        else if (a == "--seconds") seconds = std::atof(val().c_str());
        else if (a == "--rounds") rounds = std::max(1, std::atoi(val().c_str()));
        else if (a == "--workloads") workloads = split(val());
        else if (a == "--paths") want_paths = split(val());
        else if (a == "--window") window = static_cast<unsigned>(std::max(1, std::atoi(val().c_str())));
        else if (a == "--sizes") sizes = parse_frame_sizes(val());
        else {
            usage();
            return 2;
        }
    }
    if (seconds <= 0) seconds = 2;

    signal(SIGPIPE, SIG_IGN);
    watchdog wd;  // watches this thread, the reader

    // Paths, in the order each cell is measured. The kernel TAP gets tapd's interface's txqueuelen so
    // both kernel-side queues are the same length.
    std::vector<path> paths;
    {
        path k;
        k.name = "kernel";
        k.fd = open_kernel_tap(kernel_if);
        int qlen = tapd_file.empty() ? 1000 : iface_txqlen(tapd_if);
        k.ifc = configure_iface(kernel_if, "10.77.1.1", "10.77.1.2", qlen);
        paths.push_back(k);
    }
    if (!tapd_file.empty()) {
        path t;
        t.name = "tapd";
        t.fd = ::open(tapd_file.c_str(), O_RDWR | O_CLOEXEC);
        if (t.fd < 0) die("open " + tapd_file);
        t.ifc = configure_iface(tapd_if, "10.77.0.1", "10.77.0.2", 0);
        paths.push_back(t);
    }
    if (!floor_file.empty()) {
        path f;
        f.name = "floor";
        f.floor = true;
        f.fd = ::open(floor_file.c_str(), O_RDWR | O_CLOEXEC);
        if (f.fd < 0) die("open " + floor_file);
        paths.push_back(f);
    }
    std::erase_if(paths, [&](const path& p) {
        return std::find(want_paths.begin(), want_paths.end(), p.name) == want_paths.end();
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let link-up chatter pass, then drain
    for (auto& p : paths)
        if (!p.floor) drain(p.fd);

    std::printf("# tap_bench: %.1f s per cell, %d round(s) (median), kernel=%s tapd=%s floor=%s\n", seconds, rounds,
                kernel_if.c_str(), tapd_file.empty() ? "-" : tapd_file.c_str(),
                floor_file.empty() ? "-" : floor_file.c_str());
    std::fflush(stdout);

    struct cell {
        std::vector<result> r;  // one per round
        result median() const {
            std::vector<result> s = r;
            std::sort(s.begin(), s.end(), [](const result& a, const result& b) { return a.fps < b.fps; });
            return s[s.size() / 2];
        }
    };
    // key: workload, size, path
    std::map<std::tuple<std::string, std::size_t, std::string>, cell> cells;
    std::vector<std::string> details;
    for (const std::string& w : workloads) {
        if (w != "write" && w != "read" && w != "flood" && w != "rtt") {
            std::fprintf(stderr, "tap_bench: unknown workload '%s'\n", w.c_str());
            return 2;
        }
        for (std::size_t size : sizes)
            for (int round = 0; round < rounds; ++round)
                for (const path& p : paths) {
                    result r = w == "write" ? run_write(p, size, seconds)
                               : w == "read"  ? run_read(p, size, seconds, window, wd)
                               : w == "flood" ? run_read(p, size, seconds, 0, wd)
                                             : run_rtt(p, size, seconds, wd);
                    char line[512];
                    std::snprintf(line, sizeof line, "%-5s %4zu %-6s %10.0f  %s", w.c_str(), size, p.name.c_str(),
                                  r.fps, r.note.c_str());
                    std::fprintf(stderr, "  %s\n", line);
                    details.push_back(line);
                    cells[{w, size, p.name}].r.push_back(r);
                }
    }

    auto get = [&](const std::string& w, std::size_t s, const char* p) -> result {
        auto it = cells.find({w, s, p});
        return it == cells.end() ? result{} : it->second.median();
    };
    auto num = [](double v, const char* fmt) {
        char b[32];
        if (v < 0) return std::string("-");
        std::snprintf(b, sizeof b, fmt, v);
        return std::string(b);
    };
    std::printf("\n%-8s %5s %11s %11s %11s %12s %11s\n", "workload", "size", "kernel_fps", "tapd_fps", "floor_fps",
                "tapd/kernel", "tapd/floor");
    for (const std::string& w : workloads)
        for (std::size_t size : sizes) {
            result k = get(w, size, "kernel"), t = get(w, size, "tapd"), f = get(w, size, "floor");
            std::printf("%-8s %5zu %11s %11s %11s %12s %11s\n", w.c_str(), size, num(k.fps, "%.0f").c_str(),
                        num(t.fps, "%.0f").c_str(), num(f.fps, "%.0f").c_str(),
                        num(k.fps > 0 && t.fps >= 0 ? t.fps / k.fps : -1, "%.2f").c_str(),
                        num(f.fps > 0 && t.fps >= 0 ? t.fps / f.fps : -1, "%.2f").c_str());
        }
    if (std::find(workloads.begin(), workloads.end(), "rtt") != workloads.end()) {
        std::printf("\n%-8s %5s %17s %17s %17s   (us per round trip: avg/p50/p99)\n", "rtt_us", "size", "kernel",
                    "tapd", "floor");
        for (std::size_t size : sizes) {
            auto fmt = [](const result& r) {
                if (r.fps < 0) return std::string("-");
                char b[64];
                std::snprintf(b, sizeof b, "%.1f/%.1f/%.1f", r.us_avg, r.us_p50, r.us_p99);
                return std::string(b);
            };
            std::printf("%-8s %5zu %17s %17s %17s\n", "rtt", size, fmt(get("rtt", size, "kernel")).c_str(),
                        fmt(get("rtt", size, "tapd")).c_str(), fmt(get("rtt", size, "floor")).c_str());
        }
    }
    std::printf("\ndetails (every measurement, in the order run):\n");
    for (auto& d : details) std::printf("  %s\n", d.c_str());
    std::fflush(stdout);

    for (auto& p : paths) ::close(p.fd);
    return 0;
}
