"""univs.inference"""
