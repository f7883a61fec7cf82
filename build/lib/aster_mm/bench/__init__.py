"""The pieces of `bench.py`: the timed simulator and the processes it drives (`harness`), the bare
client that is the floor of a requote (`floor`), and the paired bot/floor requote measurements
(`requotes`)."""
