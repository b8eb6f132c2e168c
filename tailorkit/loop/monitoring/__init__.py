"""Monitoring: drift of live windows against the training reference, realised quality."""
