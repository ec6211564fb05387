"""slife.world"""
