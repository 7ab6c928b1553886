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
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
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
#include <utility>
#include <vector>

namespace {

using clk = std::chrono::steady_clock;
constexpr std::size_t vnet_len = 10;
constexpr std::uint16_t bench_ethertype = 0x88b5;
constexpr std::uint8_t peer_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x77, 0x02};

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "packet_bench: %s: %s\n", what.c_str(), std::strerror(errno));
    std::exit(1);
}
double secs_since(clk::time_point t0) { return std::chrono::duration<double>(clk::now() - t0).count(); }

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ','))
        if (!item.empty()) out.push_back(item);
    return out;
}

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

// ---- watchdog: a reader stalled for 1 s gets SIGUSR2 (no SA_RESTART), so its read returns EINTR ----
std::atomic<std::uint64_t> g_progress{0};
std::atomic<bool> g_armed{false}, g_quit{false};
pthread_t g_reader;
void watchdog() {
    std::uint64_t last = 0;
    auto since = clk::now();
    while (!g_quit.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        std::uint64_t p = g_progress.load(std::memory_order_relaxed);
        if (p != last || !g_armed.load()) {
            last = p;
            since = clk::now();
        } else if (secs_since(since) > 1.0) {
            pthread_kill(g_reader, SIGUSR2);
            since = clk::now();
        }
    }
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

// Reads whatever is queued until the fd has been empty for ~100 ms; returns frames read.
std::uint64_t drain(int fd) {
    int fl = ::fcntl(fd, F_GETFL);
    ::fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    std::uint8_t buf[2048];
    std::uint64_t n = 0;
    int idle = 0;
    while (idle < 5) {
        ssize_t r = ::read(fd, buf, sizeof buf);
        if (r > 0) {
            ++n;
            idle = 0;
        } else if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
            ++idle;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        } else {
            die("drain read");
        }
    }
    ::fcntl(fd, F_SETFL, fl);
    return n;
}

bool is_bench_frame(const std::uint8_t* b, ssize_t n, std::size_t hdr) {
    return n >= static_cast<ssize_t>(hdr + 14) && b[hdr + 12] == (bench_ethertype >> 8) &&
           b[hdr + 13] == (bench_ethertype & 0xff);
}

result run_rx(const path& p, int fd, int gen_ifindex, const std::uint8_t dst[6], std::size_t size, double seconds,
              unsigned window) {
    std::uint8_t buf[2048];
    std::vector<std::uint8_t> frame(size, 0);
    std::memcpy(frame.data(), dst, 6);
    std::memcpy(frame.data() + 6, peer_mac, 6);
    frame[12] = bench_ethertype >> 8;
    frame[13] = bench_ethertype & 0xff;
    std::memcpy(frame.data() + 14, "packetbench", 11);

    drain(fd);
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> sent{0}, enobufs{0}, waits{0}, got_total{0};
    std::atomic<bool> gen_waiting{false};
    std::thread gen([&] {
        int s = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);  // protocol 0: sends only
        if (s < 0) die("socket AF_PACKET (generator)");
        sockaddr_ll sll{};
        sll.sll_family = AF_PACKET;
        sll.sll_ifindex = gen_ifindex;
        if (::bind(s, reinterpret_cast<sockaddr*>(&sll), sizeof sll) < 0) die("bind AF_PACKET (generator)");
        constexpr unsigned max_batch = 32;
        iovec iov{frame.data(), frame.size()};
        mmsghdr msgs[max_batch]{};
        for (auto& m : msgs) {
            m.msg_hdr.msg_iov = &iov;
            m.msg_hdr.msg_iovlen = 1;
        }
        std::uint64_t my_sent = 0;
        while (!stop.load(std::memory_order_relaxed)) {
            unsigned batch = max_batch;
            if (window) {
                std::uint64_t g = got_total.load(std::memory_order_acquire);
                std::uint64_t inflight = my_sent - std::min(my_sent, g);
                if (inflight >= window) {
                    gen_waiting.store(true, std::memory_order_seq_cst);
                    waits.fetch_add(1, std::memory_order_relaxed);
                    for (;;) {
                        g = got_total.load(std::memory_order_seq_cst);
                        if (my_sent - std::min(my_sent, g) <= window / 2 || stop.load()) break;
                        got_total.wait(g, std::memory_order_seq_cst);
                    }
                    gen_waiting.store(false, std::memory_order_relaxed);
                    continue;
                }
                batch = static_cast<unsigned>(std::min<std::uint64_t>(max_batch, window - inflight));
            }
            int r = ::sendmmsg(s, msgs, batch, 0);
            if (r > 0) {
                my_sent += static_cast<unsigned>(r);
                sent.fetch_add(static_cast<unsigned>(r), std::memory_order_relaxed);
            } else if (errno == ENOBUFS) {
                enobufs.fetch_add(1, std::memory_order_relaxed);
                my_sent += 1;
                sent.fetch_add(1, std::memory_order_relaxed);
            } else {
                die("sendmmsg");
            }
        }
        ::close(s);
    });

    std::uint64_t n = 0, other = 0, eintr = 0, sent0 = 0, got0 = 0;
    clk::time_point t0;
    double el = 0;
    bool started = false;
    g_armed = true;
    for (;;) {
        ssize_t r = p.hdr ? ::read(fd, buf, sizeof buf) : ::recv(fd, buf, sizeof buf, 0);
        g_progress.fetch_add(1, std::memory_order_relaxed);
        if (r < 0) {
            if (errno != EINTR) die(p.name + ": read");
            ++eintr;
            if (window) got_total.notify_one();
            continue;
        }
        if (!is_bench_frame(buf, r, p.hdr)) {
            ++other;
            continue;
        }
        got_total.fetch_add(1, std::memory_order_seq_cst);
        if (window && gen_waiting.load(std::memory_order_seq_cst)) got_total.notify_one();
        if (!started) {
            started = true;
            sent0 = sent.load();
            got0 = got_total.load();
            t0 = clk::now();
            continue;
        }
        ++n;
        if ((n & 15) == 0 && (el = secs_since(t0)) >= seconds) break;
    }
    std::uint64_t sent_win = sent.load() - sent0;
    g_armed = false;
    stop = true;
    got_total.fetch_add(std::uint64_t{1} << 40);
    got_total.notify_all();
    gen.join();
    std::uint64_t drained = drain(fd);
    std::uint64_t total = sent.load(), got = got0 + n + drained;
    result res;
    res.fps = static_cast<double>(n) / el;
    char note[400];
    char wbuf[80] = "open loop; ";
    if (window)
        std::snprintf(wbuf, sizeof wbuf, "window %u, generator slept %llu times; ", window,
                      static_cast<unsigned long long>(waits.load()));
    std::snprintf(note, sizeof note, "%sgenerator %.0f fps; sent %llu, read %llu, lost %llu%s%s%s", wbuf,
                  static_cast<double>(sent_win) / el, static_cast<unsigned long long>(total),
                  static_cast<unsigned long long>(got), static_cast<unsigned long long>(total > got ? total - got : 0),
                  other ? " (foreign frames skipped)" : "", enobufs ? " (sendmmsg ENOBUFS seen)" : "",
                  eintr ? " (reader stalled: watchdog fired)" : "");
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
        else if (a == "--sizes") {
            sizes.clear();
            for (auto& s : split(val())) sizes.push_back(static_cast<std::size_t>(std::atoi(s.c_str())));
        } else {
            usage();
            return 2;
        }
    }
    if (tapd_file.empty() || link.empty() || gen_if.empty() || tapd_pid <= 0) {
        usage();
        return 2;
    }
    for (std::size_t s : sizes)
        if (s < 60 || s > 1514) {
            std::fprintf(stderr, "packet_bench: frame sizes must be 60..1514 (Ethernet, no FCS)\n");
            return 2;
        }
    if (seconds <= 0) seconds = 2;

    struct sigaction sa{};
    sa.sa_handler = [](int) {};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(SIGUSR2, &sa, nullptr);
    g_reader = pthread_self();
    std::thread wd(watchdog);

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
                result r = run_rx(p, fd, gen_ifindex, dst, size, seconds, window);
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
    g_quit = true;
    wd.join();
    return 0;
}
