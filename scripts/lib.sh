# Shared by scripts/dev, scripts/test and .ci/run. Sourced, not run.

# The Debian packages devmode builds and runs with (libraries' -dev packages, PostgreSQL for tests,
# python3-venv for the interop tests' client venv: Debian's python3 has no ensurepip without it).
DEVMODE_APT_PACKAGES=(libgit2-dev libpq-dev libssl-dev libsqlite3-dev pkgconf postgresql python3-venv)

# Installs whatever of DEVMODE_APT_PACKAGES is missing (needs root or sudo; apt-get only).
ensure_packages() {
    local missing=()
    for package in "${DEVMODE_APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "devmode: installing ${missing[*]}" >&2
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq >/dev/null
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Starts a throwaway PostgreSQL server (initdb into a temp dir, a free loopback port) and exports
# DEVMODE_TEST_POSTGRES_URL. Registers its own cleanup in DEVMODE_CLEANUP.
start_test_postgres() {
    local bindir
    bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
        echo "devmode: no PostgreSQL server binaries found; PostgreSQL tests will skip (they fail when CI=true)" >&2
        return 0
    fi
    local dir port run=()
    dir=$(mktemp -d /tmp/devmode-pg.XXXXXX)
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres:postgres "$dir"
        run=(runuser -u postgres --)
    fi
    "${run[@]}" "$bindir/initdb" -D "$dir/data" -U devmode -A trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; return 1; }
    "${run[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=1000" start >/dev/null \
        || { cat "$dir/log" >&2; return 1; }
    export DEVMODE_TEST_POSTGRES_URL="postgres://devmode@127.0.0.1:$port/postgres"
    DEVMODE_CLEANUP+=("${run[*]} $bindir/pg_ctl -D $dir/data -m immediate stop >/dev/null 2>&1; rm -rf $dir")
    echo "devmode: test PostgreSQL on 127.0.0.1:$port" >&2
}

DEVMODE_CLEANUP=()
run_cleanup() {
    for command in "${DEVMODE_CLEANUP[@]}"; do eval "$command" || true; done
}
