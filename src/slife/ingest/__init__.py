"""slife.ingest"""
