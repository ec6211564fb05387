"""slife.align"""
