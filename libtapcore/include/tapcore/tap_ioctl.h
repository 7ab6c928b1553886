// tap_ioctl.h — the TUN*/SIOC* ioctls of a tap device: what each one carries, and what it does.
//
// CUSE hands tapd unrestricted ioctls: the kernel copies nothing until tapd names the user memory to
// copy in and out (fuse_reply_ioctl_retry). The numbers do not tell the sizes truthfully (TUNSETIFF
// claims an int but carries a struct ifreq), so this table is the source of truth for every ioctl tapd
// serves. 32-bit callers have a 32-byte struct ifreq; the fields used here all sit in its first 32 bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

namespace tapd {

class queue;

inline constexpr std::size_t ifreq_size = 40;       // sizeof(struct ifreq) on 64-bit Linux
inline constexpr std::size_t ifreq_size_32 = 32;    // ... for a 32-bit (compat) caller
inline constexpr std::size_t ifr_flags_offset = 16; // ifr_flags and ifr_hwaddr both start here

struct ioctl_spec {
    std::size_t in_size = 0;   // bytes to copy from the user at `arg` before the call
    std::size_t out_size = 0;  // bytes to copy back to the user at `arg` after the call
    bool by_value = false;     // `arg` itself is the argument (TUNSETOFFLOAD)
};

// What the Linux personality's ioctl `cmd` carries; nullopt for ioctls it does not serve (→ EINVAL).
std::optional<ioctl_spec> linux_ioctl_spec(unsigned cmd, bool compat32);

struct ioctl_result {
    long rc = 0;               // 0 or negative errno
    std::size_t out_len = 0;   // bytes of `out` to return
};

// Runs ioctl `cmd` on open file `q`. `in` holds spec.in_size bytes copied from the user, `out` has room for
// spec.out_size bytes. Never throws; control path (may talk netlink for the MAC address).
ioctl_result linux_ioctl(queue& q, unsigned cmd, std::uint64_t arg, const std::uint8_t* in, std::size_t in_len,
                         std::uint8_t* out, std::size_t out_cap) noexcept;

// TUNSETIFF's flag check (pure): the flags a queue ends up with, or nullopt (→ EINVAL).
// Requires IFF_TAP|IFF_NO_PI; allows IFF_VNET_HDR and IFF_MULTI_QUEUE; IFF_ONE_QUEUE is accepted and
// dropped, as Linux tun does (OpenVPN sets it).
std::optional<unsigned> tunsetiff_flags(unsigned current, unsigned requested);

}  // namespace tapd
