// rx_bench.cc — which AF_PACKET receive design should tapd's packet backend use? Four (five) designs,
// measured in the same run, on the same macvlan, with the same per-frame work.
//
//   rx_bench [--seconds S] [--rounds N] [--sizes 64,1500] [--pings N] [--gap-us U]
//            [--designs recv,recvmmsg,tpv3,uring64k,uring2k] [--retire-ms M] [--no-pin] [--csv]
//
// It re-executes itself under `unshare -n` (a throwaway network namespace; it refuses to touch links
// unless the namespace it finds holds nothing but `lo`), disables IPv6, and builds what tapd sees:
//
//     veth1 (generator) <-> veth0 <- mv0 (macvlan, mode bridge, MAC 02:00:00:00:66:01)
//
// Every receiver is one AF_PACKET SOCK_RAW socket (ETH_P_ALL) bound to mv0 with PACKET_VNET_HDR and
// PACKET_IGNORE_OUTGOING (and a 4 MiB SO_RCVBUFFORCE, as tapd), run by one thread, created fresh for
// each measurement (so the designs never compete for the same frames), and each frame gets the same
// work: read the 10-byte virtio_net_hdr and sum the frame's first 64 bytes.
//
//   recv      one recv(MSG_DONTWAIT) per frame into a 64 KiB buffer; poll() when it says EAGAIN.
//   recvmmsg  recvmmsg(MSG_DONTWAIT) of 32 preallocated 64 KiB slots (tapd's current design); poll()
//             when it says EAGAIN.
//   tpv3      PACKET_VERSION TPACKET_V3, PACKET_RX_RING 8 blocks × 1 MiB (frame_size 2048 only for the
//             kernel's arithmetic: a V3 block holds variable-size frames, up to the block size, so GSO
//             frames fit), retire_blk_tov --retire-ms (1); walk every block the kernel hands over
//             (TP_STATUS_USER), give it back, poll() when the next block is still the kernel's.
//   uring64k  io_uring (SINGLE_ISSUER|DEFER_TASKRUN when the kernel has them), one multishot
//             IORING_OP_RECV with IOSQE_BUFFER_SELECT on a provided buffer ring (liburing 2.3 has no
//             io_uring_setup_buf_ring: mmap + io_uring_register_buf_ring) of 256 × 64 KiB buffers;
//             wait in io_uring_wait_cqe_timeout, handle every CQE ready, give the buffers back in one
//             advance, re-arm when a CQE comes without IORING_CQE_F_MORE (e.g. -ENOBUFS).
//   uring2k   the same with 4096 × 2 KiB buffers (enough for MTU frames, not for GSO).
//
// Measurements:
//
//   flood     a generator (the main thread) sends frames from veth1 to mv0's MAC (EtherType 0x88b5)
//             with sendmmsg (32 per call, PACKET_QDISC_BYPASS) as fast as it can for --seconds; the
//             delivery through veth0 and the macvlan into the receiver's socket runs in the
//             generator's softirq. rx frames/s = frames the receiver processed inside the window /
//             window. Also: tx frames/s; drop % = the socket's tp_drops / frames sent; the receiver
//             thread's CPU time (getrusage RUSAGE_THREAD) per processed frame ("rx us/fr") and its CPU
//             share ("rx cpu"); the whole process's CPU (RUSAGE_SELF: generator + its softirq delivery +
//             receiver) per processed frame ("all us/fr"). --rounds repetitions, design order rotated
//             each round; the median is printed.
//   latency   ping-pong at light load: send one 64-byte frame carrying CLOCK_MONOTONIC at send time,
//             wait until the receiver has processed it (it writes an eventfd), sleep --gap-us so the
//             receiver is back asleep, repeat --pings times (after 50 warm-up pings). One-way latency =
//             receiver's CLOCK_MONOTONIC when it processes the frame − the frame's stamp; median, p99.
//
// Frame size = Ethernet frame length without FCS and without the vnet header (as bench/README.md).
#include <arpa/inet.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#ifndef RX_LIBURING_VERSION
#define RX_LIBURING_VERSION "?"
#endif

namespace {

constexpr std::uint16_t bench_ethertype = 0x88b5;
constexpr std::uint8_t mv_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x66, 0x01};
constexpr std::uint8_t gen_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x66, 0x02};
constexpr std::size_t vnet_len = 10;
constexpr std::size_t big_slot = 65536 + 64;  // as tapd: a whole GSO frame + headroom
constexpr unsigned mmsg_batch = 32;

// struct virtio_net_hdr (linux/virtio_net.h clashes with net/if.h in C++): 10 bytes, host order.
struct virtio_net_hdr {
    std::uint8_t flags, gso_type;
    std::uint16_t hdr_len, gso_size, csum_start, csum_offset;
};
static_assert(sizeof(virtio_net_hdr) == vnet_len);

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "rx_bench: %s: %s\n", what.c_str(), std::strerror(errno));
    std::exit(1);
}

std::uint64_t now_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

double thread_cpu_s() {
    rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Both threads, including the softirq work (veth -> macvlan -> packet socket) that runs in the
// generator's context when it transmits.
double process_cpu_s() {
    rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void run(const std::string& cmd) {
    if (std::system(cmd.c_str()) != 0) {
        std::fprintf(stderr, "rx_bench: failed: %s\n", cmd.c_str());
        std::exit(1);
    }
}

void write_sysctl(const std::string& path, const char* value) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return;  // no IPv6 in this kernel: nothing to disable
    (void)!::write(fd, value, std::strlen(value));
    ::close(fd);
}

void pin_to(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    for (std::string item; std::getline(ss, item, ',');)
        if (!item.empty()) out.push_back(item);
    return out;
}

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    std::size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    std::size_t i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
}

// ---------------------------------------------------------------------------------------------------
// The receiver side.

struct shared_state {
    std::atomic<bool> stop{false};
    std::atomic<bool> ready{false};
    alignas(64) std::atomic<std::uint64_t> frames{0};  // processed so far (single writer)
    alignas(64) bool latency = false;
    int efd = -1;                                       // latency mode: "processed one" to the generator
    std::vector<std::pair<std::uint64_t, double>> lat;  // latency mode: (seq, one-way µs)
    // Filled by the receiver at its end.
    double cpu_s = 0;
    std::uint64_t total = 0;
    std::uint64_t drops = 0;
    std::uint64_t sum = 0;
    std::string error;
};

// The per-frame work, identical for every design: read the vnet header, sum the first 64 bytes.
struct sink {
    shared_state& sh;
    std::uint64_t sum = 0;
    std::uint64_t n = 0;

    inline void frame(const std::uint8_t* vnet, const std::uint8_t* f, std::size_t len) {
        virtio_net_hdr vh;
        std::memcpy(&vh, vnet, sizeof vh);
        sum += vh.flags + vh.gso_type + vh.hdr_len + vh.gso_size + vh.csum_start + vh.csum_offset;
        std::size_t m = len < 64 ? len : 64;
        for (std::size_t i = 0; i < m; ++i) sum += f[i];
        ++n;
        sh.frames.store(n, std::memory_order_relaxed);
        if (sh.latency) [[unlikely]] {
            std::uint64_t t = now_ns();
            if (len < 14 + 16 || f[12] != (bench_ethertype >> 8) || f[13] != (bench_ethertype & 0xff)) return;
            std::uint64_t seq, ts;
            std::memcpy(&seq, f + 14, 8);
            std::memcpy(&ts, f + 22, 8);
            sh.lat.emplace_back(seq, static_cast<double>(t - ts) / 1000.0);
            std::uint64_t one = 1;
            (void)!::write(sh.efd, &one, sizeof one);
        }
    }
};

int open_packet_socket() {
    int fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
    if (fd < 0) die("socket(AF_PACKET)");
    int one = 1;
    if (::setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) < 0) die("PACKET_VNET_HDR");
    if (::setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0) die("PACKET_IGNORE_OUTGOING");
    int rcvbuf = 4 << 20;
    (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
    return fd;
}

void bind_to(int fd, int ifindex) {
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = ifindex;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) < 0) die("bind(mv0)");
}

std::uint64_t socket_drops(int fd, bool v3) {
    if (v3) {
        tpacket_stats_v3 st{};
        socklen_t len = sizeof st;
        if (::getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) < 0) return 0;
        return st.tp_drops;
    }
    tpacket_stats st{};
    socklen_t len = sizeof st;
    if (::getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) < 0) return 0;
    return st.tp_drops;
}

bool wait_readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 10) > 0;
}

void finish(shared_state& sh, sink& s, double cpu0, int fd, bool v3) {
    sh.cpu_s = thread_cpu_s() - cpu0;
    sh.total = s.n;
    sh.sum = s.sum;
    sh.drops = socket_drops(fd, v3);
}

// (1) recv() per frame.
void rx_recv(int ifindex, shared_state& sh) {
    int fd = open_packet_socket();
    bind_to(fd, ifindex);
    auto buf = std::make_unique<std::uint8_t[]>(big_slot);
    sink s{sh};
    double cpu0 = thread_cpu_s();
    sh.ready = true;
    while (!sh.stop.load(std::memory_order_relaxed)) {
        ssize_t n = ::recv(fd, buf.get(), big_slot, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                wait_readable(fd);
                continue;
            }
            die("recv");
        }
        if (static_cast<std::size_t>(n) < vnet_len) continue;
        s.frame(buf.get(), buf.get() + vnet_len, static_cast<std::size_t>(n) - vnet_len);
    }
    finish(sh, s, cpu0, fd, false);
    ::close(fd);
}

// (2) recvmmsg() batches of 32 (tapd).
void rx_recvmmsg(int ifindex, shared_state& sh) {
    int fd = open_packet_socket();
    bind_to(fd, ifindex);
    auto bufs = std::make_unique<std::uint8_t[]>(big_slot * mmsg_batch);
    std::vector<iovec> iovs(mmsg_batch);
    std::vector<mmsghdr> msgs(mmsg_batch);
    for (unsigned i = 0; i < mmsg_batch; ++i) {
        iovs[i] = {bufs.get() + i * big_slot, big_slot};
        msgs[i] = {};
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    sink s{sh};
    double cpu0 = thread_cpu_s();
    sh.ready = true;
    while (!sh.stop.load(std::memory_order_relaxed)) {
        int n = ::recvmmsg(fd, msgs.data(), mmsg_batch, MSG_DONTWAIT, nullptr);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                wait_readable(fd);
                continue;
            }
            die("recvmmsg");
        }
        for (int i = 0; i < n; ++i) {
            std::size_t len = msgs[i].msg_len;
            if (len < vnet_len) continue;
            auto* b = static_cast<std::uint8_t*>(iovs[i].iov_base);
            s.frame(b, b + vnet_len, len - vnet_len);
        }
    }
    finish(sh, s, cpu0, fd, false);
    ::close(fd);
}

// (3) TPACKET_V3 rx ring.
void rx_tpv3(int ifindex, shared_state& sh, unsigned retire_ms) {
    int fd = open_packet_socket();  // PACKET_VNET_HDR must precede the ring (EBUSY after)
    int v = TPACKET_V3;
    if (::setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof v) < 0) die("PACKET_VERSION");
    tpacket_req3 req{};
    req.tp_block_size = 1u << 20;
    req.tp_block_nr = 8;
    req.tp_frame_size = 2048;
    req.tp_frame_nr = req.tp_block_size / req.tp_frame_size * req.tp_block_nr;
    req.tp_retire_blk_tov = retire_ms;
    if (::setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) die("PACKET_RX_RING");
    std::size_t map_len = static_cast<std::size_t>(req.tp_block_size) * req.tp_block_nr;
    auto* map = static_cast<std::uint8_t*>(
        ::mmap(nullptr, map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0));
    if (map == MAP_FAILED) die("mmap(rx ring)");
    bind_to(fd, ifindex);
    sink s{sh};
    unsigned cur = 0;
    double cpu0 = thread_cpu_s();
    sh.ready = true;
    while (!sh.stop.load(std::memory_order_relaxed)) {
        auto* bd = reinterpret_cast<tpacket_block_desc*>(map + static_cast<std::size_t>(cur) * req.tp_block_size);
        if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) {
            wait_readable(fd);
            continue;
        }
        std::uint32_t n = bd->hdr.bh1.num_pkts;
        auto* p = reinterpret_cast<std::uint8_t*>(bd) + bd->hdr.bh1.offset_to_first_pkt;
        for (std::uint32_t i = 0; i < n; ++i) {
            auto* h = reinterpret_cast<tpacket3_hdr*>(p);
            std::uint8_t* f = p + h->tp_mac;
            s.frame(f - vnet_len, f, h->tp_snaplen);
            p += h->tp_next_offset;
        }
        __atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
        cur = (cur + 1) % req.tp_block_nr;
    }
    finish(sh, s, cpu0, fd, true);
    ::munmap(map, map_len);
    ::close(fd);
}

// (4) io_uring multishot recv with a provided buffer ring.
void rx_uring(int ifindex, shared_state& sh, unsigned buf_size, unsigned nbufs) {
    int fd = open_packet_socket();
    bind_to(fd, ifindex);
    io_uring ring;
    io_uring_params p{};
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    p.cq_entries = 8192;
    int r = io_uring_queue_init_params(64, &ring, &p);
    if (r < 0) {  // an older kernel: no DEFER_TASKRUN
        p = {};
        p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_COOP_TASKRUN;
        p.cq_entries = 8192;
        r = io_uring_queue_init_params(64, &ring, &p);
    }
    if (r < 0) {
        errno = -r;
        die("io_uring_queue_init_params");
    }
    // liburing 2.3 has io_uring_register_buf_ring but not io_uring_setup_buf_ring: map the ring ourselves.
    std::size_t br_len = nbufs * sizeof(io_uring_buf);
    br_len = (br_len + 4095) & ~std::size_t{4095};
    auto* br = static_cast<io_uring_buf_ring*>(
        ::mmap(nullptr, br_len, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0));
    if (br == MAP_FAILED) die("mmap(buf ring)");
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uint64_t>(br);
    reg.ring_entries = nbufs;
    reg.bgid = 0;
    if ((r = io_uring_register_buf_ring(&ring, &reg, 0)) < 0) {
        errno = -r;
        die("io_uring_register_buf_ring");
    }
    io_uring_buf_ring_init(br);
    std::size_t pool_len = static_cast<std::size_t>(buf_size) * nbufs;
    auto* pool = static_cast<std::uint8_t*>(
        ::mmap(nullptr, pool_len, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE | MAP_POPULATE, -1, 0));
    if (pool == MAP_FAILED) die("mmap(buffers)");
    int mask = io_uring_buf_ring_mask(nbufs);
    for (unsigned i = 0; i < nbufs; ++i)
        io_uring_buf_ring_add(br, pool + static_cast<std::size_t>(i) * buf_size, buf_size,
                              static_cast<unsigned short>(i), mask, static_cast<int>(i));
    io_uring_buf_ring_advance(br, static_cast<int>(nbufs));

    auto arm = [&] {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring);
        io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = 0;
        io_uring_submit(&ring);
    };
    arm();
    sink s{sh};
    std::uint64_t rearms = 0;
    double cpu0 = thread_cpu_s();
    sh.ready = true;
    __kernel_timespec tmo{0, 10'000'000};
    while (!sh.stop.load(std::memory_order_relaxed)) {
        io_uring_cqe* cqe;
        r = io_uring_wait_cqe_timeout(&ring, &cqe, &tmo);
        if (r == -ETIME || r == -EINTR) continue;
        if (r < 0) {
            errno = -r;
            die("io_uring_wait_cqe_timeout");
        }
        unsigned head, seen = 0;
        int added = 0;
        bool rearm = false;
        io_uring_for_each_cqe(&ring, head, cqe) {
            ++seen;
            if (cqe->flags & IORING_CQE_F_BUFFER) {
                unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
                std::uint8_t* b = pool + static_cast<std::size_t>(bid) * buf_size;
                if (cqe->res >= static_cast<int>(vnet_len))
                    s.frame(b, b + vnet_len, static_cast<std::size_t>(cqe->res) - vnet_len);
                io_uring_buf_ring_add(br, b, buf_size, static_cast<unsigned short>(bid), mask, added++);
            } else if (cqe->res < 0 && cqe->res != -ENOBUFS) {
                sh.error = std::string("multishot recv: ") + std::strerror(-cqe->res);
                sh.stop = true;
            }
            if (!(cqe->flags & IORING_CQE_F_MORE)) rearm = true;
        }
        if (added) io_uring_buf_ring_advance(br, added);
        io_uring_cq_advance(&ring, seen);
        if (rearm && !sh.stop.load(std::memory_order_relaxed)) {
            ++rearms;
            arm();
        }
    }
    finish(sh, s, cpu0, fd, false);
    io_uring_queue_exit(&ring);
    ::munmap(pool, pool_len);
    ::munmap(br, br_len);
    ::close(fd);
}

struct design {
    std::string name;
    std::string what;
};

const std::vector<design> all_designs = {
    {"recv", "(1) recv() per frame"},
    {"recvmmsg", "(2) recvmmsg x32 (tapd)"},
    {"tpv3", "(3) TPACKET_V3 ring"},
    {"uring64k", "(4) io_uring multishot, 64K bufs"},
    {"uring2k", "(4b) io_uring multishot, 2K bufs"},
};

struct options {
    double seconds = 1.5;
    int rounds = 3;
    std::vector<int> sizes = {64, 1500};
    int pings = 2000;
    int gap_us = 100;
    unsigned retire_ms = 1;
    std::vector<std::string> designs = {"recv", "recvmmsg", "tpv3", "uring64k", "uring2k"};
    bool pin = true;
    bool csv = false;
};

void receiver_main(const std::string& name, int ifindex, shared_state& sh, const options& o, int cpu) {
    if (o.pin && cpu >= 0) pin_to(cpu);
    if (name == "recv") rx_recv(ifindex, sh);
    else if (name == "recvmmsg") rx_recvmmsg(ifindex, sh);
    else if (name == "tpv3") rx_tpv3(ifindex, sh, o.retire_ms);
    else if (name == "uring64k") rx_uring(ifindex, sh, 64 * 1024, 256);
    else if (name == "uring2k") rx_uring(ifindex, sh, 2048, 4096);
    else {
        std::fprintf(stderr, "rx_bench: unknown design %s\n", name.c_str());
        std::exit(2);
    }
}

// ---------------------------------------------------------------------------------------------------
// The generator side (main thread).

struct generator {
    int fd = -1;
    int ifindex = 0;

    explicit generator(int ifidx) : ifindex(ifidx) {
        fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);  // protocol 0: transmit only
        if (fd < 0) die("socket(generator)");
        sockaddr_ll sll{};
        sll.sll_family = AF_PACKET;
        sll.sll_protocol = 0;
        sll.sll_ifindex = ifindex;
        if (::bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) < 0) die("bind(veth1)");
        int one = 1;
        (void)::setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
        int sndbuf = 4 << 20;
        (void)::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf);
    }

    static void fill(std::uint8_t* f, int size) {
        std::memset(f, 0, static_cast<std::size_t>(size));
        std::memcpy(f, mv_mac, 6);
        std::memcpy(f + 6, gen_mac, 6);
        f[12] = bench_ethertype >> 8;
        f[13] = bench_ethertype & 0xff;
        for (int i = 30; i < size; ++i) f[i] = static_cast<std::uint8_t>(i);
    }

    // Open-loop flood; returns frames sent.
    std::uint64_t flood(int size, double seconds, const std::atomic<std::uint64_t>& rx, std::uint64_t& rx0,
                        std::uint64_t& rx1, double& window) {
        std::vector<std::uint8_t> frames(static_cast<std::size_t>(size) * mmsg_batch);
        std::vector<iovec> iovs(mmsg_batch);
        std::vector<mmsghdr> msgs(mmsg_batch);
        for (unsigned i = 0; i < mmsg_batch; ++i) {
            fill(frames.data() + i * static_cast<std::size_t>(size), size);
            iovs[i] = {frames.data() + i * static_cast<std::size_t>(size), static_cast<std::size_t>(size)};
            msgs[i] = {};
            msgs[i].msg_hdr.msg_iov = &iovs[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        std::uint64_t sent = 0;
        std::uint64_t t0 = now_ns();
        rx0 = rx.load();
        std::uint64_t end = t0 + static_cast<std::uint64_t>(seconds * 1e9), t = t0;
        while (t < end) {
            int n = ::sendmmsg(fd, msgs.data(), mmsg_batch, 0);
            if (n > 0) sent += static_cast<std::uint64_t>(n);
            else if (n < 0 && errno != ENOBUFS && errno != EAGAIN && errno != EINTR) die("sendmmsg");
            t = now_ns();
        }
        rx1 = rx.load();
        window = static_cast<double>(t - t0) / 1e9;
        return sent;
    }

    // One frame, stamped; returns false when the receiver did not confirm within 500 ms.
    bool ping(std::uint64_t seq, int efd) {
        std::uint8_t f[64];
        fill(f, sizeof f);
        std::memcpy(f + 14, &seq, 8);
        std::uint64_t ts = now_ns();
        std::memcpy(f + 22, &ts, 8);
        if (::send(fd, f, sizeof f, 0) < 0) die("send(ping)");
        pollfd p{efd, POLLIN, 0};
        if (::poll(&p, 1, 500) <= 0) return false;
        std::uint64_t v;
        (void)!::read(efd, &v, sizeof v);
        return true;
    }
};

struct flood_result {
    double rx_fps = 0, tx_fps = 0, cpu_us_per_frame = 0, rx_util = 0, total_cpu_us_per_frame = 0;
    std::uint64_t drops = 0;
    double drop_pct = 0;  // socket drops / frames sent
};

flood_result measure_flood(const std::string& name, int size, int mv_ifindex, generator& gen, const options& o) {
    shared_state sh;
    std::thread t(receiver_main, name, mv_ifindex, std::ref(sh), std::cref(o), 1);
    while (!sh.ready.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    double self0 = process_cpu_s();
    std::uint64_t rx0, rx1;
    double window;
    std::uint64_t sent = gen.flood(size, o.seconds, sh.frames, rx0, rx1, window);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // drain (incl. a last block retire)
    sh.stop = true;
    t.join();
    double self_cpu = process_cpu_s() - self0;
    if (!sh.error.empty()) {
        std::fprintf(stderr, "rx_bench: %s: %s\n", name.c_str(), sh.error.c_str());
        std::exit(1);
    }
    flood_result r;
    r.rx_fps = static_cast<double>(rx1 - rx0) / window;
    r.tx_fps = static_cast<double>(sent) / window;
    r.cpu_us_per_frame = sh.total ? sh.cpu_s * 1e6 / static_cast<double>(sh.total) : 0;
    r.rx_util = sh.cpu_s / (window + 0.12);
    r.drops = sh.drops;
    r.drop_pct = sent ? 100.0 * static_cast<double>(sh.drops) / static_cast<double>(sent) : 0;
    r.total_cpu_us_per_frame = sh.total ? self_cpu * 1e6 / static_cast<double>(sh.total) : 0;
    return r;
}

struct latency_result {
    double p50 = 0, p99 = 0, avg = 0, max = 0, min = 0;
    int lost = 0;
    std::size_t n = 0;
};

latency_result measure_latency(const std::string& name, int mv_ifindex, generator& gen, const options& o, int rx_cpu) {
    shared_state sh;
    sh.latency = true;
    sh.efd = ::eventfd(0, EFD_CLOEXEC);
    if (sh.efd < 0) die("eventfd");
    constexpr int warmup = 50;
    sh.lat.reserve(static_cast<std::size_t>(o.pings + warmup) + 16);
    std::thread t(receiver_main, name, mv_ifindex, std::ref(sh), std::cref(o), rx_cpu);
    while (!sh.ready.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    latency_result r;
    timespec gap{0, static_cast<long>(o.gap_us) * 1000};
    for (int i = 0; i < o.pings + warmup; ++i) {
        if (!gen.ping(static_cast<std::uint64_t>(i), sh.efd) && i >= warmup) ++r.lost;
        if (o.gap_us > 0) nanosleep(&gap, nullptr);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    sh.stop = true;
    t.join();
    ::close(sh.efd);
    std::vector<double> v;
    for (auto& [seq, us] : sh.lat)
        if (seq >= static_cast<std::uint64_t>(warmup)) v.push_back(us);
    r.n = v.size();
    r.p50 = median(v);
    r.p99 = percentile(v, 0.99);
    r.max = v.empty() ? 0 : *std::max_element(v.begin(), v.end());
    r.min = v.empty() ? 0 : *std::min_element(v.begin(), v.end());
    double s = 0;
    for (double x : v) s += x;
    r.avg = v.empty() ? 0 : s / static_cast<double>(v.size());
    return r;
}

// ---------------------------------------------------------------------------------------------------
// Namespace set-up.

void ensure_netns(int argc, char** argv) {
    if (std::getenv("RX_BENCH_IN_NETNS")) return;
    ::setenv("RX_BENCH_IN_NETNS", "1", 1);
    static char self[4096];  // /proc/self/exe would name unshare once it runs: resolve it now
    ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) die("readlink(/proc/self/exe)");
    self[n] = 0;
    std::vector<char*> args = {const_cast<char*>("unshare"), const_cast<char*>("-n"), const_cast<char*>("--"),
                               self};
    for (int i = 1; i < argc; ++i) args.push_back(argv[i]);
    args.push_back(nullptr);
    ::execvp("unshare", args.data());
    die("exec unshare -n");
}

void setup_links() {
    // Refuse to touch anything unless this is an empty, fresh namespace.
    struct if_nameindex* ni = if_nameindex();
    int count = 0;
    bool only_lo = true;
    for (struct if_nameindex* p = ni; p && p->if_index; ++p) {
        ++count;
        if (std::strcmp(p->if_name, "lo") != 0) only_lo = false;
    }
    if_freenameindex(ni);
    if (!only_lo || count > 1) {
        std::fprintf(stderr, "rx_bench: not in a fresh network namespace (it has links besides lo); refusing\n");
        std::exit(1);
    }
    write_sysctl("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
    write_sysctl("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
    run("ip link set lo up");
    run("ip link add veth0 type veth peer name veth1");
    run("ip link add link veth0 name mv0 type macvlan mode bridge");
    for (const char* dev : {"veth0", "veth1", "mv0"})
        write_sysctl(std::string("/proc/sys/net/ipv6/conf/") + dev + "/disable_ipv6", "1");
    run("ip link set mv0 address 02:00:00:00:66:01");
    run("ip link set veth1 address 02:00:00:00:66:02");
    run("ip link set veth0 up && ip link set veth1 up && ip link set mv0 up");
}

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto val = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "rx_bench: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--seconds") o.seconds = std::stod(val());
        else if (a == "--rounds") o.rounds = std::stoi(val());
        else if (a == "--sizes") {
            o.sizes.clear();
            for (auto& s : split(val())) o.sizes.push_back(std::stoi(s));
        } else if (a == "--pings") o.pings = std::stoi(val());
        else if (a == "--gap-us") o.gap_us = std::stoi(val());
        else if (a == "--retire-ms") o.retire_ms = static_cast<unsigned>(std::stoul(val()));
        else if (a == "--designs") o.designs = split(val());
        else if (a == "--no-pin") o.pin = false;
        else if (a == "--csv") o.csv = true;
        else {
            std::fprintf(stderr, "usage: rx_bench [--seconds S] [--rounds N] [--sizes 64,1500] [--pings N] "
                                 "[--gap-us U] [--designs a,b] [--retire-ms M] [--no-pin] [--csv]\n");
            std::exit(2);
        }
    }
    for (int s : o.sizes)
        if (s < 64 || s > 1514) {
            std::fprintf(stderr, "rx_bench: frame sizes must be 64..1514\n");
            std::exit(2);
        }
    return o;
}

std::string what_of(const std::string& name) {
    for (auto& d : all_designs)
        if (d.name == name) return d.what;
    return name;
}

}  // namespace

int main(int argc, char** argv) {
    options o = parse(argc, argv);
    ensure_netns(argc, argv);
    setup_links();
    int mv = static_cast<int>(if_nametoindex("mv0"));
    int v1 = static_cast<int>(if_nametoindex("veth1"));
    if (!mv || !v1) die("if_nametoindex");
    if (o.pin) pin_to(0);
    generator gen(v1);

    std::printf("rx_bench: kernel %s, liburing %s, %d CPUs online, %.1f s per flood, %d rounds, "
                "%d pings (gap %d us), TPACKET_V3 retire %u ms%s\n",
                [] {
                    static char buf[128];
                    FILE* f = std::fopen("/proc/sys/kernel/osrelease", "r");
                    if (!f || !std::fgets(buf, sizeof buf, f)) return "?";
                    std::fclose(f);
                    buf[std::strcspn(buf, "\n")] = 0;
                    return static_cast<const char*>(buf);
                }(),
                RX_LIBURING_VERSION, static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)),
                o.seconds, o.rounds, o.pings, o.gap_us, o.retire_ms,
                o.pin ? ", pinned (generator CPU0; receiver CPU1, latency also CPU0)" : ", not pinned");
    {
        double l[3];
        if (getloadavg(l, 3) == 3) std::printf("load average at start: %.2f %.2f %.2f\n", l[0], l[1], l[2]);
    }
    std::fflush(stdout);

    // Flood: rounds × sizes × designs, order rotated per round.
    std::map<std::pair<int, std::string>, std::vector<flood_result>> fl;
    for (int size : o.sizes)
        for (int r = 0; r < o.rounds; ++r)
            for (std::size_t k = 0; k < o.designs.size(); ++k) {
                const std::string& d = o.designs[(k + static_cast<std::size_t>(r)) % o.designs.size()];
                flood_result fr = measure_flood(d, size, mv, gen, o);
                fl[{size, d}].push_back(fr);
                if (o.csv)
                    std::printf("csv,flood,%d,%s,%d,%.0f,%.0f,%.2f,%.3f,%.2f,%.3f\n", size, d.c_str(), r,
                                fr.rx_fps, fr.tx_fps, fr.drop_pct, fr.cpu_us_per_frame, fr.rx_util,
                                fr.total_cpu_us_per_frame);
                std::fflush(stdout);
            }
    // Latency placements: receiver on the generator's CPU (no cross-CPU wake-up: the software path
    // alone) and on the other CPU (a wake-up by IPI, as when softirq and tapd run on different CPUs).
    std::vector<std::pair<std::string, int>> placements = {{"same-cpu", 0}, {"cross-cpu", 1}};
    if (!o.pin) placements = {{"unpinned", -1}};
    std::map<std::pair<std::string, std::string>, latency_result> lat;
    for (auto& [pl, cpu] : placements)
        for (const auto& d : o.designs) {
            auto& l = lat[{pl, d}] = measure_latency(d, mv, gen, o, cpu);
            if (o.csv)
                std::printf("csv,latency-%s,64,%s,0,%.2f,%.2f,%.2f,%.2f,%d,%.2f\n", pl.c_str(), d.c_str(), l.p50,
                            l.p99, l.avg, l.max, l.lost, l.min);
            std::fflush(stdout);
        }

    const std::string base = o.designs.front();
    std::printf("\nFlood (open loop; median of %d rounds; ratios against %s)\n", o.rounds, base.c_str());
    if (o.rounds > 0)
        std::printf("%-34s %5s %12s %7s %12s %10s %9s %7s %7s %9s\n", "design", "size", "rx frames/s", "ratio",
                    "tx frames/s", "drop %", "rx us/fr", "ratio", "rx cpu", "all us/fr");
    for (int size : o.sizes) {
        if (o.rounds <= 0) break;
        auto med = [&](const std::string& d, auto field) {
            std::vector<double> v;
            for (auto& fr : fl[{size, d}]) v.push_back(field(fr));
            return median(v);
        };
        double b_rx = med(base, [](auto& f) { return f.rx_fps; });
        double b_cpu = med(base, [](auto& f) { return f.cpu_us_per_frame; });
        for (const auto& d : o.designs) {
            double rx = med(d, [](auto& f) { return f.rx_fps; });
            double tx = med(d, [](auto& f) { return f.tx_fps; });
            double dr = med(d, [](auto& f) { return f.drop_pct; });
            double cpu = med(d, [](auto& f) { return f.cpu_us_per_frame; });
            double util = med(d, [](auto& f) { return f.rx_util; });
            double all = med(d, [](auto& f) { return f.total_cpu_us_per_frame; });
            std::printf("%-34s %5d %12.0f %7.2f %12.0f %10.1f %9.3f %7.2f %6.0f%% %9.3f\n", what_of(d).c_str(), size,
                        rx, b_rx > 0 ? rx / b_rx : 0, tx, dr, cpu, b_cpu > 0 ? cpu / b_cpu : 0, util * 100, all);
        }
    }
    for (auto& [pl, cpu] : placements) {
    std::printf("\nLatency, %s (one-way, 64-byte frames, %d pings, gap %d us; ratios against %s)\n", pl.c_str(),
                o.pings, o.gap_us, base.c_str());
    std::printf("%-34s %9s %9s %7s %9s %7s %9s %9s %5s\n", "design", "min us", "p50 us", "ratio", "p99 us", "ratio",
                "avg us", "max us", "lost");
    for (const auto& d : o.designs) {
        auto& l = lat[{pl, d}];
        auto& b = lat[{pl, base}];
        std::printf("%-34s %9.1f %9.1f %7.2f %9.1f %7.2f %9.1f %9.1f %5d\n", what_of(d).c_str(), l.min, l.p50,
                    b.p50 > 0 ? l.p50 / b.p50 : 0, l.p99, b.p99 > 0 ? l.p99 / b.p99 : 0, l.avg, l.max, l.lost);
    }
    }
    return 0;
}
