#!/usr/bin/env bash
# Runs the installed depot.service under a real systemd, sandbox and all, and walks the
# README's Operations steps against it: first admin as the depot user before the first start,
# start, upload and download over HTTP, an admin command and verify through the control
# socket, then a stop that must end cleanly.
#
# `systemd-analyze verify` (in .ci/run) only checks the unit's syntax; this shows that depot
# runs under its seccomp filter, without capabilities, on a read-only system. By hand, as root,
# after `dpkg -i target/debian/depot_*.deb`, on a machine that may not run systemd itself:
#     apt-get install -y systemd-container curl && bash packaging/boot-test.sh
# It boots this machine's own root file system in a systemd-nspawn container with a throwaway
# overlay (--volatile=overlay): nothing in the container changes the host.
set -euo pipefail

[ -x /usr/bin/depot ] && [ -f /lib/systemd/system/depot.service ] ||
    { echo "install the .deb first: dpkg -i target/debian/depot_*.deb" >&2; exit 1; }
command -v systemd-nspawn >/dev/null || { echo "needs systemd-nspawn (apt-get install systemd-container)" >&2; exit 1; }

work=$(mktemp -d)
root=$work/root
mkdir -p "$root" "$work/out"
cleanup() {
    umount "$root" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
# nspawn refuses "/" itself; a (non-recursive) bind mount of it is an ordinary directory.
mount --bind / "$root"

cat >"$work/depot-boot-test.service" <<'EOF'
[Unit]
Description=depot boot test
# The container ends with the test, either way.
SuccessAction=poweroff-force
FailureAction=poweroff-force
[Service]
Type=oneshot
ExecStart=/bin/bash /out/steps.sh
EOF

cat >"$work/out/steps.sh" <<'EOF'
set -euxo pipefail
exec >/out/log 2>&1
db=/var/lib/depot/depot.redb
as_depot() { runuser -u depot -- depot --db "$db" "$@"; }
# A fresh database, in the overlay only.
rm -f "$db" "$db.sock"

# README: the first admin, before the first start, as the service user.
printf '%s\n' 'boot-test password' | as_depot user add admin --admin --password-stdin
systemctl start depot
for _ in $(seq 100); do curl -fsS http://127.0.0.1:8080/healthz && break; sleep 0.1; done
systemctl is-active depot

echo 'hello from the sandbox' >/tmp/hello.txt
curl -fsS -u 'admin:boot-test password' --upload-file /tmp/hello.txt \
    http://127.0.0.1:8080/api/packages/admin/generic/demo/1.0.0/hello.txt
test "$(curl -fsS http://127.0.0.1:8080/api/packages/admin/generic/demo/1.0.0/hello.txt)" = 'hello from the sandbox'
# Through the control socket of the running server.
printf '%s\n' 'second password' | as_depot user add second --password-stdin
as_depot verify

pid=$(systemctl show -p MainPID --value depot)
grep -E '^(Uid|CapEff|CapBnd|NoNewPrivs|Seccomp):' "/proc/$pid/status"
grep -q '^CapEff:[[:space:]]*0000000000000000$' "/proc/$pid/status"
grep -q '^Seccomp:[[:space:]]*2$' "/proc/$pid/status"

systemctl stop depot
test "$(systemctl show -p Result --value depot)" = success
test "$(systemctl show -p ExecMainStatus --value depot)" = 0
journalctl -u depot --no-pager -o cat
journalctl -u depot --no-pager -o cat | grep -q 'database closed'
echo BOOT-TEST-PASSED
EOF

echo "booting $root in a container (overlay, throwaway)..."
status=0
timeout 300 systemd-nspawn --quiet --register=no --link-journal=no --keep-unit \
    --directory="$root" --volatile=overlay \
    --bind="$work/out:/out" \
    --bind-ro="$work/depot-boot-test.service:/etc/systemd/system/depot-boot-test.service" \
    --boot systemd.unit=depot-boot-test.service systemd.show_status=false \
    >"$work/console.log" 2>&1 || status=$?
# The log, not nspawn's exit status, says whether the steps passed.
cat "$work/out/log" 2>/dev/null || { echo "no log; console:" >&2; cat "$work/console.log" >&2; }
if grep -q '^BOOT-TEST-PASSED$' "$work/out/log" 2>/dev/null; then
    echo "boot test passed"
else
    echo "boot test FAILED (nspawn exit $status)" >&2
    exit 1
fi
