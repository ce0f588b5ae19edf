# Starts (installing if need be) the servers the tests talk to, and exports their URLs:
# MEDICARE_TEST_POSTGRES_URL, MEDICARE_TEST_MYSQL_URL (admin URLs: each test creates and
# drops its own database) and MEDICARE_TEST_MOTO_URL. Sourced by .ci/run; also usable by
# hand: `source .ci/servers.sh && start_postgres && start_mariadb && start_moto`.
# A server already running is used as it is; a dedicated `medicare` login is created on
# each database server so the tests never depend on how root or postgres authenticate.

MEDICARE_CI_VENV="${MEDICARE_CI_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/medicare-ci/venv}"
MEDICARE_MOTO_PORT="${MEDICARE_MOTO_PORT:-5055}"
export MEDICARE_CI_VENV

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@"
}

wait_for() { # what, tries, command...
    local what=$1 tries=$2
    shift 2
    for _ in $(seq "$tries"); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 1
    done
    echo "error: $what did not come up" >&2
    return 1
}

start_postgres() {
    if ! command -v pg_ctlcluster >/dev/null 2>&1; then
        apt_install postgresql
    fi
    if ! pg_isready -q -h 127.0.0.1 -p 5432; then
        local version
        version=$(ls /etc/postgresql | sort -V | tail -1)
        if [ -z "$version" ]; then
            echo "error: PostgreSQL is installed but has no cluster" >&2
            return 1
        fi
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
    fi
    wait_for "PostgreSQL on 127.0.0.1:5432" 30 pg_isready -q -h 127.0.0.1 -p 5432
    as_root su postgres -c "psql -q -v ON_ERROR_STOP=1 -d postgres" <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'medicare') THEN
    CREATE ROLE medicare LOGIN CREATEDB PASSWORD 'medicare';
  END IF;
END $$;
-- The audit ledger's grant-set test makes a role of the application's kind.
ALTER ROLE medicare CREATEDB CREATEROLE;
SQL
    export MEDICARE_TEST_POSTGRES_URL="postgres://medicare:medicare@127.0.0.1:5432/postgres"
    export MEDICARE_TEST_POSTGRES_URL_SHOWN="postgres://medicare:***@127.0.0.1:5432/postgres"
}

start_mariadb() {
    if ! command -v mariadbd >/dev/null 2>&1; then
        apt_install mariadb-server
    fi
    # `ping` succeeds whenever the server answers, even if it refuses the login.
    if ! mariadb-admin ping -h 127.0.0.1 --connect-timeout=2 >/dev/null 2>&1; then
        as_root mkdir -p /run/mysqld
        as_root chown mysql:mysql /run/mysqld
        (as_root mariadbd --user=mysql --bind-address=127.0.0.1 >/tmp/medicare-ci-mariadb.log 2>&1 &)
        wait_for "MariaDB" 60 mariadb-admin ping -h 127.0.0.1 --connect-timeout=2
    fi
    # Over the socket as root (unix_socket authentication on Debian).
    as_root mariadb <<'SQL'
CREATE USER IF NOT EXISTS 'medicare'@'127.0.0.1' IDENTIFIED BY 'medicare';
CREATE USER IF NOT EXISTS 'medicare'@'localhost' IDENTIFIED BY 'medicare';
GRANT ALL PRIVILEGES ON *.* TO 'medicare'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO 'medicare'@'localhost' WITH GRANT OPTION;
SQL
    wait_for "MariaDB on 127.0.0.1:3306" 30 \
        mariadb-admin ping -h 127.0.0.1 -u medicare -pmedicare --connect-timeout=2
    export MEDICARE_TEST_MYSQL_URL="mysql://medicare:medicare@127.0.0.1:3306/mysql"
    export MEDICARE_TEST_MYSQL_URL_SHOWN="mysql://medicare:***@127.0.0.1:3306/mysql"
}

# The Python tools (moto's server, cfn-lint, fhir.resources) live in one virtualenv outside
# the clone.
python_tools() {
    if [ ! -x "$MEDICARE_CI_VENV/bin/pip" ]; then
        python3 -m venv "$MEDICARE_CI_VENV"
    fi
    if [ ! -x "$MEDICARE_CI_VENV/bin/moto_server" ] || [ ! -x "$MEDICARE_CI_VENV/bin/cfn-lint" ] \
        || [ ! -x "$MEDICARE_CI_VENV/bin/schemathesis" ]; then
        # schemathesis: the black-box probe of the JSON API (.ci/api_probe.sh).
        "$MEDICARE_CI_VENV/bin/pip" install -q 'moto[server]' cfn-lint 'schemathesis>=4,<5'
    fi
    # The FHIR export test validates Questionnaire/QuestionnaireResponse with fhir.resources.
    if ! "$MEDICARE_CI_VENV/bin/python" -c 'import fhir.resources.R4B' >/dev/null 2>&1; then
        "$MEDICARE_CI_VENV/bin/pip" install -q 'fhir.resources>=8,<9'
    fi
}

# A fresh moto for every run (it keeps everything in memory), stopped when the caller exits.
start_moto() {
    python_tools
    local url="http://127.0.0.1:$MEDICARE_MOTO_PORT"
    if curl -sf "$url/moto-api/" >/dev/null 2>&1; then
        echo "error: port $MEDICARE_MOTO_PORT is taken; set MEDICARE_MOTO_PORT to a free one" >&2
        return 1
    fi
    "$MEDICARE_CI_VENV/bin/moto_server" -H 127.0.0.1 -p "$MEDICARE_MOTO_PORT" \
        >/tmp/medicare-ci-moto.log 2>&1 &
    MEDICARE_MOTO_PID=$!
    trap 'kill "$MEDICARE_MOTO_PID" 2>/dev/null || true' EXIT
    wait_for "moto on $url" 60 curl -sf "$url/moto-api/"
    export MEDICARE_TEST_MOTO_URL="$url"
}

# axe-core (the accessibility rules the browser tests inject into each page), pinned, from
# npm into the CI cache; exports MEDICARE_AXE_JS with the path of axe.min.js. Installs
# node and npm with apt when they are missing.
MEDICARE_AXE_VERSION="${MEDICARE_AXE_VERSION:-4.10.3}"
install_axe() {
    local dir="${XDG_CACHE_HOME:-$HOME/.cache}/medicare-ci/node"
    local js="$dir/node_modules/axe-core/axe.min.js"
    if ! command -v npm >/dev/null 2>&1; then
        apt_install nodejs npm
    fi
    local have=""
    if [ -f "$dir/node_modules/axe-core/package.json" ]; then
        have=$(node -p "require('$dir/node_modules/axe-core/package.json').version" 2>/dev/null || true)
    fi
    if [ "$have" != "$MEDICARE_AXE_VERSION" ] || [ ! -f "$js" ]; then
        mkdir -p "$dir"
        npm install --silent --no-audit --no-fund --prefix "$dir" "axe-core@$MEDICARE_AXE_VERSION" >/dev/null
    fi
    export MEDICARE_AXE_JS="$js"
}
