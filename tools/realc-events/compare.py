#!/usr/bin/env python3
"""Run the real C client (realc-events) and the model (`wsim connect`) with the same
arguments, keep both outputs, and print them side by side in a compact form.

usage: compare.py CASE [--only realc|wsim] -- URI [options] [actions]

Environment: REALC (default /tmp/realc-build/realc-events.elf), WSIM (default: `wsim`
on PATH), OUT (default: runs/ next to this file). Writes OUT/CASE/{realc,wsim}.jsonl
(stdout: one JSON line per event) and OUT/CASE/{realc,wsim}.log (stderr: the client's
ESP_LOG lines, with the ERROR texts, or the model's messages).

In the compact form `t_ms` is dropped, and for events whose error_type is not
tcp_transport the four error_handle fields the C client leaves uninitialised
(esp_tls_last_esp_err, esp_tls_stack_err, esp_tls_cert_verify_flags,
esp_transport_sock_errno) are not shown.
"""
import json
import os
import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
UNINIT = ("esp_tls_last_esp_err", "esp_tls_stack_err", "esp_tls_cert_verify_flags",
          "esp_transport_sock_errno")


def compact(line):
    try:
        e = json.loads(line)
    except ValueError:
        return "(not JSON) " + line.rstrip()
    eh = e.get("error_handle", {})
    parts = [e.get("event")]
    for k in ("op_code", "fin", "data_len", "payload_len", "payload_offset", "close_status_code"):
        parts.append("%s=%s" % (k, json.dumps(e.get(k))))
    et = eh.get("error_type")
    err = ["type=%s" % et, "hs=%s" % eh.get("esp_ws_handshake_status_code")]
    if et == "tcp_transport":
        err += ["last_esp_err=0x%x" % (eh.get("esp_tls_last_esp_err") & 0xFFFFFFFF),
                "stack_err=0x%x" % (eh.get("esp_tls_stack_err") & 0xFFFFFFFF),
                "verify_flags=%s" % eh.get("esp_tls_cert_verify_flags"),
                "sock_errno=%s" % eh.get("esp_transport_sock_errno")]
    parts.append("err{%s}" % " ".join(err))
    if "text" in e:
        t = e["text"]
        parts.append("text=%s" % json.dumps(t if len(t) <= 120 else t[:60] + "…" + t[-20:]))
    if "hex" in e:
        h = e["hex"]
        parts.append("hex=%s" % (h if len(h) <= 80 else h[:40] + "…"))
    return " ".join(str(p) for p in parts)


def run(name, cmd, outdir):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired as e:  # keep what was printed; say so
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        p = subprocess.CompletedProcess(cmd, 124, out, err + "\n# compare.py: killed after 60 s (hung)\n")
    (outdir / (name + ".jsonl")).write_text(p.stdout)
    (outdir / (name + ".log")).write_text(p.stderr)
    (outdir / (name + ".cmd")).write_text(" ".join(cmd) + "\nexit code: %d\n" % p.returncode)
    return p


def main():
    argv = sys.argv[1:]
    if "--" not in argv or not argv:
        sys.exit(__doc__)
    case = argv[0]
    only = None
    if argv[1:3] and argv[1] == "--only":
        only = argv[2]
    args = argv[argv.index("--") + 1:]
    outdir = pathlib.Path(os.environ.get("OUT", HERE / "runs")) / case
    outdir.mkdir(parents=True, exist_ok=True)
    realc = os.environ.get("REALC", "/tmp/realc-build/realc-events.elf")
    wsim = os.environ.get("WSIM", "wsim")
    for name, cmd in (("realc", [realc] + args), ("wsim", [wsim, "connect"] + args)):
        if only and only != name:
            continue
        p = run(name, cmd, outdir)
        print("== %s (exit %d): %s" % (name, p.returncode, " ".join(cmd)))
        for line in p.stdout.splitlines():
            print("  " + compact(line))
        for line in p.stderr.splitlines():
            if (" E (" in line or line.startswith("E (") or "ERROR" in line or "error" in line.lower()
                    or line.startswith("#")):
                print("  | " + line)


if __name__ == "__main__":
    main()
