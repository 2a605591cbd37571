/* error.h - AWS error bodies and what they mean to a caller.
 *
 * Three shapes come back from the services Lifeboat uses:
 *   RDS/STS Query XML  <ErrorResponse><Error><Code/><Message/></Error></ErrorResponse>
 *   S3 XML             <Error><Code/><Message/></Error> (HEAD: no body at all)
 *   IAM-style XML      <ErrorResponse><Errors><Error><Code/>… (auth failures)
 *   Secrets Manager    {"__type": "...#ResourceNotFoundException", "message": "..."}
 * aws_error_parse() extracts the code and message; aws_error_code() maps
 * them to a Lifeboat code; aws_error_retryable() says whether the request
 * layer retries. XML is parsed by libxml2 with XML_PARSE_NONET and without
 * entity expansion or DTD loading.
 */
#ifndef LB_AWS_ERROR_H
#define LB_AWS_ERROR_H

#include <stdbool.h>
#include <stddef.h>

#define AWS_MAX_ERROR_CODE_BYTES    128 /* AWS error code kept */
#define AWS_MAX_ERROR_MESSAGE_BYTES 512 /* AWS error message kept */

/* Extracts the AWS error code and message from an error response. When the
 * body has none (HEAD, empty 5xx), the code is derived from the status
 * ("NotFound", "Forbidden", "ServiceUnavailable", "Http<status>"), and the
 * message is the status reason. Both outputs are set (caller frees) and
 * truncated to the caps above. Returns 0; never fails. */
int aws_error_parse(char **out_code, char **out_message, long status, const char *body,
                    size_t body_len);

/* Maps an AWS error to a Lifeboat code: LB_ENOTFOUND (…NotFound…,
 * NoSuchKey/Bucket/Version/Upload, ResourceNotFoundException, 404),
 * LB_ETHROTTLED (Throttling, ThrottlingException, SlowDown,
 * TooManyRequestsException, RequestLimitExceeded, 429, bare 503), LB_ECONFLICT
 * (…AlreadyExists…, ResourceExistsException, InvalidDBInstanceState,
 * InvalidDBSnapshotState, OperationAborted, 409), LB_EINVALID
 * (InvalidParameter…, ValidationError, MalformedXML, PermanentRedirect: a bucket
 * of another region, 400), LB_ERROR else. */
int aws_error_code(const char *aws_code, long status);

/* True when the request layer should retry: throttling codes, 5xx, 429,
 * RequestTimeout, and transport failures (status 0). */
bool aws_error_retryable(const char *aws_code, long status);

/* True when an error answer proves the request was not applied, so that even
 * a mutating call may be sent again: throttling codes, 429 and RequestTimeout
 * (the body was not read). A 5xx (InternalFailure, ServiceUnavailable, ...)
 * proves nothing. */
bool aws_error_not_applied(const char *aws_code, long status);

#endif
