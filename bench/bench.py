#!/usr/bin/env python3
"""Helpers for bench/run.sh: result parsing, the burst client, fixture seeding and the report.

Standard library only, so the benchmark needs nothing installed beyond python3. Every
subcommand exits non-zero with a message on stderr when what it measured is not a clean
success: a benchmark of error responses would be meaningless.
"""

import argparse
import http.client
import json
import math
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time


# How the report names a backend whose key is terse.
BACKEND_NAMES = {"sqlite-full": "sqlite, synchronous=full"}


def die(message):
    print(f"bench: ERROR: {message}", file=sys.stderr)
    sys.exit(1)


def percentile(values, pct):
    """Nearest-rank percentile: always a value that was observed, also for a few samples."""
    if not values:
        die("percentile of no samples")
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[rank - 1]


def append_result(path, record):
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")


# --- small utilities for run.sh ----------------------------------------------------------


def cmd_free_port(_args):
    # The port is free when we close it; run.sh starts its server right away, and a lost
    # race only makes the server fail to bind, which run.sh reports.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        print(sock.getsockname()[1])


def cmd_json(args):
    """Prints one field of a JSON file, addressed as a dotted path (`result.id`)."""
    with open(args.file, encoding="utf-8") as handle:
        value = json.load(handle)
    for part in args.path.split("."):
        if isinstance(value, list):
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            die(f"{args.file}: no field {args.path!r}")
    print(value if not isinstance(value, (dict, list)) else json.dumps(value))


def cmd_csr_pem(args):
    """Writes the CSR PEM of a create answer to a file and prints the CSR id."""
    with open(args.created, encoding="utf-8") as handle:
        created = json.load(handle)
    result = created.get("result") or {}
    if not created.get("success") or "csr" not in result or "id" not in result:
        die(f"{args.created}: not a successful create answer: {json.dumps(created)[:300]}")
    with open(args.out, "w", encoding="utf-8") as out:
        out.write(result["csr"])
    print(result["id"])


def cmd_upload_body(args):
    with open(args.certificate, encoding="utf-8") as handle:
        certificate = handle.read()
    print(json.dumps({"certificate": certificate, "custom_csr_id": args.csr_id}))


def cmd_samples(args):
    """p50/p99 of numbers in a file, one a line (the client-side curl times, in seconds)."""
    with open(args.file, encoding="utf-8") as handle:
        values = [float(line) * args.scale for line in handle if line.strip()]
    print(json.dumps({"count": len(values), "p50_ms": percentile(values, 50),
                      "p99_ms": percentile(values, 99)}))


# --- wrk -------------------------------------------------------------------------------------


def cmd_wrk_result(args):
    """Reads the summary request.lua's done() printed, refuses any error, records the row."""
    summary = None
    with open(args.output, encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("BENCH_JSON "):
                summary = json.loads(line[len("BENCH_JSON "):])
    if summary is None:
        die(f"{args.label}: wrk printed no summary (see {args.output})")
    errors = {k: summary[k] for k in ("connect", "read", "write", "status", "timeout")}
    if any(errors.values()):
        die(f"{args.label}: wrk saw errors {errors} in {summary['requests']} requests "
            f"(non-2xx answers or socket errors; see {args.output})")
    if summary["requests"] == 0:
        die(f"{args.label}: no request completed within the run")
    record = {
        "kind": args.kind, "row": args.row, "backend": args.backend, "target": args.target,
        "requests": summary["requests"],
        "rps": summary["requests"] / (summary["duration_us"] / 1e6),
        "p50_ms": summary["p50_us"] / 1000.0,
        "p99_ms": summary["p99_us"] / 1000.0,
    }
    append_result(args.results, record)
    print(f"  {args.label}: {record['requests']} requests, {record['rps']:.1f} req/s, "
          f"p50 {record['p50_ms']:.2f} ms, p99 {record['p99_ms']:.2f} ms")


# --- burst client ----------------------------------------------------------------------------


def cmd_burst(args):
    """Sends exactly `requests` POSTs over `connections` keep-alive connections, as fast as
    answers come, and records throughput and latency. wrk cannot do this: its main thread
    sleeps the whole -d duration even when every worker stopped early, so its req/s would be
    diluted by the idle tail."""
    with open(args.body_file, "rb") as handle:
        body = handle.read()
    host, port = args.address.rsplit(":", 1)
    headers = {"Authorization": f"Bearer {args.token}", "Content-Type": "application/json"}
    shares = [args.requests // args.connections] * args.connections
    for i in range(args.requests % args.connections):
        shares[i] += 1
    latencies, failures, ends = [], [], []
    lock = threading.Lock()
    # Connections are opened before the start line, as wrk does, so the burst measures
    # requests, not TCP handshakes.
    connections = [http.client.HTTPConnection(host, int(port), timeout=120)
                   for _ in range(args.connections)]
    for conn in connections:
        conn.connect()
    barrier = threading.Barrier(args.connections + 1)

    def worker(conn, count):
        barrier.wait()
        mine = []
        for _ in range(count):
            started = time.perf_counter()
            try:
                conn.request("POST", args.path, body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException) as error:
                with lock:
                    failures.append(f"socket error: {error}")
                return
            mine.append((time.perf_counter() - started) * 1000.0)
            if not 200 <= response.status < 300:
                with lock:
                    failures.append(f"HTTP {response.status}: {payload[:200]!r}")
                return
        with lock:
            latencies.extend(mine)
            ends.append(time.perf_counter())

    threads = [threading.Thread(target=worker, args=(conn, share))
               for conn, share in zip(connections, shares)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    if failures:
        die(f"{args.label}: burst failed: {failures[0]} ({len(failures)} failing connections)")
    if len(latencies) != args.requests:
        die(f"{args.label}: {len(latencies)} answers for {args.requests} requests")
    elapsed = max(ends) - started
    record = {
        "kind": "create", "row": args.row, "backend": args.backend, "target": "edgecert",
        "requests": args.requests, "rps": args.requests / elapsed,
        "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
        "note": args.note,
    }
    append_result(args.results, record)
    print(f"  {args.label}: {args.requests} requests in {elapsed:.3f} s, "
          f"{record['rps']:.1f} req/s, p50 {record['p50_ms']:.2f} ms, "
          f"p99 {record['p99_ms']:.2f} ms")


# --- server-side latency from edgecert's request log -----------------------------------------


def cmd_log_latency(args):
    """p50/p99 of `latency_ms` in edgecert's JSON request lines whose request id starts with
    the prefix run.sh sent as x-request-id, so only the measured requests count."""
    latencies, bad = [], []
    with open(args.log, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if not line.startswith("{"):
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            fields = entry.get("fields", {})
            if fields.get("message") != "request":
                continue
            if not str(fields.get("request_id", "")).startswith(args.prefix):
                continue
            if not 200 <= int(fields.get("status", 0)) < 300:
                bad.append(fields)
            latencies.append(float(fields["latency_ms"]))
    if bad:
        die(f"{args.label}: edgecert logged failed requests: {json.dumps(bad[0])}")
    if len(latencies) != args.expect:
        die(f"{args.label}: found {len(latencies)} request log lines with id prefix "
            f"{args.prefix!r} in {args.log}, expected {args.expect} (log format changed?)")
    client = json.loads(args.client) if args.client else {}
    record = {
        "kind": "upload", "backend": args.backend, "count": len(latencies),
        "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
        "client_p50_ms": client.get("p50_ms"), "client_p99_ms": client.get("p99_ms"),
    }
    append_result(args.results, record)
    print(f"  {args.label}: server p50 {record['p50_ms']:.2f} ms, p99 {record['p99_ms']:.2f} ms"
          f" (client p50 {record['client_p50_ms']:.2f} ms, p99 {record['client_p99_ms']:.2f} ms)")


def cmd_record(args):
    """Records a free-form measurement (memory) given as JSON."""
    record = json.loads(args.json)
    append_result(args.results, record)


# --- list fixture ----------------------------------------------------------------------------
# Columns are read from the live schema, so a column added by a later migration is copied
# from the template row instead of breaking the seed. Only ids, the key reference and the
# creation time differ between copies.

CREATED_COLUMNS = ("created_at", "created_at_us")


def copy_expression(column, overrides):
    return overrides.get(column, f"t.{column}")


def seed_statements(csr_columns, key_columns, zone, count, dialect):
    copies = count - 1
    if dialect == "sqlite":
        ids = (f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {copies}) "
               "SELECT i, randomblob(16) AS csr_id, randomblob(16) AS key_id FROM n")
        create_ids = f"CREATE TEMP TABLE bench_seed AS {ids}"
    else:
        create_ids = (f"CREATE TEMP TABLE bench_seed AS SELECT i, gen_random_uuid() AS csr_id, "
                      f"gen_random_uuid() AS key_id FROM generate_series(1, {copies}) AS i")

    def older(column):
        # Copies are older than the template and strictly increasing with i, 1 ms apart, so
        # the template stays the newest row and every ordering is total.
        if column.endswith("_us"):
            return f"t.{column} - ({count} - s.i) * 1000"
        return f"t.{column} - ({count} - s.i) * interval '1 millisecond'"

    key_overrides = {"id": "s.key_id"}
    csr_overrides = {"id": "s.csr_id", "key_id": "s.key_id"}
    for column in CREATED_COLUMNS:
        csr_overrides[column] = older(column)
    # The template is pinned by id first: the inserts below add rows to the very zone it is
    # read from.
    pin_template = ("CREATE TEMP TABLE bench_template AS SELECT id, key_id FROM custom_csrs "
                    f"WHERE scope_kind = 'zone' AND scope_id = '{zone}'")
    insert_keys = (
        f"INSERT INTO private_keys ({', '.join(key_columns)}) "
        f"SELECT {', '.join(copy_expression(c, key_overrides) for c in key_columns)} "
        "FROM bench_seed s, private_keys t WHERE t.id = (SELECT key_id FROM bench_template)")
    insert_csrs = (
        f"INSERT INTO custom_csrs ({', '.join(csr_columns)}) "
        f"SELECT {', '.join(copy_expression(c, csr_overrides) for c in csr_columns)} "
        "FROM bench_seed s, custom_csrs t WHERE t.id = (SELECT id FROM bench_template)")
    set_count = (f"UPDATE custom_csr_counts SET csr_count = {count} "
                 f"WHERE scope_kind = 'zone' AND scope_id = '{zone}'")
    return [pin_template, create_ids, insert_keys, insert_csrs, set_count,
            "DROP TABLE bench_seed", "DROP TABLE bench_template"]


def check_zone_hex(zone):
    if len(zone) != 32 or any(c not in "0123456789abcdef" for c in zone):
        die(f"zone id {zone!r} is not 32 lowercase hex characters")


def cmd_seed_sqlite(args):
    check_zone_hex(args.zone)
    db = sqlite3.connect(args.db, timeout=60, isolation_level=None)
    db.execute("PRAGMA foreign_keys = ON")
    columns = {table: [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
               for table in ("custom_csrs", "private_keys")}
    existing = db.execute("SELECT count(*) FROM custom_csrs WHERE scope_kind = 'zone' "
                          "AND scope_id = ?", (args.zone,)).fetchone()[0]
    if existing != 1:
        die(f"seed: zone {args.zone} holds {existing} CSRs, expected the 1 template")
    # One IMMEDIATE transaction: edgecert keeps serving, and SQLite queues its writers.
    db.execute("BEGIN IMMEDIATE")
    for statement in seed_statements(columns["custom_csrs"], columns["private_keys"],
                                      args.zone, args.count, "sqlite"):
        db.execute(statement)
    db.execute("COMMIT")
    db.close()


def psql(url, *extra, sql=None):
    command = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", *extra, url]
    done = subprocess.run(command, input=sql, text=True, capture_output=True, check=False)
    if done.returncode != 0:
        die(f"psql failed: {done.stderr.strip()}")
    return done.stdout


def cmd_seed_postgres(args):
    check_zone_hex(args.zone)
    columns = {}
    for table in ("custom_csrs", "private_keys"):
        out = psql(args.url, "-c",
                   "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                   f"current_schema() AND table_name = '{table}' ORDER BY ordinal_position")
        columns[table] = out.split()
    existing = psql(args.url, "-c", "SELECT count(*) FROM custom_csrs WHERE scope_kind = 'zone' "
                    f"AND scope_id = '{args.zone}'").strip()
    if existing != "1":
        die(f"seed: zone {args.zone} holds {existing} CSRs, expected the 1 template")
    statements = seed_statements(columns["custom_csrs"], columns["private_keys"], args.zone,
                                 args.count, "postgres")
    psql(args.url, "-1", "-f", "-", sql=";\n".join(statements) + ";\n")
    # Autovacuum would analyze the new rows within a minute or so, at a moment we do not
    # control; doing it now makes the measured plans those of a settled table, every run.
    psql(args.url, "-c", "VACUUM ANALYZE custom_csrs")
    psql(args.url, "-c", "VACUUM ANALYZE private_keys")


# --- report ----------------------------------------------------------------------------------


def fmt(value, digits=2):
    return "n/a" if value is None else f"{value:.{digits}f}"


def find(results, **match):
    for record in results:
        if all(record.get(k) == v for k, v in match.items()):
            return record
    return None


def render_report(results, meta):
    lines = [
        f"## edgecert vs cfssl ({meta['mode']} run)",
        "",
        f"- machine: {meta['nproc']} CPUs ({meta['cpu']}), {meta['kernel']}",
        f"- edgecert {meta['edgecert_rev']} ({meta['edgecert_bin']}); {meta['cfssl_version']}; "
        f"PostgreSQL {meta['pg_version']}",
        f"- load: wrk -t2 -c2 on loopback, {meta['create_secs']} s per P-256 row, "
        f"{meta['rsa_secs']} s per sustained RSA row, {meta['list_secs']} s per list row; "
        "latencies in ms",
        "",
        "| row | backend | edgecert req/s | p50 | p99 | cfssl req/s | cfssl p50 | cfssl p99 | ratio |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row, cfssl_row in (("P-256", "P-256"), ("RSA-2048 sustained", "RSA-2048 sustained"),
                           ("RSA-2048 burst", "RSA-2048 sustained")):
        cfssl = find(results, kind="create", row=cfssl_row, target="cfssl")
        for backend in ("sqlite", "sqlite-full", "postgres"):
            mine = find(results, kind="create", row=row, backend=backend, target="edgecert")
            if mine is None:
                continue
            label = row
            if mine.get("note"):
                label += f" ({mine['note']})"
            if row.endswith("burst"):
                # cfssl has no key pool: its burst is its sustained RSA latency.
                ratio = (f"{cfssl['p50_ms'] / mine['p50_ms']:.1f}x "
                         "(cfssl RSA p50 / edgecert burst p50)") if cfssl else "n/a"
            else:
                ratio = f"{mine['rps'] / cfssl['rps']:.2f}x (req/s)" if cfssl else "n/a"
            lines.append(
                f"| {label} | {BACKEND_NAMES.get(backend, backend)} | {fmt(mine['rps'], 1)} | {fmt(mine['p50_ms'])} | "
                f"{fmt(mine['p99_ms'])} | {fmt(cfssl and cfssl['rps'], 1)} | "
                f"{fmt(cfssl and cfssl['p50_ms'])} | {fmt(cfssl and cfssl['p99_ms'])} | {ratio} |")

    pool = int(meta["pool_size"])
    lines += ["", f"Burst rows: {pool // 2} requests on 2 connections to an edgecert whose pool "
              f"holds {pool} RSA keys; cfssl has no pool, so its columns repeat its sustained "
              "RSA-2048 row.",
              "", "| measure | sqlite | postgres |", "| --- | --- | --- |"]

    def cell(record, text):
        return "n/a" if record is None else text(record)

    for row in meta["list_rows"]:
        records = [find(results, kind="list", row=row, backend=b) for b in ("sqlite", "postgres")]
        lines.append(f"| list {row} ({meta['seeded']} CSRs in the zone) | " + " | ".join(
            cell(r, lambda r: f"p50 {fmt(r['p50_ms'])} / p99 {fmt(r['p99_ms'])} "
                              f"({fmt(r['rps'], 0)} req/s)") for r in records) + " |")
    records = [find(results, kind="upload", backend=b) for b in ("sqlite", "postgres")]
    lines.append(f"| certificate upload, server time ({meta['uploads']} uploads) | " + " | ".join(
        cell(r, lambda r: f"p50 {fmt(r['p50_ms'])} / p99 {fmt(r['p99_ms'])}")
        for r in records) + " |")
    lines.append("| certificate upload, client time (curl) | " + " | ".join(
        cell(r, lambda r: f"p50 {fmt(r['client_p50_ms'])} / p99 {fmt(r['client_p99_ms'])}")
        for r in records) + " |")
    records = [find(results, kind="memory", backend=b) for b in ("sqlite", "postgres")]
    lines.append("| edgecert memory after the list load | " + " | ".join(
        cell(r, lambda r: f"VmRSS {fmt(r['rss_mb'], 1)} MB (VmHWM {fmt(r['hwm_mb'], 1)} MB)")
        for r in records) + " |")
    return "\n".join(lines) + "\n"


def cmd_report(args):
    with open(args.results, encoding="utf-8") as handle:
        results = [json.loads(line) for line in handle if line.strip()]
    with open(args.meta, encoding="utf-8") as handle:
        meta = json.load(handle)
    report = render_report(results, meta)
    sys.stdout.write(report)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            out.write(report)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("free-port").set_defaults(func=cmd_free_port)

    p = sub.add_parser("json")
    p.add_argument("file")
    p.add_argument("path")
    p.set_defaults(func=cmd_json)

    p = sub.add_parser("csr-pem")
    p.add_argument("created")
    p.add_argument("out")
    p.set_defaults(func=cmd_csr_pem)

    p = sub.add_parser("upload-body")
    p.add_argument("certificate")
    p.add_argument("csr_id")
    p.set_defaults(func=cmd_upload_body)

    p = sub.add_parser("samples")
    p.add_argument("file")
    p.add_argument("--scale", type=float, default=1000.0, help="multiplier to milliseconds")
    p.set_defaults(func=cmd_samples)

    p = sub.add_parser("wrk-result")
    for name in ("output", "label", "kind", "row", "backend", "target", "results"):
        p.add_argument(f"--{name}", required=True)
    p.set_defaults(func=cmd_wrk_result)

    p = sub.add_parser("burst")
    for name in ("address", "path", "token", "body-file", "label", "row", "backend", "results"):
        p.add_argument(f"--{name}", required=True)
    p.add_argument("--requests", type=int, required=True)
    p.add_argument("--connections", type=int, default=2)
    p.add_argument("--note", default="")
    p.set_defaults(func=cmd_burst)

    p = sub.add_parser("log-latency")
    for name in ("log", "prefix", "label", "backend", "results"):
        p.add_argument(f"--{name}", required=True)
    p.add_argument("--expect", type=int, required=True)
    p.add_argument("--client", default="")
    p.set_defaults(func=cmd_log_latency)

    p = sub.add_parser("record")
    p.add_argument("--results", required=True)
    p.add_argument("json")
    p.set_defaults(func=cmd_record)

    p = sub.add_parser("seed-sqlite")
    p.add_argument("--db", required=True)
    p.add_argument("--zone", required=True)
    p.add_argument("--count", type=int, required=True)
    p.set_defaults(func=cmd_seed_sqlite)

    p = sub.add_parser("seed-postgres")
    p.add_argument("--url", required=True)
    p.add_argument("--zone", required=True)
    p.add_argument("--count", type=int, required=True)
    p.set_defaults(func=cmd_seed_postgres)

    p = sub.add_parser("report")
    p.add_argument("--results", required=True)
    p.add_argument("--meta", required=True)
    p.add_argument("--out", default=os.environ.get("BENCH_REPORT", ""))
    p.set_defaults(func=cmd_report)

    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
