"""What an operator watches: metrics Prometheus scrapes (metrics.py, gauges.py) and log lines
that carry the order they are about (logs.py).

Counters and histograms are counted where the event happens (a webhook answered, a run
finished, an email handed to SMTP); what the database already knows (queue depth, orders
needing attention, live workers, runs in flight) is read at scrape time (gauges.py), so no
process has to keep it up to date and a dead process cannot leave it wrong.
"""
