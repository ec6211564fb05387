"""slife: single-life visual learning (CroCo per life, Correspondence Alignment Score)."""

__version__ = "0.1.0"
