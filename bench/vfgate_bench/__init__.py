"""vfgate-bench: the throughput and latency benchmark bundled with vfgate (bench/README.md).

Modules: scenarios (what to measure), traffic (pcaps and rule sets), churn (connection churn
and SYN flood), systems (vfgate and the peers, started and read), software (software mode),
nicmode (NIC mode: generator, receiver and the RFC 2544 search in ndr), report (table, JSON,
compare, plot), cli (the command line).
"""
