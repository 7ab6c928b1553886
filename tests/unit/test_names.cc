// test_names.cc — names written once: the enum name tables (names.h) read both ways, the options that
// produce those enums, and the one interface-name rule (ifname.h).
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "options.h"
#include "tapcore/ifname.h"
#include "tapcore/link_control.h"
#include "tapcore/names.h"
#include "tapcore/personality.h"

using namespace tapd;
using Catch::Matchers::Contains;

namespace {

// Every entry parses to its value and prints as its name; a name nobody wrote is nullopt.
template <typename E, std::size_t N>
void check_both_ways(const std::array<named<E>, N>& table) {
    for (const named<E>& n : table) {
        CAPTURE(std::string(n.name));
        auto v = from_name(table, n.name);
        REQUIRE(v.has_value());
        CHECK(*v == n.value);
        CHECK(to_name(table, n.value) == n.name);
    }
    CHECK_FALSE(from_name(table, ""));
    CHECK_FALSE(from_name(table, "nonsense"));
    CHECK(names_unique(table));
}

}  // namespace

TEST_CASE("names: every table reads both ways", "[names]") {
    check_both_ways(macvlan_mode_names);
    check_both_ways(personality_names);
    check_both_ways(backend_names);
}

TEST_CASE("names: the spellings tapd documents", "[names]") {
    CHECK(from_name(macvlan_mode_names, "bridge") == macvlan_mode::bridge);
    CHECK(from_name(macvlan_mode_names, "vepa") == macvlan_mode::vepa);
    CHECK(from_name(macvlan_mode_names, "private") == macvlan_mode::private_);
    CHECK(from_name(macvlan_mode_names, "passthru") == macvlan_mode::passthru);
    CHECK(from_name(personality_names, "linux") == personality_kind::linux_);
    CHECK(from_name(personality_names, "bsd") == personality_kind::bsd);
    CHECK(from_name(backend_names, "tun") == backend_kind::tun);
    CHECK(from_name(backend_names, "packet") == backend_kind::packet);
    // Case matters, as it did: "Bridge" is not a mode.
    CHECK_FALSE(from_name(macvlan_mode_names, "Bridge"));
    CHECK(name_choices(macvlan_mode_names) == "bridge, vepa, private or passthru");
    CHECK(name_choices(personality_names, "|", "|") == "linux|bsd");
}

TEST_CASE("names: options produce the enums, and an unknown mode is an error, never bridge",
          "[names][options]") {
    CHECK(parse_device_spec("mv0,backend=packet,lower=eth0").mode == macvlan_mode::bridge);  // the default
    for (const auto& n : macvlan_mode_names) {
        CAPTURE(std::string(n.name));
        device_spec d = parse_device_spec("mv0,backend=packet,lower=eth0,mode=" + std::string(n.name));
        CHECK(d.mode == n.value);
        CHECK(d.backend == backend_kind::packet);
    }
    // device_manager's old parse_mode turned any unknown string into bridge; no string reaches it now.
    CHECK_THROWS_WITH(parse_device_spec("mv0,backend=packet,lower=eth0,mode=source"),
                      Contains("mode must be bridge, vepa, private or passthru") && Contains("'source'"));
    CHECK(parse_device_spec("tap0,personality=bsd").personality == personality_kind::bsd);
    CHECK(parse_device_spec("tap0").personality == personality_kind::linux_);
    auto p = make_personality(personality_kind::bsd);
    CHECK(p->kind() == personality_kind::bsd);
    CHECK(make_personality(personality_kind::linux_)->kind() == personality_kind::linux_);
}

TEST_CASE("names: usage lists the choices from the tables", "[names][options]") {
    std::string u = usage();
    CHECK_THAT(u, Contains("mode=bridge|vepa|private|passthru"));
    CHECK_THAT(u, Contains("personality=linux|bsd"));
}

TEST_CASE("ifname: the kernel's dev_valid_name, plus tapd's separators and control characters", "[ifname]") {
    for (const char* good : {"t", "tap0", "abcdefghijklmno", "tap-0.x_y", "...", "tap%d", "mv@0"}) {
        CAPTURE(good);
        CHECK(valid_ifname(good));
        CHECK(ifname_problem(good) == nullptr);
    }
    struct bad {
        std::string name;
        const char* why;
    };
    for (const bad& b :
         {bad{"", "empty"}, bad{"abcdefghijklmnop", "longer than 15"}, bad{".", "'.'"}, bad{"..", "'.'"},
          bad{"a/b", "'/'"}, bad{"a:b", "':'"}, bad{"a b", "spaces"}, bad{"a\tb", "spaces"},
          bad{"a\nb", "spaces"}, bad{"a,b", "','"}, bad{"a=b", "'='"}, bad{std::string("a\0b", 3), "control"},
          bad{"a\x7f", "control"}, bad{"a\x01", "control"}}) {
        CAPTURE(b.name);
        const char* why = ifname_problem(b.name);
        REQUIRE(why != nullptr);
        CHECK_THAT(why, Contains(b.why));
        CHECK_FALSE(valid_ifname(b.name));
    }
    // Bytes above 0x7f are the kernel's business (it allows them), so tapd's too.
    CHECK(valid_ifname("t\xc3\xa4p"));
}

TEST_CASE("ifname: the limit is IFNAMSIZ - 1, and store_ifname pads and truncates", "[ifname]") {
    CHECK(ifnamsiz == 16);
    CHECK(valid_ifname(std::string(ifname_max, 'x')));
    CHECK_FALSE(valid_ifname(std::string(ifname_max + 1, 'x')));
    std::uint8_t field[ifnamsiz + 1];
    std::memset(field, 0xee, sizeof field);
    store_ifname(field, "tap7");
    CHECK(std::string(reinterpret_cast<const char*>(field)) == "tap7");
    for (std::size_t i = 4; i < ifnamsiz; ++i) CHECK(field[i] == 0);
    CHECK(field[ifnamsiz] == 0xee);  // nothing past the field
    store_ifname(field, std::string(40, 'y'));
    CHECK(std::string(reinterpret_cast<const char*>(field)) == std::string(ifname_max, 'y'));
    CHECK(field[ifname_max] == 0);
    CHECK(field[ifnamsiz] == 0xee);
}

TEST_CASE("ifname: options, node names and the error message use the one rule", "[ifname][options]") {
    CHECK_THROWS_WITH(parse_device_spec("abcdefghijklmnop"),
                      Contains("not a valid interface name") && Contains("longer than 15 bytes"));
    CHECK_THROWS_WITH(parse_device_spec("mv0,backend=packet,lower=a:b"), Contains("lower 'a:b'"));
    CHECK_THROWS_WITH(parse_device_spec("lbl,backend=packet,attach=a/b"), Contains("attach 'a/b'"));
    CHECK_THROWS_WITH(parse_device_spec("tap0,node=a\x01"), Contains("node"));
}
