#!/usr/bin/env python3
"""awssim: moto serving S3, Secrets Manager, STS and RDS on one port, where RDS instances,
snapshots and Aurora clusters with engine postgres / aurora-postgresql are real
PostgreSQL 15 clusters (see pgctl.py).

Usage: awssim.py --run-dir DIR [--port 4566]
Environment: AWSSIM_PORT, AWSSIM_DELAY_SCALE (multiplies the minimum time every status
is shown; default 1.0), AWSSIM_PG_PORT_MIN/MAX, AWSSIM_ARCHIVE_TIMEOUT (seconds),
AWSSIM_RENAME_LAG_S (seconds a renamed instance keeps its old name, status renaming).
Every request is logged to RUN_DIR/awssim/requests.jsonl; faults are injected through
/awssim/faults (faults.py).
"""

import argparse
import atexit
import datetime as dt
import os
import signal
import sys
import threading
import time
import traceback
import uuid

REQUIRED_MOTO = "5.2.1"

try:
    import moto
except ImportError:
    sys.exit("awssim: the moto package is not installed for " + sys.executable)
if moto.__version__ != REQUIRED_MOTO:
    sys.exit(f"awssim: moto {REQUIRED_MOTO} is required, found {moto.__version__} "
             f"({moto.__file__}); install it with pip install moto[server]=={REQUIRED_MOTO}")

from moto import backends as moto_backends  # noqa: E402
from moto.moto_server.werkzeug_app import (DomainDispatcherApplication,  # noqa: E402
                                           create_backend_app)
from moto.rds import models as rds_models  # noqa: E402
from moto.rds import responses as rds_responses  # noqa: E402
from moto.rds.exceptions import RDSClientError  # noqa: E402

# moto's dispatcher asks list_of_moto_modules() on every request, under its one lock:
# a listdir of moto's package and a stat of each of ~180 entries (measured: the largest
# share of awssim's CPU and of its system time in the restore-s3 suite). The package does
# not change while awssim runs, so the list is read once.
_MOTO_MODULES = tuple(moto_backends.list_of_moto_modules())
moto_backends.list_of_moto_modules = lambda: _MOTO_MODULES

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faults  # noqa: E402
import pgctl  # noqa: E402
import s3fast  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

DELAY_SCALE = float(os.environ.get("AWSSIM_DELAY_SCALE", "1.0"))
RENAME_LAG_S = float(os.environ.get("AWSSIM_RENAME_LAG_S", "0") or 0)
CONTROL = faults.Control(None, RENAME_LAG_S)  # replaced in main() with the logging one
# Minimum seconds each transitional status stays visible (before scaling).
BASE_DELAYS = {
    "creating": 0.5,
    "backing-up": 0.3,
    "renaming": 0.5,
    "deleting": 0.5,
    "snapshot-creating": 0.3,
    "modifying": 0.3,
}

LOCK = threading.RLock()  # guards every moto RDS model read or write
LAYOUT = None
CLUSTERS = {}  # awssim_id -> pgctl.Cluster (instance or Aurora cluster volume)
SNAPSHOTS = {}  # snapshot awssim_id -> pgctl.BaseBackup (or None while creating)
PENDING_RENAMES = {}  # new identifier -> old, while a lagged rename has not landed
PENDING_CLUSTER_RENAMES = {}  # the same for DB clusters
THREADS = []  # background jobs, joined (bounded) at shutdown
SHUTDOWN_JOIN_S = 8  # below service.sh's TERM grace (10 s)


def log(msg):
    sys.stderr.write(f"{dt.datetime.now(dt.timezone.utc).strftime('%H:%M:%S.%f')[:-3]} "
                     f"awssim: {msg}\n")
    sys.stderr.flush()


def hold(status, started):
    """Sleep until the status has been visible for its scaled minimum time."""
    left = BASE_DELAYS[status] * DELAY_SCALE - (time.time() - started)
    if left > 0:
        pgctl.STOPPING.wait(left)  # returns at once when awssim is shutting down


def fault(code, msg):
    return RDSClientError(code, msg)


def iso(t):
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def parse_time(value, field):
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    text = str(value).strip().replace("Z", "+00:00")
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        raise fault("InvalidParameterValue",
                    f"{field} {value!r} is not an ISO 8601 time (e.g. 2026-02-18T14:30:00Z)")
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def is_real_engine(engine):
    return engine in ("postgres", "aurora-postgresql")


def real_of(obj):
    aid = getattr(obj, "awssim_id", None)
    return CLUSTERS.get(aid) if aid else None


def spawn(name, fn, *args):
    def run():
        try:
            fn(*args)
        except Exception as e:  # a background failure shows as status, never kills awssim
            log(f"{name} failed: {e}")
            traceback.print_exc(file=sys.stderr)

    t = threading.Thread(target=run, name=name, daemon=True)
    THREADS[:] = [x for x in THREADS if x.is_alive()]
    THREADS.append(t)
    t.start()


def new_cluster():
    c = pgctl.Cluster(LAYOUT, uuid.uuid4().hex[:12])
    CLUSTERS[c.cid] = c
    return c


def restorable_window(c):
    with c.lock:
        backups = list(c.backups)
    if not backups:
        return None, None
    # Before any commit after the first backup, the backup's end is all that is restorable.
    last = c.last_archived_commit()
    earliest = backups[0].finished
    return earliest, max(last, earliest) if last else earliest


def check_restore_time(c, name, restore_time, use_latest):
    """Validate a PITR target against [earliest base backup, last archived commit].

    The source first commits and switches WAL when the target is newer than what is
    archived, so that "now" is restorable; returns (base backup, target or None)."""
    earliest, latest = restorable_window(c)
    if earliest is None:
        raise fault("InvalidRestoreFault",
                    f"{name} has no completed backup yet; nothing is restorable")
    if use_latest or restore_time is None or latest is None or restore_time >= latest:
        LOCK.release()
        try:
            c.mark_and_switch()
        except pgctl.PgError as e:
            raise fault("InvalidDBInstanceState",
                        f"{name} cannot make its newest commits restorable: {e}")
        finally:
            LOCK.acquire()
        earliest, latest = restorable_window(c)
    if use_latest:
        restore_time = None
    elif restore_time < earliest or restore_time > latest:
        raise fault("InvalidRestoreFault",
                    f"RestoreTime {iso(restore_time)} is outside the restorable window of "
                    f"{name}: [{iso(earliest)}, {iso(latest)}] "
                    f"(earliest restorable time, latest restorable time)")
    with c.lock:
        candidates = [b for b in c.backups
                      if restore_time is None or b.finished <= restore_time]
    return candidates[-1], restore_time


# --------------------------------------------------------------------------------------
# background jobs
# --------------------------------------------------------------------------------------

def set_status(obj, status):
    with LOCK:
        obj.status = status


def job_create_instance(inst, c, user, password, db_name):
    t0 = time.time()
    try:
        c.initdb(user, password, db_name)
        with LOCK:
            inst.port = c.port
        hold("creating", t0)
        t1 = time.time()
        set_status(inst, "backing-up")
        c.take_base_backup()
        hold("backing-up", t1)
        with LOCK:
            finish_create(inst, c)
    except Exception:
        set_status(inst, "failed")
        raise


def finish_create(inst, c):
    """Record the first base backup as the automated snapshot; status available."""
    inst.port = c.port
    inst.status = "available"
    if not isinstance(inst, rds_models.DBInstanceClustered):
        ts = pgctl.utcnow().strftime("%Y-%m-%d-%H-%M")
        sid = f"rds:{inst.db_instance_identifier}-{ts}"
        if sid not in inst.backend.database_snapshots:
            snap = ORIG["create_db_snapshot"](inst.backend, inst.db_instance_identifier, sid,
                                              snapshot_type="automated")
            snap.awssim_id = uuid.uuid4().hex[:12]
            with c.lock:
                SNAPSHOTS[snap.awssim_id] = c.backups[-1]
            snap.status = "available"


def job_restore_instance(inst, c, backup, archive, target):
    t0 = time.time()
    try:
        c.restore_from(backup, archive=archive, target_time=target)
        with LOCK:
            inst.port = c.port
        hold("creating", t0)
        t1 = time.time()
        set_status(inst, "backing-up")
        c.take_base_backup()
        hold("backing-up", t1)
        with LOCK:
            finish_create(inst, c)
    except Exception:
        set_status(inst, "failed")
        raise


def job_snapshot(inst, snap, c, then_status="available"):
    t0 = time.time()
    try:
        dest = os.path.join(LAYOUT.snapshots, snap.awssim_id)
        bb = c.base_backup(dest)
        hold("snapshot-creating", t0)
        with LOCK:
            SNAPSHOTS[snap.awssim_id] = bb
            snap.status = "available"
            if inst is not None and inst.status == "backing-up":
                inst.status = then_status
    except Exception:
        with LOCK:
            snap.status = "failed"
            if inst is not None:
                inst.status = "available"
        raise


def job_delete_instance(backend, inst, c, snap):
    t0 = time.time()
    if snap is not None:
        try:
            job_snapshot(None, snap, c)
        except Exception:
            set_status(inst, "available")  # no final snapshot, no delete
            raise
    hold("deleting", t0)
    if not isinstance(inst, rds_models.DBInstanceClustered):
        CLUSTERS.pop(c.cid, None)
        c.remove()
    with LOCK:
        ident = inst.db_instance_identifier
        if backend.databases.get(ident) is inst:
            backend.databases.pop(ident)
        for sid, s in list(backend.database_snapshots.items()):
            if s.snapshot_type == "automated" and getattr(s.database, "awssim_id", None) == \
                    inst.awssim_id:
                backend.database_snapshots.pop(sid)
                SNAPSHOTS.pop(getattr(s, "awssim_id", None), None)


def job_rename(inst, backend=None, new_id=None, lag=0.0):
    """With a lag, the old name answers `renaming` for the lag, then the name moves."""
    t_start = time.time()
    if new_id is not None:
        # Lands once it has waited the lag in force now: lowering rename_lag_s at run
        # time (or DELETE /awssim/faults) releases renames in flight.
        while time.time() - t_start < CONTROL.rename_lag_s and not pgctl.STOPPING.is_set():
            pgctl.STOPPING.wait(0.05)
        with LOCK:
            old = inst.db_instance_identifier
            PENDING_RENAMES.pop(new_id, None)
            if backend.databases.get(old) is not inst or inst.status != "renaming":
                return  # deleted meanwhile
            ORIG["modify_db_instance"](backend, old, {"new_db_instance_identifier": new_id})
    t0 = time.time()
    hold("renaming", t0)
    with LOCK:
        if inst.status == "renaming":
            inst.status = "available"


def job_password(inst, c, user, password):
    t0 = time.time()
    try:
        c.set_password(user, password)
    finally:
        hold("modifying", t0)
        with LOCK:
            if inst.status in ("resetting-master-credentials",):
                inst.status = "available"


def job_create_db_cluster(cl, c, user, password, db_name):
    t0 = time.time()
    try:
        c.initdb(user, password, db_name)
        c.take_base_backup()
        hold("creating", t0)
        with LOCK:
            cl.port = c.port
            cl.earliest_restorable_time = c.backups[0].finished
            cl.status = "available"
    except Exception:
        set_status(cl, "failed")
        raise


def job_restore_db_cluster(cl, c, backup, archive, target):
    t0 = time.time()
    try:
        c.restore_from(backup, archive=archive, target_time=target)
        c.take_base_backup()
        hold("creating", t0)
        with LOCK:
            cl.port = c.port
            cl.earliest_restorable_time = c.backups[0].finished
            cl.status = "available"
    except Exception:
        set_status(cl, "failed")
        raise


def job_cluster_writer(inst, cl_real):
    t0 = time.time()
    deadline = time.time() + 300
    while not cl_real.backups and time.time() < deadline:  # cluster still creating
        time.sleep(0.1)
    hold("creating", t0)
    with LOCK:
        inst.port = cl_real.port
        inst.status = "available"


# --------------------------------------------------------------------------------------
# moto patches
# --------------------------------------------------------------------------------------

B = rds_models.RDSBackend
ORIG = {name: getattr(B, name) for name in (
    "create_db_instance", "create_db_snapshot", "delete_db_snapshot",
    "restore_db_instance_from_db_snapshot", "restore_db_instance_to_point_in_time",
    "modify_db_instance", "delete_db_instance", "create_db_cluster",
    "restore_db_cluster_to_point_in_time", "delete_db_cluster", "modify_db_cluster",
    "stop_db_instance", "start_db_instance")}
ORIG_SAVE_AUTO = rds_models.DBInstance.save_automated_backup
ORIG_CLUSTER_SAVE_AUTO = rds_models.DBCluster.save_automated_backup


def _require_status(inst, allowed, action):
    if inst.status not in allowed:
        raise fault("InvalidDBInstanceState",
                    f"Cannot {action} DB instance {inst.db_instance_identifier}: its status is "
                    f"{inst.status}, it must be {' or '.join(allowed)}")


def _find_instance(backend, ident):
    if ident not in backend.databases:
        raise rds_models.DBInstanceNotFoundError(ident)
    return backend.databases[ident]


def p_create_db_instance(self, db_kwargs):
    engine = db_kwargs.get("engine")
    ident = db_kwargs.get("db_instance_identifier")
    job = getattr(_tls, "job", None)
    _tls.job = None
    if job is None and engine == "postgres" and not db_kwargs.get("db_cluster_identifier"):
        user = db_kwargs.get("master_username")
        password = db_kwargs.get("master_user_password")
        if not user:
            raise fault("InvalidParameterValue",
                        "MasterUsername is required for engine postgres")
        if not password or len(password) < 8:
            raise fault("InvalidParameterValue",
                        "MasterUserPassword is required for engine postgres and must be at "
                        "least 8 characters")
    if ident in self.databases or ident in PENDING_RENAMES:
        raise rds_models.DBInstanceAlreadyExists()
    db_kwargs = dict(db_kwargs)
    db_kwargs.pop("awssim_id", None)
    if engine == "postgres" and not db_kwargs.get("engine_version"):
        db_kwargs["engine_version"] = "15.10"
    inst = ORIG["create_db_instance"](self, db_kwargs)
    if job is not None:
        job(inst)
        return inst
    if engine == "postgres" and not db_kwargs.get("db_cluster_identifier"):
        c = new_cluster()
        inst.awssim_id = c.cid
        inst.dbi_resource_id = "db-" + c.cid.upper()
        inst.port = c.port
        inst.status = "creating"
        spawn(f"create-{ident}", job_create_instance, inst, c, inst.master_username,
              db_kwargs.get("master_user_password"), inst.db_name)
    elif db_kwargs.get("db_cluster_identifier"):
        cl = self.clusters.get(inst.db_cluster_identifier)
        cr = real_of(cl) if cl is not None else None
        if cr is not None:
            inst.awssim_id = cr.cid
            inst.dbi_resource_id = "db-" + uuid.uuid4().hex[:12].upper()
            inst.port = cr.port
            inst.status = "creating"
            spawn(f"writer-{ident}", job_cluster_writer, inst, cr)
    return inst


def p_save_automated_backup(self):
    if self.engine == "postgres" or is_real_engine(getattr(self, "engine", "")):
        return  # the first real base backup becomes the automated snapshot
    ORIG_SAVE_AUTO(self)


def p_cluster_save_automated_backup(self):
    if is_real_engine(self.engine):
        return
    ORIG_CLUSTER_SAVE_AUTO(self)


def p_create_db_snapshot(self, db_instance_identifier, db_snapshot_identifier,
                         snapshot_type="manual", tags=None, **kw):
    inst = _find_instance(self, db_instance_identifier)
    c = real_of(inst)
    if c is None or isinstance(inst, rds_models.DBInstanceClustered):
        return ORIG["create_db_snapshot"](self, db_instance_identifier, db_snapshot_identifier,
                                          snapshot_type=snapshot_type, tags=tags, **kw)
    _require_status(inst, ["available"], "snapshot")
    snap = ORIG["create_db_snapshot"](self, db_instance_identifier, db_snapshot_identifier,
                                      snapshot_type=snapshot_type, tags=tags, **kw)
    snap.awssim_id = uuid.uuid4().hex[:12]
    snap.status = "creating"
    SNAPSHOTS[snap.awssim_id] = None
    inst.status = "backing-up"
    spawn(f"snapshot-{db_snapshot_identifier}", job_snapshot, inst, snap, c)
    return snap


def p_delete_db_snapshot(self, db_snapshot_identifier):
    snap = self.database_snapshots.get(db_snapshot_identifier)
    if snap is not None and getattr(snap, "awssim_id", None):
        if snap.status == "creating":
            raise fault("InvalidDBSnapshotState",
                        f"Snapshot {db_snapshot_identifier} is still creating; it can be "
                        f"deleted once available")
        if snap.snapshot_type == "automated":
            raise fault("InvalidDBSnapshotState",
                        f"Automated snapshot {db_snapshot_identifier} is removed with its "
                        f"DB instance; only manual snapshots can be deleted")
    snap = ORIG["delete_db_snapshot"](self, db_snapshot_identifier)
    bb = SNAPSHOTS.pop(getattr(snap, "awssim_id", None), None)
    if bb is not None and bb.path.startswith(LAYOUT.snapshots):
        import shutil

        shutil.rmtree(bb.path, ignore_errors=True)
    snap.status = "deleted"
    return snap


def p_restore_from_snapshot(self, from_snapshot_id, overrides):
    target = overrides.get("db_instance_identifier")
    if from_snapshot_id not in self.database_snapshots:
        raise rds_models.DBSnapshotNotFoundFault(from_snapshot_id)
    snap = self.database_snapshots[from_snapshot_id]
    if target in self.databases or target in PENDING_RENAMES:
        raise rds_models.DBInstanceAlreadyExists()
    aid = getattr(snap, "awssim_id", None)
    if aid is None:
        return ORIG["restore_db_instance_from_db_snapshot"](self, from_snapshot_id, overrides)
    if snap.status != "available":
        raise fault("InvalidDBSnapshotState",
                    f"Snapshot {from_snapshot_id} is {snap.status}; it must be available")
    bb = SNAPSHOTS[aid]
    tags = overrides.get("tags")

    def job(inst):
        c = new_cluster()
        inst.awssim_id = c.cid
        inst.dbi_resource_id = "db-" + c.cid.upper()
        inst.port = c.port
        inst.status = "creating"
        inst.tags = tags or []
        spawn(f"restore-{target}", job_restore_instance, inst, c, bb, None, None)

    _tls.job = job
    try:
        return ORIG["restore_db_instance_from_db_snapshot"](self, from_snapshot_id, overrides)
    finally:
        _tls.job = None


def p_restore_pitr(self, source_db_identifier, target_db_identifier, overrides):
    src = _find_instance(self, source_db_identifier)
    if target_db_identifier in self.databases or target_db_identifier in PENDING_RENAMES:
        raise rds_models.DBInstanceAlreadyExists()
    c = real_of(src)
    if c is None:
        return ORIG["restore_db_instance_to_point_in_time"](
            self, source_db_identifier, target_db_identifier, overrides)
    restore_time = parse_time(overrides.get("restore_time"), "RestoreTime")
    use_latest = bool(overrides.get("use_latest_restorable_time"))
    if use_latest and restore_time is not None:
        raise fault("InvalidParameterCombination",
                    "RestoreTime and UseLatestRestorableTime cannot both be given")
    if not use_latest and restore_time is None:
        raise fault("InvalidParameterCombination",
                    "one of RestoreTime or UseLatestRestorableTime is required")
    backup, target = check_restore_time(c, source_db_identifier, restore_time, use_latest)
    if target_db_identifier in self.databases:  # taken while the lock was released
        raise rds_models.DBInstanceAlreadyExists()
    tags = overrides.get("tags")
    archive = c.archive

    def job(inst):
        nc = new_cluster()
        inst.awssim_id = nc.cid
        inst.dbi_resource_id = "db-" + nc.cid.upper()
        inst.port = nc.port
        inst.status = "creating"
        inst.tags = tags or []
        inst.db_instance_identifier = target_db_identifier
        spawn(f"pitr-{target_db_identifier}", job_restore_instance, inst, nc, backup,
              archive, target)

    overrides = dict(overrides)
    for k in ("restore_time", "use_latest_restorable_time", "source_db_instance_identifier",
              "target_db_instance_identifier", "awssim_id"):
        overrides.pop(k, None)
    _tls.job = job
    try:
        return ORIG["restore_db_instance_to_point_in_time"](
            self, source_db_identifier, target_db_identifier, overrides)
    finally:
        _tls.job = None


def p_modify_db_instance(self, db_instance_identifier, db_kwargs):
    inst = _find_instance(self, db_instance_identifier)
    c = real_of(inst)
    if c is None:
        return ORIG["modify_db_instance"](self, db_instance_identifier, db_kwargs)
    _require_status(inst, ["available"], "modify")
    new_id = db_kwargs.get("new_db_instance_identifier")
    if new_id and new_id.lower() != db_instance_identifier.lower() and (
            new_id in self.databases or new_id in PENDING_RENAMES):
        raise rds_models.DBInstanceAlreadyExists()
    password = db_kwargs.get("master_user_password")
    if password is not None and len(password) < 8:
        raise fault("InvalidParameterValue",
                    "MasterUserPassword must be at least 8 characters")
    kwargs = dict(db_kwargs)
    kwargs.pop("apply_immediately", None)
    lag = CONTROL.rename_lag_s
    if new_id and lag > 0:
        kwargs.pop("new_db_instance_identifier")
        inst = ORIG["modify_db_instance"](self, db_instance_identifier, kwargs)
        inst.status = "renaming"
        PENDING_RENAMES[new_id] = db_instance_identifier
        spawn(f"rename-{new_id}", job_rename, inst, self, new_id, lag)
        return inst
    inst = ORIG["modify_db_instance"](self, db_instance_identifier, kwargs)
    if new_id:
        inst.status = "renaming"
        spawn(f"rename-{new_id}", job_rename, inst)
    elif password is not None:
        inst.status = "resetting-master-credentials"
        spawn(f"password-{db_instance_identifier}", job_password, inst, c,
              inst.master_username, password)
    return inst


def p_delete_db_instance(self, db_instance_identifier, final_db_snapshot_identifier=None,
                         skip_final_snapshot=False, delete_automated_backups=True, **_):
    inst = _find_instance(self, db_instance_identifier)
    c = real_of(inst)
    if c is None:
        return ORIG["delete_db_instance"](self, db_instance_identifier,
                                          final_db_snapshot_identifier, skip_final_snapshot,
                                          delete_automated_backups)
    clustered = isinstance(inst, rds_models.DBInstanceClustered)
    if not clustered and not skip_final_snapshot and not final_db_snapshot_identifier:
        raise fault("InvalidParameterCombination",
                    "FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot is "
                    "specified")
    if skip_final_snapshot and final_db_snapshot_identifier:
        raise fault("InvalidParameterCombination",
                    "FinalDBSnapshotIdentifier cannot be given with SkipFinalSnapshot")
    _require_status(inst, ["available", "failed", "stopped"], "delete")
    snap = None
    if final_db_snapshot_identifier and not clustered:
        if final_db_snapshot_identifier in self.database_snapshots:
            raise rds_models.DBSnapshotAlreadyExistsError(final_db_snapshot_identifier)
        snap = ORIG["create_db_snapshot"](self, db_instance_identifier,
                                          final_db_snapshot_identifier,
                                          snapshot_type="manual")
        snap.awssim_id = uuid.uuid4().hex[:12]
        snap.status = "creating"
        SNAPSHOTS[snap.awssim_id] = None
    inst.status = "deleting"
    spawn(f"delete-{db_instance_identifier}", job_delete_instance, self, inst, c, snap)
    return inst


def p_create_db_cluster(self, kwargs):
    job = getattr(_tls, "job", None)
    _tls.job = None
    engine = kwargs.get("engine")
    ident = kwargs.get("db_cluster_identifier")
    if ident in self.clusters or ident in PENDING_CLUSTER_RENAMES:
        raise fault("DBClusterAlreadyExistsFault", f"DB cluster {ident} already exists")
    kwargs = dict(kwargs)
    kwargs.pop("awssim_id", None)
    if engine == "aurora-postgresql" and job is None:
        if not kwargs.get("master_user_password") or len(kwargs["master_user_password"]) < 8:
            raise fault("InvalidParameterValue",
                        "MasterUserPassword is required for aurora-postgresql and must be at "
                        "least 8 characters")
    if engine == "aurora-postgresql" and not kwargs.get("engine_version"):
        kwargs["engine_version"] = "15.10"
    cl = ORIG["create_db_cluster"](self, kwargs)
    if job is not None:
        job(cl)
    elif engine == "aurora-postgresql":
        c = new_cluster()
        cl.awssim_id = c.cid
        cl.port = c.port
        cl.status = "creating"
        spawn(f"cluster-{ident}", job_create_db_cluster, cl, c, cl.master_username,
              kwargs.get("master_user_password"), cl.database_name)
    return cl


def p_restore_cluster_pitr(self, db_cluster_identifier, source_db_cluster_identifier,
                           restore_type="full-copy", restore_to_time=None,
                           use_latest_restorable_time=False, **overrides):
    if source_db_cluster_identifier not in self.clusters:
        raise rds_models.DBClusterNotFoundError(source_db_cluster_identifier)
    if (db_cluster_identifier in self.clusters
            or db_cluster_identifier in PENDING_CLUSTER_RENAMES):
        raise fault("DBClusterAlreadyExistsFault", f"DB cluster {db_cluster_identifier} already exists")
    src = self.clusters[source_db_cluster_identifier]
    c = real_of(src)
    if c is None:
        return ORIG["restore_db_cluster_to_point_in_time"](
            self, db_cluster_identifier, source_db_cluster_identifier, restore_type,
            restore_to_time, use_latest_restorable_time, **overrides)
    restore_time = parse_time(restore_to_time, "RestoreToTime")
    use_latest = bool(use_latest_restorable_time)
    if use_latest and restore_time is not None:
        raise fault("InvalidParameterCombination",
                    "RestoreToTime and UseLatestRestorableTime cannot both be given")
    if not use_latest and restore_time is None:
        raise fault("InvalidParameterCombination",
                    "one of RestoreToTime or UseLatestRestorableTime is required")
    backup, target = check_restore_time(c, source_db_cluster_identifier, restore_time,
                                        use_latest)
    if (db_cluster_identifier in self.clusters
            or db_cluster_identifier in PENDING_CLUSTER_RENAMES):
        raise fault("DBClusterAlreadyExistsFault", f"DB cluster {db_cluster_identifier} already exists")
    tags = overrides.get("tags")
    archive = c.archive

    def job(cl):
        nc = new_cluster()
        cl.awssim_id = nc.cid
        cl.port = nc.port
        cl.status = "creating"
        cl.tags = tags or []
        spawn(f"cluster-pitr-{db_cluster_identifier}", job_restore_db_cluster, cl, nc,
              backup, archive, target)

    overrides.pop("awssim_id", None)
    overrides.pop("status", None)
    _tls.job = job
    try:
        return ORIG["restore_db_cluster_to_point_in_time"](
            self, db_cluster_identifier, source_db_cluster_identifier, restore_type, None,
            False, **overrides)
    finally:
        _tls.job = None


def _require_cluster(backend, ident):
    if ident not in backend.clusters:
        raise rds_models.DBClusterNotFoundError(ident)
    return backend.clusters[ident]


def _require_cluster_status(cl, allowed, action):
    if cl.status not in allowed:
        raise fault("InvalidDBClusterStateFault",
                    f"Cannot {action} DB cluster {cl.db_cluster_identifier}: its status is "
                    f"{cl.status}, it must be {' or '.join(allowed)}")


def _move_cluster(backend, cl, new_id):
    """The rename itself: the cluster and its members' DBClusterIdentifier."""
    old = cl.db_cluster_identifier
    members = list(cl.members)
    backend.clusters.pop(old, None)
    cl.db_cluster_identifier = new_id
    backend.clusters[new_id] = cl
    for m in members:
        m.db_cluster_identifier = new_id


def job_rename_cluster(cl, backend, new_id):
    """Like job_rename: the old name answers `renaming` for the lag, then moves."""
    t_start = time.time()
    while time.time() - t_start < CONTROL.rename_lag_s and not pgctl.STOPPING.is_set():
        pgctl.STOPPING.wait(0.05)
    with LOCK:
        PENDING_CLUSTER_RENAMES.pop(new_id, None)
        old = cl.db_cluster_identifier
        if backend.clusters.get(old) is not cl or cl.status != "renaming":
            return  # deleted meanwhile
        _move_cluster(backend, cl, new_id)
    t0 = time.time()
    hold("renaming", t0)
    with LOCK:
        if cl.status == "renaming":
            cl.status = "available"


def p_modify_db_cluster(self, kwargs):
    """ModifyDBCluster as RDS does it: DBClusterNotFoundFault, DBClusterAlreadyExistsFault
    for a taken NewDBClusterIdentifier, InvalidDBClusterStateFault unless available; a
    rename shows `renaming` (under the old name for AWSSIM_RENAME_LAG_S) and moves the
    members' DBClusterIdentifier with it."""
    ident = kwargs.get("db_cluster_identifier")
    cl = _require_cluster(self, ident)
    new_id = kwargs.get("new_db_cluster_identifier")
    if new_id and new_id != ident and (new_id in self.clusters or
                                       new_id in PENDING_CLUSTER_RENAMES):
        raise fault("DBClusterAlreadyExistsFault", f"DB cluster {new_id} already exists")
    if real_of(cl) is None or not new_id or new_id == ident:
        return ORIG["modify_db_cluster"](self, kwargs)
    _require_cluster_status(cl, ["available"], "modify")
    cl.status = "renaming"
    if CONTROL.rename_lag_s > 0:
        PENDING_CLUSTER_RENAMES[new_id] = ident
        spawn(f"rename-cluster-{new_id}", job_rename_cluster, cl, self, new_id)
        return cl
    _move_cluster(self, cl, new_id)
    PENDING_CLUSTER_RENAMES[new_id] = ident  # popped by the job at once (no lag)
    spawn(f"rename-cluster-{new_id}", job_rename_cluster_landed, cl, new_id)
    return cl


def job_rename_cluster_landed(cl, new_id):
    with LOCK:
        PENDING_CLUSTER_RENAMES.pop(new_id, None)
    hold("renaming", time.time())
    with LOCK:
        if cl.status == "renaming":
            cl.status = "available"


def job_delete_cluster(backend, cl, c):
    hold("deleting", time.time())
    with LOCK:
        ident = cl.db_cluster_identifier
        if backend.clusters.get(ident) is cl:
            backend.clusters.pop(ident)
    CLUSTERS.pop(c.cid, None)
    c.remove()


def p_delete_db_cluster(self, cluster_identifier, snapshot_name=None):
    """DeleteDBCluster as RDS does it: InvalidDBClusterStateFault while the cluster is
    busy or still has instances that are not deleting; the final cluster snapshot
    (FinalDBSnapshotIdentifier) is taken first (DBClusterSnapshotAlreadyExistsFault if
    the name is taken); the cluster answers `deleting` until it is gone."""
    cl = _require_cluster(self, cluster_identifier)
    c = real_of(cl)
    if c is None:
        return ORIG["delete_db_cluster"](self, cluster_identifier, snapshot_name)
    _require_cluster_status(cl, ["available", "failed", "stopped"], "delete")
    busy = [m.db_instance_identifier for m in cl.members if m.status != "deleting"]
    if busy:
        raise fault("InvalidDBClusterStateFault",
                    "Cluster cannot be deleted, it still contains DB instances in "
                    f"non-deleting state: {', '.join(busy)}")
    if snapshot_name:
        self.create_db_cluster_snapshot(cluster_identifier, snapshot_name)
    cl.status = "deleting"
    spawn(f"delete-cluster-{cluster_identifier}", job_delete_cluster, self, cl, c)
    return cl


def p_stop_start_reject(name):
    orig = ORIG[name]

    def fn(self, db_instance_identifier, *a, **kw):
        inst = _find_instance(self, db_instance_identifier)
        if real_of(inst) is not None:
            raise fault("InvalidParameterCombination",
                        f"awssim does not implement {name} for real PostgreSQL instances")
        return orig(self, db_instance_identifier, *a, **kw)

    return fn


# Properties shown by Describe*: the real endpoint and restorable times.

def _inst_address(self):
    if real_of(self) is not None:
        return "127.0.0.1"
    return f"{self.db_instance_identifier}.aaaaaaaaaa.{self.region}.rds.amazonaws.com"


def _real_lrt(c):
    return restorable_window(c)[1]


def _inst_lrt(self):
    c = real_of(self)
    if c is None:
        return pgctl.utcnow()
    return _real_lrt(c)


def _cluster_endpoint(self):
    if real_of(self) is not None:
        return "127.0.0.1"
    return (f"{self.db_cluster_identifier}.cluster-{self.url_identifier}.{self.region}"
            ".rds.amazonaws.com")


def _cluster_reader_endpoint(self):
    if real_of(self) is not None:
        return "127.0.0.1"
    return (f"{self.db_cluster_identifier}.cluster-ro-{self.url_identifier}.{self.region}"
            ".rds.amazonaws.com")


def _cluster_status_get(self):
    if real_of(self) is not None or getattr(self, "awssim_id", None):
        return self._status
    if self._status == "creating":
        self._status = "available"
        return "creating"
    return self._status


def _cluster_status_set(self, value):
    self._status = value


_tls = threading.local()


TAGGING_NOT_FOUND = {"db": ("DBInstanceNotFound", "DBInstance"),
                     "cluster": ("DBClusterNotFoundFault", "DBCluster"),
                     "snapshot": ("DBSnapshotNotFound", "DBSnapshot"),
                     "cluster-snapshot": ("DBClusterSnapshotNotFoundFault", "DBClusterSnapshot")}
ORIG_GET_FOR_TAGGING = B._get_resource_for_tagging


def p_get_resource_for_tagging(self, arn):
    """ListTagsForResource and friends as RDS answers them: an ARN naming no resource is
    a NotFound fault (moto answers an empty tag list). An RDS ARN carries the identifier,
    so a rename makes the old ARN not found."""
    resource = ORIG_GET_FOR_TAGGING(self, arn)
    parts = arn.split(":")
    if resource is None and len(parts) >= 7 and parts[5] in TAGGING_NOT_FOUND:
        code, kind = TAGGING_NOT_FOUND[parts[5]]
        raise fault(code, f"{kind} {parts[6]} not found.")
    return resource


def install_patches():
    for name, fn in (
        ("create_db_instance", p_create_db_instance),
        ("create_db_snapshot", p_create_db_snapshot),
        ("delete_db_snapshot", p_delete_db_snapshot),
        ("restore_db_instance_from_db_snapshot", p_restore_from_snapshot),
        ("restore_db_instance_to_point_in_time", p_restore_pitr),
        ("modify_db_instance", p_modify_db_instance),
        ("delete_db_instance", p_delete_db_instance),
        ("create_db_cluster", p_create_db_cluster),
        ("restore_db_cluster_to_point_in_time", p_restore_cluster_pitr),
        ("delete_db_cluster", p_delete_db_cluster),
        ("modify_db_cluster", p_modify_db_cluster),
        ("stop_db_instance", p_stop_start_reject("stop_db_instance")),
        ("start_db_instance", p_stop_start_reject("start_db_instance")),
    ):
        setattr(B, name, fn)
    B._get_resource_for_tagging = p_get_resource_for_tagging
    rds_models.DBInstance.save_automated_backup = p_save_automated_backup
    rds_models.DBCluster.save_automated_backup = p_cluster_save_automated_backup
    rds_models.DBInstance.address = property(_inst_address)
    rds_models.DBInstance.latest_restorable_time = property(_inst_lrt)
    rds_models.DBCluster.endpoint = property(_cluster_endpoint)
    rds_models.DBCluster.reader_endpoint = property(_cluster_reader_endpoint)
    rds_models.DBCluster.status = property(_cluster_status_get, _cluster_status_set)

    def _cluster_lrt(self):
        c = real_of(self)
        if c is None:
            return pgctl.utcnow()
        return _real_lrt(c)

    rds_models.DBCluster.latest_restorable_time = property(_cluster_lrt)

    # One lock around every RDS action: background jobs change the same models.
    orig_call = rds_responses.RDSResponse.call_action

    def locked_call_action(self):
        with LOCK:
            return orig_call(self)

    rds_responses.RDSResponse.call_action = locked_call_action


# --------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------

def shutdown_clusters():
    # Jobs still running would start servers after the sweep: stop them first.
    pgctl.STOPPING.set()
    deadline = time.time() + SHUTDOWN_JOIN_S
    for t in list(THREADS):
        t.join(max(0.0, deadline - time.time()))
    for c in list(CLUSTERS.values()):
        try:
            c.stop("immediate")
        except Exception as e:
            log(f"stopping {c.cid}: {e}")
    CLUSTERS.clear()
    if LAYOUT is not None:
        LAYOUT.sweep(log)


def s3_bucket_region(name):
    """The region of moto's bucket `name` (its LocationConstraint), or None."""
    from moto.s3.models import s3_backends
    for account in list(s3_backends.keys()):
        bucket = s3_backends[account]["aws"].buckets.get(name)
        if bucket is not None:
            return bucket.region_name
    return None


def main():
    global LAYOUT, CONTROL
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--port", type=int, default=int(os.environ.get("AWSSIM_PORT", "4566")))
    ap.add_argument("--host", default="127.0.0.1")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("awssim: must run as root (it runs PostgreSQL as the postgres user)")

    LAYOUT = pgctl.Layout(args.run_dir)
    LAYOUT.sweep(log)  # clusters left by a crashed run
    LAYOUT.prepare()
    atexit.register(shutdown_clusters)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    install_patches()
    s3fast.install()
    CONTROL = faults.Control(os.path.join(LAYOUT.root, "requests.jsonl"), RENAME_LAG_S)
    app = faults.Middleware(DomainDispatcherApplication(create_backend_app), CONTROL,
                            bucket_region=s3_bucket_region)
    server = make_server(args.host, args.port, app, threaded=True)
    server_thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    server_thread.start()
    log(f"moto {moto.__version__} serving on http://{args.host}:{args.port} "
        f"(delay scale {DELAY_SCALE}, rename lag {RENAME_LAG_S} s, data under {LAYOUT.root}, "
        f"request log {CONTROL.log_path})")
    while not stop.wait(1.0):
        pass
    log("stopping")
    try:
        server.shutdown()
        server_thread.join(5)
    except Exception as e:
        log(f"stopping moto: {e}")
    shutdown_clusters()
    log("stopped")


if __name__ == "__main__":
    main()
