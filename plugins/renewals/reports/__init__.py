"""What a run publishes for staff and the data team: the Slack summary, the renewal spreadsheet,
the audit Asset, and failure notifications. Light to import: the DAG file imports
``renewals.reports.assets`` and ``renewals.reports.alerts`` at parse time."""
