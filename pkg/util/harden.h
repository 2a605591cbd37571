/* harden.h - process settings for daemons that hold secrets in memory. */
#ifndef LB_UTIL_HARDEN_H
#define LB_UTIL_HARDEN_H

/* Turns core dumps off for this process: RLIMIT_CORE soft and hard limits 0
 * (no core file with passwords and AWS keys in it) and PR_SET_DUMPABLE 0 (no
 * core either, and /proc/<pid>/mem, environ and ptrace are closed to other
 * processes of the same uid). Call first thing in main(), before any secret
 * is read. Returns 0, or LB_ERROR naming the call that failed (the caller
 * should stop: running without it is not the documented posture). */
int lb_process_harden(void);

#endif
