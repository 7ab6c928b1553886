// ifname.cc — see ifname.h.
#include "tapcore/ifname.h"

#include <cstring>

namespace tapd {

static_assert(ifname_max == 15, "ifname_problem's message names the limit");

const char* ifname_problem(std::string_view name) noexcept {
    if (name.empty()) return "empty";
    if (name.size() > ifname_max) return "longer than 15 bytes";
    if (name == "." || name == "..") return "'.' and '..' are not names";
    for (char c : name) {
        auto u = static_cast<unsigned char>(c);
        if (c == '/' || c == ':' || c == ',' || c == '=' || u <= ' ' || u == 0x7f)
            return "no '/', ':', ',', '=', spaces or control characters";
    }
    return nullptr;
}

void store_ifname(std::uint8_t* field, std::string_view name) noexcept {
    std::size_t n = name.size() < ifname_max ? name.size() : ifname_max;
    std::memset(field, 0, ifnamsiz);
    std::memcpy(field, name.data(), n);
}

}  // namespace tapd
