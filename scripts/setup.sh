#!/usr/bin/env bash
# setup.sh prepares what `make run` and `make test` need on this machine, and nothing else.
#
#   scripts/setup.sh db        PostgreSQL + pgvector, a private cluster, and .mentor/env
#   scripts/setup.sh browser   Debian's Chromium for the browser tests
#   scripts/setup.sh stop      stop the private cluster
#   scripts/setup.sh clean     stop it and delete its data
#
# It is idempotent: a second run checks, finds everything in place and returns in seconds.
# With DATABASE_URL already set it touches no cluster and only checks that pgvector is there.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
state="$root/.mentor"             # git-ignored
pg_port=${MENTOR_PG_PORT:-54329}  # our own port, so a system cluster on 5432 is never touched
db_name=${MENTOR_DB_NAME:-mentor}
db_user=mentor

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    die "need root to run: $* (install it yourself, or run as root)"; fi
}

apt_updated=""
apt_install() {
  command -v apt-get >/dev/null || die "no apt-get here: install $* with your OS package manager"
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq >&2; apt_updated=1; fi
  log "installing $* (log: .mentor/apt.log)"
  mkdir -p "$state"
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >"$state/apt.log" 2>&1; then
    tail -n 20 "$state/apt.log" >&2
    die "could not install $*"
  fi
}

# The newest PostgreSQL server installed under Debian's layout, installing one if none is.
find_pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$dir" ] && command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ]; then
    dir=$(pg_config --bindir)
  fi
  if [ -z "$dir" ]; then
    apt_install postgresql
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  fi
  [ -n "$dir" ] || die "no PostgreSQL server found after installing it"
  echo "$dir"
}

# pgvector: the OS's binary package where there is one; otherwise build Debian 13's source
# package against the installed server (Debian 12 ships none).
ensure_pgvector() {
  local bindir=$1 pg_config ver sharedir
  pg_config="$bindir/pg_config"
  [ -x "$pg_config" ] || pg_config=$(command -v pg_config || true)
  ver=$("$bindir/postgres" --version | sed -E 's/.* ([0-9]+)[.].*/\1/')
  sharedir=$("$pg_config" --sharedir 2>/dev/null || echo "/usr/share/postgresql/$ver")
  [ -f "$sharedir/extension/vector.control" ] && return 0

  if command -v apt-get >/dev/null; then
    as_root apt-get update -qq >&2; apt_updated=1
    if apt-cache policy "postgresql-$ver-pgvector" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
      apt_install "postgresql-$ver-pgvector"
      [ -f "$sharedir/extension/vector.control" ] && return 0
    fi
    build_pgvector_from_debian_source "$ver"
  else
    die "pgvector is missing and this is not a Debian-like system: install pgvector for PostgreSQL $ver (https://github.com/pgvector/pgvector#installation)"
  fi
  [ -f "$sharedir/extension/vector.control" ] || die "pgvector build finished but $sharedir/extension/vector.control is still missing"
}

build_pgvector_from_debian_source() {
  local ver=$1 work="$state/build/pgvector"
  log "no pgvector package for PostgreSQL $ver here: building Debian 13's source package"
  apt_install "postgresql-server-dev-$ver" build-essential dpkg-dev
  # A private sources list and list cache, so the system's own apt configuration stays untouched.
  mkdir -p "$work/lists/partial"
  cat >"$work/sources.list" <<SRC
deb-src [signed-by=/usr/share/keyrings/debian-archive-trixie-stable.gpg] http://deb.debian.org/debian trixie main
SRC
  local aptopts=(-o "Dir::Etc::sourcelist=$work/sources.list" -o "Dir::Etc::sourceparts=-"
                 -o "Dir::State::Lists=$work/lists" -o "APT::Get::List-Cleanup=0")
  apt-get "${aptopts[@]}" update -qq >&2
  (cd "$work" && rm -rf src && mkdir src && cd src && apt-get "${aptopts[@]}" source --download-only pgvector >&2 \
     && dpkg-source -x --no-check ./*.dsc pgvector >&2)
  make -C "$work/src/pgvector" PG_CONFIG="/usr/lib/postgresql/$ver/bin/pg_config" >&2
  as_root make -C "$work/src/pgvector" PG_CONFIG="/usr/lib/postgresql/$ver/bin/pg_config" install >&2
}

# run_pg runs a PostgreSQL binary as the cluster's owner: initdb refuses to run as root.
run_pg() {
  # From /, because the postgres user may not be allowed into the current directory.
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# The cluster lives in .mentor/pg. When the checkout sits somewhere the postgres user cannot
# reach (under /root, say), the data goes to /var/tmp and .mentor/pg links to it.
prepare_cluster_dir() {
  mkdir -p "$state"
  if [ -e "$state/pg" ]; then return 0; fi
  if [ "$(id -u)" != 0 ]; then mkdir -p "$state/pg"; return 0; fi
  id postgres >/dev/null 2>&1 || die "no 'postgres' user to own the cluster (install the postgresql package)"
  if runuser -u postgres -- test -x "$state"; then
    mkdir -p "$state/pg"
  else
    local elsewhere
    elsewhere="/var/tmp/mentor-pg-$(printf '%s' "$root" | sha256sum | cut -c1-12)"
    mkdir -p "$elsewhere"; ln -s "$elsewhere" "$state/pg"
    log "the postgres user cannot reach $root, so the cluster lives in $elsewhere"
  fi
  chown postgres: "$state/pg/"
  chmod 700 "$state/pg/"
}

setup_db() {
  if [ -n "${DATABASE_URL:-}" ]; then
    command -v psql >/dev/null || apt_install postgresql-client
    local ok
    ok=$(psql "$DATABASE_URL" -XAtc "select count(*) from pg_available_extensions where name = 'vector'" 2>&1) \
      || die "DATABASE_URL is set but the database cannot be reached: $ok"
    [ "$ok" = 1 ] || die "the database in DATABASE_URL has no pgvector extension available: install pgvector on that server (https://github.com/pgvector/pgvector#installation)"
    # Tests create and drop their own databases, so they need a role allowed to: the same
    # URL unless MENTOR_TEST_DATABASE_URL says otherwise.
    write_env "$DATABASE_URL" "${MENTOR_TEST_DATABASE_URL:-$DATABASE_URL}"
    log "using DATABASE_URL; pgvector is available"
    return 0
  fi

  local bindir pgdir data sock pw
  bindir=$(find_pg_bin)
  ensure_pgvector "$bindir"
  prepare_cluster_dir
  # Resolved, because the postgres user may not be able to walk through the checkout.
  pgdir=$(cd "$state/pg" && pwd -P)
  data="$pgdir/data"; sock="$pgdir/run"
  if [ ! -f "$data/PG_VERSION" ]; then
    log "creating a private cluster in $data on port $pg_port"
    pw=$(head -c 18 /dev/urandom | base64 | tr -d '/+=' | cut -c1-20)
    run_pg mkdir -p "$sock"
    printf '%s\n' "$pw" | run_pg sh -c "umask 077; cat > '$pgdir/password'"
    run_pg "$bindir/initdb" -D "$data" -U "$db_user" --pwfile="$pgdir/password" \
      --auth=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    run_pg sh -c "cat >> '$data/postgresql.conf'" <<CONF
# mentor: private development cluster
listen_addresses = '127.0.0.1'
port = $pg_port
unix_socket_directories = '$sock'
max_connections = 200
shared_buffers = 256MB
fsync = on
CONF
  fi
  if ! run_pg "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    log "starting the cluster on port $pg_port"
    if ! run_pg "$bindir/pg_ctl" -D "$data" -l "$pgdir/server.log" -w -t 60 start >/dev/null; then
      tail -n 5 "$pgdir/server.log" >&2 || true
      die "the cluster did not start (is port $pg_port taken? set MENTOR_PG_PORT to use another); log: $pgdir/server.log"
    fi
  fi
  pw=$(cat "$pgdir/password")
  local admin="postgres://$db_user:$pw@127.0.0.1:$pg_port/postgres?sslmode=disable"
  local app="postgres://$db_user:$pw@127.0.0.1:$pg_port/$db_name?sslmode=disable"
  if [ "$(psql "$admin" -XAtc "select count(*) from pg_database where datname = '$db_name'")" = 0 ]; then
    psql "$admin" -Xqc "create database $db_name" >/dev/null
    log "created database $db_name"
  fi
  write_env "$app" "$admin"
  log "database ready on 127.0.0.1:$pg_port (settings in .mentor/env)"
}

write_env() {
  mkdir -p "$state"
  (umask 077; cat >"$state/env" <<ENV
# Written by scripts/setup.sh and sourced by the Makefile; rewritten on every run.
DATABASE_URL='$1'
MENTOR_TEST_DATABASE_URL='$2'
ENV
  )
}

stop_db() {
  local bindir data
  [ -d "$state/pg" ] || return 0
  data="$(cd "$state/pg" && pwd -P)/data"
  [ -f "$data/PG_VERSION" ] || return 0
  bindir="/usr/lib/postgresql/$(cat "$data/PG_VERSION")/bin"
  if run_pg "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    run_pg "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null
    log "stopped the cluster in $data"
  fi
}

clean_db() {
  stop_db
  if [ -L "$state/pg" ]; then rm -rf "$(readlink -f "$state/pg")"; fi
  rm -rf "$state/pg" "$state/env"
  log "removed the private cluster"
}

setup_browser() {
  local b
  for b in chromium chromium-browser; do
    if command -v "$b" >/dev/null; then log "browser: $(command -v "$b")"; return 0; fi
  done
  apt_install chromium fonts-noto-cjk
  command -v chromium >/dev/null || die "chromium did not install"
}

[ $# -gt 0 ] || set -- db
for what in "$@"; do
  case "$what" in
    db) setup_db ;;
    browser) setup_browser ;;
    stop) stop_db ;;
    clean) clean_db ;;
    *) die "unknown component '$what' (want: db, browser, stop, clean)" ;;
  esac
done
