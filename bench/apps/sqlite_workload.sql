-- sqlite workload for scripts/compare: run by the sqlite3 CLI on an in-memory database
-- (sqlite's page cache then lives in malloc'd memory). __ROWS__ is replaced with the row
-- count. All data derive from the row number, so the output (hashed into the checksum)
-- is the same under every allocator.
PRAGMA cache_size = -200000;
CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT, city INTEGER, score INTEGER, bio TEXT);
CREATE TABLE orders(id INTEGER PRIMARY KEY, user_id INTEGER, amount INTEGER, note TEXT);
BEGIN;
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < __ROWS__)
INSERT INTO users
SELECT x, 'user' || x || '-' || ((x * 2654435761) % 100003), (x * 7919) % 97,
       (x * 104729) % 10007, substr(hex(zeroblob(20 + (x * 31) % 200)), 1, 20 + (x * 31) % 200)
FROM n;
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 2 * __ROWS__)
INSERT INTO orders
SELECT x, 1 + (x * 48271) % __ROWS__, (x * 16807) % 100000, 'note-' || (x % 1009)
FROM n;
COMMIT;
CREATE INDEX users_city ON users(city, score);
CREATE INDEX orders_user ON orders(user_id);
SELECT city, count(*), sum(score), max(length(bio)) FROM users GROUP BY city ORDER BY city LIMIT 20;
SELECT u.city, count(o.id), sum(o.amount) FROM users u JOIN orders o ON o.user_id = u.id
GROUP BY u.city ORDER BY 3 DESC LIMIT 10;
SELECT name, score FROM users ORDER BY score DESC, id LIMIT 10;
SELECT note, count(*) FROM orders GROUP BY note ORDER BY 2 DESC, 1 LIMIT 5;
UPDATE users SET bio = bio || name WHERE id % 3 = 0;
DELETE FROM orders WHERE amount < 30000;
SELECT count(*), sum(length(bio)) FROM users;
SELECT count(*), sum(amount) FROM orders;
SELECT group_concat(name, ',') FROM (SELECT name FROM users WHERE city = 5 ORDER BY name LIMIT 200);
VACUUM;
