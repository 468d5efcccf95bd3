#!/usr/bin/env python3
"""The burst scenario on each database engine: SQLite (one instance), PostgreSQL with one
instance, and PostgreSQL with two instances sharing the database. Run through
`bench/backends` (builds the release binary, starts the mail stack and a PostgreSQL with fsync
on). Writes bench/results-backends.json.

For each: submissions already in the inbox when the daemon(s) start, cases committed per second,
receipts delivered per second, and where the cost per mail goes: CPU milliseconds per mail in
the daemon(s) and in the PostgreSQL server, beside the wall time per mail.

Environment: BENCH_BACKENDS_N (submissions, default 5000), BENCH_BACKENDS (subset of
sqlite,pg1,pg2).
"""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the shared helpers: config, mail, IMAP/SMTP clients, Daemon)

N = int(os.environ.get("BENCH_BACKENDS_N", 5000))
WHICH = os.environ.get("BENCH_BACKENDS", "sqlite,pg1,pg2").split(",")
PG = dict(l.strip().split("=", 1) for l in open(os.path.join(os.environ["BENCH_PG"], "env")) if "=" in l)
TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    """User + system CPU seconds of a process and its reaped children."""
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in parts[11:15]) / TICK


def pg_server_cpu():
    """CPU seconds of every process of the PostgreSQL server (backends come and go: their
    time is summed into the postmaster's children counters when reaped)."""
    total = 0.0
    pid = int(open(os.path.join(os.environ["BENCH_PG"], "data/postmaster.pid")).readline())
    total += cpu_s(pid)
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    st = f.read()
                ppid = int(st.rsplit(")", 1)[1].split()[1])
                if ppid == pid:
                    total += cpu_s(int(p))
            except (OSError, ValueError, IndexError):
                pass
    return total


def psql(db, sql):
    out = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", PG["PG_PORT"], "-U", PG["PG_USER"], "-d", db, "-At", "-c", sql],
        env=dict(os.environ, PGPASSWORD=PG["PG_PASSWORD"]), capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return [l.split("|") for l in out.stdout.splitlines() if l]


class Db:
    def __init__(self, kind, path_or_name):
        self.kind, self.ref = kind, path_or_name

    def rows(self, sql):
        if self.kind == "sqlite":
            return bench.q(self.ref, sql)
        return psql(self.ref, sql)

    def count(self, sql):
        try:
            return int(self.rows(sql)[0][0])
        except Exception:
            return -1

    def wait(self, sql, want, timeout):
        end = time.time() + timeout
        while time.time() < end:
            if self.count(sql) >= want:
                return
            time.sleep(0.25)
        raise TimeoutError(f"{sql} < {want}")


def run(name):
    instances = 2 if name == "pg2" else 1
    bench.log(f"burst on {name}: {N} submissions, {instances} instance(s)")
    wdir = os.path.join(bench.WORK, f"backends-{name}")
    forum = bench.simple_forum(f"be{name}", 50, 5, bench.weekly_schedule())
    cfg = bench.write_config(wdir, forum["mailbox"], [forum])
    if name == "sqlite":
        db = Db("sqlite", os.path.join(wdir, "samverkan.db"))
        cfgs = [cfg]
    else:
        dbname = f"bench_{bench.RUN}_{name}"
        psql("postgres", f"CREATE DATABASE {dbname}")
        db = Db("pg", dbname)
        with open(os.path.join(wdir, "pgpassword"), "w") as f:
            f.write(PG["PG_PASSWORD"])
        text = open(cfg).read().replace(
            'path = "samverkan.db"',
            f'url = "postgres://{PG["PG_USER"]}@127.0.0.1:{PG["PG_PORT"]}/{dbname}"\npassword_file = "pgpassword"\ninstance = "bench-1"',
        )
        open(cfg, "w").write(text)
        cfgs = [cfg]
        if instances == 2:
            d2 = os.path.join(wdir, "second")
            os.makedirs(d2, exist_ok=True)
            for f in ("password", "pgpassword"):
                open(os.path.join(d2, f), "w").write(open(os.path.join(wdir, f)).read())
            c2 = os.path.join(d2, "samverkan.toml")
            open(c2, "w").write(text.replace('instance = "bench-1"', 'instance = "bench-2"'))
            cfgs.append(c2)
    members = [m[1] for m in forum["members"]]
    msgs = [bench.submission(members[i % len(members)], forum["mailbox"], i, f"{name}{bench.RUN}")[1] for i in range(N)]
    bench.append_all(forum["mailbox"], msgs)
    if name != "sqlite":
        psql(dbname, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        psql(dbname, "SELECT pg_stat_statements_reset()")
    pg_cpu0 = pg_server_cpu() if name != "sqlite" else 0.0
    t0 = time.time()
    daemons = [bench.Daemon(c, os.path.dirname(c)) for c in cfgs]
    db.wait("SELECT count(*) FROM cases", N, 1800)
    t_cases = time.time()
    db.wait("SELECT count(*) FROM outbox WHERE kind = 'receipt' AND status = 'sent'", N, 1800)
    t_sent = time.time()
    daemon_cpu = sum(cpu_s(d.p.pid) for d in daemons)
    pg_cpu = (pg_server_cpu() - pg_cpu0) if name != "sqlite" else 0.0
    for d in daemons:
        d.stop()
    created = [bench.from_db(r[0]) for r in db.rows("SELECT created_at FROM cases")]
    sent = [bench.from_db(r[0]) for r in db.rows("SELECT sent_at FROM outbox WHERE kind = 'receipt' AND status = 'sent'")]
    case_rate = bench.overall_rate(created)
    send_rate = bench.overall_rate(sent)
    r = {
        "instances": instances,
        "n": N,
        "cases_per_s": bench.rnd(case_rate, 1),
        "receipts_per_s": bench.rnd(send_rate, 1),
        "wall_s_from_start_to_last_case": bench.rnd(t_cases - t0, 2),
        "wall_s_from_start_to_last_receipt": bench.rnd(t_sent - t0, 2),
        "daemon_cpu_ms_per_mail": bench.rnd(1000 * daemon_cpu / N, 3),
        "db_server_cpu_ms_per_mail": bench.rnd(1000 * pg_cpu / N, 3) if name != "sqlite" else None,
        "wall_ms_per_mail": bench.rnd(1000 * (t_sent - t0) / N, 3),
    }
    if name != "sqlite":
        # Where the database server's time goes: the statements by total execution time.
        top = psql(dbname, "SELECT round(total_exec_time::numeric, 1), calls, regexp_replace(left(query, 110), '[|\\s]+', ' ', 'g') "
                           "FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                           "ORDER BY total_exec_time DESC LIMIT 8")
        r["db_top_statements"] = [
            {"ms_total": float(t), "calls": int(c), "us_per_mail": bench.rnd(1000 * float(t) / N, 1), "query": q} for t, c, q in top
        ]
    bench.log(f"  {json.dumps(r)}")
    bench.wait_delivered(members, N, 900)
    return r


def main():
    out = {
        "meta": {
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "commit": subprocess.run(["git", "-C", bench.ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
            "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
            "cores": os.cpu_count(),
            "loadavg_start": open("/proc/loadavg").read().split()[:3],
            "postgresql": psql("postgres", "SHOW server_version")[0][0],
            "fsync": psql("postgres", "SHOW fsync")[0][0],
        },
        "runs": {},
    }
    for name in WHICH:
        out["runs"][name] = run(name)
    out["meta"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    path = os.path.join(bench.ROOT, "bench/results-backends.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=2)
    print(f"\n{'run':8} {'inst':>4} {'cases/s':>9} {'receipts/s':>11} {'daemon CPU ms/mail':>19} {'PG CPU ms/mail':>15} {'wall ms/mail':>13}")
    for name, r in out["runs"].items():
        print(f"{name:8} {r['instances']:>4} {r['cases_per_s']:>9} {r['receipts_per_s']:>11} {r['daemon_cpu_ms_per_mail']:>19} "
              f"{str(r['db_server_cpu_ms_per_mail']):>15} {r['wall_ms_per_mail']:>13}")
    print(f"\nwritten: {path}")


if __name__ == "__main__":
    main()
