/* if_tap.h — NetBSD tap(4) ioctls for programs using tapd's BSD-personality devices on Linux.
 *
 * Porting note. A program written for NetBSD's tap(4) runs against tapd (`tapd --device tap0,
 * personality=bsd`, or `tapd --clone` for the cloning /dev/tap) after a recompile with this header in
 * place of <net/if_tap.h>:
 *   - TAPGIFNAME, FIONREAD, FIOSETOWN/FIOGETOWN and TIOCSPGRP/TIOCGPGRP work as on NetBSD.
 *   - FIONBIO and fcntl(O_NONBLOCK) work as on NetBSD (Linux's VFS handles them).
 *   - FIOASYNC and fcntl(F_SETOWN)/O_ASYNC do NOT reach a userspace (CUSE) driver on Linux: the VFS
 *     answers FIOASYNC with ENOTTY itself. Use TAPD_FIOASYNC instead (same argument: an int, non-zero
 *     to enable); set the owner with FIOSETOWN or TIOCSPGRP on the tap fd (not F_SETOWN). tapd then
 *     sends SIGIO to the owner when a frame arrives and when the interface goes down, as NetBSD's
 *     tap_softintr does. The signal is sent with kill(2), so si_code is SI_USER rather than POLL_IN /
 *     POLL_HUP (Linux refuses those codes from another process).
 *   - The interface is configured with Linux tools or ioctls on a socket (ip link, SIOCSIFFLAGS...),
 *     not with NetBSD's ifconfig.
 */
#ifndef TAPD_IF_TAP_H
#define TAPD_IF_TAP_H

#include <net/if.h>
#include <sys/ioctl.h>

/* Interface name of the tap device behind this file (as NetBSD: _IOR('e', 0, struct ifreq)). */
#define TAPGIFNAME _IOR('e', 0, struct ifreq)

/* tapd's replacement for FIOASYNC: int argument, non-zero turns SIGIO on. */
#define TAPD_FIOASYNC _IOW('e', 1, int)

#endif /* TAPD_IF_TAP_H */
