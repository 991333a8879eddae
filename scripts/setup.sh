#!/usr/bin/env bash
# setup.sh prepares what `make run` and `make test` need on this machine, and nothing else.
#
#   scripts/setup.sh db        PostgreSQL + pgvector, a private cluster, and .mentor/env
#   scripts/setup.sh browser   Debian's Chromium for the browser tests
#   scripts/setup.sh modules   the Go modules, downloaded once
#   scripts/setup.sh pdf       poppler's pdftotext (PDF import) and a TrueType CJK font (its tests)
#   scripts/setup.sh stop      stop the private cluster
#   scripts/setup.sh clean     stop it and delete its data
#
# It is idempotent: a second run checks, finds everything in place and returns in seconds.
# With DATABASE_URL already set it touches no cluster and only checks that pgvector is there.
#
# The terminal gets one line per step; what the step's commands print (package installs, the
# pgvector build's compiler lines) goes to a log under .mentor/, whose last lines are shown if
# the step fails.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state="$root/.mentor"             # git-ignored
pg_port=${MENTOR_PG_PORT:-54329}  # our own port, so a system cluster on 5432 is never touched
db_name=${MENTOR_DB_NAME:-mentor}
db_user=mentor
setup_log="$state/setup.log"
apt_log="$state/apt.log"
pgvector_log="$state/pgvector-build.log"
modules_log="$state/go-modules.log"

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# show_path prints a path relative to the checkout when it lies inside it.
show_path() {
  case $1 in
    "$root"/*) printf '%s' "${1#"$root"/}" ;;
    *) printf '%s' "$1" ;;
  esac
}

# took formats the time since $1 (a value of $SECONDS): "42 s", "3 min 5 s".
took() {
  local s=$((SECONDS - $1))
  if [ "$s" -ge 60 ]; then printf '%d min %d s' $((s / 60)) $((s % 60)); else printf '%d s' "$s"; fi
}

# step runs one command (or shell function) with everything it prints appended to a log
# file, and shows a single line for it:
#
#   setup: building pgvector 0.8.0 for PostgreSQL 15 (log: .mentor/pgvector-build.log)… done in 42 s
#
# If the command fails, the log's last lines and the log's path are shown and setup stops.
step() {
  local what=$1 logfile=$2 start=$SECONDS rc
  shift 2
  mkdir -p "$(dirname "$logfile")"
  printf '\n== %s: %s\n$ %s\n' "$(date -u '+%Y-%m-%d %H:%M:%S UTC')" "$what" "$*" >>"$logfile"
  printf 'setup: %s (log: %s)… ' "$what" "$(show_path "$logfile")" >&2
  # errexit is switched off around the command, so its status can be read, and on again
  # inside the subshell: a shell function's second command must not run after its first fails.
  set +e
  (set -e; "$@") >>"$logfile" 2>&1 </dev/null
  rc=$?
  set -e
  if [ "$rc" = 0 ]; then
    printf 'done in %s\n' "$(took "$start")" >&2
    return 0
  fi
  printf 'failed after %s\n' "$(took "$start")" >&2
  tail -n 25 "$logfile" | sed 's/^/  | /' >&2
  die "$what failed (exit status $rc); the whole log is $(show_path "$logfile")"
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    die "need root to run: $* (install it yourself, or run as root)"; fi
}

apt_updated=""
apt_update() {
  [ -z "$apt_updated" ] || return 0
  step "updating the package lists" "$apt_log" as_root apt-get update
  apt_updated=1
}

apt_install() {
  command -v apt-get >/dev/null || die "no apt-get here: install $* with your OS package manager"
  apt_update
  step "installing $*" "$apt_log" as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
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
    apt_update
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
  local ver=$1 work="$state/build/pgvector" pgv
  log "no pgvector package for PostgreSQL $ver here: building Debian 13's source package"
  apt_install "postgresql-server-dev-$ver" build-essential dpkg-dev
  step "fetching Debian 13's pgvector source" "$pgvector_log" fetch_pgvector_source "$work"
  pgv=$(source_version "$work/src")
  step "building pgvector $pgv for PostgreSQL $ver" "$pgvector_log" \
    make -C "$work/src/pgvector" PG_CONFIG="/usr/lib/postgresql/$ver/bin/pg_config"
  step "installing pgvector $pgv" "$pgvector_log" \
    as_root make -C "$work/src/pgvector" PG_CONFIG="/usr/lib/postgresql/$ver/bin/pg_config" install
}

# fetch_pgvector_source downloads and unpacks Debian 13's pgvector source package into $1/src.
fetch_pgvector_source() {
  local work=$1
  # A private sources list and list cache, so the system's own apt configuration stays untouched.
  mkdir -p "$work/lists/partial"
  cat >"$work/sources.list" <<SRC
deb-src [signed-by=/usr/share/keyrings/debian-archive-trixie-stable.gpg] http://deb.debian.org/debian trixie main
SRC
  local aptopts=(-o "Dir::Etc::sourcelist=$work/sources.list" -o "Dir::Etc::sourceparts=-"
                 -o "Dir::State::Lists=$work/lists" -o "APT::Get::List-Cleanup=0")
  apt-get "${aptopts[@]}" update
  rm -rf "$work/src"
  mkdir "$work/src"
  cd "$work/src"
  apt-get "${aptopts[@]}" source --download-only pgvector
  dpkg-source -x --no-check ./*.dsc pgvector
}

# source_version prints the upstream version of the source package unpacked in $1
# (pgvector_0.8.0-1.dsc gives 0.8.0), for the terminal's step lines.
source_version() {
  local dsc
  dsc=$(cd "$1" && ls pgvector_*.dsc 2>/dev/null | head -n 1 || true)
  dsc=${dsc#pgvector_}
  dsc=${dsc%.dsc}
  printf '%s' "${dsc%-*}"
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
    pw=$(head -c 18 /dev/urandom | base64 | tr -d '/+=' | cut -c1-20)
    run_pg mkdir -p "$sock"
    printf '%s\n' "$pw" | run_pg sh -c "umask 077; cat > '$pgdir/password'"
    step "creating a private cluster in $(show_path "$data") on port $pg_port" "$setup_log" \
      run_pg "$bindir/initdb" -D "$data" -U "$db_user" --pwfile="$pgdir/password" \
      --auth=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8
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

# setup_modules downloads the Go modules once, so that the first build does not print a
# "go: downloading" line for each of them. With everything in the module cache it is silent.
setup_modules() {
  local go=${GO:-go}
  command -v "$go" >/dev/null || die "no Go toolchain ('$go') on PATH: install Go 1.26 or newer (https://go.dev/doc/install)"
  if (cd "$root" && GOPROXY=off "$go" mod download) >/dev/null 2>&1; then return 0; fi
  step "downloading the Go modules" "$modules_log" go_mod_download "$go"
}

go_mod_download() {
  cd "$root"
  "$1" mod download -x
}

setup_browser() {
  local b
  for b in chromium chromium-browser; do
    if command -v "$b" >/dev/null; then log "browser: $(command -v "$b")"; return 0; fi
  done
  apt_install chromium fonts-noto-cjk
  command -v chromium >/dev/null || die "chromium did not install"
}

# Issue 16: PDF import runs poppler's pdftotext; its tests make Chinese PDFs with Droid Sans
# Fallback, a TrueType CJK font (Noto CJK comes as .ttc collections, which the PDF writer
# cannot embed).
setup_pdf() {
  local missing=()
  command -v pdftotext >/dev/null || missing+=(poppler-utils)
  [ -f /usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf ] || missing+=(fonts-droid-fallback)
  if [ ${#missing[@]} -eq 0 ]; then log "pdftotext: $(command -v pdftotext)"; return 0; fi
  apt_install "${missing[@]}"
  command -v pdftotext >/dev/null || die "pdftotext did not install (Debian package poppler-utils)"
}

main() {
  [ $# -gt 0 ] || set -- db
  local what
  for what in "$@"; do
    case "$what" in
      db) setup_db ;;
      browser) setup_browser ;;
      modules) setup_modules ;;
      pdf) setup_pdf ;;
      stop) stop_db ;;
      clean) clean_db ;;
      *) die "unknown component '$what' (want: db, browser, modules, pdf, stop, clean)" ;;
    esac
  done
  # Only a run that installed or built something is slow enough to be worth timing.
  if [ "$SECONDS" -ge 10 ]; then log "finished in $(took 0)"; fi
}

# Sourced (by a test of the helpers above), it only defines them.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
