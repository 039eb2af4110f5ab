"""Ingestion: parse → chunk → embed → store, with timestamps kept at every step."""
