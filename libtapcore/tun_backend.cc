// tun_backend.cc — the network side over /dev/net/tun.
//
// Theory of operation: the TUN fd is opened non-blocking with IFF_VNET_HDR and a 10-byte header, so one
// read() returns one frame the kernel transmitted on the interface, header first, and one writev() of
// [header, frame] injects one frame as if the interface had received it. Checksum and TCP segmentation
// offloads are enabled on the TUN fd, so the kernel hands over TCP super-frames with partial checksums —
// one read per 64 KiB instead of per MSS — and device.cc segments them in software only for readers
// that did not accept them.
#include "tapcore/tun_backend.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/uio.h>

#include <cstring>

#include "tapcore/frame.h"
#include "tapcore/ifname.h"
#include "tapcore/log.h"
#include "tapcore/vnet_hdr.h"

namespace tapd {

result<std::unique_ptr<tun_backend>> tun_backend::create(const std::string& name) {
    if (const char* why = ifname_problem(name))
        return make_error(EINVAL, "TUNSETIFF '" + name + "': invalid interface name (" + why + ")");
    unique_fd fd(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
    if (!fd) return errno_error("open /dev/net/tun");

    ifreq ifr{};
    std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    if (::ioctl(fd.get(), TUNSETIFF, &ifr) < 0) return errno_error("TUNSETIFF " + name);

    int hdr_sz = static_cast<int>(vnet_hdr_len);
    if (::ioctl(fd.get(), TUNSETVNETHDRSZ, &hdr_sz) < 0) return errno_error("TUNSETVNETHDRSZ " + name);
    unsigned long offloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
    if (::ioctl(fd.get(), TUNSETOFFLOAD, offloads) < 0) return errno_error("TUNSETOFFLOAD " + name);

    ifr.ifr_name[IFNAMSIZ - 1] = '\0';
    return std::unique_ptr<tun_backend>(new tun_backend(std::move(fd), ifr.ifr_name));
}

namespace {
constexpr std::size_t rx_offset = frame_headroom - vnet_hdr_len;
constexpr std::size_t rx_size = frame_headroom + max_gso_frame;
}  // namespace

tun_backend::tun_backend(unique_fd fd, std::string ifname)
    : fd_(std::move(fd)), ifname_(std::move(ifname)), rx_buf_(std::make_unique_for_overwrite<std::uint8_t[]>(rx_size)) {}

long tun_backend::receive(std::uint8_t** frame) noexcept {
    ssize_t n = ::read(fd_.get(), rx_buf_.get() + rx_offset, rx_size - rx_offset);
    if (n < 0) return -errno;
    *frame = rx_buf_.get() + rx_offset;
    return n;
}

long tun_backend::transmit(const std::uint8_t* hdr, const std::uint8_t* frame, std::size_t len) noexcept {
    iovec iov[2] = {{const_cast<std::uint8_t*>(hdr), vnet_hdr_len}, {const_cast<std::uint8_t*>(frame), len}};
    ssize_t n = ::writev(fd_.get(), iov, 2);
    if (n < 0) return -errno;
    return n >= static_cast<ssize_t>(vnet_hdr_len) ? n - static_cast<ssize_t>(vnet_hdr_len) : 0;
}

}  // namespace tapd

namespace tapd {

bool tun_backend::link_gone() noexcept {
    // A deleted TUN interface detaches its fds (TUNGETIFF then fails with EBADFD); one moved to another
    // namespace keeps them attached and working.
    ifreq ifr{};
    return ::ioctl(fd_.get(), TUNGETIFF, &ifr) < 0 && errno == EBADFD;
}

void tun_backend::set_carrier(bool on) noexcept {
    int v = on ? 1 : 0;
    // Linux >= 4.18; older kernels keep carrier on, which only the BSD personality's readers notice.
    if (::ioctl(fd_.get(), TUNSETCARRIER, &v) < 0)
        log::writef(log::level::debug, "TUNSETCARRIER %s %s: %s", ifname_.c_str(), on ? "on" : "off",
                    std::strerror(errno));
}

}  // namespace tapd
