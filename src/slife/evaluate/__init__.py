"""slife.evaluate"""
