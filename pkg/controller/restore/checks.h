/* restore/checks.h - process-wide settings of the verification checks
 * (steps_verify.c), set once by the operator's main() before threads start.
 *
 * HTTP checks obey util/netguard.h (configured separately); SQL checks use
 * sslmode as a minimum (a stronger sslmode in a connection string is kept)
 * and sslrootcert as the CA bundle. Until configured: sslmode verify-full,
 * libpq's default sslrootcert.
 */
#ifndef LB_CONTROLLER_RESTORE_CHECKS_H
#define LB_CONTROLLER_RESTORE_CHECKS_H

/* Sets the SQL checks' TLS settings (copied; NULL sslrootcert: libpq's
 * default). sslmode must be one of libpq's six modes (the operator's options
 * checked it). Not thread-safe: call before the controllers start. */
void verify_checks_configure(const char *sslmode, const char *sslrootcert);

#endif
