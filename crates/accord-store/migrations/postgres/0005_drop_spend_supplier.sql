-- As on SQLite (its 0003): no query filters spend by supplier alone (the per-supplier
-- totals group the whole table), and the index cost every spend line a B-tree insert,
-- on the server's side of each commit. Dropped for append speed.
DROP INDEX IF EXISTS spend_supplier;
