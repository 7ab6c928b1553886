// packet_backend.cc — the network side over AF_PACKET.
//
// Theory of operation: one SOCK_RAW socket bound to the link with PACKET_VNET_HDR, so every frame
// carries a virtio_net_hdr and GSO/checksum-offload metadata survives both ways (the same 10-byte
// host-order header as the TUN backend: device.cc treats both alike), and PACKET_IGNORE_OUTGOING, so
// the frames tapd itself transmits are not looped back to its readers.
//
// VLAN: the kernel takes an 802.1Q tag out of the frame before any packet socket sees it (hardware
// acceleration style) and reports it in PACKET_AUXDATA; receive() puts the 4 bytes back where they were,
// as tap_put_user does for macvtap readers, using 4 bytes of headroom kept free for it.
//
// Receive: recvmmsg() fills a batch of preallocated slots (each large enough for a 64 KiB GSO frame,
// with headroom) in one system call; receive() hands them out one by one and refills only when the batch
// is used up. Why not a PACKET_MMAP ring: TPACKET_V3 wakes readers only when a block retires (a timer
// of at least 1 ms: latency a tap device must not add), and TPACKET_V2's fixed frame slots would need 64
// KiB each to keep GSO frames whole. See bench/ for the figure against a plain recv() reader.
#include "tapcore/packet_backend.h"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tapcore/frame.h"
#include "tapcore/log.h"
#include "tapcore/vnet_hdr.h"

namespace tapd {
namespace {
// The header lands vlan_hlen bytes later than the backend contract needs, so a re-inserted tag still
// leaves frame_headroom - vnet_hdr_len bytes in front of it.
constexpr std::size_t slot_offset = frame_headroom - vnet_hdr_len + vlan_hlen;
constexpr std::size_t slot_size = frame_headroom + vlan_hlen + max_gso_frame;
}  // namespace

packet_backend::packet_backend(unique_fd fd, int ifindex)
    : fd_(std::move(fd)), ifindex_(ifindex), bufs_(std::make_unique_for_overwrite<std::uint8_t[]>(slot_size * batch)) {
    for (unsigned i = 0; i < batch; ++i) {
        iovs_[i] = {bufs_.get() + i * slot_size + slot_offset, slot_size - slot_offset};
        msgs_[i].msg_hdr.msg_iov = &iovs_[i];
        msgs_[i].msg_hdr.msg_iovlen = 1;
        msgs_[i].msg_hdr.msg_control = cmsgs_[i].data();
        msgs_[i].msg_hdr.msg_controllen = cmsg_space;
    }
}

result<std::unique_ptr<packet_backend>> packet_backend::create(int ifindex, bool promisc) {
    unique_fd fd(::socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL)));
    if (!fd) return errno_error("socket(AF_PACKET)");
    int one = 1;
    if (::setsockopt(fd.get(), SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) < 0)
        return errno_error("PACKET_VNET_HDR");
    if (::setsockopt(fd.get(), SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0)
        return errno_error("PACKET_IGNORE_OUTGOING");
    if (::setsockopt(fd.get(), SOL_PACKET, PACKET_AUXDATA, &one, sizeof one) < 0) return errno_error("PACKET_AUXDATA");
    // Bursts arrive while the loop is busy elsewhere: a larger receive buffer absorbs them.
    // SO_RCVBUFFORCE needs CAP_NET_ADMIN; without it the socket keeps the default (rmem_default).
    int rcvbuf = 4 << 20;
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0)
        log::writef(log::level::info, "packet socket on ifindex %d: SO_RCVBUFFORCE %d refused (%s); default receive buffer",
                    ifindex, rcvbuf, std::strerror(errno));
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = ifindex;
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sll), sizeof sll) < 0)
        return errno_error("bind AF_PACKET to ifindex " + std::to_string(ifindex));
    if (promisc) {
        packet_mreq mr{};
        mr.mr_ifindex = ifindex;
        mr.mr_type = PACKET_MR_PROMISC;  // undone by the kernel when the socket closes
        if (::setsockopt(fd.get(), SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) < 0)
            return errno_error("PACKET_MR_PROMISC on ifindex " + std::to_string(ifindex));
    }
    return std::unique_ptr<packet_backend>(new packet_backend(std::move(fd), ifindex));
}

bool packet_backend::link_gone() noexcept {
    char name[IF_NAMESIZE];
    return ::if_indextoname(static_cast<unsigned>(ifindex_), name) == nullptr && errno == ENXIO;
}

long packet_backend::refill() noexcept {
    for (unsigned i = 0; i < batch; ++i) {
        msgs_[i].msg_len = 0;
        msgs_[i].msg_hdr.msg_controllen = cmsg_space;  // recvmmsg shrinks it to what it wrote
    }
    int n = ::recvmmsg(fd_.get(), msgs_.data(), batch, MSG_DONTWAIT, nullptr);
    if (n < 0) return -errno;
    got_ = static_cast<unsigned>(n);
    next_ = 0;
    return n;
}

long packet_backend::receive(std::uint8_t** frame) noexcept {
    if (next_ >= got_) {
        long n = refill();
        if (n <= 0) return n == 0 ? -EAGAIN : n;
    }
    unsigned i = next_++;
    auto* p = static_cast<std::uint8_t*>(iovs_[i].iov_base);
    long len = msgs_[i].msg_len;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msgs_[i].msg_hdr); c; c = CMSG_NXTHDR(&msgs_[i].msg_hdr, c)) {
        if (c->cmsg_level != SOL_PACKET || c->cmsg_type != PACKET_AUXDATA) continue;
        tpacket_auxdata aux;
        std::memcpy(&aux, CMSG_DATA(c), sizeof aux);
        bool tagged = (aux.tp_status & TP_STATUS_VLAN_VALID) || aux.tp_vlan_tci;
        if (!tagged || len < static_cast<long>(vnet_hdr_len + eth_type_offset)) break;
        std::uint16_t tpid = (aux.tp_status & TP_STATUS_VLAN_TPID_VALID) ? aux.tp_vlan_tpid : ETH_P_8021Q;
        // Header and MAC addresses move 4 bytes into the headroom; the tag goes where they were.
        std::memmove(p - vlan_hlen, p, vnet_hdr_len + eth_type_offset);
        p -= vlan_hlen;
        std::uint8_t* tag = p + vnet_hdr_len + eth_type_offset;
        tag[0] = static_cast<std::uint8_t>(tpid >> 8);
        tag[1] = static_cast<std::uint8_t>(tpid);
        tag[2] = static_cast<std::uint8_t>(aux.tp_vlan_tci >> 8);
        tag[3] = static_cast<std::uint8_t>(aux.tp_vlan_tci);
        // virtio_net_hdr_from_skb(..., vlan_hlen): a partial checksum now starts 4 bytes later.
        vnet_hdr h = vnet_hdr_decode(p, true);
        if (h.flags & vnet_f_needs_csum) {
            h.csum_start = static_cast<std::uint16_t>(h.csum_start + vlan_hlen);
            vnet_hdr_encode(h, true, p);
        }
        len += vlan_hlen;
        break;
    }
    *frame = p;
    return len;
}

long packet_backend::transmit(const std::uint8_t* hdr, const std::uint8_t* frame, std::size_t len) noexcept {
    iovec iov[2] = {{const_cast<std::uint8_t*>(hdr), vnet_hdr_len}, {const_cast<std::uint8_t*>(frame), len}};
    msghdr m{};
    m.msg_iov = iov;
    m.msg_iovlen = 2;
    ssize_t n = ::sendmsg(fd_.get(), &m, MSG_DONTWAIT);
    if (n < 0) return -errno;
    return n >= static_cast<ssize_t>(vnet_hdr_len) ? n - static_cast<ssize_t>(vnet_hdr_len) : 0;
}

}  // namespace tapd
