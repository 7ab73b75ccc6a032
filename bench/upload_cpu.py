#!/usr/bin/env python3
"""CPU per certificate upload and /healthz latency under looping upload clients.

Usage: bench/upload_cpu.py EDGECERT_BIN [--shape cross175|lookalike6] [--seconds 10]

Builds the bundle with the openssl CLI: `cross175` is 14 untrusted CA names, each cross-signed
by every other (175 certificates), the shape issue 11 measured; `lookalike6` is the costliest
bundle the intermediate cap lets through (6 self-issued CAs sharing the leaf issuer's name,
each with its own key). Starts the binary on SQLite, then reports: CPU seconds per upload
(from /proc, 20 sequential uploads), and /healthz p50/p99 idle and with two clients uploading
in a loop. Standard library only. Measures; judges nothing.
"""

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

TOKEN = "bench-token-0123456789abcdef0123456789abcdef"
ZONE = "be0c0000000000000000000000000011"


def run(*cmd, cwd):
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)


def key(work, name):
    run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", f"{name}.key", cwd=work)
    return os.path.join(work, f"{name}.key")


def self_signed_ca(work, name, subject, k):
    ext = os.path.join(work, "ca.ext")
    with open(ext, "w") as f:
        f.write("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n")
    run("openssl", "req", "-new", "-x509", "-key", k, "-subj", subject, "-days", "365",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-out", f"{name}.pem", cwd=work)
    return os.path.join(work, f"{name}.pem")


def signed(work, name, subject, k, issuer_pem, issuer_key, ca=True):
    ext = os.path.join(work, f"{name}.ext")
    with open(ext, "w") as f:
        if ca:
            f.write("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n")
        else:
            f.write("basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:app.example.com\nextendedKeyUsage=serverAuth\n")
    run("openssl", "req", "-new", "-key", k, "-subj", subject, "-out", f"{name}.csr", cwd=work)
    run("openssl", "x509", "-req", "-in", f"{name}.csr", "-CA", issuer_pem, "-CAkey", issuer_key,
        "-days", "90", "-extfile", ext, "-set_serial", str(int.from_bytes(os.urandom(8), "big")),
        "-out", f"{name}.pem", cwd=work)
    return open(os.path.join(work, f"{name}.pem")).read()


def build_bundle(work, shape):
    leaf_key = key(work, "leaf")
    if shape == "cross175":
        names = [f"/O=Bench/CN=Untrusted CA {i}" for i in range(14)]
        keys = [key(work, f"ca{i}") for i in range(14)]
        roots = [self_signed_ca(work, f"root{i}", names[i], keys[i]) for i in range(14)]
        certs = []
        for i in range(14):
            for j in range(14):
                if i != j and len(certs) < 175:
                    certs.append(signed(work, f"x{i}_{j}", names[i], keys[i], roots[j], keys[j]))
        leaf = signed(work, "leafcert", "/CN=app.example.com", leaf_key, roots[0], keys[0], ca=False)
    else:
        name = "/O=Bench/CN=Look-alike CA"
        keys = [key(work, f"la{i}") for i in range(6)]
        certs = [open(self_signed_ca(work, f"la{i}", name, keys[i])).read() for i in range(6)]
        leaf = signed(work, "leafcert", "/CN=app.example.com", leaf_key, os.path.join(work, "la0.pem"), keys[0], ca=False)
    return leaf + "".join(certs), open(leaf_key).read()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def request(port, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status


def healthz_latencies(port, seconds):
    samples = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.perf_counter()
        assert request(port, "GET", "/healthz") == 200
        samples.append((time.perf_counter() - started) * 1000)
        time.sleep(0.01)
    samples.sort()
    return samples[len(samples) // 2], samples[min(len(samples) - 1, int(len(samples) * 0.99))], len(samples)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--shape", default="cross175", choices=["cross175", "lookalike6"])
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        bundle, leaf_key = build_bundle(work, args.shape)
        body = json.dumps({"certificate": bundle, "private_key": leaf_key})
        port = free_port()
        env = dict(os.environ, EDGECERT_LISTEN=f"127.0.0.1:{port}", DATABASE_URL=f"sqlite://{work}/e.db",
                   EDGECERT_BOOTSTRAP_TOKEN=TOKEN, EDGECERT_RSA_POOL_SIZE="0", RUST_LOG="warn")
        server = subprocess.Popen([args.binary, "serve"], env=env, stderr=subprocess.DEVNULL)
        try:
            for _ in range(600):
                try:
                    if request(port, "GET", "/healthz") == 200:
                        break
                except OSError:
                    time.sleep(0.1)
            path = f"/client/v4/zones/{ZONE}/custom_certificates"
            statuses = set()
            before = cpu_seconds(server.pid)
            for _ in range(20):
                statuses.add(request(port, "POST", path, body))
            per_upload = (cpu_seconds(server.pid) - before) / 20
            idle = healthz_latencies(port, args.seconds / 2)
            stop = threading.Event()

            def loop():
                while not stop.is_set():
                    statuses.add(request(port, "POST", path, body))

            clients = [threading.Thread(target=loop) for _ in range(2)]
            for c in clients:
                c.start()
            loaded = healthz_latencies(port, args.seconds)
            stop.set()
            for c in clients:
                c.join()
            print(json.dumps({
                "shape": args.shape, "bundle_bytes": len(bundle), "upload_statuses": sorted(statuses),
                "cpu_ms_per_upload": round(per_upload * 1000, 1),
                "healthz_idle_ms": {"p50": round(idle[0], 2), "p99": round(idle[1], 2), "n": idle[2]},
                "healthz_two_upload_loops_ms": {"p50": round(loaded[0], 2), "p99": round(loaded[1], 2), "n": loaded[2]},
            }))
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    sys.exit(main())
