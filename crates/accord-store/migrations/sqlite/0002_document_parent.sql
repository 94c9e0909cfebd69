-- Documents may belong to a parent (a negotiation to its campaign, an approval to the
-- decision it authorises), so read models can list and count them by parent and state.
ALTER TABLE documents ADD COLUMN parent TEXT;
CREATE INDEX documents_parent_state ON documents (kind, parent, state);
CREATE INDEX documents_kind_state ON documents (kind, state);
