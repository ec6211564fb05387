"""slife.pairs"""
