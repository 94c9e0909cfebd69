-- No query filters spend by supplier alone (the per-supplier totals scan the whole table),
-- and the index cost a B-tree insert per imported line. Dropped for append speed.
DROP INDEX IF EXISTS spend_supplier;
