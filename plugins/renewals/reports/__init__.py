"""What a run tells staff and the data team once its deliveries are done: the run summary
(``summary``), the renewal spreadsheet (``spreadsheet``, ``workbook``), the publish step that
writes it and posts the Slack summary (``publish``), and the audit Asset (``assets``, imported by
the DAG file at parse time, so this package stays light to import)."""
