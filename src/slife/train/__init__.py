"""slife.train"""
