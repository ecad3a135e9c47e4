"""univs.data"""
