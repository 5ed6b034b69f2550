"""The domain's decisions: dates, gates, the one rule of what is due, classification and what an
approval answer means. Plain Python and SQL; storage/ reads and writes, these decide."""
