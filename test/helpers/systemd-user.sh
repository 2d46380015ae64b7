#!/bin/bash
# A real `systemd --user` (systemd 252, Debian) for the real-manager test lane, without systemd as
# PID 1: journald + the user manager run in a private mount namespace as a dedicated unprivileged
# test user. Derived from /work/shared/recipes/real-systemd-user.sh (checked on these machines).
#
#   systemd-user.sh check          exit 0 when this host can run it (root + packages), else prints why
#   systemd-user.sh start          create the user if needed, start journald + manager, wait until ready
#   systemd-user.sh stop           stop by PID (manager, journald, namespace), remove the cgroups we made,
#                                  delete the user if we created it; exit 3 if anything was left behind
#   systemd-user.sh exec CMD...    run CMD in the namespace as the test user (client env set)
#
# Env (all required except SYSD_USER's default):
#   SYSD_STATE  state dir (pids, logs, bin/ wrappers); created
#   SYSD_USER   test user (UID >= 1000: `journalctl --user -u` finds nothing for system users,
#               upstream systemd #23679/#26742); created with useradd when missing
#   SYSD_HOME   HOME of the manager (its units: $SYSD_HOME/.config/systemd/user); created, owned by the user
#
# After start, $SYSD_STATE/bin holds:
#   as-user     run a command in the namespace as the test user, keeping the caller's env (HOME etc.)
#               and setting XDG_RUNTIME_DIR / DBUS_SESSION_BUS_ADDRESS / USER / LOGNAME
#   systemctl   `systemctl` for root callers on the host (nsenter + setpriv); for the test user itself
#   journalctl  (already inside) it is the plain /usr/bin binary
#
# WARNING: systemd moves every process of the cgroup it starts in into <cgroup>/init.scope. Started
# from the root cgroup it would take every process on the machine. The supervisor therefore first
# moves itself into its own cgroup (user.slice/user-UID.slice/user@UID.service in each hierarchy
# systemd uses) and the manager runs with controller accounting off.
set -euo pipefail

die() { echo "systemd-user.sh: $*" >&2; exit 1; }
: "${SYSD_STATE:?SYSD_STATE must be set}"
SUSER=${SYSD_USER:-ocv-systemd-test}
: "${SYSD_HOME:?SYSD_HOME must be set}"
STATE=$SYSD_STATE
SHOME=$SYSD_HOME
SELF=$(readlink -f "$0")

check() {
  [ "$(id -u)" = 0 ] || { echo "needs root (unshare/nsenter/useradd, cgroup setup)"; return 1; }
  local missing=()
  for b in /lib/systemd/systemd /lib/systemd/systemd-journald systemctl journalctl unshare nsenter setpriv useradd userdel; do
    if [[ $b == /* ]]; then [ -x "$b" ] || missing+=("$b"); else command -v "$b" >/dev/null 2>&1 || missing+=("$b"); fi
  done
  # dbus-user-session provides the user bus socket unit
  [ -e /usr/lib/systemd/user/dbus.socket ] || missing+=("dbus-user-session")
  [ ${#missing[@]} -eq 0 ] || { echo "missing ${missing[*]} (apt-get install systemd dbus dbus-user-session util-linux)"; return 1; }
  [ -d /sys/fs/cgroup/unified ] || [ -f /sys/fs/cgroup/cgroup.controllers ] || { echo "no cgroup2 hierarchy"; return 1; }
  return 0
}

uid_of() { id -u "$SUSER"; }
gid_of() { id -g "$SUSER"; }

# cgroup dirs of the user's manager, one per hierarchy systemd uses on this host
cgroup_dirs() {
  local uid=$1
  if [ -d /sys/fs/cgroup/unified ]; then
    echo "/sys/fs/cgroup/unified/user.slice/user-$uid.slice/user@$uid.service"
    [ -d /sys/fs/cgroup/systemd ] && echo "/sys/fs/cgroup/systemd/user.slice/user-$uid.slice/user@$uid.service"
  else
    echo "/sys/fs/cgroup/user.slice/user-$uid.slice/user@$uid.service"
  fi
  return 0
}

client_env() {
  local uid; uid=$(uid_of)
  echo "XDG_RUNTIME_DIR=/run/user/$uid"
  echo "DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/$uid/bus"
  echo "USER=$SUSER"
  echo "LOGNAME=$SUSER"
  echo "SYSTEMD_PAGER="
  echo "SYSTEMD_COLORS=0"
}

# ---------------------------------------------------------------- inside the namespace (as root)
supervisor() {
  local uid gid d
  uid=$(uid_of); gid=$(gid_of)
  for d in $(cgroup_dirs "$uid"); do
    mkdir -p "$d"
    echo $$ > "$d/cgroup.procs"
    chown -R "$uid:$gid" "$d"   # delegate the subtree (what user@.service's Delegate=yes does)
  done

  mount -t tmpfs -o mode=755 tmpfs /run/systemd
  mkdir -p /run/systemd/system /run/systemd/journal /run/systemd/journald.conf.d /run/systemd/user.conf.d
  mount -t tmpfs -o mode=755 tmpfs /run/user
  mkdir -p /run/log; mount -t tmpfs -o mode=755 tmpfs /run/log
  # per-user journal files (`journalctl --user` as the user) exist only with persistent storage
  mkdir -p /var/log/journal
  mount -t tmpfs -o mode=2755 tmpfs /var/log/journal
  chgrp systemd-journal /var/log/journal 2>/dev/null || true
  touch /run/systemd/journal/flushed
  printf '[Journal]\nStorage=persistent\nReadKMsg=no\nForwardToConsole=no\nForwardToSyslog=no\nForwardToWall=no\nRateLimitBurst=0\n' \
    > /run/systemd/journald.conf.d/ci.conf
  printf '[Manager]\nDefaultCPUAccounting=no\nDefaultMemoryAccounting=no\nDefaultTasksAccounting=no\nDefaultIOAccounting=no\nDefaultBlockIOAccounting=no\nDefaultIPAccounting=no\nDefaultTimeoutStopSec=10s\n' \
    > /run/systemd/user.conf.d/ci.conf
  # the manager writes early messages to /dev/console: capture them in a file (private bind mount)
  : > "$STATE/console.log"; chmod 666 "$STATE/console.log"; mount --bind "$STATE/console.log" /dev/console

  /lib/systemd/systemd-journald > "$STATE/journald.out" 2>&1 < /dev/null &
  local jd=$!; echo $jd > "$STATE/journald.pid"
  for _ in $(seq 100); do [ -S /run/systemd/journal/stdout ] && break; sleep 0.05; done

  install -d -m 700 -o "$uid" -g "$gid" "/run/user/$uid"
  # shellcheck disable=SC2046
  env -i PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 HOME="$SHOME" SHELL=/bin/sh $(client_env) \
      setpriv --reuid="$uid" --regid="$gid" --init-groups \
      /lib/systemd/systemd --user --log-target=journal > "$STATE/manager.out" 2>&1 < /dev/null &
  local mgr=$!; echo $mgr > "$STATE/manager.pid"

  stop_all() {
    trap - TERM INT
    kill -TERM "$mgr" 2>/dev/null || true   # SIGTERM: the user manager stops every unit, then exits
    for _ in $(seq 600); do kill -0 "$mgr" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$mgr" 2>/dev/null || true; wait "$mgr" 2>/dev/null || true
    kill -TERM "$jd" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$jd" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$jd" 2>/dev/null || true; wait "$jd" 2>/dev/null || true
    exit 0
  }
  trap stop_all TERM INT
  echo ready > "$STATE/supervisor.status"
  wait "$mgr" || true
  echo "manager exited on its own" > "$STATE/supervisor.status"
  stop_all
}

# ---------------------------------------------------------------- host side
write_wrappers() {
  local sup=$1 uid gid envs
  uid=$(uid_of); gid=$(gid_of)
  envs=$(client_env | tr '\n' ' ')
  mkdir -p "$STATE/bin"
  cat > "$STATE/bin/as-user" <<EOF
#!/bin/sh
# generated by systemd-user.sh: run "\$@" as $SUSER inside the manager's mount namespace
if [ "\$(id -u)" = "$uid" ]; then exec env $envs "\$@"; fi
exec nsenter -t $sup -m -- setpriv --reuid=$uid --regid=$gid --init-groups env $envs "\$@"
EOF
  for tool in systemctl journalctl; do
    printf '#!/bin/sh\nexec "%s" /usr/bin/%s "$@"\n' "$STATE/bin/as-user" "$tool" > "$STATE/bin/$tool"
  done
  chmod 755 "$STATE/bin" "$STATE/bin"/*
}

start() {
  check >/dev/null || die "cannot run here: $(check || true)"
  if ! id -u "$SUSER" >/dev/null 2>&1; then
    mkdir -p "$STATE"
    useradd --no-create-home --home-dir "$SHOME" --shell /bin/sh --user-group "$SUSER"
    echo "$SUSER" > "$STATE/created-user"
  fi
  local uid; uid=$(uid_of)
  [ "$uid" -ge 1000 ] || die "user $SUSER has UID $uid < 1000 (journalctl --user -u would find nothing)"
  [ -f "$STATE/supervisor.pid" ] && kill -0 "$(cat "$STATE/supervisor.pid")" 2>/dev/null && die "already running"
  mkdir -p "$STATE"; chmod 755 "$STATE"
  rm -f "$STATE"/*.pid "$STATE/supervisor.status"
  install -d -o "$uid" -g "$(gid_of)" "$SHOME"
  # remember which cgroup parents existed, so stop removes only what we created
  for d in $(cgroup_dirs "$uid"); do
    local slice; slice=$(dirname "$(dirname "$d")")
    [ -d "$slice" ] && echo "$slice" >> "$STATE/cgroup-parents-existed"
  done
  : >> "$STATE/cgroup-parents-existed"
  SYSD_STATE=$STATE SYSD_USER=$SUSER SYSD_HOME=$SHOME \
    setsid unshare --mount --propagation private --fork -- "$SELF" __supervisor > "$STATE/supervisor.out" 2>&1 < /dev/null &
  local un=$! sup=
  echo $un > "$STATE/unshare.pid"
  for _ in $(seq 200); do
    sup=$(ps -o pid= --ppid "$un" | tr -d ' ' | head -1); [ -n "$sup" ] && break; sleep 0.025
  done
  [ -n "$sup" ] || die "supervisor did not start: $(cat "$STATE/supervisor.out")"
  echo "$sup" > "$STATE/supervisor.pid"
  write_wrappers "$sup"
  for _ in $(seq 200); do [ -f "$STATE/supervisor.status" ] && break; sleep 0.05; done
  local st= ok=
  for _ in $(seq 300); do
    st=$("$STATE/bin/systemctl" --user is-system-running 2>/dev/null || true)
    case "$st" in running|degraded) ok=1; break;; esac
    sleep 0.05
  done
  [ -n "$ok" ] || { cat "$STATE/supervisor.out" "$STATE/console.log" >&2 || true; die "user manager not ready (state: ${st:-?})"; }
  echo "$uid" > "$STATE/uid"
  echo "ready uid=$uid manager=$(cat "$STATE/manager.pid") journald=$(cat "$STATE/journald.pid") supervisor=$sup state=$st"
}

stop() {
  [ -f "$STATE/unshare.pid" ] || { echo "not running"; return 0; }
  local un sup uid leaks=0 d p
  un=$(cat "$STATE/unshare.pid"); sup=$(cat "$STATE/supervisor.pid" 2>/dev/null || true)
  if [ -n "$sup" ]; then kill -TERM "$sup" 2>/dev/null || true; fi
  for _ in $(seq 700); do kill -0 "$un" 2>/dev/null || break; sleep 0.05; done
  if kill -0 "$un" 2>/dev/null; then echo "leftover: unshare $un did not exit; SIGKILL"; kill -KILL "$un" 2>/dev/null || true; leaks=1; fi
  uid=$(uid_of 2>/dev/null || cat "$STATE/uid" 2>/dev/null || echo)
  if [ -n "$uid" ]; then
    for d in $(cgroup_dirs "$uid"); do
      [ -d "$d" ] || continue
      for p in $(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null); do
        echo "leftover pid $p in $d: $(ps -o args= -p "$p" 2>/dev/null || true)"; kill -KILL "$p" 2>/dev/null || true; leaks=1
      done
    done
    # processes of the test user anywhere (outside the cgroups too)
    for p in $(ps -o pid= -u "$uid" 2>/dev/null || true); do
      echo "leftover pid $p of uid $uid: $(ps -o args= -p "$p" 2>/dev/null || true)"; kill -KILL "$p" 2>/dev/null || true; leaks=1
    done
    sleep 0.1
    for d in $(cgroup_dirs "$uid"); do
      local top slice; top=$(dirname "$d"); slice=$(dirname "$top")
      # remove user-UID.slice bottom-up (the UID is ours alone); a cgroup with processes cannot go
      if [ -d "$top" ]; then find "$top" -depth -type d -exec rmdir {} \; 2>/dev/null || true; fi
      if [ -d "$top" ]; then echo "leftover cgroup $top"; leaks=1; fi
      # user.slice is shared with other users of the host: remove it only if we created it and it is empty
      grep -qxF "$slice" "$STATE/cgroup-parents-existed" 2>/dev/null || rmdir "$slice" 2>/dev/null || true
    done
  fi
  if [ -f "$STATE/created-user" ]; then
    userdel "$(cat "$STATE/created-user")" 2>/dev/null || { echo "leftover: could not userdel $(cat "$STATE/created-user")"; leaks=1; }
    rm -f "$STATE/created-user"
  fi
  rm -f "$STATE"/*.pid "$STATE/bin/as-user" "$STATE/bin/systemctl" "$STATE/bin/journalctl"
  echo stopped
  [ "$leaks" = 0 ] || return 3
}

case "${1:-}" in
  __supervisor) supervisor ;;
  check) check ;;
  start) start ;;
  stop) stop ;;
  exec) shift; exec "$STATE/bin/as-user" "$@" ;;
  *) sed -n '2,27p' "$0"; exit 2 ;;
esac
