// tap_forwarder.cc — a VMM's tap backend in miniature, for the forwarder benchmark (forwarder.sh): joins
// two tap devices at layer 2, one thread per direction, each a blocking read() of one frame from one
// device and a write() of it, unchanged, to the other. The virtio_net_hdr stays on the frame and checksum
// and TCP segmentation offloads are on, so the TCP super-frames (up to 64 KiB) and partial checksums one
// side's stack hands over reach the other side's stack as they would between two VMs' virtio-net devices.
//
//   tap_forwarder ENDPOINT_A ENDPOINT_B
//     tun:NAME  create kernel TAP interface NAME: /dev/net/tun, TUNSETIFF IFF_TAP|IFF_NO_PI|IFF_VNET_HDR
//     PATH      open a tap character device (a file tapd serves, /dev/tapN, a macvtap); the Linux
//               personality's defaults are already IFF_TAP|IFF_NO_PI|IFF_VNET_HDR, as macvtap's
//   then, on both: TUNSETVNETHDRSZ 10 (checked with TUNGETVNETHDRSZ) and TUNSETOFFLOAD
//   CSUM|TSO4|TSO6|TSO_ECN, the ones a VMM needs once the device exists. On a file served through a
//   FUSE mount (tapd --fuse-mount) the kernel passes on only ioctls whose argument points to what the
//   ioctl number says (TUNSETVNETHDRSZ's int); TUNSETOFFLOAD's argument is a value, which FUSE takes for
//   a pointer and fails with EFAULT before tapd sees it. The forwarder then keeps the device's default,
//   which for tapd's Linux personality is a vnet-header reader that takes super-frames as they come,
//   and says so (stdout, "offloads default").
//
// Prints "tap_forwarder: ready" on stderr once both devices are open and configured, and one line per
// device on stdout: "tap_forwarder: a SPEC offloads set|default". On SIGTERM or
// SIGINT it prints one line of counters per direction (frames, bytes, largest frame, frames with a GSO
// type in their header, failed writes) on stdout and exits 0. A failed write (e.g. EIO while a link is
// down) is counted and the frame dropped, as a VMM would; a failed read ends the process with status 1.
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "bench_util.h"

namespace {

using bench::die;
using bench::vnet_len;

// One read: the header and the largest frame a TAP hands over with TSO (64 KiB IP packet, Ethernet and
// one VLAN header).
constexpr std::size_t max_read = vnet_len + 65535 + 14 + 4;
constexpr unsigned offloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;

struct endpoint {
    std::string spec;
    int fd = -1;
    bool offloads_set = false;  // TUNSETOFFLOAD succeeded (else: the device's default, see the top)
};

void open_endpoint(endpoint& e) {
    if (e.spec.rfind("tun:", 0) == 0) {
        std::string name = e.spec.substr(4);
        if (name.empty() || name.size() >= IFNAMSIZ) {
            std::fprintf(stderr, "tap_forwarder: '%s': interface names are 1-15 characters\n", e.spec.c_str());
            std::exit(2);
        }
        e.fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        if (e.fd < 0) die("open /dev/net/tun");
        ifreq ifr{};
        std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
        if (::ioctl(e.fd, TUNSETIFF, &ifr) < 0) die("TUNSETIFF " + name);
    } else {
        e.fd = ::open(e.spec.c_str(), O_RDWR | O_CLOEXEC);
        if (e.fd < 0) die("open " + e.spec);
    }
    int hdr = static_cast<int>(vnet_len);
    if (::ioctl(e.fd, TUNSETVNETHDRSZ, &hdr) < 0) die(e.spec + ": TUNSETVNETHDRSZ");
    hdr = 0;
    if (::ioctl(e.fd, TUNGETVNETHDRSZ, &hdr) < 0) die(e.spec + ": TUNGETVNETHDRSZ");
    if (hdr != static_cast<int>(vnet_len)) {
        std::fprintf(stderr, "tap_forwarder: %s: vnet header is %d bytes after TUNSETVNETHDRSZ %zu\n",
                     e.spec.c_str(), hdr, vnet_len);
        std::exit(1);
    }
    if (::ioctl(e.fd, TUNSETOFFLOAD, static_cast<unsigned long>(offloads)) == 0)
        e.offloads_set = true;
    else if (errno != EFAULT || e.spec.rfind("tun:", 0) == 0)
        die(e.spec + ": TUNSETOFFLOAD");
}

// Written by the one thread that forwards this direction, read by the main thread at the end.
struct direction {
    const endpoint* from = nullptr;
    const endpoint* to = nullptr;
    std::atomic<std::uint64_t> frames{0}, bytes{0}, largest{0}, gso{0}, write_errors{0};
    std::atomic<int> last_write_errno{0};
};

void forward(direction& d) {
    auto buf = std::make_unique<std::uint8_t[]>(max_read);
    for (;;) {
        ssize_t n = ::read(d.from->fd, buf.get(), max_read);
        if (n < 0) {
            if (errno == EINTR) continue;
            die(d.from->spec + ": read");
        }
        ssize_t w = ::write(d.to->fd, buf.get(), static_cast<std::size_t>(n));
        if (w != n) {
            d.write_errors.fetch_add(1, std::memory_order_relaxed);
            d.last_write_errno.store(w < 0 ? errno : 0, std::memory_order_relaxed);
        }
        auto len = static_cast<std::uint64_t>(n);
        d.frames.fetch_add(1, std::memory_order_relaxed);
        d.bytes.fetch_add(len, std::memory_order_relaxed);
        if (len > d.largest.load(std::memory_order_relaxed)) d.largest.store(len, std::memory_order_relaxed);
        if (len >= vnet_len && (buf[bench::vnet_gso_type_offset] & ~bench::vnet_gso_ecn) != bench::vnet_gso_none)
            d.gso.fetch_add(1, std::memory_order_relaxed);
    }
}

void print(const char* name, const direction& d) {
    int e = d.last_write_errno.load();
    std::printf("tap_forwarder: %s frames %llu bytes %llu largest %llu gso %llu write_errors %llu%s%s\n", name,
                static_cast<unsigned long long>(d.frames.load()), static_cast<unsigned long long>(d.bytes.load()),
                static_cast<unsigned long long>(d.largest.load()), static_cast<unsigned long long>(d.gso.load()),
                static_cast<unsigned long long>(d.write_errors.load()), e ? " last " : "", e ? std::strerror(e) : "");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr,
                     "usage: tap_forwarder ENDPOINT_A ENDPOINT_B   (ENDPOINT: tun:NAME, or the path of a tap device)\n");
        return 2;
    }
    // SIGTERM/SIGINT are taken by sigwait() in the main thread only: block them before any thread exists.
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);

    endpoint a{argv[1]}, b{argv[2]};
    open_endpoint(a);
    open_endpoint(b);
    direction ab, ba;
    ab.from = &a;
    ab.to = &b;
    ba.from = &b;
    ba.to = &a;
    std::printf("tap_forwarder: a %s offloads %s\ntap_forwarder: b %s offloads %s\n", a.spec.c_str(),
                a.offloads_set ? "set" : "default", b.spec.c_str(), b.offloads_set ? "set" : "default");
    std::fflush(stdout);
    std::thread(forward, std::ref(ab)).detach();
    std::thread(forward, std::ref(ba)).detach();
    std::fprintf(stderr, "tap_forwarder: ready\n");

    int sig = 0;
    sigwait(&stop, &sig);
    print("a->b", ab);
    print("b->a", ba);
    std::fflush(stdout);
    // The forwarding threads are blocked in read(); ending the process closes both devices under them.
    _exit(0);
}
