// gso.cc — software GSO. See gso.h. Pure logic, unit-tested against known-good frames and fuzzed: every
// offset here comes from outside input and is bounds-checked before use.
#include "tapcore/gso.h"

#include <cerrno>
#include <cstring>

#include "tapcore/checksum.h"
#include "tapcore/ethernet.h"
#include "tapcore/frame.h"

namespace tapd {
namespace {

std::uint16_t get16(const std::uint8_t* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }
void put16(std::uint8_t* p, std::uint16_t v) {
    p[0] = static_cast<std::uint8_t>(v >> 8);
    p[1] = static_cast<std::uint8_t>(v);
}
std::uint32_t get32(const std::uint8_t* p) {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}
void put32(std::uint8_t* p, std::uint32_t v) {
    put16(p, static_cast<std::uint16_t>(v >> 16));
    put16(p + 2, static_cast<std::uint16_t>(v));
}

struct layout {
    std::size_t l3 = 0;  // offset of the IP header
    std::size_t l4 = 0;  // offset of the TCP/UDP header
    bool v6 = false;
    std::uint8_t proto = 0;
};

// Finds the IP and transport headers. Extension headers are not walked for IPv6: the kernel only
// produces GSO frames whose transport header directly follows, and csum_start confirms it below.
bool parse(const std::uint8_t* f, std::size_t len, layout& lo) {
    auto l2 = parse_l2(f, len);
    if (!l2) return false;
    const std::size_t off = l2->l3;
    lo.l3 = off;
    if (l2->ethertype == eth_p_ip) {
        if (len < off + 20 || (f[off] >> 4) != 4) return false;
        std::size_t ihl = (f[off] & 0x0f) * 4u;
        if (ihl < 20 || len < off + ihl) return false;
        lo.proto = f[off + 9];
        lo.l4 = off + ihl;
        lo.v6 = false;
        return true;
    }
    if (l2->ethertype == eth_p_ipv6) {
        if (len < off + 40 || (f[off] >> 4) != 6) return false;
        lo.proto = f[off + 6];
        lo.l4 = off + 40;
        lo.v6 = true;
        return true;
    }
    return false;
}

// Sum of the pseudo-header for a transport segment of `l4_len` bytes.
std::uint32_t pseudo_sum(const std::uint8_t* f, const layout& lo, std::size_t l4_len) {
    std::uint32_t s = 0;
    if (lo.v6) {
        s = csum_partial(f + lo.l3 + 8, 32, 0);
        s += static_cast<std::uint32_t>(l4_len >> 16) + static_cast<std::uint32_t>(l4_len & 0xffff);
    } else {
        s = csum_partial(f + lo.l3 + 12, 8, 0);
        s += static_cast<std::uint32_t>(l4_len);
    }
    return s + lo.proto;
}

void fix_ip(std::uint8_t* seg, const layout& lo, std::size_t seg_len, std::uint16_t id) {
    if (lo.v6) {
        put16(seg + lo.l3 + 4, static_cast<std::uint16_t>(seg_len - lo.l3 - 40));
        return;
    }
    std::uint8_t* ip = seg + lo.l3;
    put16(ip + 2, static_cast<std::uint16_t>(seg_len - lo.l3));
    put16(ip + 4, id);
    put16(ip + 10, 0);
    put16(ip + 10, csum_fold(csum_partial(ip, lo.l4 - lo.l3, 0)));
}

void fix_l4_csum(std::uint8_t* seg, const layout& lo, std::size_t seg_len, std::size_t field, bool partial) {
    std::size_t l4_len = seg_len - lo.l4;
    if (partial) {
        // CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum, not inverted; whoever completes
        // it sums from csum_start over this field and the rest.
        put16(seg + lo.l4 + field, static_cast<std::uint16_t>(~csum_fold(pseudo_sum(seg, lo, l4_len))));
        return;
    }
    put16(seg + lo.l4 + field, 0);
    std::uint16_t c = csum_fold(csum_partial(seg + lo.l4, l4_len, pseudo_sum(seg, lo, l4_len)));
    if (c == 0 && lo.proto == ipproto_udp) c = 0xffff;
    put16(seg + lo.l4 + field, c);
}

// Parses and checks a GSO frame against its header; fills the layout and the transport header length.
bool check_gso(const vnet_hdr& h, const std::uint8_t* frame, std::size_t len, layout& lo, bool& tcp,
               std::size_t& thlen) {
    if (!parse(frame, len, lo)) return false;
    const unsigned type = h.gso_type & ~vnet_gso_ecn;
    tcp = type == vnet_gso_tcpv4 || type == vnet_gso_tcpv6;
    if (tcp) {
        if (lo.proto != ipproto_tcp || lo.v6 != (type == vnet_gso_tcpv6)) return false;
    } else if (type == vnet_gso_udp_l4) {
        if (lo.proto != ipproto_udp) return false;
    } else {
        return false;  // UFO (IP fragmentation) is never produced by the kernel towards a tap reader
    }
    // The header must agree with the frame about where the transport header is.
    if ((h.flags & vnet_f_needs_csum) && h.csum_start != lo.l4) return false;
    if (tcp) {
        if (len < lo.l4 + 20) return false;
        thlen = (frame[lo.l4 + 12] >> 4) * 4u;
        if (thlen < 20 || len < lo.l4 + thlen) return false;
    } else {
        thlen = 8;
        if (len < lo.l4 + thlen) return false;
    }
    return true;
}

}  // namespace

int gso_complete_csum(const vnet_hdr& h, std::uint8_t* frame, std::size_t len) {
    if (!(h.flags & vnet_f_needs_csum)) return 0;
    return csum_complete(frame, len, h.csum_start, h.csum_offset);
}

long gso_payload_len(const vnet_hdr& h, const std::uint8_t* frame, std::size_t len) {
    layout lo;
    bool tcp = false;
    std::size_t thlen = 0;
    if (!check_gso(h, frame, len, lo, tcp, thlen)) return -EINVAL;
    return static_cast<long>(len - lo.l4 - thlen);
}

int gso_make_partial(vnet_hdr& h, std::uint8_t* frame, std::size_t len) {
    if (h.flags & vnet_f_needs_csum) return 0;
    layout lo;
    bool tcp = false;
    std::size_t thlen = 0;
    if (!check_gso(h, frame, len, lo, tcp, thlen)) return -EINVAL;
    std::size_t field = tcp ? 16 : 6;
    fix_l4_csum(frame, lo, len, field, true);
    h.flags |= vnet_f_needs_csum;
    h.csum_start = static_cast<std::uint16_t>(lo.l4);
    h.csum_offset = static_cast<std::uint16_t>(field);
    return 0;
}

long gso_segment(const vnet_hdr& h, const std::uint8_t* frame, std::size_t len, std::uint8_t* out,
                 bool partial_csum, segment_sink sink, void* ctx) {
    layout lo;
    bool tcp = false;
    std::size_t thlen = 0;
    if (!check_gso(h, frame, len, lo, tcp, thlen)) return -EINVAL;
    const std::size_t hdrs = lo.l4 + thlen;
    const std::size_t payload = len - hdrs;
    const std::size_t mss = h.gso_size;
    if (mss == 0) return -EINVAL;

    const std::uint16_t id0 = lo.v6 ? 0 : get16(frame + lo.l3 + 4);
    const std::uint32_t seq0 = tcp ? get32(frame + lo.l4 + 4) : 0;
    const std::uint8_t flags0 = tcp ? frame[lo.l4 + 13] : 0;
    constexpr std::uint8_t fin = 0x01, psh = 0x08, cwr = 0x80;

    long n = 0;
    std::size_t done = 0;
    do {
        std::size_t chunk = payload - done < mss ? payload - done : mss;
        std::size_t seg_len = hdrs + chunk;
        bool first = done == 0, last = done + chunk >= payload;
        std::memcpy(out, frame, hdrs);
        std::memcpy(out + hdrs, frame + hdrs + done, chunk);
        fix_ip(out, lo, seg_len, static_cast<std::uint16_t>(id0 + n));
        if (tcp) {
            put32(out + lo.l4 + 4, seq0 + static_cast<std::uint32_t>(done));
            std::uint8_t fl = flags0;
            if (!last) fl &= static_cast<std::uint8_t>(~(fin | psh));
            if (!first) fl &= static_cast<std::uint8_t>(~cwr);
            out[lo.l4 + 13] = fl;
        } else {
            put16(out + lo.l4 + 4, static_cast<std::uint16_t>(seg_len - lo.l4));
        }
        const std::size_t field = tcp ? 16 : 6;
        fix_l4_csum(out, lo, seg_len, field, partial_csum);
        vnet_hdr sh;
        if (partial_csum) {
            sh.flags = vnet_f_needs_csum;
            sh.csum_start = static_cast<std::uint16_t>(lo.l4);
            sh.csum_offset = static_cast<std::uint16_t>(field);
        }
        sink(ctx, sh, out, seg_len);
        ++n;
        done += chunk;
    } while (done < payload);
    return n;
}

}  // namespace tapd
