/* Unit tests for pkg/agent/archive: archives made by the real tar CLI and by
 * Python's tarfile (which, unlike tar, writes "../" and absolute names as
 * given). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/archive.h"
#include "test_agent_helpers.h"

/* Makes dir/evil.tar holding `name` (a file, or a symlink to `link`) after a good file. */
static void make_evil(const char *dir, const char *name, const char *link, int hard)
{
    assert_int_equal(
        run_sh("cd '%s' && python3 - <<'PY'\n"
               "import io, tarfile\n"
               "with tarfile.open('evil.tar', 'w') as t:\n"
               "    d = b'fine'\n"
               "    i = tarfile.TarInfo('ok/first.txt'); i.size = len(d); t.addfile(i, "
               "io.BytesIO(d))\n"
               "    i = tarfile.TarInfo('%s')\n"
               "    if '%s':\n"
               "        i.type = tarfile.LNKTYPE if %d else tarfile.SYMTYPE; i.linkname = '%s'\n"
               "        t.addfile(i)\n"
               "    else:\n"
               "        d = b'escaped'; i.size = len(d); t.addfile(i, io.BytesIO(d))\n"
               "PY",
               dir, name, link, hard, link),
        0);
}

static int count_entries(const char *dir)
{
    char *cmd = lb_sprintf("find '%s' -mindepth 1 | wc -l", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    free(cmd);
    if (p != NULL) {
        if (fscanf(p, "%d", &n) != 1)
            n = -1;
        pclose(p);
    }
    return n;
}

static void test_archive_extracts_a_tar_gz_made_by_tar(void **state)
{
    (void)state;
    char *dir = temp_dir();
    assert_int_equal(run_sh("cd '%s' && mkdir -p src/uploads/2026 out && "
                            "printf 'png bytes' > src/uploads/2026/a.png && "
                            "printf 'hello' > src/uploads/b.txt && chmod 640 src/uploads/b.txt && "
                            "ln -s 2026/a.png src/uploads/latest.png && "
                            "tar -czf files.tar.gz -C src uploads",
                            dir),
                     0);
    char *tgz = lb_sprintf("%s/files.tar.gz", dir);
    char *out = lb_sprintf("%s/out", dir);
    archive_stats st;
    assert_int_equal(archive_extract_safe(&st, tgz, out), 0);
    assert_int_equal(st.files, 2);
    assert_int_equal(st.bytes, 14);
    char *png = lb_sprintf("%s/out/uploads/latest.png", dir);
    size_t n = 0;
    unsigned char *data = read_file(png, &n);
    assert_int_equal(n, 9);
    assert_memory_equal(data, "png bytes", 9);
    struct stat sb;
    char *b = lb_sprintf("%s/out/uploads/b.txt", dir);
    assert_int_equal(stat(b, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0640);
    free(data);
    free(png);
    free(b);
    free(tgz);
    free(out);
    remove_dir(dir);
    free(dir);
}

static void test_archive_refuses_escapes_and_extracts_nothing(void **state)
{
    (void)state;
    const struct {
        const char *name, *link;
        int hard;
        const char *why;
    } cases[] = {
        {"../escape", "", 0, "\"..\""},
        {"ok/../../escape", "", 0, "\"..\""},
        {"/tmp/lb-absolute-escape", "", 0, "absolute"},
        {"ok/link", "/etc/passwd", 0, "symbolic link"},
        {"ok/link", "../../outside", 0, "symbolic link"},
        {"ok/hard", "../outside", 1, "hard link"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *dir = temp_dir();
        make_evil(dir, cases[i].name, cases[i].link, cases[i].hard);
        char *tar = lb_sprintf("%s/evil.tar", dir);
        char *out = lb_sprintf("%s/out/target", dir);
        assert_int_equal(run_sh("mkdir -p '%s'", out), 0);
        archive_stats st;
        assert_int_equal(archive_extract_safe(&st, tar, out), LB_EINVALID);
        assert_non_null(strstr(lb_error_last(), cases[i].why));
        assert_non_null(strstr(lb_error_last(), "nothing was extracted"));
        /* not even the good entry before it */
        assert_int_equal(count_entries(out), 0);
        char *esc = lb_sprintf("%s/out/escape", dir);
        assert_int_not_equal(access(esc, F_OK), 0);
        free(esc);
        free(tar);
        free(out);
        remove_dir(dir);
        free(dir);
    }
    assert_int_not_equal(access("/tmp/lb-absolute-escape", F_OK), 0);
}

static void test_archive_inside_links_are_kept(void **state)
{
    (void)state;
    char *dir = temp_dir();
    make_evil(dir, "ok/sub/link", "../first.txt", 0);
    char *tar = lb_sprintf("%s/evil.tar", dir);
    char *out = lb_sprintf("%s/out", dir);
    assert_int_equal(run_sh("mkdir -p '%s'", out), 0);
    archive_stats st;
    assert_int_equal(archive_extract_safe(&st, tar, out), 0);
    char *link = lb_sprintf("%s/out/ok/sub/link", dir);
    size_t n = 0;
    unsigned char *d = read_file(link, &n);
    assert_int_equal(n, 4);
    assert_memory_equal(d, "fine", 4);
    free(d);
    free(link);
    free(tar);
    free(out);
    remove_dir(dir);
    free(dir);
}

static void test_archive_truncated_is_refused(void **state)
{
    (void)state;
    char *dir = temp_dir();
    assert_int_equal(run_sh("cd '%s' && mkdir -p src out && head -c 300000 /dev/urandom > "
                            "src/big && tar -czf t.tgz -C src big && "
                            "head -c 100000 t.tgz > cut.tgz",
                            dir),
                     0);
    char *cut = lb_sprintf("%s/cut.tgz", dir);
    archive_stats st;
    assert_int_not_equal(archive_check(&st, cut), 0);
    free(cut);
    remove_dir(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_archive_extracts_a_tar_gz_made_by_tar),
        cmocka_unit_test(test_archive_refuses_escapes_and_extracts_nothing),
        cmocka_unit_test(test_archive_inside_links_are_kept),
        cmocka_unit_test(test_archive_truncated_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
