-- docker-compose.yaml: the pipeline's ops database (connection renewals_ops) next to Airflow's
-- metadata database; the pipeline creates its schemas itself (prepare_run migrates them).
create database renewals_ops owner airflow;
