/* lifeboat-operator - the controller daemon. main() only wires modules
 * together; the work lives in pkg/. */
#include <stdio.h>
#include <string.h>

#include "util/version.h"

static void usage(FILE *out)
{
    fputs("Usage: lifeboat-operator [flags]\n"
          "\n"
          "Runs the Lifeboat controllers (RestoreRequest, BackupPolicy, VerificationRun).\n"
          "\n"
          "Flags:\n"
          "  --help       show this help and exit\n"
          "  --version    print the version and exit\n",
          out);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("lifeboat-operator %s\n", LIFEBOAT_VERSION);
            return 0;
        }
        fprintf(stderr, "lifeboat-operator: unknown flag '%s' (see --help)\n", argv[i]);
        return 2;
    }
    fputs("lifeboat-operator: the controllers are not built yet; see --help\n", stderr);
    return 1;
}
