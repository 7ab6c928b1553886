// tap_ioctl.h — the ioctls of a tap device, as tables: one row per ioctl saying what it carries and what
// does it, the way a netlink family's nla_policy table describes its attributes.
//
// CUSE hands tapd unrestricted ioctls: the kernel copies nothing until tapd names the user memory to
// copy in and out (fuse_reply_ioctl_retry). The numbers do not tell the sizes truthfully (TUNSETIFF
// claims an int but carries a struct ifreq), so a personality's table is the source of truth for every
// ioctl it serves: the front end looks the command up (find_ioctl), copies what the row says, and runs
// the row through call_ioctl, which checks the sizes once for every handler. A command that is not in the
// table gets the personality's unknown_ioctl() errno. 32-bit callers have a 32-byte struct ifreq; the
// fields used here all sit in its first 32 bytes.
//
// Errors: handlers return 0 or -errno in ioctl_result::rc (result.h states the convention).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace tapd {

class queue;

// struct ifreq as tapd uses it (static_asserted against <net/if.h> in kernel_abi.cc).
inline constexpr std::size_t ifreq_size = 40;        // sizeof(struct ifreq) on 64-bit Linux
inline constexpr std::size_t ifreq_size_32 = 32;     // ... for a 32-bit (compat) caller
inline constexpr std::size_t ifr_flags_offset = 16;  // ifr_flags and ifr_hwaddr both start here

// What an ioctl's argument is, in one direction.
enum class ioctl_arg : std::uint8_t {
    none,     // nothing
    int_,     // an int behind the pointer
    ifreq,    // a struct ifreq as the caller lays it out: 32 bytes for a 32-bit caller, 40 otherwise
    ifreq64,  // 40 bytes whoever calls (the number encodes it: TAPGIFNAME)
    ifreq32,  // 32 bytes whoever calls (a 32-bit program's own TAPGIFNAME number)
    value,    // (in only) the argument is the pointer-sized value itself; nothing is copied
};

constexpr std::size_t ioctl_arg_size(ioctl_arg a, bool compat32) {
    switch (a) {
        case ioctl_arg::int_:
            return sizeof(int);
        case ioctl_arg::ifreq:
            return compat32 ? ifreq_size_32 : ifreq_size;
        case ioctl_arg::ifreq64:
            return ifreq_size;
        case ioctl_arg::ifreq32:
            return ifreq_size_32;
        case ioctl_arg::none:
        case ioctl_arg::value:
            return 0;
    }
    return 0;
}

// What the front end copies for one call.
struct ioctl_spec {
    std::size_t in_size = 0;   // bytes to copy from the user at `arg` before the call
    std::size_t out_size = 0;  // bytes to copy back to the user at `arg` after the call
    bool by_value = false;     // `arg` itself is the argument (TUNSETOFFLOAD)
};

// One call, as the handler sees it: `in` holds in_len bytes copied from the user (at least the row's in
// size), `out` has room for out_cap bytes (at least the row's out size).
struct ioctl_call {
    unsigned cmd = 0;
    std::uint64_t arg = 0;  // the raw argument: the value of a by-value ioctl
    const std::uint8_t* in = nullptr;
    std::size_t in_len = 0;
    std::uint8_t* out = nullptr;
    std::size_t out_cap = 0;
};

struct ioctl_result {
    long rc = 0;              // 0 or -errno
    std::size_t out_len = 0;  // bytes of `out` to return
};

using ioctl_handler = ioctl_result (*)(queue& q, const ioctl_call& c) noexcept;

struct ioctl_row {
    unsigned cmd;
    const char* name;
    ioctl_arg in;
    ioctl_arg out;
    ioctl_handler run;

    constexpr ioctl_spec spec(bool compat32) const {
        return {ioctl_arg_size(in, compat32), ioctl_arg_size(out, compat32), in == ioctl_arg::value};
    }
    // The same ioctl (number, arguments) with another handler: a personality that narrows what a shared
    // ioctl accepts reuses the row it narrows.
    constexpr ioctl_row with_handler(ioctl_handler h) const { return {cmd, name, in, out, h}; }
};

using ioctl_table = std::span<const ioctl_row>;

// Each command has one row (checked at compile time next to each table).
template <std::size_t N>
constexpr bool ioctl_cmds_unique(const std::array<ioctl_row, N>& table) {
    for (std::size_t i = 0; i < N; ++i)
        for (std::size_t j = 0; j < i; ++j)
            if (table[i].cmd == table[j].cmd) return false;
    return true;
}

// The row for `cmd`, or nullptr when the table does not serve it.
const ioctl_row* find_ioctl(ioctl_table table, unsigned cmd) noexcept;

// Runs `row` for one call: -EFAULT when `c` has fewer bytes than the row's sizes (the kernel's
// copy_from_user/copy_to_user failing), otherwise the handler's answer.
ioctl_result call_ioctl(const ioctl_row& row, queue& q, const ioctl_call& c, bool compat32) noexcept;

// macvtap's ioctls (tap_ioctl in drivers/net/tap.c): the Linux personality's table.
ioctl_table linux_ioctls() noexcept;

// TUNSETIFF's flag check (pure): the flags a queue ends up with, or nullopt (→ EINVAL).
// Requires IFF_TAP|IFF_NO_PI; allows IFF_VNET_HDR and IFF_MULTI_QUEUE; IFF_ONE_QUEUE is accepted and
// dropped, as Linux tun does (OpenVPN sets it).
std::optional<unsigned> tunsetiff_flags(unsigned current, unsigned requested);

}  // namespace tapd
