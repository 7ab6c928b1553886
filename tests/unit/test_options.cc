// test_options.cc — tapd's command line (daemon/options.h is a contract: keep these passing).
#include <catch2/catch.hpp>

#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

#include "options.h"

using namespace tapd;
using Catch::Matchers::Contains;

namespace {

// Owns argv storage for parse_options; argv[0] is the program name.
struct args {
    std::vector<std::string> strs;
    std::vector<char*> ptrs;
    args(std::initializer_list<const char*> a) {
        strs.emplace_back("tapd");
        for (const char* s : a) strs.emplace_back(s);
        for (auto& s : strs) ptrs.push_back(s.data());
        ptrs.push_back(nullptr);
    }
    int argc() const { return static_cast<int>(strs.size()); }
    char** argv() { return ptrs.data(); }
};

options parse(std::initializer_list<const char*> a) {
    args x(a);
    return parse_options(x.argc(), x.argv());
}

}  // namespace

TEST_CASE("options: one device with defaults", "[options]") {
    options o = parse({"--device", "tap0"});
    REQUIRE(o.devices.size() == 1);
    CHECK(o.devices[0].name == "tap0");
    CHECK(o.devices[0].node == "tap0");
    CHECK(o.devices[0].txqueuelen == 0);
    CHECK(o.txqueuelen == 1000);
    CHECK_FALSE(o.foreground);
    CHECK_FALSE(o.fuse_mount_dir.has_value());
    CHECK_FALSE(o.help);
    CHECK_FALSE(o.version);
}

TEST_CASE("options: short and --device= forms", "[options]") {
    options o = parse({"-d", "tapA", "--device=tapB,node=nodeB", "-f"});
    REQUIRE(o.devices.size() == 2);
    CHECK(o.devices[0].name == "tapA");
    CHECK(o.devices[1].name == "tapB");
    CHECK(o.devices[1].node == "nodeB");
    CHECK(o.foreground);
}

TEST_CASE("options: repeated devices keep their order and settings", "[options]") {
    options o = parse({"--device", "tap0", "--device", "tap1,txqueuelen=64", "--device", "tap2,node=@ifindex",
                       "--txqueuelen", "500", "--foreground"});
    REQUIRE(o.devices.size() == 3);
    CHECK(o.devices[0].name == "tap0");
    CHECK(o.devices[0].node == "tap0");
    CHECK(o.devices[1].name == "tap1");
    CHECK(o.devices[1].txqueuelen == 64);
    CHECK(o.devices[2].name == "tap2");
    CHECK(o.devices[2].node == "@ifindex");
    CHECK(o.txqueuelen == 500);
    CHECK(o.foreground);
}

TEST_CASE("options: several devices may use node=@ifindex", "[options]") {
    options o = parse({"--device", "a,node=@ifindex", "--device", "b,node=@ifindex"});
    REQUIRE(o.devices.size() == 2);
    CHECK(o.devices[0].node == "@ifindex");
    CHECK(o.devices[1].node == "@ifindex");
}

TEST_CASE("options: --fuse-mount DIR", "[options]") {
    options o = parse({"--fuse-mount", "/run/tapd/dev", "--device", "tap0"});
    REQUIRE(o.fuse_mount_dir.has_value());
    CHECK(*o.fuse_mount_dir == "/run/tapd/dev");
    CHECK(o.devices.size() == 1);
}

TEST_CASE("options: --help and --version need no device", "[options]") {
    CHECK(parse({"--help"}).help);
    CHECK(parse({"-h"}).help);
    CHECK(parse({"--version"}).version);
}

TEST_CASE("options: no device → invalid_argument", "[options][errors]") {
    CHECK_THROWS_WITH(parse({}), Contains("no --device"));
    CHECK_THROWS_AS(parse({"--foreground"}), std::invalid_argument);
    CHECK_THROWS_AS(parse({"--txqueuelen", "10"}), std::invalid_argument);
}

TEST_CASE("options: a missing value names the option", "[options][errors]") {
    CHECK_THROWS_WITH(parse({"--device"}), Contains("--device") && Contains("needs a value"));
    CHECK_THROWS_WITH(parse({"--device", "tap0", "--fuse-mount"}), Contains("--fuse-mount"));
    CHECK_THROWS_WITH(parse({"--device", "tap0", "--txqueuelen"}), Contains("--txqueuelen"));
    CHECK_THROWS_WITH(parse({"-d"}), Contains("-d"));
}

TEST_CASE("options: unknown arguments are named", "[options][errors]") {
    CHECK_THROWS_WITH(parse({"--device", "tap0", "--bogus"}), Contains("--bogus"));
    CHECK_THROWS_WITH(parse({"tap0"}), Contains("'tap0'"));
    CHECK_THROWS_WITH(parse({"--devices", "tap0"}), Contains("--devices"));
}

TEST_CASE("options: duplicate device names and nodes", "[options][errors]") {
    CHECK_THROWS_WITH(parse({"--device", "tap0", "--device", "tap0"}), Contains("tap0") && Contains("twice"));
    CHECK_THROWS_WITH(parse({"--device", "tap0", "--device", "tap0,node=other"}), Contains("tap0"));
    CHECK_THROWS_WITH(parse({"--device", "tap0,node=n", "--device", "tap1,node=n"}), Contains("'n'"));
    // A node equal to another device's default node collides too.
    CHECK_THROWS_WITH(parse({"--device", "tap0", "--device", "tap1,node=tap0"}), Contains("tap0"));
}

TEST_CASE("options: --txqueuelen range", "[options]") {
    CHECK(parse({"--txqueuelen", "1", "-d", "t"}).txqueuelen == 1);
    CHECK(parse({"--txqueuelen", "1048576", "-d", "t"}).txqueuelen == 1048576);
    for (const char* bad : {"0", "1048577", "-1", "+5", "10x", "", " 5", "99999999999999999999"}) {
        CAPTURE(bad);
        CHECK_THROWS_WITH(parse({"--txqueuelen", bad, "-d", "t"}), Contains("--txqueuelen"));
    }
}

// ---- parse_device_spec ----

TEST_CASE("device spec: name only", "[options][spec]") {
    device_spec d = parse_device_spec("tap0");
    CHECK(d.name == "tap0");
    CHECK(d.node == "tap0");
    CHECK(d.txqueuelen == 0);
}

TEST_CASE("device spec: node= and txqueuelen= in any order", "[options][spec]") {
    device_spec a = parse_device_spec("tap0,node=macvtap7,txqueuelen=2000");
    CHECK(a.name == "tap0");
    CHECK(a.node == "macvtap7");
    CHECK(a.txqueuelen == 2000);
    device_spec b = parse_device_spec("tap0,txqueuelen=1,node=x");
    CHECK(b.node == "x");
    CHECK(b.txqueuelen == 1);
    device_spec c = parse_device_spec("tap0,node=@ifindex");
    CHECK(c.node == "@ifindex");
    // The last value of a repeated key wins.
    device_spec d = parse_device_spec("tap0,node=a,node=b");
    CHECK(d.node == "b");
}

TEST_CASE("device spec: interface names of 1 to 15 characters", "[options][spec]") {
    CHECK(parse_device_spec("t").name == "t");
    CHECK(parse_device_spec("abcdefghijklmno").name == "abcdefghijklmno");  // 15 = IFNAMSIZ - 1
    CHECK_THROWS_WITH(parse_device_spec("abcdefghijklmnop"), Contains("abcdefghijklmnop"));
    CHECK_THROWS_AS(parse_device_spec(""), std::invalid_argument);
    CHECK_THROWS_AS(parse_device_spec(",node=x"), std::invalid_argument);
}

TEST_CASE("device spec: bad interface names are named in the error", "[options][spec][errors]") {
    for (const char* bad : {"tap/0", "/", "tap:0", "tap 0", "tap\t0", ".", "..", "ta=p"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS(parse_device_spec(bad), std::invalid_argument);
        CHECK_THROWS_WITH(parse_device_spec(bad), Contains("not a valid interface name"));
    }
    CHECK_THROWS_WITH(parse_device_spec("ta/p"), Contains("'ta/p'"));
    // Names that look odd but the kernel allows.
    CHECK(parse_device_spec("tap-0.x_y").name == "tap-0.x_y");
    CHECK(parse_device_spec("...").name == "...");
}

TEST_CASE("device spec: bad node names", "[options][spec][errors]") {
    CHECK_THROWS_WITH(parse_device_spec("tap0,node=a/b"), Contains("node 'a/b'"));
    CHECK_THROWS_WITH(parse_device_spec("tap0,node=.."), Contains("node '..'"));
    CHECK_THROWS_WITH(parse_device_spec("tap0,node="), Contains("node ''"));
    CHECK_THROWS_WITH(parse_device_spec("tap0,node=abcdefghijklmnop"), Contains("abcdefghijklmnop"));
}

TEST_CASE("device spec: unknown keys and malformed pairs", "[options][spec][errors]") {
    CHECK_THROWS_WITH(parse_device_spec("tap0,mtu=9000"), Contains("unknown key 'mtu'") && Contains("tap0"));
    CHECK_THROWS_WITH(parse_device_spec("tap0,node"), Contains("'node' is not key=value"));
    CHECK_THROWS_WITH(parse_device_spec("tap0,"), Contains("not key=value"));
    CHECK_THROWS_WITH(parse_device_spec("tap0,,node=x"), Contains("not key=value"));
    CHECK_THROWS_WITH(parse_device_spec("tap0,=x"), Contains("unknown key ''"));
}

TEST_CASE("device spec: txqueuelen range", "[options][spec][errors]") {
    CHECK(parse_device_spec("t,txqueuelen=1048576").txqueuelen == 1048576);
    for (const char* bad : {"t,txqueuelen=0", "t,txqueuelen=1048577", "t,txqueuelen=", "t,txqueuelen=-3",
                            "t,txqueuelen=0x10", "t,txqueuelen=12 "}) {
        CAPTURE(bad);
        CHECK_THROWS_WITH(parse_device_spec(bad), Contains("txqueuelen"));
    }
}

TEST_CASE("options: a bad --device spec propagates its message", "[options][errors]") {
    CHECK_THROWS_WITH(parse({"--device", "tap0,colour=red"}), Contains("unknown key 'colour'"));
    CHECK_THROWS_WITH(parse({"--device=bad/name"}), Contains("bad/name"));
}

TEST_CASE("usage mentions every option", "[options]") {
    std::string u = usage();
    for (const char* opt : {"--device", "node=", "@ifindex", "txqueuelen=", "--fuse-mount", "--txqueuelen",
                            "--foreground", "--help", "--version", "--clone", "personality=", "backend=packet",
                            "lower=", "attach=", "mode="}) {
        CAPTURE(opt);
        CHECK(u.find(opt) != std::string::npos);
    }
}

// ---- packet backend, personality, --clone ----

TEST_CASE("device spec: tun backend is the default", "[options][spec]") {
    device_spec d = parse_device_spec("tap0");
    CHECK(d.backend == backend_kind::tun);
    CHECK(d.lower.empty());
    CHECK(d.attach.empty());
    CHECK(d.mode == macvlan_mode::bridge);
    CHECK(d.personality == personality_kind::linux_);
    CHECK(parse_device_spec("tap0,backend=tun").backend == backend_kind::tun);
}

TEST_CASE("device spec: backend=packet needs exactly one of lower= and attach=", "[options][spec]") {
    device_spec a = parse_device_spec("mv0,backend=packet,lower=eth0");
    CHECK(a.backend == backend_kind::packet);
    CHECK(a.lower == "eth0");
    CHECK(a.attach.empty());
    CHECK(a.mode == macvlan_mode::bridge);
    CHECK(a.node == "@ifindex");  // macvtap's /dev/tap<ifindex> by default
    device_spec b = parse_device_spec("lbl,backend=packet,attach=veth1,mode=vepa");
    CHECK(b.attach == "veth1");
    CHECK(b.mode == macvlan_mode::vepa);
    device_spec c = parse_device_spec("mv1,lower=eth0,backend=packet,node=mytap");  // key order is free
    CHECK(c.node == "mytap");
    for (const char* m : {"bridge", "vepa", "private", "passthru"}) {
        CAPTURE(m);
        CHECK(to_name(macvlan_mode_names, parse_device_spec(std::string("m,backend=packet,lower=e,mode=") + m).mode) ==
              m);
    }
    CHECK_THROWS_WITH(parse_device_spec("mv0,backend=packet"), Contains("exactly one of lower=IF or attach=IF"));
    CHECK_THROWS_WITH(parse_device_spec("mv0,backend=packet,lower=a,attach=b"), Contains("exactly one"));
    CHECK_THROWS_WITH(parse_device_spec("tap0,lower=eth0"), Contains("need backend=packet"));
    CHECK_THROWS_WITH(parse_device_spec("tap0,attach=eth0"), Contains("need backend=packet"));
    CHECK_THROWS_WITH(parse_device_spec("mv0,backend=raw"), Contains("backend must be tun or packet") && Contains("'raw'"));
    CHECK_THROWS_WITH(parse_device_spec("mv0,backend=packet,lower=eth0,mode=source"), Contains("'source'"));
    CHECK_THROWS_WITH(parse_device_spec("mv0,backend=packet,lower=a/b"), Contains("lower 'a/b'"));
    CHECK_THROWS_WITH(parse_device_spec("mv0,backend=packet,attach=abcdefghijklmnop"), Contains("attach 'abcdefghijklmnop'"));
}

TEST_CASE("options: several packet devices share the @ifindex default node", "[options]") {
    options o = parse({"-d", "mv0,backend=packet,lower=eth0", "-d", "mv1,backend=packet,lower=eth0"});
    REQUIRE(o.devices.size() == 2);
    CHECK(o.devices[0].node == "@ifindex");
    CHECK(o.devices[1].node == "@ifindex");
}

TEST_CASE("device spec: personality=linux|bsd", "[options][spec]") {
    CHECK(parse_device_spec("tap0,personality=bsd").personality == personality_kind::bsd);
    CHECK(parse_device_spec("tap0,personality=linux").personality == personality_kind::linux_);
    CHECK_THROWS_WITH(parse_device_spec("tap0,personality=freebsd"),
                      Contains("personality must be linux or bsd") && Contains("'freebsd'"));
}

TEST_CASE("options: --clone alone is something to serve, but not with --fuse-mount", "[options]") {
    options o = parse({"--clone"});
    CHECK(o.clone);
    CHECK(o.devices.empty());
    CHECK_FALSE(parse({"-d", "tap0"}).clone);
    CHECK_THROWS_WITH(parse({"--clone", "--fuse-mount", "/mnt"}), Contains("--clone") && Contains("--fuse-mount"));
}
