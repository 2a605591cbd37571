/* lifeboat-agent - the data-movement tool run inside Jobs (pg backup and
 * restore, S3 bulk work). main() only dispatches subcommands. */
#include <stdio.h>
#include <string.h>

#include "util/version.h"

static void usage(FILE *out)
{
    fputs("Usage: lifeboat-agent <command> [flags]\n"
          "\n"
          "Moves backup data inside Kubernetes Jobs started by lifeboat-operator.\n"
          "\n"
          "Flags:\n"
          "  --help       show this help and exit\n"
          "  --version    print the version and exit\n",
          out);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("lifeboat-agent %s\n", LIFEBOAT_VERSION);
        return 0;
    }
    fprintf(stderr, "lifeboat-agent: unknown command '%s' (see --help)\n", argv[1]);
    return 2;
}
