"""Storage: the ops schema (migrations), staging of the warehouse extract, the set-based
classification in SQL, and the touchpoint ledger."""
