"""univs.losses"""
