"""Training jobs that outlive their viewers: a job process owns the engine and serves any number
of dashboards over a Unix socket in its run folder (server.py, protocol.py); the dashboard's
side (client.py) also replays finished runs from their folders (runfiles.py); registry.py finds
live jobs for `tui-gan ls` and `attach`; launch.py starts a job in the background."""
