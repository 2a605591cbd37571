/* regionpair.c - the source and destination clients of a cross-region S3
 * operation (see regionpair.h). */
#include "aws/regionpair.h"

#include <string.h>

#include "util/error.h"

/* base when region is unset or base's own, else a new client (*owned set). */
static int region_client(aws_client **out, bool *owned, aws_client *base, const char *region,
                         const char *side)
{
    int rc;

    *owned = false;
    *out = base;
    if (region == NULL || region[0] == '\0' || strcmp(region, aws_client_region(base)) == 0)
        return 0;
    rc = aws_client_new_for_region(out, base, region);
    if (rc != 0) {
        *out = NULL;
        return lb_error_wrap(rc, "%s region", side);
    }
    *owned = true;
    return 0;
}

int aws_region_pair_open(aws_region_pair *out, aws_client *base, const char *src_region,
                         const char *dst_region)
{
    int rc;

    memset(out, 0, sizeof(*out));
    rc = region_client(&out->src, &out->src_owned, base, src_region, "source");
    if (rc == 0)
        rc = region_client(&out->dst, &out->dst_owned, base, dst_region, "destination");
    if (rc != 0)
        aws_region_pair_close(out);
    return rc;
}

void aws_region_pair_close(aws_region_pair *p)
{
    if (p->src_owned)
        aws_client_free(p->src);
    if (p->dst_owned)
        aws_client_free(p->dst);
    memset(p, 0, sizeof(*p));
}
