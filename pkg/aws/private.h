/* private.h - package-private helpers of pkg/aws (module__name style). */
#ifndef LB_AWS_PRIVATE_H
#define LB_AWS_PRIVATE_H

#include <stddef.h>

/* One-time process initialisation of libcurl and libxml2 (thread-safe). */
void aws__global_init(void);

/* SHA-256 of no bytes, the x-amz-content-sha256 of a request without a body. */
#define AWS_EMPTY_PAYLOAD_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* Lower-case hex SHA-256 of data into out[65] (len 0: the constant above). */
void aws__sha256_hex(char out[65], const void *data, size_t len);

/* Overwrites and frees a string that held a secret; NULL accepted. */
void aws__free_secret(char *s);

/* Fills buf with n random bytes (OpenSSL). */
void aws__random_bytes(unsigned char *buf, size_t n);

/* RFC 3339 time to Unix seconds (pkg/util/timeutil); -1 when malformed. */
long long aws__parse_time(const char *s);

#endif
