#!/bin/bash
# Runs as root inside a fresh network namespace AND a private mount namespace
# (started via `ip netns exec NS unshare --mount --propagation private ...`).
# It turns this process's view of the machine into a throwaway "VPS" and then
# becomes sshd, so the sshd pid is the anchor every later nsenter uses.
#
# Usage: setup.sh ROOT POSTGRES_STATE SYSTEMD [CLUSTERS [MYSQL_STATE [REDIS_STATE]]]
#   ROOT            host temp dir prepared by sandboxVps.ts
#   POSTGRES_STATE  absent | no-cluster | stopped | running
#   SYSTEMD         1 to pretend systemd is the init system, 0 otherwise
#   CLUSTERS        NAME:PORT[,NAME:PORT...] of the 15/NAME clusters (default main:5432)
#   MYSQL_STATE     absent (default) | stopped | running  (the host's MariaDB)
#   REDIS_STATE     none (default: host's Redis dirs untouched) | absent | installed
set -euo pipefail

root=$1
pg_state=$2
systemd=$3
clusters=${4:-main:5432}
mysql_state=${5:-absent}
redis_state=${6:-none}

log() { printf 'zsl-setup: %s\n' "$*" >&2; }

# util-linux's mount/umount keep a lock and table under /run/mount; until the
# private /run is in place that would be the host's, so use the temp dir.
export LIBMOUNT_UTAB="$root/utab"

# Belt and braces: unshare already made everything private, but a mount
# leaking back to the host would damage the real machine, so assert it.
mount --make-rprivate /

# PostgreSQL's config, data (= postgres's home) and logs. Binding over the
# host paths keeps the host's own cluster invisible and untouched.
mount --bind "$root/etc-postgresql" /etc/postgresql
mount --bind "$root/var-lib-postgresql" /var/lib/postgresql
mount --bind "$root/var-log-postgresql" /var/log/postgresql
chown postgres:postgres /etc/postgresql /var/lib/postgresql /var/log/postgresql
chmod 755 /etc/postgresql /var/lib/postgresql
chmod 1775 /var/log/postgresql

# --- MySQL (the host's MariaDB) -------------------------------------------
# Config, data and logs private like PostgreSQL's. The host's /etc/mysql is
# kept as the "package's" config, which the apt-get stand-in installs.
mkdir -p "$root/mysql-package-etc"
cp -a /etc/mysql/. "$root/mysql-package-etc/"
mount --bind "$root/etc-mysql" /etc/mysql
mount --bind "$root/var-lib-mysql" /var/lib/mysql
mkdir -p /var/log/mysql
mount --bind "$root/var-log-mysql" /var/log/mysql
chown mysql:mysql /var/lib/mysql /var/log/mysql
chmod 750 /var/lib/mysql
# --- end MySQL --------------------------------------------------------------

# A private /run: sshd's privsep dir, PostgreSQL's socket dir and sudo's
# timestamps must never collide with the host's. Hiding the host's /run also
# hides /dev/log's target, so nothing in the VPS writes to the host's syslog.
mount -t tmpfs -o mode=755,size=64m zsl-run /run
unset LIBMOUNT_UTAB
mkdir -m 755 /run/sshd
mkdir -m 1777 /run/lock
install -d -o postgres -g postgres -m 2775 /run/postgresql
install -d -o mysql -g mysql -m 755 /run/mysqld
# The sandbox's own files (sshd config and host key, call logs, failure
# flags) at a fixed in-VPS path, so they stay reachable once /tmp is replaced.
mkdir -m 700 /run/zsl-sandbox
mount --bind "$root" /run/zsl-sandbox

# POSIX shared memory of the VPS's postgres must vanish with the VPS even if
# it is killed with SIGKILL; the IPC namespace does the same for SysV.
mount -t tmpfs -o mode=1777,size=256m zsl-shm /dev/shm

# Stand-in apt-get/systemctl: /usr/local/sbin comes first on the PATH sshd
# gives root, and on sudo's secure_path.
mount --bind "$root/sbin" /usr/local/sbin

# Root's password exists only in this copy of the shadow file.
mount --bind "$root/shadow" /etc/shadow

# A fresh VPS's root home holds Debian's skeleton files, not this machine's
# (whose .bashrc may run slow tool initialisation on every SSH command).
mkdir -p "$root/root-home"
cp -a /etc/skel/. "$root/root-home/" 2>/dev/null || true
chmod 700 "$root/root-home"
mount --bind "$root/root-home" /root

# --- backups (engine helper F): a private /var/backups, where the service keeps dumps.
mkdir -p -m 755 "$root/var-backups" /var/backups
mount --bind "$root/var-backups" /var/backups
# --- end backups

# sshd records logins in wtmp/lastlog (and failures in btmp); point those at
# private empty files so test logins don't show up in the host's records.
for f in wtmp btmp lastlog; do
  if [ -f "/var/log/$f" ]; then
    : >"$root/$f"
    mount --bind "$root/$f" "/var/log/$f"
  fi
done

case "$pg_state" in
  absent)
    # The service probes `ls /usr/lib/postgresql/*/bin/postgres`; an empty
    # tmpfs makes the server look uninstalled until apt-get unmounts it.
    mount -t tmpfs -o mode=755,size=1m zsl-no-postgres /usr/lib/postgresql
    ;;
  no-cluster) ;;
  stopped | running)
    for cluster in ${clusters//,/ }; do
      log "creating cluster 15/${cluster%%:*} on port ${cluster##*:} ($pg_state)"
      if [ "$pg_state" = running ]; then start=--start; else start=; fi
      pg_createcluster 15 "${cluster%%:*}" -p "${cluster##*:}" $start >&2
    done
    ;;
  *)
    log "unknown postgres state: $pg_state"
    exit 2
    ;;
esac

# MySQL: "absent" hides the server and client binaries (the apt-get stand-in
# unmasks them); otherwise the package's config is in place and the data
# directory initialised the way Debian's postinst does it.
case "$mysql_state" in
  absent)
    : >"$root/mysql-mask"
    chmod 644 "$root/mysql-mask"
    mount --bind "$root/mysql-mask" /usr/sbin/mariadbd
    mount --bind "$root/mysql-mask" /usr/bin/mariadb
    ;;
  stopped | running)
    log "initialising MariaDB ($mysql_state)"
    /usr/local/sbin/zsl-mysqld install >&2
    if [ "$mysql_state" = running ]; then /usr/local/sbin/zsl-mysqld start >&2; fi
    ;;
  *)
    log "unknown mysql state: $mysql_state"
    exit 2
    ;;
esac

# --- Redis (private state dirs; binaries hidden while "absent") ---
if [ "$redis_state" != none ]; then
  # The package's stock config, for the "installed" state and for apt-get's stand-in.
  cp -p /etc/redis/redis.conf "$root/redis-package.conf"
  mount --bind "$root/etc-redis" /etc/redis
  mount --bind "$root/var-lib-redis" /var/lib/redis
  mount --bind "$root/var-log-redis" /var/log/redis
  chown redis:redis /etc/redis /var/lib/redis
  chown redis:adm /var/log/redis
  chmod 2770 /etc/redis
  chmod 750 /var/lib/redis
  chmod 2750 /var/log/redis
  case "$redis_state" in
    absent)
      # Not executable: `command -v redis-server` fails until apt-get unmounts these.
      mount --bind "$root/not-installed" /usr/bin/redis-check-rdb
      mount --bind "$root/not-installed" /usr/bin/redis-cli
      ;;
    installed)
      install -o redis -g redis -m 640 "$root/redis-package.conf" /etc/redis/redis.conf
      ;;
    *)
      log "unknown redis state: $redis_state"
      exit 2
      ;;
  esac
fi
# --- end of Redis ---

# A VPS has its own /tmp; sharing the host's would let parallel sandboxes
# trip over each other's files and leave debris behind. Must come after every
# bind above, since their sources live under the host's /tmp.
mount -t tmpfs -o mode=1777,size=256m zsl-tmp /tmp

# Only now pretend to be a systemd machine: the cluster above was created the
# plain way, so no stand-in systemctl call is logged before the test starts.
if [ "$systemd" = 1 ]; then
  mkdir -p /run/systemd/system
  # pg_ctlcluster and pg_createcluster reset PATH to /sbin:/bin:/usr/sbin:/usr/bin
  # before calling `systemctl`, so the stand-in in /usr/local/sbin alone would
  # be bypassed in favour of the host's real (and here useless) systemctl.
  if [ ! -f /usr/bin/systemctl ]; then
    log "systemd mode needs /usr/bin/systemctl to exist so the stand-in can be bound over it"
    exit 2
  fi
  mount --bind /usr/local/sbin/systemctl /usr/bin/systemctl
fi

# The package's own instance listens on 127.0.0.1:6379 as on a real machine (not logged as a call).
if [ "$redis_state" = installed ]; then
  /usr/local/sbin/zsl-redis-units enable 1 1 redis-server
fi

log "starting sshd"
exec /usr/sbin/sshd -D -e -f /run/zsl-sandbox/sshd_config
