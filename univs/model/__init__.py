"""univs.model"""
