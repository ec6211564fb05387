"""slife.model"""
