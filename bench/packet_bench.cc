// packet_bench.cc — frames/s received through tapd's packet backend versus a plain AF_PACKET reader on
// the same macvlan, in the same run (bench/run.sh with BENCH_WORKLOADS containing packet_rx sets it up).
//
//   packet_bench --tapd FILE --tapd-pid PID --link mvb0 --gen-if veth1
//                [--seconds S] [--sizes 64,1500] [--rounds N] [--window N]
//
// Setup (run.sh): veth0/veth1 in a throwaway namespace, `tapd --fuse-mount DIR --device
// mvb0,backend=packet,lower=veth0` (FILE = DIR/tap<ifindex of mvb0>). A generator thread sends frames
// from veth1 through AF_PACKET (sendmmsg, ≤ 32 per call) to mvb0's MAC (EtherType 0x88b5); the main
// thread receives them on one of two paths, measured one after the other for every cell:
//
//   packet  a plain AF_PACKET reader: SOCK_RAW, ETH_P_ALL, bound to mvb0, one blocking recv() per frame.
//           tapd is SIGSTOPped meanwhile (its own socket on mvb0 would otherwise compete for the 2 CPUs),
//           and SIGCONTed after; its socket's backlog is then dropped by tapd (no open file) before the
//           next measurement starts.
//   tapd    tapd's device file: one blocking read() per frame (10-byte virtio_net_hdr + frame).
//
// Closed loop, as tap_bench's read workload: the generator keeps at most `window` frames sent-but-not-
// read and sleeps on a futex beyond that, so nothing should be lost; frames/s = frames read / time.
// --window 0 makes it open loop (flood): what gets through an overloaded path.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
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
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bench_util.h"

namespace {

using namespace bench;

int ifindex_of(const std::string& n) {
    int i = static_cast<int>(::if_nametoindex(n.c_str()));
    if (!i) die("no interface " + n);
    return i;
}

void if_mac(const std::string& n, std::uint8_t out[6]) {
    int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq r{};
    std::strncpy(r.ifr_name, n.c_str(), IFNAMSIZ - 1);
    if (s < 0 || ::ioctl(s, SIOCGIFHWADDR, &r) < 0) die("SIOCGIFHWADDR " + n);
    std::memcpy(out, r.ifr_hwaddr.sa_data, 6);
    ::close(s);
}

struct result {
    double fps = -1;
    std::string note;
};

struct path {
    std::string name;      // "packet" or "tapd"
    std::size_t hdr = 0;   // bytes before the Ethernet frame in what one read returns
};

// Opens the path's fd for one measurement; the packet path's socket exists only while it is measured.
int open_path(const path& p, const std::string& tapd_file, int link_ifindex) {
    if (p.name == "tapd") {
        int fd = ::open(tapd_file.c_str(), O_RDWR | O_CLOEXEC);
        if (fd < 0) die("open " + tapd_file);
        return fd;
    }
    int s = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
    if (s < 0) die("socket AF_PACKET");
    int buf = 4 << 20;  // as tapd's own socket
    (void)::setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf);
    sockaddr_ll a{};
    a.sll_family = AF_PACKET;
    a.sll_protocol = htons(ETH_P_ALL);
    a.sll_ifindex = link_ifindex;
    if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) die("bind AF_PACKET to the macvlan");
    return s;
}

result run_rx(const path& p, int fd, int gen_ifindex, const std::uint8_t dst[6], std::size_t size, double seconds,
              unsigned window, watchdog& wd) {
    drain(fd);
    frame_generator gen(gen_ifindex, bench_frame(dst, peer_mac, size), window);
    // The same syscall per frame as each receiver would use: recv() on the socket, read() on tapd's file.
    auto rd = [&p](int f, std::uint8_t* b, std::size_t n) { return p.hdr ? ::read(f, b, n) : ::recv(f, b, n, 0); };
    rx_measurement m = measure_rx(p.name, fd, rd, p.hdr, gen, wd, seconds);
    result res;
    res.fps = m.fps;
    char note[400];
    char wbuf[80] = "open loop; ";
    if (window)
        std::snprintf(wbuf, sizeof wbuf, "window %u, generator slept %llu times; ", window,
                      static_cast<unsigned long long>(m.gen.waits));
    std::snprintf(note, sizeof note, "%sgenerator %.0f fps; sent %llu, read %llu, lost %llu%s%s%s", wbuf, m.gen_fps,
                  static_cast<unsigned long long>(m.sent), static_cast<unsigned long long>(m.got),
                  static_cast<unsigned long long>(m.lost()), m.other ? " (foreign frames skipped)" : "",
                  m.gen.enobufs ? " (sendmmsg ENOBUFS seen)" : "", m.eintr ? " (reader stalled: watchdog fired)" : "");
    res.note = note;
    return res;
}

void usage() {
    std::fprintf(stderr,
                 "usage: packet_bench --tapd FILE --tapd-pid PID --link IF --gen-if IF [--seconds S] [--sizes 64,1500]\n"
                 "                    [--rounds N] [--window N (0: open loop)]\n"
                 "Run inside a throwaway network namespace (bench/run.sh with BENCH_WORKLOADS=packet_rx does it).\n");
}

}  // namespace

int main(int argc, char** argv) {
    std::string tapd_file, link, gen_if;
    pid_t tapd_pid = 0;
    double seconds = 2;
    int rounds = 1;
    unsigned window = 256;
    std::vector<std::size_t> sizes = {64, 1500};
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
        else if (a == "--tapd-pid") tapd_pid = static_cast<pid_t>(std::atoi(val().c_str()));
        else if (a == "--link") link = val();
        else if (a == "--gen-if") gen_if = val();
        else if (a == "--seconds") seconds = std::atof(val().c_str());
        else if (a == "--rounds") rounds = std::max(1, std::atoi(val().c_str()));
        else if (a == "--window") window = static_cast<unsigned>(std::max(0, std::atoi(val().c_str())));
        else if (a == "--sizes") sizes = parse_frame_sizes(val());
        else {
            usage();
            return 2;
        }
    }
    if (tapd_file.empty() || link.empty() || gen_if.empty() || tapd_pid <= 0) {
        usage();
        return 2;
    }
    if (seconds <= 0) seconds = 2;

    watchdog wd;  // watches this thread, the reader

    const int link_ifindex = ifindex_of(link), gen_ifindex = ifindex_of(gen_if);
    std::uint8_t dst[6];
    if_mac(link, dst);
    const path paths[] = {{"packet", 0}, {"tapd", vnet_len}};
    std::printf("# packet_bench: %.1f s per cell, %d round(s) (median), link=%s (from %s), tapd=%s, window %u%s\n",
                seconds, rounds, link.c_str(), gen_if.c_str(), tapd_file.c_str(), window, window ? "" : " (open loop)");
    std::fflush(stdout);

    std::map<std::pair<std::size_t, std::string>, std::vector<double>> fps;
    std::vector<std::string> details;
    for (std::size_t size : sizes)
        for (int round = 0; round < rounds; ++round)
            for (const path& p : paths) {
                bool stopped = p.name == "packet";
                if (stopped && ::kill(tapd_pid, SIGSTOP) < 0) die("SIGSTOP tapd");
                int fd = open_path(p, tapd_file, link_ifindex);
                result r = run_rx(p, fd, gen_ifindex, dst, size, seconds, window, wd);
                ::close(fd);
                if (stopped) {
                    if (::kill(tapd_pid, SIGCONT) < 0) die("SIGCONT tapd");
                    // tapd drops its socket's backlog (no open file) before the tapd path opens.
                    std::this_thread::sleep_for(std::chrono::milliseconds(300));
                }
                char line[600];
                std::snprintf(line, sizeof line, "packet_rx %4zu %-6s %10.0f  %s", size, p.name.c_str(), r.fps,
                              r.note.c_str());
                std::fprintf(stderr, "  %s\n", line);
                details.push_back(line);
                fps[{size, p.name}].push_back(r.fps);
            }

    auto median = [](std::vector<double> v) {
        if (v.empty()) return -1.0;
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
    };
    std::printf("\n%-9s %5s %11s %11s %12s\n", "workload", "size", "packet_fps", "tapd_fps", "tapd/packet");
    for (std::size_t size : sizes) {
        double k = median(fps[{size, "packet"}]), t = median(fps[{size, "tapd"}]);
        std::printf("%-9s %5zu %11.0f %11.0f %12.2f\n", "packet_rx", size, k, t, k > 0 ? t / k : -1.0);
    }
    std::printf("\ndetails (every measurement, in the order run):\n");
    for (auto& d : details) std::printf("  %s\n", d.c_str());
    std::fflush(stdout);
    return 0;
}
