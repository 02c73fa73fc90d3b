"""Replication with Litestream: settings, the replicator, its commands and the child supervisor."""
