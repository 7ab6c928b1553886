// bench_util.h — what the frame-rate benchmarks (tap_bench, packet_bench) share: the frame format, the
// closed/open-loop AF_PACKET frame generator, the reader loop that measures a receive path against it,
// the stall watchdog, and the small helpers around them (tap_forwarder uses the vnet-header constants
// and die()). Header-only; benchmarks only, never tapd.
//
// The generator and the reader are one design, used by tap_bench's read/flood and packet_bench's
// packet_rx alike: a generator thread sends one fixed frame out of an interface through an AF_PACKET
// socket (sendmmsg, up to 32 per call); the measuring thread reads frames with one blocking read (or
// recv) per frame. With a window, the loop is closed: the generator keeps at most `window` frames sent
// but not yet read and sleeps on a futex (std::atomic::wait) until the reader is down to half a window,
// so nothing should be dropped and frames/s is the rate the reader sustains without loss. Without one
// (window 0) it is open loop: what gets through an overloaded path.
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace bench {

using clk = std::chrono::steady_clock;

// Every frame a tap path carries has a struct virtio_net_hdr (no mergeable buffers) in front: flags,
// gso_type, then four 16-bit fields. Restated from linux/virtio_net.h, which C++ cannot include (one of
// its structs has a member named `class`).
inline constexpr std::size_t vnet_len = 10;
inline constexpr std::size_t vnet_gso_type_offset = 1;
inline constexpr std::uint8_t vnet_gso_none = 0, vnet_gso_ecn = 0x80;  // VIRTIO_NET_HDR_GSO_NONE, _ECN
inline constexpr std::size_t read_buf_size = 2048;     // every read's buffer: one MTU frame + header
inline constexpr std::uint16_t bench_ethertype = 0x88b5;  // IEEE 802 local experimental EtherType 1
inline constexpr std::uint8_t peer_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x77, 0x02};  // "the other end"

[[noreturn]] inline void die(const std::string& what) {
    std::fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, what.c_str(), std::strerror(errno));
    std::exit(1);
}

inline double secs_since(clk::time_point t0) { return std::chrono::duration<double>(clk::now() - t0).count(); }

// "a,b,,c" -> {a, b, c}
inline std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ','))
        if (!item.empty()) out.push_back(item);
    return out;
}

// "64,1500" -> {64, 1500}; exits with status 2 unless every size is an Ethernet frame length (no FCS).
inline std::vector<std::size_t> parse_frame_sizes(const std::string& s) {
    std::vector<std::size_t> sizes;
    for (auto& x : split(s)) {
        long v = std::atol(x.c_str());
        if (v < 60 || v > 1514) {
            std::fprintf(stderr, "%s: frame sizes must be 60..1514 (Ethernet, no FCS), not '%s'\n",
                         program_invocation_short_name, x.c_str());
            std::exit(2);
        }
        sizes.push_back(static_cast<std::size_t>(v));
    }
    return sizes;
}

inline void put16(std::uint8_t* p, std::uint16_t v) {
    p[0] = static_cast<std::uint8_t>(v >> 8);
    p[1] = static_cast<std::uint8_t>(v);
}
inline std::uint16_t get16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }

// A raw Ethernet frame of `size` bytes (no vnet header) from `src` to `dst`, EtherType 0x88b5, payload
// bytes counting up: what the generator sends.
inline std::vector<std::uint8_t> bench_frame(const std::uint8_t dst[6], const std::uint8_t src[6], std::size_t size) {
    std::vector<std::uint8_t> e(size, 0);
    std::memcpy(e.data(), dst, 6);
    std::memcpy(e.data() + 6, src, 6);
    put16(e.data() + 12, bench_ethertype);
    for (std::size_t i = 14; i < size; ++i) e[i] = static_cast<std::uint8_t>(i);
    return e;
}

// Whether what one read returned (`hdr` bytes of header, then the Ethernet frame) is a bench frame.
inline bool is_bench_frame(const std::uint8_t* buf, ssize_t n, std::size_t hdr) {
    return n >= static_cast<ssize_t>(hdr + 14) && get16(buf + hdr + 12) == bench_ethertype;
}

// Reads whatever is queued until the fd has been empty for ~100 ms; returns frames read.
inline std::uint64_t drain(int fd) {
    int fl = ::fcntl(fd, F_GETFL);
    ::fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    std::uint8_t buf[read_buf_size];
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

// ---- a watchdog so that no blocking read hangs the run ----
// While armed, a reader that makes no progress (tick()) for 1 s gets SIGUSR2, whose handler is installed
// without SA_RESTART: the blocked read returns EINTR (for a FUSE file, through FUSE_INTERRUPT).
class watchdog {
public:
    // Installs the SIGUSR2 handler and watches the calling thread (the reader) until the object dies.
    watchdog() : reader_(pthread_self()) {
        struct sigaction sa{};
        sa.sa_handler = [](int) {};
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = 0;  // no SA_RESTART: a blocking read must come back with EINTR
        sigaction(SIGUSR2, &sa, nullptr);
        thread_ = std::thread([this] { run(); });
    }
    ~watchdog() {
        quit_ = true;
        thread_.join();
    }
    watchdog(const watchdog&) = delete;
    watchdog& operator=(const watchdog&) = delete;

    void arm(bool on) { armed_ = on; }
    void tick() { progress_.fetch_add(1, std::memory_order_relaxed); }

private:
    void run() {
        std::uint64_t last = 0;
        auto since = clk::now();
        while (!quit_.load()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            std::uint64_t p = progress_.load(std::memory_order_relaxed);
            if (p != last || !armed_.load()) {
                last = p;
                since = clk::now();
            } else if (secs_since(since) > 1.0) {
                pthread_kill(reader_, SIGUSR2);
                since = clk::now();
            }
        }
    }

    pthread_t reader_;
    std::atomic<std::uint64_t> progress_{0};
    std::atomic<bool> armed_{false}, quit_{false};
    std::thread thread_;
};

// ---- the generator: a thread sending `frame` out of one interface (see the top of this file) ----
class frame_generator {
public:
    struct totals {
        std::uint64_t sent = 0;     // attempted: a sendmmsg that failed with ENOBUFS counts one, as lost
        std::uint64_t enobufs = 0;  // sendmmsg calls that failed with ENOBUFS
        std::uint64_t waits = 0;    // times the closed loop put the generator to sleep
    };

    frame_generator(int ifindex, std::vector<std::uint8_t> frame, unsigned window)
        : frame_(std::move(frame)), window_(window) {
        thread_ = std::thread([this, ifindex] { run(ifindex); });
    }
    ~frame_generator() { stop(); }
    frame_generator(const frame_generator&) = delete;
    frame_generator& operator=(const frame_generator&) = delete;

    // The reader took one bench frame: moves the window, and wakes the generator if it sleeps.
    void frame_read() {
        read_.fetch_add(1, std::memory_order_seq_cst);
        if (window_ && waiting_.load(std::memory_order_seq_cst)) read_.notify_one();
    }
    // The reader's read was interrupted: make sure a sleeping generator looks at the window again.
    void reader_interrupted() {
        if (window_) read_.notify_one();
    }
    std::uint64_t sent() const { return sent_.load(); }
    std::uint64_t read_so_far() const { return read_.load(); }

    // Stops and joins the thread (idempotent); returns its totals.
    totals stop() {
        if (thread_.joinable()) {
            stop_ = true;
            // The generator may sleep in wait(): change the counter's value (no longer needed) and wake it.
            read_.fetch_add(std::uint64_t{1} << 40);
            read_.notify_all();
            thread_.join();
        }
        return {sent_.load(), enobufs_.load(), waits_.load()};
    }

private:
    void run(int ifindex) {
        int s = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);  // protocol 0: sends only, receives nothing
        if (s < 0) die("socket AF_PACKET (generator)");
        sockaddr_ll sll{};
        sll.sll_family = AF_PACKET;
        sll.sll_ifindex = ifindex;
        if (::bind(s, reinterpret_cast<sockaddr*>(&sll), sizeof sll) < 0) die("bind AF_PACKET (generator)");
        constexpr unsigned max_batch = 32;
        iovec iov{frame_.data(), frame_.size()};
        mmsghdr msgs[max_batch]{};
        for (auto& m : msgs) {
            m.msg_hdr.msg_iov = &iov;
            m.msg_hdr.msg_iovlen = 1;
        }
        std::uint64_t my_sent = 0;
        while (!stop_.load(std::memory_order_relaxed)) {
            unsigned batch = max_batch;
            if (window_) {
                std::uint64_t g = read_.load(std::memory_order_acquire);
                std::uint64_t inflight = my_sent - std::min(my_sent, g);
                if (inflight >= window_) {
                    // Sleep until the reader is down to half a window (it checks waiting_ per frame).
                    waiting_.store(true, std::memory_order_seq_cst);
                    waits_.fetch_add(1, std::memory_order_relaxed);
                    for (;;) {
                        g = read_.load(std::memory_order_seq_cst);
                        if (my_sent - std::min(my_sent, g) <= window_ / 2 || stop_.load()) break;
                        read_.wait(g, std::memory_order_seq_cst);
                    }
                    waiting_.store(false, std::memory_order_relaxed);
                    continue;
                }
                batch = static_cast<unsigned>(std::min<std::uint64_t>(max_batch, window_ - inflight));
            }
            int r = ::sendmmsg(s, msgs, batch, 0);
            if (r > 0) {
                my_sent += static_cast<unsigned>(r);
                sent_.fetch_add(static_cast<unsigned>(r), std::memory_order_relaxed);
            } else if (errno == ENOBUFS) {
                enobufs_.fetch_add(1, std::memory_order_relaxed);
                my_sent += 1;
                sent_.fetch_add(1, std::memory_order_relaxed);
            } else {
                die("sendmmsg");
            }
        }
        ::close(s);
    }

    std::vector<std::uint8_t> frame_;
    unsigned window_;
    std::atomic<bool> stop_{false}, waiting_{false};
    std::atomic<std::uint64_t> sent_{0}, enobufs_{0}, waits_{0};
    std::atomic<std::uint64_t> read_{0};  // frames read so far: the window's reference
    std::thread thread_;
};

// ---- the reader side: measure one receive path against a running generator ----
struct rx_measurement {
    double fps = 0;              // frames read inside the window / the window's length
    double seconds = 0;          // the window: from the first bench frame read to the last
    double gen_fps = 0;          // frames the generator sent inside the window / its length
    std::uint64_t sent = 0;      // everything the generator sent (after stop)
    std::uint64_t got = 0;       // bench frames read, including those drained after the generator stopped
    std::uint64_t other = 0;     // frames read that were not bench frames
    std::uint64_t eintr = 0;     // reads the watchdog interrupted
    frame_generator::totals gen;
    std::uint64_t lost() const { return sent > got ? sent - got : 0; }
};

// Reads frames from `fd` with `read_one(fd, buf, size)` (read or recv) while `gen` sends them, for
// `seconds` measured from the first bench frame read; then stops the generator and drains `fd`.
// `hdr` is how many bytes precede the Ethernet frame in what one read returns; `name` names the path
// in an error message.
template <class ReadOne>
rx_measurement measure_rx(const std::string& name, int fd, ReadOne read_one, std::size_t hdr, frame_generator& gen,
                          watchdog& wd, double seconds) {
    std::uint8_t buf[read_buf_size];
    rx_measurement m;
    std::uint64_t n = 0, sent0 = 0, got0 = 0;
    clk::time_point t0;
    double el = 0;
    bool started = false;
    wd.arm(true);
    for (;;) {
        ssize_t r = read_one(fd, buf, sizeof buf);
        wd.tick();
        if (r < 0) {
            if (errno != EINTR) die(name + ": read");
            ++m.eintr;
            gen.reader_interrupted();
            continue;
        }
        if (!is_bench_frame(buf, r, hdr)) {
            ++m.other;
            continue;
        }
        gen.frame_read();
        if (!started) {  // the window opens at the first frame read
            started = true;
            sent0 = gen.sent();
            got0 = gen.read_so_far();
            t0 = clk::now();
            continue;
        }
        ++n;
        if ((n & 15) == 0 && (el = secs_since(t0)) >= seconds) break;
    }
    std::uint64_t sent_win = gen.sent() - sent0;
    wd.arm(false);
    m.gen = gen.stop();
    std::uint64_t drained = drain(fd);
    m.fps = static_cast<double>(n) / el;
    m.seconds = el;
    m.gen_fps = static_cast<double>(sent_win) / el;
    m.sent = m.gen.sent;
    m.got = got0 + n + drained;
    return m;
}

}  // namespace bench
