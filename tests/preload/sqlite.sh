#!/bin/bash
# sqlite3: create a table, insert 50,000 rows, index, aggregate, update, delete, vacuum.
. "$(dirname "$0")/lib.sh"
command -v sqlite3 >/dev/null || die "sqlite3 not installed (apt-get install -y sqlite3)"
assert_loaded sqlite3 -version
workload() {
  sqlite3 "$1/test.db" <<'SQL'
PRAGMA journal_mode=WAL;
PRAGMA cache_size=-20000;
CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, val REAL, data BLOB);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 50000)
INSERT INTO t SELECT x, x % 97, 'name-' || x || '-' || substr(hex(x * x), 1, 8),
                     (x * 37 % 1000) / 7.0, zeroblob(x % 200) FROM c;
CREATE INDEX t_grp_val ON t(grp, val);
CREATE INDEX t_name ON t(name);
SELECT count(*), sum(id), round(avg(val), 6), min(name), max(name), sum(length(data)) FROM t;
SELECT grp, count(*), round(sum(val), 4), min(id), max(id) FROM t GROUP BY grp ORDER BY grp LIMIT 25;
SELECT name, val FROM t WHERE grp = 5 ORDER BY val DESC, id LIMIT 10;
SELECT count(DISTINCT substr(name, 6, 3)), group_concat(DISTINCT grp % 10) FROM t;
UPDATE t SET name = upper(name) || '-u', val = val * 2 WHERE id % 3 = 0;
DELETE FROM t WHERE id % 5 = 0;
SELECT count(*), sum(length(name)), round(sum(val), 3) FROM t;
SELECT a.grp, count(*) FROM t a JOIN t b ON a.id = b.id + 1 GROUP BY a.grp ORDER BY 2 DESC, 1 LIMIT 5;
SELECT id, name FROM t WHERE name LIKE 'NAME-4999%' ORDER BY id;
CREATE TABLE s AS SELECT grp, group_concat(name, ',') AS names FROM (SELECT grp, name FROM t ORDER BY id) GROUP BY grp;
SELECT grp, length(names), substr(names, 1, 40) FROM s ORDER BY length(names) DESC, grp LIMIT 5;
VACUUM;
PRAGMA integrity_check;
SQL
}
compare_workload sqlite3
