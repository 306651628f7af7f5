"""History that follows the user across machines, on Turso's sync engine.

The history file stays a plain local database shared by every process on the machine;
beside it, `<db>-sync` is a replica the engine pushes and pulls (replica.py says why the
history file itself cannot be synced). A sync worker process per sidecar runs rounds
(rounds.py): copy the store's changes into the replica, push, pull, merge what came in.
Local writes never wait on the network.
"""
