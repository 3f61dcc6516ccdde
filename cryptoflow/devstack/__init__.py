"""Stand-ins for the outside world on one machine: local broker + database, simulated exchange."""
