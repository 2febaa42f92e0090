"""The job queue (procrastinate in PostgreSQL) and its tasks."""
