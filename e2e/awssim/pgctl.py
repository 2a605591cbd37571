"""Real PostgreSQL 15 clusters for awssim's RDS backend.

Every cluster lives in its own folder under <RUN_DIR>/awssim/pg/<id>/:
  data/       the data directory (owned by the postgres OS user)
  archive/    WAL archive (archive_command copies segments here)
  backups/    base backups taken by pg_basebackup (create, restore)
  server.log  the postmaster's log
Unix sockets go to a short folder (a socket path must fit in 107 bytes).

All server-side programs run as the postgres OS user through runuser, because the
launcher itself is root (the pyenv Python lives in root's home directory).
"""

import datetime as dt
import os
import re
import shutil
import socket
import subprocess
import threading
import time

PG_BIN = os.environ.get("AWSSIM_PG_BIN", "/usr/lib/postgresql/15/bin")
PG_USER = "postgres"
SOCKET_PATH_MAX = 107
PORT_MIN = int(os.environ.get("AWSSIM_PG_PORT_MIN", "25432"))
PORT_MAX = int(os.environ.get("AWSSIM_PG_PORT_MAX", "25999"))
ARCHIVE_TIMEOUT_S = int(os.environ.get("AWSSIM_ARCHIVE_TIMEOUT", "2"))
CMD_TIMEOUT_S = 120
# A command's captured output beyond this is cut before it reaches an error message.
OUTPUT_CAP = 4000

_COMMIT_RE = re.compile(r"desc: COMMIT (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) UTC")
STOPPING = threading.Event()  # set at shutdown: no server may start after it
_port_lock = threading.Lock()
_ports_in_use = set()


class PgError(Exception):
    pass


def utcnow():
    return dt.datetime.now(dt.timezone.utc)


def _run(args, as_pg=True, check=True, env=None, input_text=None, timeout=CMD_TIMEOUT_S):
    if as_pg:
        args = ["runuser", "-u", PG_USER, "--"] + list(args)
    full_env = dict(os.environ)
    full_env["TZ"] = "UTC"
    full_env["LC_ALL"] = "C"
    if env:
        full_env.update(env)
    proc = subprocess.run(
        args,
        input=input_text,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd="/",
    )
    if check and proc.returncode != 0:
        out = (proc.stderr or proc.stdout)[-OUTPUT_CAP:]
        raise PgError(f"{os.path.basename(args[4] if as_pg else args[0])} failed "
                      f"(exit {proc.returncode}): {out.strip()}")
    return proc


def _port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def reserve_port():
    """Reserve a free TCP port in [PORT_MIN, PORT_MAX]; release with release_port."""
    with _port_lock:
        for port in range(PORT_MIN, PORT_MAX + 1):
            if port in _ports_in_use:
                continue
            if _port_free(port):
                _ports_in_use.add(port)
                return port
    raise PgError(f"no free port in AWSSIM_PG_PORT_MIN..MAX ({PORT_MIN}-{PORT_MAX})")


def release_port(port):
    with _port_lock:
        _ports_in_use.discard(port)


def sql_literal(text):
    return "'" + text.replace("'", "''") + "'"


def sql_ident(text):
    return '"' + text.replace('"', '""') + '"'


class Layout:
    """Folders of one awssim run: <run_dir>/awssim/{pg,snapshots} and the socket root."""

    def __init__(self, run_dir):
        self.root = os.path.join(os.path.abspath(run_dir), "awssim")
        self.pg = os.path.join(self.root, "pg")
        self.snapshots = os.path.join(self.root, "snapshots")
        sock_root = os.path.join(self.root, "s")
        # <sock_root>/<12-char id>/.s.PGSQL.NNNNN must stay within SOCKET_PATH_MAX.
        if len(sock_root) + 1 + 12 + len("/.s.PGSQL.65535") > SOCKET_PATH_MAX:
            import hashlib

            tag = hashlib.sha1(self.root.encode()).hexdigest()[:10]
            sock_root = f"/tmp/awssim-{tag}"
        self.sockets = sock_root

    def prepare(self):
        for d in (self.root, self.pg, self.snapshots, self.sockets):
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o755)
        for d in (self.pg, self.snapshots, self.sockets):
            shutil.chown(d, PG_USER, PG_USER)
        # The postgres user must be able to reach its folders through RUN_DIR.
        parent = os.path.dirname(self.root)
        while parent and parent != "/":
            mode = os.stat(parent).st_mode
            if not mode & 0o001:
                os.chmod(parent, (mode & 0o7777) | 0o011)
            parent = os.path.dirname(parent)

    def sweep(self, log):
        """Stop every postmaster left by an earlier run and remove all cluster files."""
        for base in (self.pg,):
            if not os.path.isdir(base):
                continue
            for cid in os.listdir(base):
                data = os.path.join(base, cid, "data")
                kill_postmaster(data, log)
        for d in (self.pg, self.snapshots, self.sockets):
            shutil.rmtree(d, ignore_errors=True)


def kill_postmaster(data_dir, log=None):
    pidfile = os.path.join(data_dir, "postmaster.pid")
    try:
        with open(pidfile) as f:
            pid = int(f.readline().strip())
    except (OSError, ValueError):
        return
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return
    if "postgres" not in cmd or data_dir not in cmd:
        return
    if log:
        log(f"sweeping leftover postmaster pid {pid} ({data_dir})")
    import signal

    try:
        os.kill(pid, signal.SIGQUIT)  # immediate shutdown; children follow
    except ProcessLookupError:
        return
    for _ in range(50):
        if not os.path.exists(f"/proc/{pid}"):
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


_template_lock = threading.Lock()


def _initdb_template(layout):
    """A pristine initdb data directory under layout.pg, made once per awssim: a new
    instance is a copy of it (0.1 s of CPU) instead of an initdb of its own (1.4 s of CPU,
    most of an instance's creation; issue 9). Copies share initdb's system identifier,
    which nothing here compares across instances (each has its own WAL archive)."""
    path = os.path.join(layout.pg, ".initdb-template")
    with _template_lock:
        if not os.path.isdir(path):
            tmp = path + ".tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            _run([f"{PG_BIN}/initdb", "-D", tmp, "-U", PG_USER, "-A", "trust",
                  "--wal-segsize=1", "-E", "UTF8", "--locale=C", "--no-sync"])
            os.rename(tmp, path)
    return path


class BaseBackup:
    """A pg_basebackup copy of a cluster, usable as a snapshot or a PITR base."""

    def __init__(self, path, started, finished, timeline_source):
        self.path = path
        self.started = started
        self.finished = finished
        self.timeline_source = timeline_source  # the Cluster whose archive continues it


class Cluster:
    """One PostgreSQL server with its WAL archive."""

    def __init__(self, layout, cid):
        self.layout = layout
        self.cid = cid
        self.dir = os.path.join(layout.pg, cid)
        self.data = os.path.join(self.dir, "data")
        self.archive = os.path.join(self.dir, "archive")
        self.backups_dir = os.path.join(self.dir, "backups")
        self.sockdir = os.path.join(layout.sockets, cid)
        self.logfile = os.path.join(self.dir, "server.log")
        self.port = reserve_port()
        self.backups = []  # BaseBackup, oldest first
        self.lock = threading.Lock()
        self._commit_cache = {}  # archived segment name -> last commit time or None
        self.running = False

    # --- folders -------------------------------------------------------------------
    def _mkdirs(self):
        for d in (self.dir, self.archive, self.backups_dir, self.sockdir):
            os.makedirs(d, exist_ok=True)
            shutil.chown(d, PG_USER, PG_USER)
        os.chmod(self.sockdir, 0o700)

    def _write_instance_conf(self):
        conf = f"""# written by awssim for cluster {self.cid}
listen_addresses = '127.0.0.1'
port = {self.port}
unix_socket_directories = '{self.sockdir}'
archive_mode = on
archive_command = 'test ! -f {self.archive}/%f && cp %p {self.archive}/%f'
archive_timeout = {ARCHIVE_TIMEOUT_S}
"""
        path = os.path.join(self.data, "awssim_instance.conf")
        with open(path, "w") as f:
            f.write(conf)
        shutil.chown(path, PG_USER, PG_USER)

    def _write_base_conf(self):
        conf = """
# awssim settings
fsync = off
synchronous_commit = off
full_page_writes = on
shared_buffers = 16MB
max_connections = 30
wal_level = replica
max_wal_senders = 4
max_wal_size = 64MB
min_wal_size = 4MB
logging_collector = off
log_min_messages = warning
# a failed ALTER ROLE ... PASSWORD must not put the password in server.log
log_min_error_statement = panic
password_encryption = scram-sha-256
timezone = 'UTC'
include_if_exists = 'awssim_instance.conf'
include_if_exists = 'awssim_recovery.conf'
"""
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(conf)
        hba = """# awssim: the socket folder is 0700 postgres, so local trust is postgres-only
local all all trust
local replication all trust
host all all 127.0.0.1/32 scram-sha-256
"""
        with open(os.path.join(self.data, "pg_hba.conf"), "w") as f:
            f.write(hba)

    # --- lifecycle -----------------------------------------------------------------
    def initdb(self, master_user, master_password, db_name):
        self._mkdirs()
        _run(["cp", "-a", _initdb_template(self.layout), self.data])
        self._write_base_conf()
        self._write_instance_conf()
        self.start()
        if master_user == PG_USER:
            self.set_password(master_user, master_password)
        else:
            self.psql("postgres", f"CREATE ROLE {sql_ident(master_user)} LOGIN CREATEDB "
                                  f"CREATEROLE PASSWORD {sql_literal(master_password)} "
                                  f"IN ROLE pg_read_all_data, pg_write_all_data, pg_monitor, "
                                  f"pg_signal_backend")
        if db_name:
            self.psql("postgres", f"CREATE DATABASE {sql_ident(db_name)} "
                                  f"OWNER {sql_ident(master_user)}")

    def start(self):
        """Start the server, moving to another port while the chosen one is taken."""
        for _attempt in range(10):
            if STOPPING.is_set():
                raise PgError(f"not starting {self.cid}: awssim is shutting down")
            self._write_instance_conf()
            proc = _run([f"{PG_BIN}/pg_ctl", "start", "-w", "-t", "60", "-D", self.data,
                         "-l", self.logfile], check=False)
            if proc.returncode == 0:
                self.running = True
                return
            log_tail = ""
            try:
                with open(self.logfile, errors="replace") as f:
                    log_tail = f.read()[-OUTPUT_CAP:]
            except OSError:
                pass
            if "could not bind" in log_tail or "Address already in use" in log_tail:
                old = self.port
                self.port = reserve_port()
                release_port(old)
                continue
            raise PgError(f"pg_ctl start failed for {self.cid}: {log_tail.strip()[-1500:]}")
        raise PgError(f"pg_ctl start for {self.cid}: no bindable port after 10 tries")

    def stop(self, mode="fast"):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            proc = _run([f"{PG_BIN}/pg_ctl", "stop", "-w", "-t", "30", "-m", mode,
                         "-D", self.data], check=False)
            if proc.returncode != 0:
                kill_postmaster(self.data)
        self.running = False

    def remove(self):
        self.stop("immediate")
        release_port(self.port)
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.rmtree(self.sockdir, ignore_errors=True)

    # --- SQL -----------------------------------------------------------------------
    def psql(self, db, sql):
        # SQL goes through stdin: statements with passwords never appear on a command line.
        proc = _run([f"{PG_BIN}/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                     "-h", self.sockdir, "-p", str(self.port), "-d", db, "-f", "-"],
                    input_text=sql + ";\n")
        return proc.stdout.strip()

    def set_password(self, user, password):
        self.psql("postgres", f"ALTER ROLE {sql_ident(user)} PASSWORD {sql_literal(password)}")

    # --- backups and WAL ---------------------------------------------------------------
    def base_backup(self, dest):
        """pg_basebackup -X stream -c fast into dest (created); returns a BaseBackup."""
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        started = utcnow()
        _run([f"{PG_BIN}/pg_basebackup", "-D", dest, "-X", "stream", "-c", "fast",
              "-h", self.sockdir, "-p", str(self.port), "-U", PG_USER, "--no-sync"])
        finished = utcnow()
        # Recovery settings of the source must not leak into copies made from this backup.
        for name in ("awssim_recovery.conf", "recovery.signal", "standby.signal"):
            try:
                os.unlink(os.path.join(dest, name))
            except FileNotFoundError:
                pass
        return BaseBackup(dest, started, finished, self)

    def take_base_backup(self):
        name = utcnow().strftime("%Y%m%dT%H%M%S%fZ")
        bb = self.base_backup(os.path.join(self.backups_dir, name))
        with self.lock:
            self.backups.append(bb)
        return bb

    def mark_and_switch(self, wait_s=15):
        """Commit a transaction, switch WAL and wait until that segment is archived.

        PostgreSQL refuses to finish a recovery whose target lies after the last archived
        commit, so a point-in-time restore first makes the newest commit restorable."""
        # Two psql calls: one -c string is one transaction, and the switch must come
        # after the marker's commit record.
        self.psql("postgres", "SELECT txid_current()")
        seg = self.psql("postgres", "SELECT pg_walfile_name(pg_current_wal_lsn()), "
                                    "pg_switch_wal()").split("|")[0].strip()
        deadline = time.time() + wait_s
        while time.time() < deadline:
            if os.path.exists(os.path.join(self.archive, seg)):
                return
            time.sleep(0.05)
        raise PgError(f"WAL segment {seg} of {self.cid} was not archived within {wait_s}s")

    def last_archived_commit(self):
        """Commit time of the newest commit record in the WAL archive (None if none)."""
        try:
            names = sorted(n for n in os.listdir(self.archive)
                           if len(n) == 24 and all(c in "0123456789ABCDEF" for c in n))
        except FileNotFoundError:
            return None
        latest = None
        for name in names:
            if name not in self._commit_cache:
                self._commit_cache[name] = self._scan_segment(os.path.join(self.archive, name))
            t = self._commit_cache[name]
            if t is not None and (latest is None or t > latest):
                latest = t
        return latest

    def _scan_segment(self, path):
        proc = _run([f"{PG_BIN}/pg_waldump", "-r", "Transaction", path], as_pg=False,
                    check=False)
        latest = None
        for m in _COMMIT_RE.finditer(proc.stdout):
            t = dt.datetime.strptime(m.group(1) + ("" if "." in m.group(1) else ".0"),
                                     "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=dt.timezone.utc)
            if latest is None or t > latest:
                latest = t
        return latest

    # --- restores --------------------------------------------------------------------
    def restore_from(self, backup, archive=None, target_time=None):
        """Fill this (new) cluster from a base backup and start it.

        With archive, recover through restore_command up to target_time (or the end of
        the archive when target_time is None) and promote."""
        self._mkdirs()
        _run(["cp", "-a", backup.path, self.data])
        os.chmod(self.data, 0o700)
        if archive is not None:
            lines = [f"restore_command = 'cp {archive}/%f %p'",
                     "recovery_target_action = 'promote'",
                     "recovery_target_timeline = 'latest'"]
            if target_time is not None:
                lines.append("recovery_target_time = '"
                             + target_time.astimezone(dt.timezone.utc)
                             .strftime("%Y-%m-%d %H:%M:%S.%f+00") + "'")
                lines.append("recovery_target_inclusive = on")
            path = os.path.join(self.data, "awssim_recovery.conf")
            with open(path, "w") as f:
                f.write("\n".join(lines) + "\n")
            shutil.chown(path, PG_USER, PG_USER)
            sig = os.path.join(self.data, "recovery.signal")
            open(sig, "w").close()
            shutil.chown(sig, PG_USER, PG_USER)
        self.start()
        if archive is not None:
            deadline = time.time() + 120
            while True:
                try:
                    if self.psql("postgres", "SELECT pg_is_in_recovery()") == "f":
                        break
                except PgError:
                    if not os.path.exists(os.path.join(self.data, "postmaster.pid")):
                        raise PgError("recovery failed: " + self._log_tail())
                if time.time() > deadline:
                    raise PgError("recovery did not finish within 120s: " + self._log_tail())
                time.sleep(0.1)
            os.unlink(os.path.join(self.data, "awssim_recovery.conf"))

    def _log_tail(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()[-1500:].strip()
        except OSError:
            return "(no log)"
