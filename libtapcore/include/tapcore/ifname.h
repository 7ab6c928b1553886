// ifname.h — the one rule for interface (and device node) names, and the size of the field that holds
// one.
//
// The kernel's dev_valid_name: 1 to IFNAMSIZ - 1 bytes, not "." or "..", no '/', ':' or whitespace. tapd
// also refuses control characters (they would corrupt its log lines) and ',' and '=' (the separators of
// `--device NAME,key=value`), so every name it accepts on the command line is one it can pass on, print,
// and use as a file name under /dev. Every module checks names with ifname_problem(), nothing else.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tapd {

inline constexpr std::size_t ifnamsiz = 16;              // IFNAMSIZ (static_asserted in kernel_abi.cc)
inline constexpr std::size_t ifname_max = ifnamsiz - 1;  // the longest name: the field keeps a NUL

// Why `name` is not a valid interface name (a short reason, "longer than 15 bytes"), or nullptr.
const char* ifname_problem(std::string_view name) noexcept;
inline bool valid_ifname(std::string_view name) noexcept {
    return ifname_problem(name) == nullptr;
}

// Writes `name` into an ifr_name-style field of ifnamsiz bytes: truncated to ifname_max, NUL-padded.
void store_ifname(std::uint8_t* field, std::string_view name) noexcept;

}  // namespace tapd
