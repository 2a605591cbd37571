/* archive.c - checked tar extraction through libarchive. */
#include "agent/archive.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "util/alloc.h"
#include "util/error.h"

#define BLOCK_BYTES (64 * 1024)

/* 1 when the relative path p (from the archive root) stays inside it. */
static int path_inside(const char *p)
{
    int depth = 0;
    if (p == NULL || p[0] == '\0' || p[0] == '/')
        return 0;
    const char *s = p;
    while (*s != '\0') {
        const char *e = strchr(s, '/');
        size_t n = e != NULL ? (size_t)(e - s) : strlen(s);
        if (n == 2 && s[0] == '.' && s[1] == '.')
            return 0; /* any "..", even one that comes back, is refused */
        if (n > 0 && !(n == 1 && s[0] == '.'))
            depth++;
        s += n;
        while (*s == '/')
            s++;
    }
    return depth >= 0;
}

/* A symlink at `entry` pointing to `target`: 1 when it resolves inside. */
static int link_inside(const char *entry, const char *target)
{
    int depth = 0;
    if (target == NULL || target[0] == '\0' || target[0] == '/')
        return 0;
    /* the link's own directory */
    const char *s = entry;
    while (*s != '\0') {
        const char *e = strchr(s, '/');
        if (e == NULL)
            break; /* the last component is the link itself */
        size_t n = (size_t)(e - s);
        if (n > 0 && !(n == 1 && s[0] == '.'))
            depth++;
        s = e + 1;
    }
    s = target;
    while (*s != '\0') {
        const char *e = strchr(s, '/');
        size_t n = e != NULL ? (size_t)(e - s) : strlen(s);
        if (n == 2 && s[0] == '.' && s[1] == '.') {
            if (--depth < 0)
                return 0;
        } else if (n > 0 && !(n == 1 && s[0] == '.')) {
            depth++;
        }
        s += n;
        while (*s == '/')
            s++;
    }
    return 1;
}

static struct archive *reader_open(const char *path)
{
    struct archive *a = archive_read_new();
    archive_read_support_filter_gzip(a);
    archive_read_support_format_tar(a);
    if (archive_read_open_filename(a, path, BLOCK_BYTES) != ARCHIVE_OK) {
        lb_error_set("archive %s: %s", path, archive_error_string(a));
        archive_read_free(a);
        return NULL;
    }
    return a;
}

int archive_check(archive_stats *out, const char *path)
{
    struct archive_entry *e;
    int rc = 0, r;
    memset(out, 0, sizeof(*out));
    struct archive *a = reader_open(path);
    if (a == NULL)
        return LB_ERROR;
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(e);
        const char *sym = archive_entry_symlink(e);
        const char *hard = archive_entry_hardlink(e);
        mode_t type = archive_entry_filetype(e);
        if (++out->entries > ARCHIVE_MAX_ENTRIES) {
            rc = lb_error_setc(LB_ETOOBIG, "archive: more than %d entries", ARCHIVE_MAX_ENTRIES);
            break;
        }
        if (!path_inside(name)) {
            rc = lb_error_setc(LB_EINVALID,
                               "archive entry \"%s\": an absolute path or a \"..\" component; "
                               "nothing was extracted",
                               name != NULL ? name : "");
            break;
        }
        if (sym != NULL && !link_inside(name, sym)) {
            rc = lb_error_setc(LB_EINVALID,
                               "archive entry \"%s\": a symbolic link to \"%s\" outside the "
                               "target; nothing was extracted",
                               name, sym);
            break;
        }
        if (hard != NULL && !path_inside(hard)) {
            rc = lb_error_setc(LB_EINVALID,
                               "archive entry \"%s\": a hard link to \"%s\" outside the target; "
                               "nothing was extracted",
                               name, hard);
            break;
        }
        if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK && hard == NULL) {
            rc = lb_error_setc(LB_EINVALID,
                               "archive entry \"%s\": a device, FIFO or socket; nothing was "
                               "extracted",
                               name);
            break;
        }
        if (type == AE_IFREG) {
            out->files++;
            out->bytes += archive_entry_size(e);
        }
        if (archive_read_data_skip(a) != ARCHIVE_OK) {
            rc = lb_error_set("archive %s: %s", path, archive_error_string(a));
            break;
        }
    }
    if (rc == 0 && r != ARCHIVE_EOF)
        rc = lb_error_set("archive %s is damaged or truncated: %s", path, archive_error_string(a));
    archive_read_free(a);
    return rc;
}

int archive_extract_safe(archive_stats *out, const char *path, const char *target)
{
    struct archive *a = NULL, *w = NULL;
    struct archive_entry *e;
    int rc, r, cwd = -1;
    rc = archive_check(out, path);
    if (rc != 0)
        return rc;
    cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cwd < 0 || chdir(target) != 0) {
        rc = lb_error_set("target directory %s: %s", target, strerror(errno));
        goto done;
    }
    a = reader_open(path);
    if (a == NULL) {
        rc = LB_ERROR;
        goto done;
    }
    w = archive_write_disk_new();
    archive_write_disk_set_options(w, ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                          ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                          ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS |
                                          ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM);
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        if (archive_write_header(w, e) != ARCHIVE_OK) {
            rc = lb_error_set("extracting \"%s\": %s", archive_entry_pathname(e),
                              archive_error_string(w));
            goto done;
        }
        const void *buf;
        size_t size;
        la_int64_t off;
        while ((r = archive_read_data_block(a, &buf, &size, &off)) == ARCHIVE_OK) {
            if (archive_write_data_block(w, buf, size, off) != ARCHIVE_OK) {
                rc = lb_error_set("writing \"%s\": %s", archive_entry_pathname(e),
                                  archive_error_string(w));
                goto done;
            }
        }
        if (r != ARCHIVE_EOF) {
            rc = lb_error_set("reading \"%s\": %s", archive_entry_pathname(e),
                              archive_error_string(a));
            goto done;
        }
        if (archive_write_finish_entry(w) != ARCHIVE_OK) {
            rc = lb_error_set("finishing \"%s\": %s", archive_entry_pathname(e),
                              archive_error_string(w));
            goto done;
        }
    }
    if (r != ARCHIVE_EOF)
        rc = lb_error_set("archive %s: %s", path, archive_error_string(a));
done:
    if (w != NULL) {
        archive_write_close(w);
        archive_write_free(w);
    }
    if (a != NULL)
        archive_read_free(a);
    if (cwd >= 0) {
        if (fchdir(cwd) != 0 && rc == 0)
            rc = lb_error_set("returning to the working directory: %s", strerror(errno));
        close(cwd);
    }
    return rc;
}
