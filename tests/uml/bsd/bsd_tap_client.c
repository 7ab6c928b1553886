/* bsd_tap_client.c: a tap client written the way one is for NetBSD's tap(4), built against tapd's
 * <tapd/if_tap.h> instead of <net/if_tap.h>, for bsd_clone_test.sh (run inside UML).
 *
 *   bsd_tap_client [DEV] HOLDFILE        DEV defaults to /dev/tap (tapd --clone)
 *
 * Opens the cloning node, asks TAPGIFNAME which interface it got, configures it with ioctls on an
 * AF_INET socket (SIOCSIFADDR 10.0.9.1, SIOCSIFNETMASK /24, SIOCSIFFLAGS IFF_UP), then reads frames
 * until the kernel asks (ARP) for 10.0.9.2, answers as 02:00:00:00:09:02, and reads on until the kernel
 * sends an IPv4 frame to that MAC (it learned it). Something else must make the kernel talk to
 * 10.0.9.2 (the test runs `ping 10.0.9.2` in a loop). Then prints "done IFNAME" and keeps the device
 * (and so the interface) open until HOLDFILE exists, so the test can look at the neighbour table.
 *
 * Output on stdout: "ifname N", "configured N", "arp-request", "arp-reply-written", "ipv4-to-peer",
 * "done N". Exit 0 on success; 1 with a message on stderr otherwise. Every wait has a deadline.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/if_ether.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <tapd/if_tap.h>

static const unsigned char peer_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x09, 0x02};

static void die(const char* what) {
    fprintf(stderr, "bsd_tap_client: %s: %s\n", what, strerror(errno));
    exit(1);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void set_addr(int s, const char* ifname, unsigned long req, const char* addr, const char* what) {
    struct ifreq ifr;
    struct sockaddr_in sin;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    inet_pton(AF_INET, addr, &sin.sin_addr);
    memcpy(&ifr.ifr_addr, &sin, sizeof sin);
    if (ioctl(s, req, &ifr) < 0) die(what);
}

/* Reads one frame (waiting until `deadline`); returns its length, 0 on timeout. */
static ssize_t read_frame(int fd, unsigned char* buf, size_t cap, double deadline) {
    for (;;) {
        double left = deadline - now();
        if (left <= 0) return 0;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, (int)(left * 1000) + 1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) die("poll");
        if (r == 0) return 0;
        ssize_t n = read(fd, buf, cap);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n < 0) die("read");
        return n;
    }
}

int main(int argc, char** argv) {
    const char* dev = argc > 2 ? argv[1] : "/dev/tap";
    const char* hold = argc > 2 ? argv[2] : argc > 1 ? argv[1] : NULL;
    if (!hold) {
        fprintf(stderr, "usage: bsd_tap_client [DEV] HOLDFILE\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    int fd = open(dev, O_RDWR);
    if (fd < 0) die(dev);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    if (ioctl(fd, TAPGIFNAME, &ifr) < 0) die("TAPGIFNAME");
    char ifname[IFNAMSIZ];
    memcpy(ifname, ifr.ifr_name, IFNAMSIZ);
    ifname[IFNAMSIZ - 1] = 0;
    printf("ifname %s\n", ifname);

    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (s < 0) die("socket");
    set_addr(s, ifname, SIOCSIFADDR, "10.0.9.1", "SIOCSIFADDR");
    set_addr(s, ifname, SIOCSIFNETMASK, "255.255.255.0", "SIOCSIFNETMASK");
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) die("SIOCGIFFLAGS");
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) die("SIOCSIFFLAGS");
    printf("configured %s\n", ifname);

    unsigned char buf[2048];
    struct in_addr want_tpa, our_ip;
    inet_pton(AF_INET, "10.0.9.2", &want_tpa);
    inet_pton(AF_INET, "10.0.9.1", &our_ip);
    double deadline = now() + 20;
    int answered = 0;
    while (!answered) {
        ssize_t n = read_frame(fd, buf, sizeof buf, deadline);
        if (n == 0) {
            fprintf(stderr, "bsd_tap_client: no ARP request for 10.0.9.2 within 20 s\n");
            return 1;
        }
        if (n < (ssize_t)(sizeof(struct ether_header) + sizeof(struct ether_arp))) continue;
        struct ether_header* eh = (struct ether_header*)buf;
        struct ether_arp* ea = (struct ether_arp*)(buf + sizeof *eh);
        if (ntohs(eh->ether_type) != ETHERTYPE_ARP || ntohs(ea->arp_op) != ARPOP_REQUEST) continue;
        if (memcmp(ea->arp_tpa, &want_tpa, 4) != 0) continue;
        if (memcmp(ea->arp_spa, &our_ip, 4) != 0) {
            fprintf(stderr, "bsd_tap_client: ARP request for 10.0.9.2 not from 10.0.9.1\n");
            return 1;
        }
        printf("arp-request\n");

        unsigned char reply[sizeof(struct ether_header) + sizeof(struct ether_arp)];
        struct ether_header* rh = (struct ether_header*)reply;
        struct ether_arp* ra = (struct ether_arp*)(reply + sizeof *rh);
        memcpy(rh->ether_dhost, eh->ether_shost, 6);
        memcpy(rh->ether_shost, peer_mac, 6);
        rh->ether_type = htons(ETHERTYPE_ARP);
        ra->arp_hrd = htons(ARPHRD_ETHER);
        ra->arp_pro = htons(ETHERTYPE_IP);
        ra->arp_hln = 6;
        ra->arp_pln = 4;
        ra->arp_op = htons(ARPOP_REPLY);
        memcpy(ra->arp_sha, peer_mac, 6);
        memcpy(ra->arp_spa, &want_tpa, 4);
        memcpy(ra->arp_tha, ea->arp_sha, 6);
        memcpy(ra->arp_tpa, ea->arp_spa, 4);
        ssize_t w = write(fd, reply, sizeof reply);  /* one write, one frame */
        if (w < 0) die("write ARP reply");
        if (w != (ssize_t)sizeof reply) {
            fprintf(stderr, "bsd_tap_client: write returned %zd, want %zu\n", w, sizeof reply);
            return 1;
        }
        printf("arp-reply-written\n");
        answered = 1;
    }

    /* The kernel learned the address: what it had queued for 10.0.9.2 now goes to peer_mac. */
    deadline = now() + 10;
    for (;;) {
        ssize_t n = read_frame(fd, buf, sizeof buf, deadline);
        if (n == 0) {
            fprintf(stderr, "bsd_tap_client: no IPv4 frame to 02:00:00:00:09:02 within 10 s\n");
            return 1;
        }
        struct ether_header* eh = (struct ether_header*)buf;
        if (n >= (ssize_t)sizeof *eh && ntohs(eh->ether_type) == ETHERTYPE_IP &&
            memcmp(eh->ether_dhost, peer_mac, 6) == 0)
            break;
    }
    printf("ipv4-to-peer\n");
    printf("done %s\n", ifname);

    /* Hold the interface until the test has looked at it. */
    for (deadline = now() + 30; access(hold, F_OK) != 0; usleep(50 * 1000)) {
        if (now() > deadline) {
            fprintf(stderr, "bsd_tap_client: %s did not appear within 30 s\n", hold);
            return 1;
        }
    }
    close(s);
    close(fd);
    return 0;
}
