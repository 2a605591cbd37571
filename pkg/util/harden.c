/* harden.c - see harden.h. */
#include "util/harden.h"

#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "util/error.h"

int lb_process_harden(void)
{
    struct rlimit none = {0, 0};
    if (setrlimit(RLIMIT_CORE, &none) != 0)
        return lb_error_set("setrlimit(RLIMIT_CORE, 0): %s", strerror(errno));
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return lb_error_set("prctl(PR_SET_DUMPABLE, 0): %s", strerror(errno));
    return 0;
}
