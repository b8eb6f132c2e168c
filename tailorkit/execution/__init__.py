"""Where training work runs: worker processes on this machine (Ray backends join here)."""
